"""The kiosk's desk without a server (kiosk_ui/adapters/desk.py, presenters/cart.py, desk_flow.py): what it refuses
and why, nothing lost when the printer is off, the allotment's ids never reused after a restart, its key private."""
from __future__ import annotations

import socket
import stat
import time

import pytest

from agent.allotment import Certificate, sign_certificate
from kiosk_ui import i18n
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.desk import CERTIFICATE, KEY_FILE, KioskDesk
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed, seed_desk
from kiosk_ui.desk_flow import SALE_FAILED
from kiosk_ui.presenters.cart import parse_cents, payment_view, sale_message
from kiosk_ui.services import Payment


@pytest.fixture
def kiosk(tmp_path):
    i18n.set_language("en")
    demo = seed(tmp_path)
    desk = KioskDesk(demo.door, tmp_path, clock=lambda: demo.now)
    seed_desk(demo, desk)
    return demo, desk, tmp_path


def _sell(desk, cart, payment=None):
    return desk.sell(desk.quote(1, cart), payment or Payment("cash", given_cents=10**6))


def test_offline_sale_signed_durable_and_admitted(kiosk):
    demo, desk, _ = kiosk
    result = _sell(desk, {1: 2})
    assert result.ok and result.offline and result.order_number == "handheld-3-7-1"
    ledger = demo.door.ledger
    assert [t["order_number"] for t in map(ledger.ticket, result.ticket_keys)] == [result.order_number] * 2
    queued = [body for _, kind, body in ledger.outbox_pending() if body.get("action") == "offline_sale"]
    assert len(queued) == 1 and queued[0]["sale_id"] and len(queued[0]["tickets"]) == 2
    verdict = demo.door.scan(ledger.ticket(result.ticket_keys[0])["payload"])
    assert verdict.accepted


def test_refusals_say_why_and_sell_nothing(kiosk):
    demo, desk, home = kiosk
    ledger = demo.door.ledger
    before = ledger.outbox_size()
    assert desk.quote(1, {3: 1}).problem == "Sold out"
    assert desk.quote(1, {2: 4}).problem == "Not enough left"
    assert "unknown promo code NOPE" in desk.quote(1, {1: 1}, "nope").problem
    assert "at most 10 per order" in desk.quote(1, {1: 11}).problem
    assert desk.quote(99, {1: 1}).problem == "99 is not on sale at this desk"
    assert _sell(desk, {1: 1}, Payment("cash", given_cents=100)).problem == "The cash given does not cover the total."
    assert _sell(desk, {1: 1}, Payment("card")).problem == "Type the terminal's or the voucher's reference."
    assert _sell(desk, {1: 1}, Payment("cash", 10**6, email="not an address")).problem == \
        "This e-mail address is not valid."
    assert ledger.outbox_size() == before
    # the allotment: expired, then none at all, then used up
    late = KioskDesk(demo.door, home, clock=lambda: demo.now + 10 * 86400)
    assert late.sell(late.quote(1, {1: 1}), Payment("invoice")).problem == \
        "Offline, and this kiosk's sales allotment has expired."
    text = ledger.get_setting(CERTIFICATE)
    ledger.set_setting(CERTIFICATE, "not base64!")
    assert _sell(desk, {1: 1}).problem == "Offline, and this kiosk has no sales allotment."
    ledger.set_setting(CERTIFICATE, text)
    ledger.set_setting("desk_allotment_next", Certificate.from_text(text).last_id)
    assert _sell(desk, {1: 2}).problem == "Offline, and this kiosk's sales allotment is used up."
    assert ledger.outbox_size() == before


def test_allotment_for_another_key_or_event_is_refused(kiosk):
    demo, desk, _ = kiosk
    cert = desk.certificate()
    assert cert is not None
    other = sign_certificate(Certificate(**{**cert.__dict__, "public_key": b"\x01" * 32}), demo.key.private_key)
    with pytest.raises(ValueError, match="another key or device"):
        desk.save_certificate(other.to_text())
    assert desk.certificate() == cert
    narrow = sign_certificate(Certificate(**{**cert.__dict__, "allotment_id": 8, "events": (2,)}), demo.key.private_key)
    desk.save_certificate(narrow.to_text())
    refused = _sell(desk, {1: 1})
    assert not refused.ok and "allotment does not cover this event or category" in refused.problem


def test_ids_never_reused_after_a_restart_and_the_key_is_private(kiosk):
    demo, desk, home = kiosk
    first = _sell(desk, {1: 2})
    again = KioskDesk(demo.door, home, clock=lambda: demo.now)        # the app restarted
    assert again.public_key() == desk.public_key()
    second = _sell(again, {1: 1})
    assert second.ok and not set(first.ticket_keys) & set(second.ticket_keys)
    assert int(second.ticket_keys[0]) == int(first.ticket_keys[-1]) + 1
    assert second.order_number == "handheld-3-7-3"
    assert stat.S_IMODE((home / KEY_FILE).stat().st_mode) == 0o600


