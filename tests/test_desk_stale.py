"""Desk requests the kiosk gave up on are not carried out (agent.sync.messages.Desk: deadline + clock offset).

The way a user meets it: real mosquitto, the sync server, the kiosk's own desk over its sync. The server is stopped,
the kiosk sells (no answer in time: offline); its requests wait at the broker for the server's session. When the
server is back they arrive — once sold online there and then cancelled by the kiosk's offline sales of the same ids
(tickets issued twice, sales and cancellations the organiser never made). Now: not carried out, listed, counted;
each sale exists once, nothing cancelled, the Z report balances."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from agent.policy import DevicePolicy
from agent.sync import BrokerConfig
from agent.sync.messages import RefundRequest, SaleLine, SaleRequest
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.desk import KioskDesk, SyncSaleLink
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from kiosk_ui.services import Payment
from server_stub.store import SqliteStore
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_server, stop_unannounced


@pytest.fixture(params=[0.0, -3 * 3600.0], ids=["clock-right", "clock-3h-behind"])
def kiosk(request, tmp_path, broker):
    """The server, and a kiosk running the app's desk over its sync (its wall clock `request.param` s off)."""
    skew = request.param
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    store.set_price(ORG, event, 1, 2000)
    store.set_quota(ORG, event, 20)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    store.set_allotment_size(ORG, "kiosk-1", [event], 5, hours=4)
    server = [start_server(store, broker.port, limits=None)]
    clock = lambda: time.time() + skew            # noqa: E731
    sim = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                    [event], options=FAST, role="kiosk", clock=clock).go_online()
    door = Door(sim.ledger, sim.keyring, DevicePolicy(device_id="kiosk-1", gate="desk", events=frozenset({event})))
    ctl = Controller(door, build_services(door, tmp_path / "kiosk"))
    ctl.services.desk = desk = KioskDesk(door, tmp_path / "kiosk", SyncSaleLink(sim), timeout=5.0, org=ORG)
    try:
        assert wait_for(lambda: desk.online and desk.targets(), 20), "no catalogue from the kiosk bundle"
        yield store, event, server, sim, ctl, desk, broker
    finally:
        sim.close()
        server[0].stop()
        store.close()


def test_sales_queued_while_the_server_was_down_are_not_sold_when_it_is_back(kiosk):
    store, event, server, sim, ctl, desk, broker = kiosk
    opened = desk.till("open", 5000)
    assert not isinstance(opened, str), opened
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 1)
    online = flow.confirm(Payment("card", reference="T1")).result        # in time, whatever the kiosk's clock says
    assert online.ok and not online.offline, online.problem
    assert desk.refill() == "" and desk.certificate() is not None
    # the server vanishes unannounced (a kiosk told `offline` sells offline at once: test_desk_server_down.py):
    # the broker still takes the kiosk's requests, nobody answers
    stop_unannounced(server[0])
    desk.timeout = 1.0
    sold = []
    for n in (1, 2):
        flow = ctl.sale
        flow.choose(event)
        flow.add(1, n)
        outcome = flow.confirm(Payment("cash", given_cents=2000 * n))
        assert outcome.result.ok and outcome.result.offline, outcome.result.problem
        sold.append(outcome.result)
    server[0] = start_server(store, broker.port, limits=None)
    assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30)
    # both requests reached the server (the broker kept them for its session): answered, not carried out
    assert wait_for(lambda: server[0].stats.get("desk", 0) >= 2, 30), server[0].stats
    orders = store.q("SELECT number, status FROM orders WHERE target_id=? ORDER BY order_id", (event,))
    assert [status for _, status in orders] == ["paid"] * 3, orders             # each sale once (the 2: offline)
    for result in sold:                                                         # its tickets, as the kiosk printed them
        assert {store.ticket(k)["order_status"] for k in result.ticket_keys} == {"paid"}
        assert len({store.ticket(k)["order_number"] for k in result.ticket_keys}) == 1
    assert server[0].stats.get("desk_expired") == 2
    assert store.quotas(event)[0]["sold"] == 4
    offline_ids = {i for i, a in store.q("SELECT request_id, answer FROM desk_requests WHERE kind='sale'")
                   if "offline_order" in a}                                      # sale id = the request's id
    listed = [r["body"]["request_id"] for r in store.refusals(ORG, "kiosk-1") if r["reason"].startswith("expired")]
    assert len(offline_ids) == 2 and sorted(listed) == sorted(offline_ids), (listed, offline_ids)
    desk.timeout = 5.0
    z = desk.till("close", 5000 + 3 * 2000)
    assert not isinstance(z, str), z
    assert z.difference_cents == 0 and z.total_cents == 11000, z
    assert z.report["payments"] == {"card": 2000, "cash": 6000} and z.report["sales"]["tickets"] == 4, z.report


def _kiosk(store, event):
    store.set_price("fest", event, 1, 1500)
    store.set_quota("fest", event, 10)
    store.register_device("fest", "kiosk-1", role="kiosk")


def _event(store) -> int:
    now = time.time()
    e = store.create_event("fest", "Night", now - 3600, now + 7200, categories=[{"category_id": 1, "name": "Std"}])
    _kiosk(store, e)
    return e


