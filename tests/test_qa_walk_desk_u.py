"""The kiosk operator's day (session U's walk): the app's desk over its real sync (real mosquitto, the sync server
over a real SQLite store), printers at the physical edge fed a real printer's answers, the labels rendered back
(drivers.printers.zpl_render) and their QR read. Each test fails on the defect it names."""
from __future__ import annotations

import time

import pytest

from agent.payload import read_payload
from drivers.printers.zpl_render import render_zpl
from drivers.testkit.fake_printer import FakePrinter
from kiosk_ui.services import Payment
from tests.helpers import wait_for
from tests.sync_fixtures import ORG
from tests.test_desk_online import _qr, counter  # noqa: F401  (the fixture)


class RunsOutOfLabels(FakePrinter):
    """A Zebra whose roll ends during a sale: it answers ready to the first `ready_answers` status queries (each
    label is asked before and after), then out of labels until `reloaded`."""

    def __init__(self, ready_answers: int) -> None:
        self.answers, self.ready_answers, self.reloaded = 0, ready_answers, False
        super().__init__("zpl")

    def _reply(self) -> bytes:
        self.answers += 1
        return self.protocol.sample_reply(paper_out=self.answers > self.ready_answers and not self.reloaded)


def _labels(printer: FakePrinter, sim, since: int) -> list[tuple[str, bool]]:
    """(ticket key read from the label's rendered QR, marked REPRINT) of each label the printer took since `since`."""
    out = []
    for job in [j for j in printer.jobs[since:] if j]:
        decoded = read_payload(_qr(render_zpl(job)), sim.keyring, time.time())
        assert decoded.status == "ok", decoded
        out.append((decoded.ticket.key, b"REPRINT" in job))
    return out


def _three_tickets_to_the_zebra(sim, ctl, event, zebra, receipts):
    """The kiosk's printers: the Zebra (selected) and the receipt printer; a sale of three tickets on `event` begun."""
    sim.ledger.set_setting("printers", [
        {"host": "127.0.0.1", "port": zebra.port, "name": "Zebra", "language": "zpl", "format": "cinema"},
        {"host": "127.0.0.1", "port": receipts.port, "name": "Receipts", "language": "escpos"}])
    ctl.selected_printer = f"zpl:127.0.0.1:{zebra.port}"
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 3)
    return flow


def _jam_mid_sale(counter):  # noqa: F811
    """Three tickets sold in cash to a Zebra whose roll ends on the second label: the first comes out, the second
    was taken by the printer (it may have come out, half), the third never sent. -> (printer, sale, the pieces)."""
    store, event, _, sim, ctl, desk, _, receipts, _ = counter
    zebra = RunsOutOfLabels(ready_answers=3)          # label 1: ready, ready; label 2: ready, then out of labels
    flow = _three_tickets_to_the_zebra(sim, ctl, event, zebra, receipts)
    sold = flow.confirm(Payment("cash", given_cents=6000))
    assert sold.result.ok and not sold.result.offline, sold.result
    assert sold.tickets is not None and not sold.tickets.ok and sold.tickets.printed == 1, sold.tickets
    labels = _labels(zebra, sim, 0)
    assert [copy for _, copy in labels] == [False, False], labels
    (first, _), (maybe, _) = labels
    (never,) = set(sold.result.ticket_keys) - {first, maybe}
    assert {p.ticket_key: p.reprint for p in ctl.pending_prints()} == {maybe: True, never: False}
    return zebra, sold, (first, maybe, never)


def _told(store, order: str) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((a["action"], tuple(sorted(a["tickets"]))) for a in store.kiosk_actions(ORG)
                  if a.get("order_number") == order)


def test_a_ticket_never_sent_when_the_roll_ended_prints_again_as_an_original_from_the_sold_screen(counter):  # noqa: F811
    """The roll ends on the second of three labels. Reloaded, 'Print the tickets again' on the sold screen printed
    both missing tickets marked REPRINT, and told the server both were reprints: the third, which had never been
    sent to the printer, reached its buyer as a copy and the organiser's records had no original of it. The one the
    printer had (it may have come out) is a copy; the one never sent is an original, as the guide says."""
    store, _, _, sim, ctl, _, _, _, _ = counter
    zebra, sold, (first, maybe, never) = _jam_mid_sale(counter)
    try:
        zebra.reloaded = True
        since = len(zebra.jobs)
        again = ctl.sale.print_again()
        assert again is not None and again.ok and again.printed == 2, again
        assert _labels(zebra, sim, since) == [(maybe, True), (never, False)]
        assert ctl.pending_prints() == []
        order = sold.result.order_number
        assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30), "the prints never reached the server"
        assert _told(store, order) == sorted([("print", (first,)), ("print", (never,)), ("reprint", (maybe,))])
    finally:
        zebra.close()


