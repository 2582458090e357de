"""A ticket-desk supervisor deactivated by the organiser while the kiosk is offline: the payment she took (`agent pay`)
the ticket she exchanged and the one she sold offline before the kiosk learnt of it happened (the buyer paid and left with the tickets).
The server takes them, counted in the sales report and the till like any, and flags them for the organiser
(`server staff actions`: "staff member … deactivated at …"); before, both were refused (`staff_inactive`) and the
report and the till came out short of the cash in the drawer. Once the kiosk has heard of it, her login is gone and
she takes nothing more there. Real `provision serve`, mosquitto and `server serve`,
a kiosk enrolled, both stores."""
from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from agent.allotment import Certificate
from agent.desk_sale import allotment_request
from agent.sync import topics
from agent.sync.messages import Batch, OfflineSale, SoldTicket
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


def _offline_sale(kiosk, org_run, staff: str) -> str:
    """The kiosk's offline sale of one Adult ticket for 25.00 cash by `staff`, as the kiosk uploads it (its own
    broker login, an allotment the organiser granted): the sale id."""
    desk = StolenDesk(kiosk)
    try:
        org_run("allotment", "set", desk.device, "--events", "1", "--count", "5", "--hours", "4")
        cert = Certificate.from_text(desk.ask(allotment_request(base64.b64encode(bytes(32)).decode(), "acme",
                                                                desk.device))["certificate"])
        sale = OfflineSale("s-dee", cert.allotment_id, 1, (SoldTicket(str(cert.first_id), 1, 1),), 2500, desk.device,
                           at=time.time(), staff=staff)
        desk.publish(topics.up("acme", desk.device), Batch.encode("acme", desk.device, uuid.uuid4().hex, time.time(),
                                                                  [(100, "kiosk", json.dumps(sale.to_wire()))]))
        assert wait_for(lambda: "s-dee" in json.dumps(json.loads(org_run("device", "uploads", desk.device,
                                                                         "--json").stdout)), 30)
    finally:
        desk.close()
    return sale.sale_id


def test_a_payment_and_an_offline_sale_by_a_supervisor_deactivated_while_the_kiosk_was_offline_are_taken_and_flagged(
        tmp_path, store_opts):
    org, kiosk = tmp_path / "org", tmp_path / "kiosk"
    org.mkdir(), kiosk.mkdir()

    def srv(*args: str, stdin: str = ""):
        return tg(org, "server", *store_opts, *args, stdin=stdin)
    srv("init", "--org", "acme", "--name", "Acme")
    srv("event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor", "--category", "1=Adult",
        "--start", "2026-01-01 18:00", "--end", "2036-01-01 02:00")
    srv("price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    srv("order", "add", "--event", "1", "--buyer", "Dan Payer", "--pending", "--ticket", "category=Adult,zone=Floor")
    number = json.loads(srv("order", "find", "Payer", "--json").stdout)[0]["number"]
    torn = json.loads(srv("order", "add", "--event", "1", "--buyer", "Fay Torn", "--ticket", "category=Adult,zone=Floor",
                          "--json").stdout)["tickets"][0]["ticket_key"]
    dee = json.loads(srv("staff", "add", "--name", "Dee Clerk", "--role", "supervisor", "--pin", "--json",
                         stdin="5555\n").stdout)["staff_id"]
    with organiser_running(org, *store_opts) as running:
        running.enroll(kiosk, "desk-1", events="1", role="kiosk")
        device = json.loads(tg(kiosk, "agent", "status", "--json").stdout)["identity"]["device_id"]
        srv("till", "open", device, "--float-cents", "10000")
        tg(kiosk, "agent", "sync", "--until-idle", "--for", "60")
        tg(kiosk, "agent", "login", "--staff", "Dee Clerk", "--pin", stdin="5555\n")
        srv("staff", "deactivate", dee)                # the kiosk does not sync: it does not know yet
        tg(kiosk, "agent", "pay", number, "--payment", "cash", "--amount", "25.00")    # Dee takes the cash
        tg(kiosk, "agent", "exchange", torn, "--reason", "torn")                     # exchanges a torn ticket
        _offline_sale(kiosk, srv, dee)                                               # and sells one ticket
        sync = json.loads(tg(kiosk, "agent", "sync", "--until-idle", "--for", "60", "--json").stdout)
        assert sync["refused_by_server"] == [] and sync["outbox_pending"] == 0, sync
        assert json.loads(srv("refusals", "--json").stdout) == []
        assert json.loads(srv("order", "show", number, "--json").stdout)["status"] == "paid"
        report = json.loads(srv("report", "sales", "--json").stdout)
        assert sum(x["cash_cents"] for x in report["lines"]) == 5000, report
        z = srv("till", "z-report", "1").stdout
        assert "Expected cash              150.00 EUR" in z, z        # the float, the payment and the sale
        flagged = [a for a in json.loads(srv("staff", "actions", "--json").stdout) if a["staff"] == dee]
        assert sorted(a["kind"] for a in flagged if a["flag"]) == ["exchange", "offline_sale",
                                                                   "payment_validated"], flagged
        assert number in [a["order_number"] for a in flagged if a["kind"] == "payment_validated"], flagged
        (revoked,) = [x for x in srv("ticket", "show", torn).stdout.splitlines() if x.strip().startswith("revoked:")]
        assert "torn" in revoked, revoked                                            # replaced
        for a in flagged:
            assert a["flag"].startswith(f"staff member Dee Clerk ({dee}) deactivated at "), a
        assert "FLAGGED: staff member Dee Clerk" in srv("staff", "actions").stdout
        srv("order", "add", "--event", "1", "--buyer", "Eve Later", "--pending", "--ticket", "category=Adult,zone=Floor")
        later = json.loads(srv("order", "find", "Later", "--json").stdout)[0]["number"]
        tg(kiosk, "agent", "sync", "--until-idle", "--for", "60")        # the kiosk hears of it: her login ends
        after = tg(kiosk, "agent", "pay", later, "--payment", "cash", "--amount", "25.00", ok=False)
        assert after.returncode != 0 and "log in first" in after.stderr, after      # nothing sold after it
        again = tg(kiosk, "agent", "login", "--staff", "Dee Clerk", "--pin", stdin="5555\n", ok=False)
        assert again.returncode != 0 and "deactivated" in again.stderr, again
