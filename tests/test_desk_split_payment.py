"""Split payment at the kiosk: one order paid partly in cash, partly by card (or several cards). The sale (online
and offline), a pending order's payment and the CLI's `agent pay --split` carry each part to the server; the Z
report counts each under its method and only the cash part in the drawer; the receipt lists the parts; a refund
hands each part back the way it was paid (the card part on the card), in the app's language."""
from __future__ import annotations

import json

import pytest

from agent.sync.messages import PaymentPart, RefundRequest, SaleLine, SaleRequest
from drivers.printers.escpos_render import escpos_text
from kiosk_ui import i18n
from kiosk_ui.desk_payment import take_payment
from kiosk_ui.presenters.cart import refund_message
from kiosk_ui.services import Payment
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.kiosk_desk_field import priced_kiosk_store
from tests.qa_organiser import tg
from tests.sync_fixtures import ORG
from tests.test_desk_online import counter  # noqa: F401  (the fixture)

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
SPLIT = (("cash", 2000, ""), ("card", 3000, "AUTH-1"))


@needs_broker
def test_a_sale_paid_part_cash_part_card_is_counted_printed_and_refunded_per_method(counter):  # noqa: F811
    store, event, _, sim, ctl, desk, _, receipts, _ = counter
    desk.till("open", 10000)
    flow = ctl.sale
    flow.choose(event)
    flow.add(2, 1)                                                               # 50.00
    short = flow.confirm(Payment(parts=(("cash", 2000, ""), ("card", 2000, "AUTH-1"))))
    assert not short.result.ok and short.result.problem == "The parts of the payment do not add up to the total."
    outcome = flow.confirm(Payment(given_cents=2500, parts=SPLIT))
    sold = outcome.result
    assert sold.ok and not sold.offline, sold.problem
    text = escpos_text([j for j in receipts.jobs if j][-1])
    for label, value in (("Payment", "split"), ("Cash", "EUR 20.00"), ("Card (terminal)", "EUR 30.00"),
                         ("Terminal ref.", "AUTH-1"), ("Given", "EUR 25.00"), ("Change", "EUR 5.00")):
        assert any(line.strip().startswith(label) and line.endswith(value) for line in text), (label, text)
    z = desk.till("close", 12000).report                                        # float + the 20.00 cash part
    assert z["payments"] == {"card": 3000, "cash": 2000} and z["expected_cash_cents"] == 12000, z
    assert z["difference_cents"] == 0
    desk.till("open", 10000)
    back = ctl.sale.refund(sold.order_number, "Buyer cannot come")
    assert back.ok and back.amount_cents == -5000 and back.parts == (("cash", 2000), ("card", 3000)), back
    assert refund_message(sold.order_number, back) == \
        f"Order {sold.order_number} refunded: hand back EUR 20.00 Cash and EUR 30.00 Card (terminal)."
    i18n.set_language("fr")
    try:
        assert refund_message(sold.order_number, back) == \
            f"Commande {sold.order_number} remboursée : rendez 20,00 EUR Espèces et 30,00 EUR Carte (terminal)."
    finally:
        i18n.set_language("en")
    z = desk.till("close", 8000).report                                         # only the cash part left the drawer
    assert (z["expected_cash_cents"], z["difference_cents"], z["refunds"]["total_cents"]) == (8000, 0, 5000), z


