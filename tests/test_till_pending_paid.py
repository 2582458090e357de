"""A pending order paid at the desk ("Payment received": `agent pay`, the app's pay action) is money taken by that
desk: the till's Z report counts it under its method (in the drawer when cash) and the sales report shows the
method; a refund of it hands the cash back. Both store backends, the message as the kiosk's ledger queues it."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent import desk
from agent.ledger import Ledger
from agent.sync.messages import SaleLine, SaleRequest, RefundRequest, item_from_wire
from server_stub.sync.contract import Upload
from tests.broker import mosquitto_binary
from tests.test_qa_desk_paths import _order
from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import _enrolled_door, tg

NOW = time.time()


def _paid_at_the_kiosk(store, tmp_path, number: str, payment: str) -> None:
    """The kiosk's own path: its ledger marks the order paid and queues the message; the server ingests it."""
    ledger = Ledger.open(tmp_path / f"{payment}.db")
    ledger.upsert_tickets([{"ticket_key": "1", "event_id": 1, "order_number": number, "order_status": "pending",
                            "category": 1, "zone": None, "buyer_name": "", "email": "", "payload": ""}])
    assert desk.validate_payment(ledger, number, "kiosk-1", "Zoé", payment) == 1
    (outbox_id, _, body), = ledger.outbox_pending()
    result = store.ingest_uploads([Upload("fest", "kiosk-1", outbox_id, item_from_wire(body))])
    assert result.new == 1 and not result.refused, result


def test_a_pending_order_paid_at_the_desk_reaches_the_till(store, tmp_path):
    store.register_device("fest", "kiosk-1", role="kiosk")
    e = store.create_event("fest", "Night", NOW - 3600, NOW + 7200, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.set_price("fest", e, 1, 1500)
    shift = store.open_shift("fest", "kiosk-1", 10_000)
    sold = {}
    for method in ("cash", "card"):
        a = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", uuid.uuid4().hex, e, (SaleLine(1, 2),),
                                                      payment="invoice"))
        assert a.ok and a.status == "pending", a
        sold[method] = a.order_number
        _paid_at_the_kiosk(store, tmp_path, a.order_number, method)
        assert store.order(a.order_number)["status"] == "paid"
    z = store.shift_report("fest", shift["shift_id"])
    assert z["expected_cash_cents"] == 10_000 + 3000                 # the cash one in the drawer, the card one not
    assert z["pending_paid"] == {"count": 2, "total_cents": 6000}
    assert z["payments"] == {"cash": 3000, "card": 3000}                # once each, under the method paid with
    assert z["invoices"] == {"count": 2, "total_cents": 6000, "settled_count": 2, "settled_cents": 6000}
    assert sum(z["payments"].values()) == z["sales"]["total_cents"]
    methods = {x["order"]: x["payment"] for x in store.sales_lines("fest")}
    assert methods == {sold["cash"]: "cash", sold["card"]: "card"}
    back = store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", "r1", sold["cash"], "ill", "refund"))
    assert back.ok and back.total_cents == 3000
    assert store.shift_report("fest", shift["shift_id"])["expected_cash_cents"] == 10_000   # handed back in cash


def test_an_invoice_paid_on_a_later_shift_counts_once_on_the_day_it_was_paid(store, tmp_path):
    """Sold on invoice in Monday's shift (closed unpaid: listed as an invoice, not settled), paid in cash in
    Tuesday's shift: Tuesday counts it once, in cash and in the drawer, as a pending order paid; Monday's kept report
    is not changed."""
    from server_stub.reports import z_text
    store.register_device("fest", "kiosk-1", role="kiosk")
    e = store.create_event("fest", "Night", NOW - 3600, NOW + 7200, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.set_price("fest", e, 1, 1500)
    monday = store.open_shift("fest", "kiosk-1", 0)
    a = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", uuid.uuid4().hex, e, (SaleLine(1, 2),),
                                                  payment="invoice"))
    kept = store.close_shift("fest", monday["shift_id"], 0)["report"]
    assert kept["payments"] == {"invoice": 3000} and kept["expected_cash_cents"] == 0
    assert kept["invoices"] == {"count": 1, "total_cents": 3000, "settled_count": 0, "settled_cents": 0}
    tuesday = store.open_shift("fest", "kiosk-1", 0)
    _paid_at_the_kiosk(store, tmp_path, a.order_number, "cash")
    z = store.shift_report("fest", tuesday["shift_id"])
    assert z["sales"]["count"] == 0 and z["payments"] == {"cash": 3000}
    assert z["pending_paid"] == {"count": 1, "total_cents": 3000} and z["expected_cash_cents"] == 3000
    assert store.shift_report("fest", monday["shift_id"]) == kept
    text = z_text(kept, lambda t: "-")
    assert "Invoices issued            1: " in text and "settled 0: " in text


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_agent_pay_reaches_the_till_through_the_commands(tmp_path):
    """`ticketgate agent pay N --payment card` on an enrolled kiosk, synced: the kiosk's open shift counts it
    (`server till z-report`), under card, and the drawer does not; a method the desk cannot take is a usage error."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    number, _ = _order(home, "--pending")
    with _enrolled_door(home, gate="desk", events="1", role="kiosk"):
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        shift = json.loads(tg(home, "server", "till", "open", device, "--float-cents", "5000", "--json").stdout)
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert tg(home, "agent", "pay", number, "--payment", "invoice", ok=False).returncode == 2
        tg(home, "agent", "pay", number, "--payment", "card", "--reference", "AUTH-1")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        z = json.loads(tg(home, "server", "till", "z-report", str(shift["shift_id"]), "--json").stdout)
        assert z["pending_paid"]["count"] == 1 and "card" in z["payments"] and z["expected_cash_cents"] == 5000
        assert "Pending orders paid        1" in tg(home, "server", "till", "z-report", str(shift["shift_id"])).stdout
