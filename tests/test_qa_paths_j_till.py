"""A kiosk's till shift closed just after it came back online (kiosk_ui/adapters/desk.py over the real sync, a real
mosquitto, the real server on SQLite). Each test fails on the defect it names."""
from __future__ import annotations

import time
from dataclasses import replace

from kiosk_ui.services import Payment
from server_stub.reports import sales_summary
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, start_server, stop_unannounced
from tests.test_desk_online import counter  # noqa: F401  (the fixture)


def _sell_offline(ctl, event: int, n: int) -> list[str]:
    numbers = []
    for _ in range(n):
        ctl.sale.choose(event)
        ctl.sale.add(1)                                   # Standard, 20.00
        result = ctl.sale.confirm(Payment("cash", given_cents=2000)).result
        assert result.ok and result.offline, result.problem
        numbers.append(result.order_number)
    return numbers


def _desk_sales_cents(store, device: str) -> int:
    """`server report sales`: what this desk sold (paid and pending), to the cent."""
    cell = sales_summary(store.sales_lines(ORG))["by"]["desk"].get(device)
    return 0 if cell is None else cell["total_cents"]


def test_a_shift_closed_just_back_online_counts_the_sales_made_offline(counter):  # noqa: F811
    """Three cash sales made offline (60.00), the kiosk back online, the shift closed at once: the close went to the
    server before the outbox had uploaded them, so the Z report kept 0.00 of sales and expected only the float in
    the drawer, and the three sales landed in no shift (or the next one). The kiosk now waits (bounded) for its
    offline sales to be acknowledged before it asks for the close: the Z report counts them and agrees with the
    sales report to the cent."""
    store, event, _, sim, ctl, desk, _, _, _ = counter
    assert desk.refill() == "" and desk.certificate() is not None
    opened = desk.till("open", 10000)
    assert not isinstance(opened, str), opened
    sim.go_offline()
    assert not desk.online
    _sell_offline(ctl, event, 3)
    assert sim.ledger.outbox_size() >= 3
    # a kiosk that uploads one message at a time (each waits for the server's ack): the close no longer comes after
    # the sales by luck
    sim.options = replace(FAST, upload=replace(FAST.upload, batch_size=1, window=1))
    sim.go_online()
    assert wait_for(lambda: desk.online, 20)
    closed = desk.till("close", 16000)                   # the float and the three sales, in cash
    assert not isinstance(closed, str), closed
    z = closed.report
    assert z is not None
    assert (z["sales"]["count"], z["sales"]["total_cents"]) == (3, 6000), z["sales"]
    assert z["expected_cash_cents"] == 16000 and z["difference_cents"] == 0, z
    assert _desk_sales_cents(store, "kiosk-1") == z["sales"]["total_cents"]



def test_a_close_while_the_server_cannot_take_the_offline_sales_is_refused_with_their_number(counter):  # noqa: F811
    """The kiosk stays on the broker, the server stops: three cash sales go offline. A close then waits a few
    seconds for them, and is refused naming how many are still to upload: nothing is closed on the server. Once the
    server is back and has them, the close counts them, as the sales report does."""
    store, event, server, sim, ctl, desk, _, _, broker = counter
    assert desk.refill() == "" and desk.certificate() is not None
    assert not isinstance(desk.till("open", 10000), str)
    stop_unannounced(server[0])                          # (announced, the kiosk knows it offline: no close at all)
    desk.timeout, desk.flush_wait = 1.0, 1.0
    _sell_offline(ctl, event, 3)
    assert desk.online                                   # on the broker: the server is only silent
    started = time.monotonic()
    refused = desk.till("close", 16000)
    assert refused == "3 sales made offline are still to upload: open or close the shift once the server has them."
    assert time.monotonic() - started < 5.0
    assert [s["closed_at"] for s in store.shifts(ORG, "kiosk-1")] == [None]
    assert desk.open_shift() is not None
    server[0] = start_server(store, broker.port, limits=None)
    assert wait_for(lambda: desk.unsent_sales() == 0, 30)
    closed = desk.till("close", 16000)
    assert not isinstance(closed, str), closed
    z = closed.report
    assert (z["sales"]["count"], z["sales"]["total_cents"]) == (3, 6000), z["sales"]
    assert z["expected_cash_cents"] == 16000 and z["difference_cents"] == 0, z
    assert _desk_sales_cents(store, "kiosk-1") == z["sales"]["total_cents"]
    assert store.shift(ORG, int(closed.order_number))["report"] == z      # kept on the server as the kiosk shows it
    assert desk.last_z() == z


def test_a_shift_opened_just_back_online_does_not_take_the_sales_made_before_it(counter):  # noqa: F811
    """No shift open: three cash sales made offline (60.00), the kiosk back online, a shift opened at once with a
    100.00 float. The server files an offline sale by when it arrives: those arriving after the open fell into the
    new shift, which then expected cash that was never in its drawer. The open now waits for them as a close does:
    the new shift starts with nothing sold and the float alone expected."""
    store, event, _, sim, ctl, desk, _, _, _ = counter
    assert desk.refill() == "" and desk.certificate() is not None
    sim.go_offline()
    _sell_offline(ctl, event, 3)
    sim.options = replace(FAST, upload=replace(FAST.upload, batch_size=1, window=1))
    sim.go_online()
    assert wait_for(lambda: desk.online, 20)
    opened = desk.till("open", 10000)
    assert not isinstance(opened, str), opened
    assert wait_for(lambda: desk.unsent_sales() == 0, 30)           # all in: none of them in this shift
    x = store.shift_report(ORG, int(opened.order_number))             # the running (X) report
    assert (x["sales"]["count"], x["sales"]["total_cents"], x["expected_cash_cents"]) == (0, 0, 10000), x