@needs_broker
def test_an_offline_split_sale_and_a_pending_order_paid_split_reach_the_server(counter):  # noqa: F811
    store, event, _, sim, ctl, desk, _, _, _ = counter
    assert desk.refill() == "" and desk.certificate() is not None
    desk.till("open", 0)
    pending = store.add_order(ORG, event, "Ann", status="pending", positions=[{"category": 1}] * 2)["number"]  # 40.00
    assert wait_for(lambda: desk.online and ctl.door.ledger.order_due(pending), 30)
    sim.go_offline()
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 1)
    flow.add(2, 1)                                                               # 70.00, offline
    cut = flow.confirm(Payment(parts=(("card", 4000, "A1"), ("card", 1000, "A2"), ("cash", 2000, ""))))
    assert cut.result.ok and cut.result.offline, cut.result.problem
    paid = take_payment(ctl.door, pending, "cash", "40", parts=(("voucher", 1500, "V-9"), ("cash", 2500, "")))
    assert paid.ok, paid.message
    sim.go_online()
    assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30)
    assert wait_for(lambda: store.order(pending)["status"] == "paid", 30)
    assert store.order(cut.result.order_number)["status"] == "paid"
    assert wait_for(lambda: desk.online, 30)             # (the desk's online state follows the reconnection)
    closed = desk.till("close", 4500)
    assert not isinstance(closed, str), closed
    z = closed.report
    assert z["payments"] == {"card": 5000, "cash": 4500, "voucher": 1500}, z
    assert (z["expected_cash_cents"], z["difference_cents"]) == (4500, 0), z
    sent = [a for a in store.kiosk_actions(ORG) if a.get("action") == "payment_validated"]
    assert [(p["method"], p["cents"]) for p in sent[-1]["parts"]] == [("voucher", 1500), ("cash", 2500)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_server_refuses_parts_that_do_not_add_up_and_an_invoice_split(tmp_path, request, backend):
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    with priced_kiosk_store(tmp_path, db) as (store, event):

        def sale(parts, payment="cash"):
            return store.sell(ORG, "kiosk-1", SaleRequest(org=ORG, device="kiosk-1", request_id=f"r{len(parts)}{payment}",
                                                          target_id=event, lines=(SaleLine(1, 2),), payment=payment,
                                                          parts=parts))
        wrong = sale((PaymentPart("cash", 1000), PaymentPart("card", 2000, "X")))
        assert not wrong.ok and wrong.reason_code == "parts_total"
        assert wrong.reason_params == {"total": "40.00 EUR", "paid": "30.00 EUR"}
        assert not sale((PaymentPart("cash", 2000), PaymentPart("card", 2000, "X")), "invoice").ok
        right = sale((PaymentPart("cash", 1000), PaymentPart("card", 1000, "X"), PaymentPart("card", 2000, "Y")))
        assert right.ok and [p.cents for p in right.parts] == [1000, 1000, 2000]
        assert store.paid_parts_of(right.order_number) == right.parts
        back = store.desk_refund(ORG, "kiosk-1", RefundRequest(org=ORG, device="kiosk-1", request_id="back",
                                                               order_number=right.order_number, reason="ill"))
        assert back.ok and back.total_cents == 4000 and back.parts == right.parts          # each part handed back
        moves = store.desk_moves(ORG, "kiosk-1", 0)
        assert [(m["kind"], m["parts"]) for m in moves] == [
            ("sale", [("cash", 1000), ("card", 1000), ("card", 2000)]),
            ("refund", [("cash", 1000), ("card", 1000), ("card", 2000)])]


def test_agent_pay_split_sends_each_part(tmp_path):
    from kiosk_ui.demo_data import seed
    demo = seed(tmp_path / "device")
    demo.door.ledger.upsert_tickets([{"ticket_key": "7101", "event_id": 1, "order_number": "INV-5", "buyer_name": "Di",
                                      "category": 1, "zone": None, "order_status": "pending"}])
    demo.door.ledger.set_order_dues([("INV-5", 5000, "EUR")])
    demo.door.close()
    short = tg(tmp_path, "agent", "pay", "INV-5", "--split", "cash:20,card:20:AUTH", ok=False)
    assert short.returncode == 1 and "50.00 EUR to collect, not 40.00 EUR" in short.stderr, short.stderr
    bad = tg(tmp_path, "agent", "pay", "INV-5", "--split", "cash:50", ok=False)
    assert bad.returncode == 2 and "2 to 4 parts" in bad.stderr
    done = tg(tmp_path, "agent", "pay", "INV-5", "--split", "cash:20,card:30:AUTH", "--json")
    out = json.loads(done.stdout)
    assert out["amount_cents"] == 5000 and [(p["method"], p["cents"], p["reference"]) for p in out["parts"]] == \
        [("cash", 2000, ""), ("card", 3000, "AUTH")]


def test_a_pending_order_paid_several_ways_at_the_ticket_desk_typed_on_one_line(tmp_path, french):
    """Ticket desk, Payment received, "Split (several ways)": the parts typed on one line, in French words too."""
    from kiosk_ui.demo_data import seed
    from kiosk_ui.presenters.cart import read_parts
    demo = seed(tmp_path / "device")
    door = demo.door
    door.ledger.upsert_tickets([{"ticket_key": "7201", "event_id": 1, "order_number": "INV-6", "buyer_name": "Eve",
                                 "category": 1, "zone": None, "order_status": "pending"}])
    door.ledger.set_order_dues([("INV-6", 5000, "EUR")])
    try:
        assert read_parts("espèces 20") == ((), "Split the payment in 2 to 4 parts of cash, card or voucher.")
        assert read_parts("cash 20, card 30") == ((), "Type the terminal's or the voucher's reference.")
        short, _ = read_parts("espèces 20,50; carte 20 A1")
        wrong = take_payment(door, "INV-6", short[0][0], "", short)
        assert not wrong.ok and wrong.message == \
            "Commande INV-6 : 50,00 EUR à encaisser, pas 40,50 EUR. Aucun paiement enregistré."
        parts, why = read_parts("espèces 20,50; carte 29,50 A1")
        assert why == "" and parts == (("cash", 2050, ""), ("card", 2950, "A1"))
        done = take_payment(door, "INV-6", parts[0][0], "", parts)
        assert done.ok and done.message == "Paiement enregistré pour 1 billet."
        (sent,) = [b for _, kind, b in door.ledger.outbox_pending() if b.get("action") == "payment_validated"]
        assert (sent["amount_cents"], sent["payment"]) == (5000, "cash")
        assert [(p["method"], p["cents"], p["reference"]) for p in sent["parts"]] == [("cash", 2050, ""),
                                                                                    ("card", 2950, "A1")]
    finally:
        door.close()


@needs_broker
def test_an_exchange_difference_is_collected_and_handed_back_several_ways(counter, french):  # noqa: F811
    """Ticket desk, Exchange ticket, "Split (several ways)": the price difference typed on one line is collected
    (then handed back) part by part; the server keeps the parts, the Z report counts each under its method and only
    the cash part in the drawer. Parts that do not add up are refused, saying the difference, nothing exchanged.
    Before: one method only (all of it under cash or card)."""
    from kiosk_ui.presenters.cart import exchange_message, read_parts
    store, event, _, sim, ctl, desk, _, receipts, _ = counter
    desk.till("open", 10000)
    flow = ctl.sale
    flow.choose(event)
    flow.add(1)
    sold = flow.confirm(Payment("cash", given_cents=2000)).result                  # 20.00 cash
    assert sold.ok and not sold.offline, sold.problem
    (old,) = sold.ticket_keys
    short, _ = read_parts("cash 10, card 10 A1")
    wrong = flow.exchange(old, "Upgrade of category", event, 2, short[0][0], short)
    assert not wrong.ok and wrong.problem == \
        "Les parts font 20.00 EUR, la différence de prix est de 30.00 EUR : rien n'est échangé.", wrong
    assert ctl.door.ticket_state(old, at_this_gate=False) != "revoked" and store.ticket(old)["category"] == 1
    parts, why = read_parts("espèces 10; carte 20 A1")                              # typed in French words too
    up = flow.exchange(old, "Upgrade of category", event, 2, parts[0][0], parts)
    assert up.ok and up.amount_cents == 3000 and up.parts == (("cash", 1000), ("card", 2000)), up
    assert exchange_message(up) == "Échangé : encaissez 10,00 EUR Espèces et 20,00 EUR Carte (terminal)."
    printed = ctl.sale.print_exchanged(up)                 # the new ticket, then the slip on the receipt printer
    assert printed is not None and printed.ok and ctl.sale.last_slip is not None and ctl.sale.last_slip.ok
    slip = escpos_text([j for j in receipts.jobs if j][-1])
    for label, value in (("1 x Exchange: Premium", "EUR 30.00"), ("Total", "EUR 30.00"),
                         ("Payment", "split"), ("Cash", "EUR 10.00"), ("Card (terminal)", "EUR 20.00"),
                         ("Terminal ref.", "A1")):
        assert any(line.strip().startswith(label) and line.endswith(value) for line in slip), (label, slip)
    (new,) = up.ticket_keys
    back, _ = read_parts("cash 5, voucher 25 V-3")
    down = flow.exchange(new, "Wrong date bought", event, 1, back[0][0], back)
    assert down.ok and down.amount_cents == -3000 and down.parts == (("cash", 500), ("voucher", 2500)), down
    assert exchange_message(down) == "Échangé : rendez 5,00 EUR Espèces et 25,00 EUR Bon / avoir d'échange."
    i18n.set_language("en")
    assert exchange_message(down) == "Exchanged: hand back EUR 5.00 Cash and EUR 25.00 Voucher / exchange credit."
    kept = [(p, [(x["method"], x["cents"]) for x in json.loads(a)["parts"]])
            for a, p in store.q("SELECT answer, payment FROM desk_requests WHERE kind='exchange' ORDER BY at")]
    assert kept == [("split", [("cash", 1000), ("card", 2000)]), ("split", [("cash", 500), ("voucher", 2500)])]
    z = desk.till("close", 12500).report                   # float 100 + sale 20 + 10 collected - 5 handed back
    assert z["exchanges"]["payments"] == {"card": 2000, "cash": 500, "voucher": -2500}, z["exchanges"]
    assert (z["exchanges"]["collected_cents"], z["exchanges"]["refunded_cents"]) == (3000, 3000), z["exchanges"]
    assert (z["expected_cash_cents"], z["difference_cents"]) == (12500, 0), z
    from kiosk_ui.presenters.till import z_rows
    i18n.set_language("fr")                                 # the kiosk's cash-up screen: each method settled
    rows = z_rows(z)
    assert ("  Carte (terminal)", "20,00 EUR") in rows and ("  Bon / avoir d'échange", "-25,00 EUR") in rows, rows