def test_a_ticket_the_printer_had_when_the_roll_ended_prints_as_a_copy_from_the_ticket_desk(counter):  # noqa: F811
    """The same jam; the operator reloads and taps 'Print tickets' on the order in the Ticket desk. The ticket the
    printer had taken came out as an original, unmarked (the queue had said 'printed again, it is a copy'): if its
    first label had come out, the buyer held two originals of one ticket. It is a copy now, the others as before."""
    store, _, _, sim, ctl, _, _, _, _ = counter
    zebra, sold, (first, maybe, never) = _jam_mid_sale(counter)
    try:
        zebra.reloaded = True
        since = len(zebra.jobs)
        order = sold.result.order_number
        done = ctl.print_order(order)
        assert done.ok and done.printed == 3, done
        assert sorted(_labels(zebra, sim, since)) == sorted([(first, True), (maybe, True), (never, False)])
        assert ctl.pending_prints() == []
        assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30), "the prints never reached the server"
        assert _told(store, order) == sorted([("print", (first,)), ("print", (never,)), ("reprint", (first, maybe))])
    finally:
        zebra.close()


class EndsOnALabelInItsBuffer(FakePrinter):
    """A Zebra as it answers ~HS: at once, ahead of the labels in its buffer. The first label prints; the second is
    still in the buffer at the first status query after it (1 format waiting, ready), then the roll ends on it
    (1 format waiting, out of labels) until `reloaded`."""

    def __init__(self) -> None:
        self.answers, self.reloaded = 0, False
        super().__init__("zpl")

    def _reply(self) -> bytes:
        self.answers += 1
        if self.reloaded or self.answers <= 3:          # label 1: before, after; label 2: before
            return self.protocol.sample_reply()
        return self.protocol.sample_reply(paper_out=self.answers > 4, formats_in_buffer=1)


def test_a_label_still_in_the_zebras_buffer_when_its_roll_ends_is_not_taken_as_printed(counter):  # noqa: F811
    """A Zebra answers its status query at once, the label just sent still in its buffer. The roll ends on the
    second of three labels: the kiosk asked once, read 'ready', and counted the second ticket printed; only the
    third waited in the print queue. The buyer left with two tickets of three and nothing said the second was
    missing (no copy to print, the server told it was printed). The kiosk now asks again until the buffer is empty:
    the second ticket is kept as one that may have come out (printed again as a copy), the third as not sent."""
    store, event, _, sim, ctl, _, _, receipts, _ = counter
    zebra = EndsOnALabelInItsBuffer()
    try:
        flow = _three_tickets_to_the_zebra(sim, ctl, event, zebra, receipts)
        sold = flow.confirm(Payment("card", reference="AUTH-3"))
        assert sold.result.ok and sold.tickets is not None, sold
        assert not sold.tickets.ok and sold.tickets.printed == 1 and sold.tickets.kept == 2, sold.tickets
        assert "out of labels" in sold.tickets.message, sold.tickets.message
        (first, _), (second, _) = _labels(zebra, sim, 0)
        (third,) = set(sold.result.ticket_keys) - {first, second}
        assert {p.ticket_key: p.reprint for p in ctl.pending_prints()} == {second: True, third: False}
        zebra.reloaded = True
        since = len(zebra.jobs)
        again = flow.print_again()
        assert again is not None and again.ok and again.printed == 2, again
        assert _labels(zebra, sim, since) == [(second, True), (third, False)]
        order = sold.result.order_number
        assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30), "the prints never reached the server"
        assert _told(store, order) == sorted([("print", (first,)), ("print", (third,)), ("reprint", (second,))])
    finally:
        zebra.close()


def test_a_zebra_holding_labels_reads_busy_until_they_are_printed():
    """~HS string 1 field 5 (formats in the receive buffer) and string 2 field 9 (labels left in the batch): either
    above 0 is a printer still holding the job; out of labels says so whatever it holds."""
    from drivers.printers.status import parse_zpl, zpl_reply
    assert parse_zpl(zpl_reply()).ready and not parse_zpl(zpl_reply()).busy
    held = parse_zpl(zpl_reply(formats_in_buffer=2))
    assert held.ready and held.busy
    batch = zpl_reply().replace(b",00000000,", b",00000003,")
    assert parse_zpl(batch).ready and parse_zpl(batch).busy
    out = parse_zpl(zpl_reply(paper_out=True, formats_in_buffer=1))
    assert not out.ready and out.message == "out of labels: load the label roll"


def _organiser(tmp_path, *args: str) -> dict:
    """`ticketgate server --data … --org … ARGS --json` on the counter's store, as the organiser types it."""
    import json
    import subprocess
    import sys
    from tests.qa_organiser import ROOT
    proc = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "server"), "--org", ORG,
                           *args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc
    return json.loads(proc.stdout)


def _prices(desk) -> dict[int, int]:
    (target,) = desk.targets()
    return {c.category: c.unit_cents for c in target.categories}


