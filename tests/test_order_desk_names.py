"""The organiser's view of an order and of desk sales through `ticketgate server order show` and `report sales`: an
order the organiser added unpaid and a desk took the payment for is that desk's (and staff member's) sale in the
report, paid that way; `order show` names the tickets' categories and zones."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.sync.messages import PaymentValidated
from server_stub.sync.contract import Upload

ROOT = Path(__file__).resolve().parent.parent


def test_an_order_paid_at_a_desk_is_that_desks_in_the_sales_report_and_shows_its_names(tmp_path):
    data = tmp_path / "srv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def tg(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env=env, input="482913\n482913\n")
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout
    tg("init", "--org", "fest", "--name", "Fest")
    tg("event", "create", "--name", "Night", "--start", "2030-01-01 20:00", "--end", "2030-01-01 23:00",
       "--category", "1=Adult", "--category", "2=Child", "--zone", "1=Floor", "--zone", "2=Balcony")
    tg("price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    tg("device", "register", "kiosk-1", "--events", "1", "--role", "kiosk")
    staff = json.loads(tg("staff", "add", "--name", "Zoé Desk", "--role", "supervisor", "--pin", "--json"))["staff_id"]
    number = json.loads(tg("order", "add", "--event", "1", "--buyer", "Ann", "--pending", "--ticket",
                           "category=Adult,zone=Balcony", "--json"))["number"]
    from server_stub.store import SqliteStore
    store = SqliteStore.open(data)
    try:                       # the kiosk's `agent pay … --payment card`, as its sync uploads it
        paid = PaymentValidated(number, "kiosk-1", "Zoé", payment="card", amount_cents=2500, staff=str(staff))
        assert not store.ingest_uploads([Upload("fest", "kiosk-1", 1, paid)]).refused
    finally:
        store.close()
    report = json.loads(tg("report", "sales", "--json"))
    assert [(x["order"], x["desk"], x["staff"], x["payment"], x["card_cents"]) for x in report["lines"]] == \
        [(number, "kiosk-1", "Zoé Desk", "card", 2500)], report["lines"]
    assert report["summary"]["by"]["desk"] == {"kiosk-1": {"tickets": 1, "total_cents": 2500, "currency": "EUR"}}
    shown = tg("order", "show", number)
    assert "category Adult zone Balcony" in shown, shown
