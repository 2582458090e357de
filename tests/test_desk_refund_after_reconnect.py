"""A refund asked for right after a kiosk reconnects, of an order it sold offline (real mosquitto, the sync server
over a real SQLite store, the kiosk's app wiring: its sync, desk and controller).

The kiosk's upload of the sale and the operator's refund request go to the server separately: the request overtook
the sale (here: the sale queued behind the rest of the kiosk's backlog) and the server refused it ("not allowed:
order … is not of an event of kiosk-1": it knew no such order), so the operator had to try again. Now the desk sends a request about an order only once this kiosk's records of it are
acknowledged, waiting for them (bounded), else says the sale is still on its way and sends nothing."""
from __future__ import annotations

import json
import time
import uuid
from contextlib import contextmanager

import pytest

from agent.sync import topics
from agent.sync.messages import TILL_ACTIONS, Batch, RefundRequest
from agent.sync.transport import BrokerConfig, PahoTransport
from server_stub.sync.server import SyncServer
from kiosk_ui.adapters.desk import ON_ITS_WAY
from tests.helpers import wait_for
from tests.kiosk_desk_field import PRICE, kiosk_desk, prepare_kiosk, ready, sell
from tests.sync_fixtures import ORG, make_store, start_server

BACKLOG = 3000      # refused scans queued while offline: more than the uploader's window (FAST: 8 batches of 200)


@contextmanager
def sold_offline(tmp_path, broker, backlog: int = 0):
    """A kiosk that scanned `backlog` unreadable codes and then sold 2 tickets while its server was down: (store,
    field, the sale, event), the server still stopped."""
    store, event, _ = make_store(tmp_path / "server", tickets=1, devices=("gate-a",))
    prepare_kiosk(store, event)
    try:
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            f.server[0].stop()
            assert wait_for(lambda: not f.desk.online, 15), "the kiosk never saw its server go offline"
            for n in range(backlog):
                assert not f.kiosk.scan(f"not a ticket {n}").accepted
            sold = sell(f.ctl, event, 2).result
            assert sold.ok and sold.offline, sold.problem
            yield store, f, sold
    finally:
        store.close()


@pytest.fixture
def offline_sale(tmp_path, broker):
    """The kiosk of `sold_offline` with BACKLOG refused scans before its sale, reconnected: (store, field, the sale),
    the server running again and the kiosk online, its sale still to upload."""
    with sold_offline(tmp_path, broker, BACKLOG) as (store, f, sold):
        f.server[0] = start_server(store, broker.port, limits=None)
        assert wait_for(lambda: f.desk.online, 30), "the kiosk never saw its server back"
        yield store, f, sold


def test_a_refund_right_after_reconnecting_waits_for_the_offline_sale(offline_sale):
    store, f, sold = offline_sale
    assert f.kiosk.ledger.outbox_waiting_order(sold.order_number, TILL_ACTIONS) >= 1     # the sale has not reached the server
    f.desk.flush_wait = 120.0          # bounded: the sale's upload behind the backlog, on a loaded machine
    refund = f.ctl.sale.refund(sold.order_number, "changed plans")      # at once, as the operator does
    assert refund.ok and refund.amount_cents == -2 * PRICE, refund.problem
    assert store.order(sold.order_number)["status"] == "refunded"
    # not asked before the sale came: the server refused that ("not allowed: order … is not of an event of kiosk-1")
    assert [r for r in store.refusals(ORG, "kiosk-1") if sold.order_number in json.dumps(r, default=str)] == []
    assert all(f.kiosk.ledger.history(k).revoked for k in sold.ticket_keys)
    again = f.ctl.sale.refund(sold.order_number, "changed plans")       # never twice
    assert not again.ok and store.order(sold.order_number)["status"] == "refunded"


def test_a_refund_while_the_sale_is_still_on_its_way_is_not_sent(offline_sale):
    store, f, sold = offline_sale
    f.desk.flush_wait = 0.0            # the operator asked before the sale arrived, and it has not: nothing sent
    refund = f.ctl.sale.refund(sold.order_number, "changed plans")
    assert not refund.ok and refund.problem == ON_ITS_WAY, refund
    key = sold.ticket_keys[0]
    assert f.kiosk.ledger.history(key).revoked is None
    exchange = f.ctl.sale.exchange(key, "Wrong date bought")
    assert not exchange.ok and exchange.problem == ON_ITS_WAY, exchange
    assert wait_for(lambda: f.kiosk.ledger.outbox_waiting_order(sold.order_number, TILL_ACTIONS) == 0, 120)
    assert store.order(sold.order_number)["status"] == "paid"       # arrived whole, nothing refunded meanwhile
    f.desk.flush_wait = 5.0
    refund = f.ctl.sale.refund(sold.order_number, "changed plans")
    assert refund.ok and store.order(sold.order_number)["status"] == "refunded", refund.problem


def test_the_server_answers_a_refund_after_storing_the_sale_read_with_it(tmp_path, broker):
    """A kiosk that does not wait for its sale's acknowledgement (another build, an older one) sends the refund
    right behind the offline sale: the server read both in one drain and answered the request before storing the
    uploads read with it ("not allowed: order … is not of an event of kiosk-1"). Desk requests are now answered
    once the drain's uploads are stored. The drain is played as the broker delivers it: the kiosk's own outbox rows
    as its uploader encodes them, then its refund request."""
    with sold_offline(tmp_path, broker) as (store, f, sold):
        up = topics.up(ORG, "kiosk-1")
        sale = Batch.encode(ORG, "kiosk-1", uuid.uuid4().hex, time.time(), f.kiosk.ledger.outbox_after(0, 500))
        refund = RefundRequest(ORG, "kiosk-1", uuid.uuid4().hex, order_number=sold.order_number,
                               reason="changed plans")
        server = SyncServer(store, PahoTransport("server-drain", BrokerConfig(port=broker.port)),
                            name="server-drain", orgs=[ORG], limits=None)
        server._process([(up, sale), (up, json.dumps(refund.to_wire()).encode())])
        assert store.order(sold.order_number)["status"] == "refunded", server.rejections
        assert [r for r in store.refusals(ORG, "kiosk-1") if sold.order_number in json.dumps(r, default=str)] == []