def test_a_price_or_promo_code_the_organiser_sets_reaches_the_kiosk_online_and_after_an_outage(tmp_path,
                                                                                                counter):  # noqa: F811
    """The organiser raises the Standard price (`server price set`) and creates a promo code (`server promo add`)
    while the kiosk sells. Neither changed a ticket, so no live update or delta carried them: the kiosk's cart kept
    20.00, every confirm was refused 'The price changed since it was shown: check the total and confirm again' (the
    total shown never changed: the operator could sell nothing), and the new code was refused as unknown. A change
    made while the server was down did not reach the kiosk at its hello either (the same data version). The
    kiosk's catalogue now follows: the cart shows the new price, the code applies, the sale is made at 25.00 less 10 %."""
    store, event, server, sim, ctl, desk, _, _, broker = counter
    from tests.sync_fixtures import start_server
    assert _prices(desk) == {1: 2000, 2: 5000}
    _organiser(tmp_path, "price", "set", str(event), "--category", "1", "--cents", "2500")
    _organiser(tmp_path, "promo", "add", "--target", str(event), "--percent", "10", "--code", "LATE")
    assert wait_for(lambda: _prices(desk) == {1: 2500, 2: 5000}, 20), f"the kiosk still sells at {_prices(desk)}"
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 2)                                     # 2 Standard at 25.00, 10 % off: 45.00
    flow.set_promo("LATE")
    assert wait_for(lambda: (flow.quote() is not None and flow.quote().total_cents == 4500), 20), flow.quote()
    sold = flow.confirm(Payment("cash", given_cents=5000)).result
    assert sold.ok and not sold.offline and sold.total_cents == 4500, sold
    assert [(x["category"], x["quantity"], x["unit_cents"], x["total_cents"], x["promotion"])
            for x in store.order_lines(sold.order_number)] == [(1, 2, 2500, 4500, "-10% (LATE)")]
    server[0].stop()                                   # the office server down: the organiser's change waits
    _organiser(tmp_path, "price", "set", str(event), "--category", "2", "--cents", "4500")
    server[0] = start_server(store, broker.port, limits=None)
    assert wait_for(lambda: _prices(desk) == {1: 2500, 2: 4500}, 30), f"the kiosk still sells at {_prices(desk)}"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_each_change_of_what_the_kiosks_sell_is_a_new_data_version(tmp_path, request, backend):
    """`server price set` (with no unpriced pending order), `--currency`, `quota set`, `sales-window set` and `promo
    add` left the organiser's data version as it was: a kiosk back online said hello with that version and was sent
    nothing, selling on at the old prices. Each is now a new version, on both stores."""
    from server_stub.store import open_store
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store = open_store(tmp_path / "server", db=db)
    try:
        store.create_organiser("fest", "Summer Fest")
        now = time.time()
        event = store.create_event("fest", "Night", now, now + 3600, "Europe/Paris",
                                   categories=[{"category_id": 1, "name": "Adult"}])
        changes = {"price": lambda: store.set_price("fest", event, 1, 2500),
                   "currency": lambda: store.set_currency("fest", event, "CHF"),
                   "quota": lambda: store.set_quota("fest", event, 100),
                   "window": lambda: store.set_sales_window("fest", event, max_per_order=4),
                   "promo": lambda: store.add_promotion("fest", "percent", event, percent=10, code="LATE")}
        for name, change in changes.items():
            before = store.version("fest")
            change()
            assert store.version("fest") > before, f"{name}: still version {before}"
    finally:
        store.close()


def test_an_exchange_slip_the_receipt_printer_did_not_print_waits_in_the_print_queue(counter):  # noqa: F811
    """A Standard (20.00, cash) exchanged for a Premium (50.00): 30.00 collected in cash, the slip goes to the
    receipt printer, out of paper. The screen said 'Receipt NOT printed', and that was the end of it: the slip was
    kept nowhere (Print receipt prints the sale's receipt), so the buyer left without the proof of the 30.00. It
    now waits in the print queue like the Z report and prints once the roll is changed, with its amount."""
    from drivers.printers.escpos_render import escpos_text
    _, event, _, _, ctl, _, zebra, receipts, _ = counter
    flow = ctl.sale
    flow.choose(event)
    flow.add(1)
    sold = flow.confirm(Payment("cash", given_cents=2000)).result
    assert sold.ok and not sold.offline, sold
    receipts.mode = "paper_out"
    done = flow.exchange(sold.ticket_keys[0], "Upgrade of category", event, 2, "cash")
    assert done.ok and done.amount_cents == 3000, done
    new_ticket = flow.print_exchanged(done)
    assert new_ticket is not None and new_ticket.ok, new_ticket
    slip = flow.last_slip
    assert slip is not None and not slip.ok and slip.kept == 1, slip
    assert "out of paper" in slip.message and "print queue" in slip.message, slip.message
    (kept,) = [p for p in ctl.pending_prints() if p.order_number == done.order_number]
    assert (kept.kind, kept.ticket_key) == ("slip", ""), kept
    receipts.mode = "ok"
    since = len(receipts.jobs)
    ((job, result),) = ctl.retry_prints(kept.job_id)
    assert result.ok and ctl.pending_prints() == [], result
    (printed,) = [j for j in receipts.jobs[since:] if j]
    text = escpos_text(printed)
    assert any(line.startswith("Total") and line.endswith("EUR 30.00") for line in text), text
    assert any(done.order_number in line for line in text), text
