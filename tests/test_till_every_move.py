"""Every cent a desk takes is in exactly one Z report (server_stub/store/reports.py, both store backends): a sale made
while no shift was open, a payment whose kiosk clock was set back, an exchange recorded offline; the Z reports of a
desk's shifts add up to its sales in `report sales`; `till list` names what no Z report holds yet."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from agent.sync.messages import Exchange, ExchangeRequest, PaymentValidated, SaleLine, SaleRequest
from kiosk_ui.presenters.till import z_rows
from server_stub.cli_output import when
from server_stub.reports import z_text
from server_stub.sync.contract import Upload

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()


def _desk(store) -> int:
    store.register_device("fest", "kiosk-1", role="kiosk")
    e = store.create_event("fest", "Night", NOW - 3600, NOW + 7200, "Europe/Paris",
                           categories=[{"category_id": 1, "name": "Standard"}, {"category_id": 2, "name": "Reduced"}])
    store.set_price("fest", e, 1, 1550)
    store.set_price("fest", e, 2, 1550)        # the same price: an offline exchange between them settles nothing
    return e


def _sell(store, e, n=1, payment="cash"):
    req = SaleRequest("fest", "kiosk-1", uuid.uuid4().hex, e, (SaleLine(1, n),), payment=payment,
                      payment_ref="T-1" if payment == "card" else "")
    a = store.sell("fest", "kiosk-1", req)
    assert a.ok, a.reason
    return a


def test_a_sale_made_while_no_shift_was_open_is_in_the_next_shifts_z_report(store):
    e = _desk(store)
    before_any = _sell(store, e)                                  # the clerk forgot to open the shift
    first = store.open_shift("fest", "kiosk-1", 10_000)
    during = _sell(store, e, 2)
    z1 = store.close_shift("fest", first["shift_id"], 10_000 + 3 * 1550)["report"]
    between = _sell(store, e, 1, payment="card")                   # after closing, before the next shift
    assert [m["order"] for m in store.outside_shifts("fest", "kiosk-1")] == [between.order_number]
    second = store.open_shift("fest", "kiosk-1", 5_000)
    assert store.outside_shifts("fest", "kiosk-1") == []          # the open shift's now
    z2 = store.close_shift("fest", second["shift_id"], 5_000)["report"]
    # the first shift: its own sale; the one before it listed apart, its cash not in the float nor expected
    assert z1["sales"]["total_cents"] == 2 * 1550 and z1["expected_cash_cents"] == 10_000 + 2 * 1550
    assert z1["difference_cents"] == 1550                       # the drawer over by the sale made before
    assert z1["outside_shift"] == {"count": 1, "total_cents": 1550, "cash_cents": 1550, "moves": [
        dict(z1["outside_shift"]["moves"][0], what="sale", order=before_any.order_number, payment="cash",
             amount_cents=1550, cash_cents=1550)]}
    assert z2["sales"]["count"] == 0 and z2["payments"] == {}
    assert z2["outside_shift"]["count"] == 1 and z2["outside_shift"]["total_cents"] == 1550
    assert z2["outside_shift"]["cash_cents"] == 0 and z2["outside_shift"]["moves"][0]["payment"] == "card"
    assert "TAKEN OUTSIDE A SHIFT" in z_text(z1, when) and f"sale {before_any.order_number}" in z_text(z1, when)
    kiosk = dict(z_rows(z1))                                       # the kiosk's cash-up screen shows it too
    assert kiosk["Taken outside a shift"] == "1 · EUR 15.50", kiosk
    assert kiosk["  Cash before the shift, not in the expected cash"] == "EUR 15.50"
    # every sale in exactly one Z report: its sales or taken outside a shift, adding up to the sales report
    sold = sum(x["total_cents"] for x in store.sales_lines("fest"))
    assert sum(z["sales"]["total_cents"] + z["outside_shift"]["total_cents"] for z in (z1, z2)) == sold == 4 * 1550
    assert z1["sales"]["count"] == 1 and during.total_cents == 2 * 1550
    # kept as closed: a later sale changes neither
    _sell(store, e)
    assert store.shift_report("fest", first["shift_id"]) == z1
    assert store.shift_report("fest", second["shift_id"]) == z2


def test_a_payment_from_a_kiosk_whose_clock_was_set_back_counts_in_the_open_shift(store):
    e = _desk(store)
    order = store.add_order("fest", e, "Invoice buyer", status="pending", positions=[{"category": 1}])
    shift = store.open_shift("fest", "kiosk-1", 0)
    late_clock = PaymentValidated(order["number"], "kiosk-1", "desk", at=NOW - 86_400, payment="cash")
    assert not store.ingest_uploads([Upload("fest", "kiosk-1", 1, late_clock)]).refused
    z = store.close_shift("fest", shift["shift_id"], 1550)["report"]
    assert z["pending_paid"] == {"count": 1, "total_cents": 1550} and z["payments"] == {"cash": 1550}
    assert z["expected_cash_cents"] == 1550 and z["difference_cents"] == 0


def test_an_exchange_recorded_offline_is_counted_in_the_z_report(store):
    e = _desk(store)
    sale = _sell(store, e)
    shift = store.open_shift("fest", "kiosk-1", 0)
    offline = Exchange(sale.tickets[0].ticket_key, "student", "kiosk-1", category=2, at=NOW - 600)
    assert not store.ingest_uploads([Upload("fest", "kiosk-1", 2, offline)]).refused
    refused = Exchange(sale.tickets[0].ticket_key, "again", "kiosk-1", at=NOW)     # exchanged already: refused
    assert store.ingest_uploads([Upload("fest", "kiosk-1", 3, refused)]).refused
    z = store.close_shift("fest", shift["shift_id"], 1550)["report"]
    assert z["exchanges"] == {"count": 1, "collected_cents": 0, "refunded_cents": 0, "payments": {}}
    assert z["outside_shift"]["count"] == 1 and z["outside_shift"]["moves"][0]["what"] == "sale"
    assert z["expected_cash_cents"] == 0 and z["difference_cents"] == 1550


def test_till_list_names_the_takings_no_z_report_holds_yet(tmp_path):
    data = tmp_path / "srv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*argv):
        done = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout
    run("init", "--org", "fest", "--name", "Fest")
    from server_stub.store import SqliteStore
    store = SqliteStore.open(data)
    try:
        e = _desk(store)
        shift = store.open_shift("fest", "kiosk-1", 0)
        store.close_shift("fest", shift["shift_id"], 0)
        late = _sell(store, e, 2)
    finally:
        store.close()
    out = run("till", "list")
    assert ("kiosk-1: 1 desk move(s) while no shift was open, 31.00 EUR (cash 31.00 EUR): in no Z report yet, its "
            "next shift's") in out, out
    listed = json.loads(run("till", "list", "--json"))
    assert [s["shift_id"] for s in listed] == [shift["shift_id"], None]
    assert [m["order"] for m in listed[1]["outside_shift"]["moves"]] == [late.order_number]


def test_a_report_kept_before_the_outside_section_is_compared_on_its_own_window(store):
    """A Z report kept by an older version counted only the moves of its shift's own hours: a sale made before that
    shift and rolled back later is not one of its moves, so it is not "cancelled by rollback after closing" there."""
    e = _desk(store)
    _sell(store, e)                                               # before the shift, in no report of that version
    shift = store.open_shift("fest", "kiosk-1", 0)
    z = store.close_shift("fest", shift["shift_id"], 0)["report"]
    old = {k: v for k, v in z.items() if k != "outside_shift"}      # as that version kept it
    with store.tx() as c:
        c.execute("UPDATE till_shifts SET report=? WHERE shift_id=?", (json.dumps(old), shift["shift_id"]))
    store.revoke_device("kiosk-1")
    store.rollback_device("kiosk-1", "stolen")
    assert store.shift_report("fest", shift["shift_id"]) == old


def test_the_z_report_names_its_categories(store):
    e = _desk(store)
    shift = store.open_shift("fest", "kiosk-1", 0)
    _sell(store, e, 2)
    text = z_text(store.close_shift("fest", shift["shift_id"], 3100)["report"], when)
    assert any(line.startswith("  Standard ") and line.endswith("2 x = 31.00 EUR") for line in text.splitlines()), text
    assert "cat 1" not in text


def test_an_unpriced_order_exchanged_at_the_desk_counts_its_tickets_once(store):
    """`report sales` says how many sold tickets have no price (the organiser's own orders): one exchanged at a
    desk counted the ticket it replaced too."""
    e = _desk(store)
    order = store.add_order("fest", e, "Guest", positions=[{"category": 1}])
    assert store.unpriced_tickets("fest") == 1
    answer = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1",
                                                                    order["tickets"][0]["ticket_key"], "torn"))
    assert answer.ok, answer.reason
    assert store.unpriced_tickets("fest") == store.unpriced_tickets("fest", e) == 1


def test_an_offline_invoice_sale_paid_offline_is_reported_and_refunded_the_way_it_was_paid(store):
    """A kiosk offline sells on invoice, then takes the payment by card; both arrive in one upload. The server files
    the sale when it reconciles it, a moment after the payment: `report sales` said "invoice" for the paid order, and
    a refund handed the card payment back in cash (taken from the drawer's expected cash)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.allotment import offline_order_number
    from agent.sync.messages import OfflineSale, RefundRequest, SoldTicket
    e = _desk(store)
    store.register_device("fest", "kiosk-1", events=[e], role="kiosk")
    store.set_quota("fest", e, 50)
    store.current_key("fest")
    store.set_allotment_size("fest", "kiosk-1", [e], 5, hours=4)
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                  serialization.PublicFormat.Raw)
    cert = store.grant_allotment("fest", "kiosk-1", raw)
    shift = store.open_shift("fest", "kiosk-1", 10_000)
    number = offline_order_number("kiosk-1", cert.allotment_id, cert.first_id, cert.first_id)
    sale = OfflineSale("s1", cert.allotment_id, e, (SoldTicket(str(cert.first_id), 1),), 1550, "kiosk-1",
                       currency="EUR", payment="invoice", at=NOW - 600, order_number=number)
    paid = PaymentValidated(number, "kiosk-1", "desk", at=NOW - 300, payment="card", amount_cents=1550)
    assert not store.ingest_uploads([Upload("fest", "kiosk-1", 1, sale), Upload("fest", "kiosk-1", 2, paid)]).refused
    assert [(x["order"], x["payment"], x["by_method"]) for x in store.sales_lines("fest")] == \
        [(number, "card", {"card": 1550})]
    back = store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", "r1", number, "ill", "refund"))
    assert back.ok and [(p.method, p.cents) for p in back.parts] == [("card", 1550)]
    z = store.close_shift("fest", shift["shift_id"], 10_000)["report"]
    assert z["payments"] == {"card": 1550} and z["expected_cash_cents"] == 10_000 and z["difference_cents"] == 0


def test_an_organisers_order_exchanged_for_a_difference_is_reported_and_rolled_back(store):
    """The organiser's order of two Standard tickets (15.50, paid elsewhere: no priced line), one exchanged at the desk
    for a VIP (40.00: 24.50 collected). `report sales` held none of the 24.50 the Z report counted; now the order's
    lines hold it (under that desk), its other ticket is still counted as unpriced, and a rollback of the stolen
    kiosk takes the lines away again."""
    from server_stub.reports import sales_summary
    e = _desk(store)
    store.set_price("fest", e, 2, 4000)
    order = store.add_order("fest", e, "Guest", positions=[{"category": 1}, {"category": 1}])
    shift = store.open_shift("fest", "kiosk-1", 0)
    swap = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", order["tickets"][0][
        "ticket_key"], "upgrade", category=2, payment="card"))
    assert swap.ok and swap.difference_cents == 2450, swap
    z = store.shift_report("fest", shift["shift_id"])
    report = sales_summary(store.sales_lines("fest", e))
    assert z["exchanges"]["payments"] == {"card": 2450} and report["totals"]["total_cents"] == 2450, report
    assert {k: v["total_cents"] for k, v in report["by"]["desk"].items()} == {"kiosk-1": 2450}, report["by"]
    assert {k: v["total_cents"] for k, v in report["by"]["payment"].items()} == {"card": 2450}, report["by"]
    assert report["totals"]["tickets"] == 1 and store.unpriced_tickets("fest", e) == store.unpriced_tickets("fest") == 1
    store.revoke_device("kiosk-1")
    store.rollback_device("kiosk-1", "stolen")
    assert store.sales_lines("fest") == [] and store.unpriced_tickets("fest") == 2
