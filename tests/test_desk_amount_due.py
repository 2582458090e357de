"""Taking the payment of a pending (invoice) order at the kiosk: the kiosk holds the order's amount due (the
server's kiosk bundles carry it, kept current when the organiser's prices change; the kiosk's own sale on invoice,
online or offline, keeps its total), shows it in its language, refuses another amount clearly with nothing
recorded, and the payment with its amount reaches the server (order paid, the till counts it). The server refuses a
payment of another amount than due (a kiosk that held a stale figure). `ticketgate agent pay --amount` does the
same from a terminal."""
from __future__ import annotations

import json

import pytest

from agent.sync.messages import PaymentValidated
from kiosk_ui import i18n
from kiosk_ui.desk_payment import amount_due, take_payment
from kiosk_ui.services import Payment
from server_stub.sync.contract import Upload
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.kiosk_desk_field import priced_kiosk_store
from tests.qa_organiser import tg
from tests.sync_fixtures import ORG
from tests.test_desk_online import counter  # noqa: F401  (the fixture)

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _kiosk_messages(ctl) -> list[dict]:
    return [body for _, kind, body in ctl.door.ledger.outbox_pending() if kind == "kiosk"]


@needs_broker
def test_the_kiosk_shows_the_amount_due_refuses_another_and_the_payment_reaches_the_server(counter):  # noqa: F811
    store, event, _, sim, ctl, desk, _, _, _ = counter
    number = store.add_order(ORG, event, "Ann", status="pending", positions=[{"category": 2}])["number"]
    assert wait_for(lambda: amount_due(ctl.door, number) == "EUR 50.00", 30), amount_due(ctl.door, number)
    i18n.set_language("fr")
    try:
        assert amount_due(ctl.door, number.lower()) == "50,00 EUR"                 # typed in any case
        wrong = take_payment(ctl.door, number, "cash", "40")
        assert not wrong.ok and wrong.message == \
            f"Commande {number} : 50,00 EUR à encaisser, pas 40,00 EUR. Aucun paiement enregistré.", wrong
        none = take_payment(ctl.door, number, "cash", "")
        assert not none.ok and none.message == "Tapez le montant reçu : 50,00 EUR à encaisser."
    finally:
        i18n.set_language("en")
    assert ctl.door.ledger.order_statuses(number) == {"pending"} and not _kiosk_messages(ctl)    # nothing recorded
    store.set_price(ORG, event, 2, 6000)                  # the organiser's price changes: the amount due follows
    assert wait_for(lambda: amount_due(ctl.door, number) == "EUR 60.00", 30), amount_due(ctl.door, number)
    desk.till("open", 10000)
    paid = take_payment(ctl.door, number, "cash", "60,00")
    assert paid.ok and paid.tickets == 1 and paid.message == "Payment recorded for 1 ticket."
    assert ctl.door.ticket_state(ctl.door.ledger.order_tickets(number)[0], at_this_gate=False) == "valid"
    assert amount_due(ctl.door, number) == ""                                       # paid: nothing more to collect
    assert wait_for(lambda: store.order(number)["status"] == "paid", 30)
    (sent,) = [a for a in store.kiosk_actions(ORG) if a.get("action") == "payment_validated"]
    assert (sent["order_number"], sent["amount_cents"], sent["payment"]) == (number, 6000, "cash")
    z = desk.till("close", 16000).report
    assert (z["expected_cash_cents"], z["difference_cents"]) == (16000, 0), z       # the 60.00 in the drawer