def test_printer_off_the_sale_is_kept_and_its_tickets_wait_to_print(kiosk):
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))                          # nobody listens: the printer is off
    try:
        demo.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": dead.getsockname()[1], "name": "Off"}])
        ctl.sale.choose(1)
        ctl.sale.add(1, 2)
        outcome = ctl.sale.confirm(Payment("cash", given_cents=10**4))
    finally:
        dead.close()
    assert outcome.result.ok and outcome.tickets is not None and not outcome.tickets.ok
    assert outcome.receipt is not None and not outcome.receipt.ok
    assert sorted(p.ticket_key for p in ctl.pending_prints()) == sorted(outcome.result.ticket_keys)
    assert all(demo.door.ledger.ticket(k) for k in outcome.result.ticket_keys)        # sold, kept
    assert ctl.sale.last_receipt is not None and ctl.sale.last_receipt.order_number == outcome.result.order_number


def test_tickets_taken_back_offline_or_cancelled_leave_the_print_queue(kiosk):
    """Kept tickets (printer off), then one exchanged at the ticket desk offline (what its Exchange does without the
    server) and another order cancelled by the server's sync: "Print all again" prints only the one still valid."""
    from drivers.testkit.fake_printer import FakePrinter
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    ledger = demo.door.ledger
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))                          # nobody listens: the printer is off
    port = dead.getsockname()[1]
    ledger.set_setting("printers", [{"host": "127.0.0.1", "port": port, "name": "Desk"}])
    try:
        sales = []
        for n in (2, 1):
            ctl.sale.choose(1)
            ctl.sale.add(1, n)
            sales.append(ctl.sale.confirm(Payment("cash", given_cents=10**4)).result)
    finally:
        dead.close()
    (exchanged, kept), (cancelled,) = sales[0].ticket_keys, sales[1].ticket_keys
    jobs = {p.ticket_key: p.job_id for p in ctl.pending_prints()}
    assert sorted(jobs) == sorted([exchanged, kept, cancelled])
    assert not desk.online
    demo.door.exchange(exchanged, "Wrong date bought")               # offline: revoked here, queued for the server
    again = ctl.retry_prints(jobs[exchanged])                        # "Print again" on that very ticket
    assert [(j.ticket_key, r.ok, r.printed) for j, r in again] == [(exchanged, False, 0)]
    assert "no longer valid (exchanged: Wrong date bought)" in again[0][1].message
    assert sorted(p.ticket_key for p in ctl.pending_prints()) == sorted([kept, cancelled])
    ledger.set_order_status(sales[1].order_number, "cancelled")      # as the server's sync says
    with FakePrinter("escpos", port=port) as printer:
        results = ctl.retry_prints(None)                             # "Print all again"
        assert [(j.ticket_key, r.ok) for j, r in results] == [(kept, True)]
        got = b"".join(j for j in printer.jobs if j)
    payload = ctl.services.printers.payload
    assert [payload(k).encode() in got for k in (kept, exchanged, cancelled)] == [True, False, False]
    assert ctl.pending_prints() == []


def test_a_ticket_printed_from_two_screens_at_once_is_queued_once_and_printed_once(kiosk):
    """The sold screen's "Print the tickets again" and the ticket desk's "Print tickets" each print off the UI
    thread with their own busy flag: both on a jammed printer (it takes the connection, never answers) each kept the
    ticket, and "Print all again" printed it twice. Prints now take turns on the device's printers."""
    import threading
    from drivers.testkit.fake_printer import FakePrinter
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    jammed = socket.socket()
    jammed.bind(("127.0.0.1", 0))
    jammed.listen(8)                                    # the kernel takes connections; nobody reads nor answers
    port = jammed.getsockname()[1]
    demo.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": port, "name": "Jammed"}])
    try:
        ctl.sale.choose(1)
        ctl.sale.add(1, 1)
        sale = ctl.sale.confirm(Payment("cash", given_cents=10**4)).result   # the printer's timeout, then kept
        (key,) = sale.ticket_keys
        failed: list[BaseException] = []

        def tap() -> None:
            try:
                assert not ctl.print_order(sale.order_number).ok
            except BaseException as exc:        # reported below, not lost in the thread
                failed.append(exc)
        taps = [threading.Thread(target=tap) for _ in range(2)]
        for t in taps:
            t.start()
        for t in taps:
            t.join(30)
        assert not failed and not any(t.is_alive() for t in taps), failed
    finally:
        jammed.close()
    assert [p.ticket_key for p in ctl.pending_prints()] == [key]
    with FakePrinter("escpos", port=port) as printer:
        results = ctl.retry_prints(None)                             # "Print all again"
        got = [j for j in printer.jobs if j]
    assert [(j.ticket_key, r.ok) for j, r in results] == [(key, True)]
    assert len(got) == 1 and ctl.services.printers.payload(key).encode() in got[0]
    assert ctl.pending_prints() == []


