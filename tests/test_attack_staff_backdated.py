"""A kiosk kept offline with its clock set back, or its stolen login: what a deactivated member does there is dated
before her deactivation. The server took such acts unflagged (the flag compared her deactivation with the date the
device claims only): a thief holding the kiosk sold the whole allotment and took payments in her name, none of it
listed for the organiser. Now every act in the name of a deactivated member that the server receives after her
deactivation is flagged, the backdated ones saying they were dated before it and uploaded after it. Real
`provision serve`, mosquitto and `server serve`, a kiosk enrolled, both stores."""
from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from agent.allotment import Certificate
from agent.desk_sale import allotment_request
from agent.sync import topics
from agent.sync.messages import Batch, OfflineSale, PaymentValidated, SoldTicket
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.qa_organiser import organiser_running, tg
from tests.test_attack_kiosk_rollback import StolenDesk

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_opts(request, tmp_path) -> tuple[str, ...]:
    if request.param == "sqlite":
        return ()
    return ("--data", str(tmp_path / "server"), "--db", request.getfixturevalue("pg_url"))


def _tonight_with_a_pending_order(tmp_path, store_opts):
    """An organiser folder with tonight's priced event and Dan Payer's pending order; a kiosk folder beside it."""
    org, kiosk = tmp_path / "org", tmp_path / "kiosk"
    org.mkdir(), kiosk.mkdir()

    def srv(*args: str, stdin: str = ""):
        return tg(org, "server", *store_opts, *args, stdin=stdin)
    srv("init", "--org", "acme", "--name", "Acme")
    srv("event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor", "--category", "1=Adult",
        "--start", "2026-01-01 18:00", "--end", "2036-01-01 02:00")
    srv("price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    srv("order", "add", "--event", "1", "--buyer", "Dan Payer", "--pending", "--ticket", "category=Adult,zone=Floor")
    return org, kiosk, srv, json.loads(srv("order", "find", "Payer", "--json").stdout)[0]["number"]


def test_attack_acts_of_a_deactivated_member_dated_before_her_deactivation_are_flagged(tmp_path, store_opts):
    org, kiosk, srv, number = _tonight_with_a_pending_order(tmp_path, store_opts)
    dee = json.loads(srv("staff", "add", "--name", "Dee Clerk", "--role", "supervisor", "--pin", "--json",
                         stdin="5555\n").stdout)["staff_id"]
    with organiser_running(org, *store_opts) as running:
        running.enroll(kiosk, "desk-1", events="1", role="kiosk")
        tg(kiosk, "agent", "sync", "--until-idle", "--for", "60")
        thief = StolenDesk(kiosk)
        try:
            srv("allotment", "set", thief.device, "--events", "1", "--count", "5", "--hours", "4")
            cert = Certificate.from_text(thief.ask(allotment_request(base64.b64encode(bytes(32)).decode(), "acme",
                                                                     thief.device))["certificate"])
            time.sleep(1.0)
            back = time.time()                  # the date the thief gives every act: before the deactivation
            time.sleep(1.0)
            srv("staff", "deactivate", dee)
            sales = [OfflineSale(f"s-{i}", cert.allotment_id, 1, (SoldTicket(str(cert.first_id + i), 1, 1),), 2500,
                                 thief.device, at=back, staff=dee) for i in range(3)]
            pay = PaymentValidated(number, thief.device, at=back, staff=dee, payment="cash", amount_cents=2500)
            rows = [(200 + i, "kiosk", json.dumps(m.to_wire())) for i, m in enumerate([*sales, pay])]
            thief.publish(topics.up("acme", thief.device),
                          Batch.encode("acme", thief.device, uuid.uuid4().hex, time.time(), rows))
            assert wait_for(lambda: len([a for a in json.loads(srv("staff", "actions", "--json").stdout)
                                         if a["staff"] == dee]) == 4, 30)
        finally:
            thief.close()
        assert json.loads(srv("order", "show", number, "--json").stdout)["status"] == "paid"     # taken: it happened
        acts = [a for a in json.loads(srv("staff", "actions", "--json").stdout) if a["staff"] == dee]
        assert sorted(a["kind"] for a in acts) == ["offline_sale"] * 3 + ["payment_validated"], acts
        for a in acts:                                                        # before: no flag on any of the four
            assert a["flag"].startswith(f"staff member Dee Clerk ({dee}) deactivated at "), a
            assert "before it, but uploaded after it" in a["flag"], a
        listed = srv("device", "uploads", thief.device).stdout
        assert listed.count("FLAGGED: staff member Dee Clerk") == 4, listed
        assert "before it, but uploaded after it" in srv("staff", "actions").stdout


def test_attack_acts_dated_to_a_role_the_member_no_longer_held_or_before_she_existed_are_flagged(tmp_path, store_opts):
    """Sam, a supervisor, is made desk staff; the stolen kiosk login then uploads a payment she 'took' dated before
    the change (a desk clerk may not take one): judged by the role at its date, it is taken (the role history's
    rule), and was unflagged; now flagged, naming the change. A sale in the name of Zed, added after the date it
    claims, is flagged too (no device held Zed then)."""
    org, kiosk, srv, number = _tonight_with_a_pending_order(tmp_path, store_opts)
    sam = json.loads(srv("staff", "add", "--name", "Sam Okafor", "--role", "supervisor", "--pin", "--json",
                         stdin="4321\n").stdout)["staff_id"]
    with organiser_running(org, *store_opts) as running:
        running.enroll(kiosk, "desk-1", events="1", role="kiosk")
        tg(kiosk, "agent", "sync", "--until-idle", "--for", "60")
        thief = StolenDesk(kiosk)
        try:
            srv("allotment", "set", thief.device, "--events", "1", "--count", "5", "--hours", "4")
            cert = Certificate.from_text(thief.ask(allotment_request(base64.b64encode(bytes(32)).decode(), "acme",
                                                                     thief.device))["certificate"])
            time.sleep(1.0)
            back = time.time()
            time.sleep(1.0)
            srv("staff", "set", sam, "--role", "desk")
            zed = json.loads(srv("staff", "add", "--name", "Zed Later", "--role", "desk", "--pin", "--json",
                                 stdin="9999\n").stdout)["staff_id"]
            pay = PaymentValidated(number, thief.device, at=back, staff=sam, payment="cash", amount_cents=2500)
            sale = OfflineSale("s-zed", cert.allotment_id, 1, (SoldTicket(str(cert.first_id), 1, 1),), 2500,
                               thief.device, at=back, staff=zed)
            rows = [(300 + i, "kiosk", json.dumps(m.to_wire())) for i, m in enumerate([pay, sale])]
            thief.publish(topics.up("acme", thief.device),
                          Batch.encode("acme", thief.device, uuid.uuid4().hex, time.time(), rows))
            assert wait_for(lambda: len([a for a in json.loads(srv("staff", "actions", "--json").stdout)
                                         if a["staff"] in (sam, zed)]) == 2, 30)
        finally:
            thief.close()
        assert json.loads(srv("refusals", "--json").stdout) == []
        acts = {a["staff"]: a for a in json.loads(srv("staff", "actions", "--json").stdout)}
        assert acts[sam]["kind"] == "payment_validated", acts
        assert acts[sam]["flag"].startswith(f"staff member Sam Okafor ({sam}) made desk at "), acts   # before: ""
        assert "(supervisor before); dated " in acts[sam]["flag"], acts
        assert acts[zed]["flag"].startswith(f"staff member Zed Later ({zed}) added at "), acts         # before: ""
        assert "before it, but uploaded after it" in acts[zed]["flag"], acts