@needs_broker
def test_the_kiosks_own_invoice_sales_keep_their_total_as_the_amount_due_online_and_offline(counter):  # noqa: F811
    store, event, _, sim, ctl, desk, _, _, _ = counter
    assert desk.refill() == "" and desk.certificate() is not None        # the allotment, granted online
    flow = ctl.sale
    flow.choose(event)
    flow.add(2, 1)
    online = flow.confirm(Payment("invoice")).result
    assert online.ok and not online.offline and online.status == "pending"
    assert amount_due(ctl.door, online.order_number) == "EUR 50.00"
    sim.go_offline()
    flow.choose(event)
    flow.add(1, 2)
    offline = flow.confirm(Payment("invoice")).result
    assert offline.ok and offline.offline and offline.status == "pending"
    assert amount_due(ctl.door, offline.order_number) == "EUR 40.00"
    assert take_payment(ctl.door, offline.order_number, "card", "40").ok       # paid before its sale uploaded
    sim.go_online()
    assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30)
    assert wait_for(lambda: store.order(offline.order_number)["status"] == "paid", 30)
    assert amount_due(ctl.door, online.order_number) == "EUR 50.00"             # still due after the deltas


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_server_refuses_a_payment_of_another_amount_than_due(tmp_path, request, backend):
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with priced_kiosk_store(tmp_path, db) as (store, event):
        number = store.add_order(ORG, event, "Bo", status="pending", positions=[{"category": 1}] * 2)["number"]
        assert store.order_due(number) == {"cents": 4000, "currency": "EUR"}
        since = store.version(ORG)
        store.set_price(ORG, event, 1, 2500)             # its amount due follows, and its rows go in the next delta
        assert store.order_due(number) == {"cents": 5000, "currency": "EUR"} and store.version(ORG) > since
        assert {r["order_number"] for r in store.tickets_for_event(event, since)} == {number}
        store.set_price(ORG, event, 1, 2000)
        short = PaymentValidated(number, "kiosk-1", "desk", at=1.0, payment="cash", amount_cents=2000)
        result = store.ingest_uploads([Upload(ORG, "kiosk-1", 1, short)])
        why = result.refused[("kiosk-1", 1)]
        assert why.code == "wrong_amount" and why.params == {"order": number, "due": "40.00 EUR", "given": "20.00 EUR"}
        assert store.order(number)["status"] == "pending"
        right = PaymentValidated(number, "kiosk-1", "desk", at=2.0, payment="cash", amount_cents=4000)
        assert not store.ingest_uploads([Upload(ORG, "kiosk-1", 2, right)]).refused
        assert store.order(number)["status"] == "paid" and store.order_due(number) is None


def test_agent_pay_refuses_another_amount_than_due_and_sends_the_one_collected(tmp_path):
    from kiosk_ui.demo_data import seed
    demo = seed(tmp_path / "device")
    ledger = demo.door.ledger
    ledger.upsert_tickets([{"ticket_key": "7001", "event_id": 1, "order_number": "INV-9", "buyer_name": "Cy",
                            "category": 1, "zone": None, "order_status": "pending"}])
    ledger.set_order_dues([("INV-9", 3550, "EUR")])
    demo.door.close()
    wrong = tg(tmp_path, "agent", "pay", "inv-9", "--amount", "35", ok=False)
    assert wrong.returncode == 1 and "order INV-9: 35.50 EUR to collect, not 35.00 EUR: no payment recorded" in \
        wrong.stderr, wrong.stderr
    done = tg(tmp_path, "agent", "pay", "INV-9", "--amount", "35.50", "--payment", "card", "--reference", "AUTH-2",
              "--json")
    out = json.loads(done.stdout)
    assert (out["tickets"], out["amount_cents"], out["currency"]) == (1, 3550, "EUR")


def test_an_event_taken_away_takes_its_orders_amounts_due_with_it(tmp_path):
    """`server device events --remove`: the kiosk forgets the event's tickets, and the amounts due of their orders."""
    from agent.ledger import Ledger
    led = Ledger.open(tmp_path / "ledger.sqlite")
    try:
        led.upsert_events([{"event_id": 1, "name": "Fri"}, {"event_id": 2, "name": "Sat"}])
        led.upsert_tickets([{"ticket_key": "1", "event_id": 1, "order_number": "F-1", "order_status": "pending"},
                            {"ticket_key": "2", "event_id": 2, "order_number": "S-1", "order_status": "pending"}])
        led.set_order_dues([("F-1", 2000, "EUR"), ("S-1", 3000, "EUR")])
        assert led.forget_events([1]) == 1
        assert (led.order_due("F-1"), led.order_due("S-1")) == (None, (3000, "EUR"))
    finally:
        led.close()