def test_receipts_of_the_last_sales_are_kept_across_a_restart_to_print_again(kiosk, monkeypatch):
    """The ticket desk's "Print receipt": the receipt of an earlier sale, after more sales and a restart (a new
    controller on the same ledger); the oldest dropped past the cap; none for an order not sold here."""
    import kiosk_ui.desk_flow as desk_flow
    from drivers.testkit.fake_printer import FakePrinter
    demo, desk, home = kiosk
    monkeypatch.setattr(desk_flow, "RECEIPTS_KEPT", 3)
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    orders = []
    for n in range(1, 5):
        ctl.sale.choose(1)
        ctl.sale.add(1, n if n < 3 else 1)
        orders.append(ctl.sale.confirm(Payment("cash", given_cents=10**4)).result.order_number)
    again = Controller(demo.door, build_services(demo.door, home))
    again.services.desk = desk
    assert again.sale.receipt_of(orders[0]) is None                    # past the cap
    kept = again.sale.receipt_of(orders[1])
    assert kept is not None and kept == ctl.sale.receipt_of(orders[1]) and kept.lines[0].quantity == 2
    assert again.sale.receipt_of("not-sold-here") is None
    assert not again.sale.print_receipt("not-sold-here").ok
    with FakePrinter("escpos") as printer:
        demo.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": printer.port, "name": "Receipts",
                                                    "language": "escpos"}])
        assert again.sale.print_receipt(orders[1]).ok
        assert any(orders[1].encode() in j for j in printer.jobs if j)


def test_amounts_typed_and_the_change_due():
    assert parse_cents("50") == 5000 and parse_cents("50,5") == 5050 and parse_cents(" 12.05 ") == 1205
    for bad in ("", "abc", "1.234", "-5", "1e3", "12,3,4", "²", "5.²"):     # '²': int() raised in the screen
        assert parse_cents(bad) is None, bad
    from kiosk_ui.presenters.cart import NOT_AN_AMOUNT, TOO_LARGE, read_amount
    assert read_amount("123456789") == (None, TOO_LARGE) and read_amount("99999999,99") == (9_999_999_999, "")
    assert read_amount("1.234") == (None, NOT_AN_AMOUNT) and read_amount(",5") == (50, "")
    from kiosk_ui.services import CartQuote
    quote = CartQuote(1, "EUR", total_cents=4500)
    i18n.set_language("en")
    view = payment_view(quote, Payment("cash", given_cents=5000))
    assert view.can_confirm and view.change == "Change due: EUR 5.00"
    assert not payment_view(quote, Payment("cheque")).can_confirm
    i18n.set_language("fr")
    try:
        assert payment_view(quote, Payment("cash", given_cents=4000)).problem == "Le montant remis ne couvre pas le total."
    finally:
        i18n.set_language("en")


def test_the_demo_desk_opens_on_the_sell_screen_through_the_public_command(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    from PIL import Image
    root = Path(__file__).resolve().parent.parent
    shot = tmp_path / "sell.png"
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_CONSOLELOG="1")
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-m", "agent", "kiosk", "--demo", "--screen", "sell", "--lang", "fr",
                           "--size", "720x1280", "--screenshot", str(shot)], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Image.open(shot).size == (720, 1280)


