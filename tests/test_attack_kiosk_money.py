"""Attacks on the money a stolen kiosk reports, with a real kiosk's broker login (`server init`, an event with
prices, `provision serve` with its broker and ACL as generated, `server serve`, `provision enroll` of a kiosk and a
door). Each test fails on the defect it names."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid

import pytest

from agent.allotment import Certificate
from agent.desk_sale import allotment_request
from agent.sync import topics
from agent.sync.messages import Batch, OfflineSale, SoldTicket
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_attack_kiosk_rollback import PRICE, StolenDesk, desk   # noqa: F401  (`desk`: the fixture)
from tests.test_attack_scope import _device
from tests.test_qa_attacks import ROOT, _env, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_attack_an_offline_sale_of_a_negative_total_is_refused(desk):
    """A thief with the kiosk's login, granted its allotment, uploads an offline sale of one ticket for -500.00, one
    of one ticket for 1,000,000,000,000.00, and a genuine one for 20.00. Before: both reconciled: the sales report
    said 1 ticket sold for -500.00 in cash (the desk's till expected 500.00 less in its drawer: cash taken out,
    covered by a "sale") and a 12-figure one. Now both are refused with their reason, listed by `server refusals`,
    nothing of them stored, their tickets unknown; the genuine one sells."""
    tg(desk.org, "server", "allotment", "set", _device(desk.kiosk), "--events", "1", "--count", "5", "--hours", "4")
    thief = StolenDesk(desk.kiosk)
    try:
        cert = Certificate.from_text(thief.ask(allotment_request(base64.b64encode(bytes(32)).decode(), "acme",
                                                                 thief.device))["certificate"])
        sales = [OfflineSale(sale_id, cert.allotment_id, 1, (SoldTicket(str(cert.first_id + i), 1, 1),), cents,
                             thief.device)
                 for i, (sale_id, cents) in enumerate((("s-negative", -50000), ("s-huge", 10**14),
                                                       ("s-good", PRICE[1])))]
        rows = [(100 + i, "kiosk", json.dumps(s.to_wire())) for i, s in enumerate(sales)]
        thief.publish(topics.up("acme", thief.device),
                      Batch.encode("acme", thief.device, uuid.uuid4().hex, time.time(), rows))
        assert wait_for(lambda: "s-good" in tg(desk.org, "server", "device", "uploads", thief.device).stdout, 30)
    finally:
        thief.close()
    report = json.loads(tg(desk.org, "server", "report", "sales", "--json").stdout)
    assert [(x["quantity"], x["total_cents"], x["cash_cents"]) for x in report["lines"]] == [(1, 2000, 2000)], report
    refusals = tg(desk.org, "server", "refusals").stdout
    assert "bad total_cents: -50000" in refusals and f"bad total_cents: {10**14}" in refusals, refusals
    assert [a["used"] for a in json.loads(tg(desk.org, "server", "allotment", "list", "--json").stdout)] == [1]
    for key in (cert.first_id, cert.first_id + 1):
        gone = subprocess.run([sys.executable, "-m", "agent", "server", "ticket", "show", str(key)], cwd=ROOT,
                              env=_env(desk.org), capture_output=True, text=True, timeout=120)
        assert gone.returncode != 0 and "Traceback" not in gone.stderr, gone