def test_the_deadline_is_the_kiosks_clock_plus_its_offset(store):
    """A kiosk whose clock is 3 h behind: its deadline on its clock, the offset from the server's clock replies."""
    e = _event(store)
    behind = time.time() - 3 * 3600
    ok = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "r-1", e, (SaleLine(1, 1),),
                                                   deadline=behind + 2.0, clock_offset=3 * 3600.0))
    assert ok.ok
    # the same deadline read as server time (no offset known): the kiosk's 3 h stand for 3 h late
    assert SaleRequest("fest", "kiosk-1", "r-2", e, (SaleLine(1, 1),), deadline=behind + 2.0).expired(time.time()) \
        is None                                                          # no offset: no deadline judged
    late = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "r-2", e, (SaleLine(1, 1),),
                                                     deadline=behind + 2.0, clock_offset=0.0))
    assert not late.ok and late.reason_code == "expired" and late.reason_params["late"] >= 3 * 3600 - 5
    assert store.quotas(e)[0]["sold"] == 1 and store.q1("SELECT count(*) FROM orders")[0] == 1
    assert store.q1("SELECT count(*) FROM desk_requests WHERE request_id='r-2'")[0] == 0     # nothing kept


def test_a_sale_whose_deadline_passes_while_it_waits_for_the_store_is_rolled_back(tmp_path):
    """At the deadline the kiosk wins: the server commits a sale only before it; one that waited for the write lock
    past it is rolled back whole (the kiosk sells offline with the same id, counted once, never cancelled)."""
    store = SqliteStore.open(tmp_path / "server")
    store.create_organiser("fest", "Summer Fest")
    e = _event(store)
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")                   # another writer (an ingestion worker, an import) holds the lock
    release = threading.Timer(1.0, lambda: other.execute("COMMIT"))
    release.start()
    try:
        answer = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "r-1", e, (SaleLine(1, 2),),
                                                           deadline=time.time() + 0.3, clock_offset=0.0))
    finally:
        release.join()
        other.close()
    assert not answer.ok and answer.reason_code == "expired" and not answer.tickets, answer
    assert store.quotas(e)[0]["sold"] == 0 and store.q1("SELECT count(*) FROM orders")[0] == 0
    assert store.q1("SELECT count(*) FROM desk_requests")[0] == 0
    in_time = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "r-2", e, (SaleLine(1, 2),),
                                                        deadline=time.time() + 5, clock_offset=0.0))
    assert in_time.ok and store.quotas(e)[0]["sold"] == 2
    store.close()


def test_expired_refund_is_not_carried_out_over_the_broker(tmp_path, broker):
    """Every desk request has the deadline: a refund the kiosk reported as not answered is not done later."""
    from tests.sync_fixtures import ORG, make_store
    from tests.test_desk_server import Kiosk
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    store.set_price(ORG, event, 1, 1000)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    server = start_server(store, broker.port, limits=None)
    kiosk = Kiosk("kiosk-1", broker.port, store.server_public_key(ORG))
    try:
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "s1", event, (SaleLine(1, 1),), deadline=time.time() + 10,
                              clock_offset=0.0))
        assert wait_for(lambda: "s1" in kiosk.answers, 10) and kiosk.answers["s1"].ok
        number = kiosk.answers["s1"].order_number
        kiosk.ask(RefundRequest(ORG, "kiosk-1", "r1", number, "changed plans", deadline=time.time() - 1,
                                clock_offset=0.0))
        assert wait_for(lambda: "r1" in kiosk.answers, 10)
        assert kiosk.answers["r1"].reason_code == "expired" and store.order(number)["status"] == "paid"
        assert server.stats["desk_expired"] == 1
        assert [r["body"]["request_id"] for r in store.refusals(ORG, "kiosk-1")] == ["r1"]
    finally:
        kiosk.t.stop()
        server.stop()
        store.close()


def test_an_expired_answer_while_the_kiosk_still_waits_sells_offline_once(kiosk):
    """The kiosk's clock estimate off by more than the margin (say its boot clock drifted): the server says
    `expired` while the kiosk still waits. Nothing was sold there: the kiosk sells offline, counted once."""
    from dataclasses import replace
    store, event, server, sim, ctl, desk, _ = kiosk
    assert desk.refill() == ""
    estimate = sim.online_sync._estimate
    assert estimate is not None
    sim.online_sync._estimate = replace(estimate, server_at=estimate.server_at - 30)    # 30 s behind the server's
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 2)
    started = time.monotonic()
    result = flow.confirm(Payment("cash", given_cents=4000)).result
    assert result.ok and result.offline and time.monotonic() - started < desk.timeout, result   # at once, not timed out
    assert wait_for(lambda: sim.ledger.outbox_size() == 0, 30)
    assert server[0].stats.get("desk_expired") == 1
    assert [s for _, s in store.q("SELECT number, status FROM orders WHERE target_id=?", (event,))] == ["paid"]
    assert {store.ticket(k)["order_status"] for k in result.ticket_keys} == {"paid"}
    assert store.quotas(event)[0]["sold"] == 2