def _finished(flow, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcome = flow.finished()
        if outcome is not None:
            return outcome
        time.sleep(0.01)
    raise AssertionError("the sale never finished")


def test_a_sale_confirmed_in_the_background_sells_once_and_a_failure_is_said(kiosk):
    """DeskFlow.start_confirm (what the Payment screen uses): the outcome comes from finished(), once; the cart is
    cleared only when sold. A damaged allotment key makes the worker fail: said in words, nothing sold, cart kept."""
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    ledger = demo.door.ledger
    ctl.sale.choose(1)
    ctl.sale.add(1, 2)
    assert ctl.sale.start_confirm(Payment("invoice")) is None
    sold = _finished(ctl.sale)
    assert sold.result.ok and sold.result.offline and len(sold.result.ticket_keys) == 2
    assert ctl.sale.finished() is None and ctl.sale.cart == {}             # reported once, the cart emptied
    before = ledger.outbox_size()
    (home / KEY_FILE).write_bytes(b"damaged")
    ctl.services.desk = KioskDesk(demo.door, home, clock=lambda: demo.now)   # the app restarted with the key damaged
    ctl.sale.add(1, 1)
    assert ctl.sale.start_confirm(Payment("invoice")) is None
    failed = _finished(ctl.sale)
    assert not failed.result.ok and failed.result.problem == SALE_FAILED
    i18n.set_language("fr")
    try:
        assert sale_message(failed.result) == ("Non vendu : La vente n'a pas abouti : consultez la dernière commande "
                                               "au guichet avant de vendre à nouveau.")
    finally:
        i18n.set_language("en")
    assert ledger.outbox_size() == before and ctl.sale.cart == {1: 1}
    assert ctl.sale.start_confirm(Payment("invoice")) is None              # not stuck: it can be tried again
    assert not _finished(ctl.sale).result.ok


def test_a_second_confirm_before_the_outcome_is_shown_sells_nothing_more(kiosk):
    """The sale done on its worker but its outcome not yet taken by the Payment screen's poll (every 0.1 s, later on
    a loaded kiosk): the cart was still full and a second Confirm sold it again, a second order whose tickets waited
    in the print queue with the first's (seen once as 2 jobs printed from the queue, tests/test_desk_printer_off.py)."""
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    ledger = demo.door.ledger

    def sales() -> int:
        return sum(1 for _, _, body in ledger.outbox_pending() if body.get("action") == "offline_sale")
    before = sales()
    ctl.sale.choose(1)
    ctl.sale.add(1, 2)
    assert ctl.sale.start_confirm(Payment("invoice")) is None
    worker = ctl.sale._worker
    assert worker is not None
    worker.join(30)                              # sold and printed; the screen has not asked for the outcome yet
    assert not worker.is_alive()
    again = ctl.sale.start_confirm(Payment("invoice"))     # tapped again meanwhile
    assert again is not None and again.result.problem == "The sale is already being confirmed.", again
    sold = _finished(ctl.sale)
    assert sold.result.ok and len(sold.result.ticket_keys) == 2 and ctl.sale.cart == {}
    assert sales() == before + 1 and not ctl.sale.waiting


def test_print_tickets_of_an_order_leaves_out_the_tickets_taken_back(kiosk):
    """The ticket desk's "Print tickets" / "Reprint" printed every ticket of the order, also one exchanged offline
    (the door refuses it): now only the valid ones print; asked for the exchanged one alone, it says why not."""
    from drivers.testkit.fake_printer import FakePrinter
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    with FakePrinter("escpos") as printer:
        demo.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": printer.port, "name": "Desk"}])
        ctl.sale.choose(1)
        ctl.sale.add(1, 2)
        sale = ctl.sale.confirm(Payment("cash", given_cents=10**4)).result
        exchanged, kept = sale.ticket_keys
        demo.door.exchange(exchanged, "Wrong date bought")           # offline: revoked here
        printer.jobs.clear()
        again = ctl.print_order(sale.order_number, reprint=True)
        assert again.ok and again.printed == 1, again
        alone = ctl.print_order(sale.order_number, ticket_keys=(exchanged,))
        assert not alone.ok and "no longer valid (exchanged: Wrong date bought)" in alone.message
        got = b"".join(j for j in printer.jobs if j)
    payload = ctl.services.printers.payload
    assert [payload(k).encode() in got for k in (kept, exchanged)] == [True, False]


def test_print_tickets_again_marks_the_tickets_printed_before_as_copies(kiosk):
    """The ticket desk's "Print tickets" on an order whose tickets had come out already (the sale printed them, or an
    earlier tap) printed them again as originals, unmarked, and told the server "print": two originals of one ticket
    in the buyer's hands and no reprint in the organiser's records. A ticket this kiosk printed before now comes out
    marked REPRINT and is recorded as a reprint; one never printed here is still an original."""
    from drivers.testkit.fake_printer import FakePrinter
    demo, desk, home = kiosk
    ctl = Controller(demo.door, build_services(demo.door, home))
    ctl.services.desk = desk
    ledger = demo.door.ledger
    with FakePrinter("escpos") as printer:
        ledger.set_setting("printers", [{"host": "127.0.0.1", "port": printer.port, "name": "Desk"}])
        sale = _sell(desk, {1: 3})
        first, second, third = sale.ticket_keys
        assert ctl.print_order(sale.order_number, ticket_keys=(first,)).printed == 1
        printer.jobs.clear()
        again = ctl.print_order(sale.order_number)                   # "Print tickets"
        assert again.ok and again.printed == 3, again
        jobs = [j for j in printer.jobs if j]
    payload = ctl.services.printers.payload
    marked = {k: any(payload(k).encode() in j and b"REPRINT" in j for j in jobs) for k in (first, second, third)}
    assert marked == {first: True, second: False, third: False}, marked
    told = [(b["action"], b["tickets"]) for _, _, b in ledger.outbox_pending() if b.get("action") in ("print", "reprint")]
    assert told[-2:] == [("print", [second, third]), ("reprint", [first])] or \
        told[-2:] == [("reprint", [first]), ("print", [second, third])], told
