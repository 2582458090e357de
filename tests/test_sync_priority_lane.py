"""The device's priority lane (agent.sync.inbox): a live update is applied before the check-in relays queued ahead of
it, which gives the same ledger verdicts as applying them in the order received, and the broker still gets its
acknowledgements in receive order (MQTT 3.1.1 §4.6). Real mosquitto, real server, real device ledgers."""
from __future__ import annotations

import queue
import sqlite3
import time
import uuid
from dataclasses import replace

import pytest

from agent.history import TicketHistory
from agent.ledger import Ledger
from agent.sync.apply import apply_update
from agent.sync.device import LIVE_BATCH
from agent.sync.inbox import OTHER, RELAY, UPDATE, Inbox, lane
from agent.sync.messages import KeyGroup, RelayedAction, UpdateSets
from agent.sync.signed import seal
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server
from tests.test_sync_live_ack import BrokerLog, debug_broker  # noqa: F401  (a fixture)
from tests.test_sync_live_relay import _entry


def _drain(inbox: Inbox) -> list[str]:
    out = []
    while True:
        try:
            out.append(inbox.get_nowait()[0])
        except queue.Empty:
            return out


def test_an_update_jumps_the_relays_ahead_of_it_but_nothing_else():
    inbox = Inbox()
    for name, kind in [("r1", RELAY), ("r2", RELAY), ("u1", UPDATE), ("down", OTHER), ("r3", RELAY), ("u2", UPDATE),
                       ("u3", UPDATE)]:
        inbox.put((name,), kind)
    # u1 passes r1 r2; not the down message; u2 passes r3; u3 never passes u2
    assert _drain(inbox) == ["u1", "r1", "r2", "down", "u2", "u3", "r3"]
    assert inbox.empty()


def test_acks_leave_in_receive_order_and_a_failed_one_holds_none_back():
    inbox = Inbox()
    items = [("m", i) for i in range(5)]
    for it in items:
        inbox.put(it, RELAY, acked=True)
    inbox.put(("connected",))                            # nothing to acknowledge: never waited for
    assert inbox.handled(items[3], True) == []           # handled early: waits for 0, 1, 2
    assert inbox.handled(items[1], True) == []
    assert inbox.handled(items[0], True) == [items[0], items[1]]
    assert inbox.handled(items[2], False) == [items[3]]  # 2 failed (sent again later): 3 goes now
    assert inbox.handled(("connected",), True) == []
    assert inbox.handled(items[4], True) == [items[4]]


def test_the_lane_is_read_from_the_signed_body_type():
    sign = lambda data: b"\0" * 64          # noqa: E731  the lane is read before the signature is checked
    assert lane("live", seal({"type": "update2", "note": '"type":"checkins"'}, sign)) == UPDATE
    assert lane("live", seal({"type": "update"}, sign)) == UPDATE
    assert lane("live", seal({"type": "checkins", "actions": [{"reason": '"type":"update2"'}]}, sign)) == RELAY
    assert lane("live", seal({"type": "checkins", "actions": [{"type": "update2"}]}, sign)) == OTHER   # keeps its place
    assert lane("live", seal({"type": "other", "x": {"type": "checkins"}}, sign)) == OTHER
    assert lane("live", seal({"type": "updates"}, sign)) == OTHER
    assert lane("live", seal({"type": "something"}, sign)) == OTHER
    assert lane("live", b"not json") == OTHER and lane("live", b'{"body": 5}') == OTHER
    assert lane("down", seal({"type": "update2"}, sign)) == OTHER


def _ledger(path) -> Ledger:
    led = Ledger.open(path)
    led.upsert_tickets([{"ticket_key": str(k), "event_id": 1, "order_number": f"ORD-{k}", "buyer_name": f"Buyer {k}",
                         "email": f"b{k}@example.org"} for k in range(1, 6)])
    return led


def _action(key: str, kind: str, at: float, ref: str | None = None) -> dict:
    return RelayedAction(scan_uuid=uuid.uuid4().hex, kind=kind, ticket_key=key, event_id=1, direction="in", at=at,
                         device_id="gate-z", gate="gate-z", device_seq=1, ref_uuid=ref).to_wire()


def _seen(h: TicketHistory) -> TicketHistory:
    """What the door decides on, without the ledger order (which tells apart only actions at the same server time)."""
    return replace(h, entries=tuple(replace(a, seq=0) for a in h.entries),
                   cancelled=replace(h.cancelled, seq=0) if h.cancelled else None)


def test_an_update_applied_before_earlier_relays_gives_the_same_verdicts(tmp_path):
    t = time.time() - 100
    entry2 = _action("2", "entry", t + 1)
    relays = [[_action("1", "entry", t), entry2], [_action("3", "entry", t + 3), _action("4", "cancel", t + 4)],
              [_action("2", "annul", t + 5, ref=entry2["scan_uuid"]), _action("5", "entry", t + 6)]]
    update = UpdateSets(event=1, revoked=(KeyGroup(("1",), "chargeback", t + 2, "cancelled"),),
                        blocks=(KeyGroup(("3",), "duplicate", t + 2),), unrevoked=("4",),
                        states=(KeyGroup(("5",), status="refunded"),),
                        resets=(_action("3", "reset", t + 2.5), _action("5", "reset", t + 7)))
    fifo, lane_first = _ledger(tmp_path / "fifo.sqlite"), _ledger(tmp_path / "lane.sqlite")
    try:
        for r in relays:                               # as received
            fifo.merge_remote(r)
        apply_update(fifo, update)
        apply_update(lane_first, update)               # the update first, the relays queued ahead of it after
        for r in relays:
            lane_first.merge_remote(r)
        for k in map(str, range(1, 6)):
            assert _seen(lane_first.history(k)) == _seen(fifo.history(k)), k
        assert fifo.history("1").revoked == "chargeback" and len(fifo.history("1").entries) == 1
        assert fifo.history("3").blocked == "duplicate" and fifo.history("3").entries    # entered after its reset
        assert fifo.history("5").order_status == "refunded" and not fifo.history("5").entries   # reset after entry
    finally:
        fifo.close()
        lane_first.close()


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_a_cancellation_is_applied_before_the_relays_queued_ahead_of_it_and_acks_stay_in_order(
        tmp_path, debug_broker):          # noqa: F811
    relays = 80          # queued at the device: the broker sends 100 unacknowledged at most (max_inflight_messages)
    store, event, orders = make_store(tmp_path / "server", tickets=4)
    server = start_server(store, debug_broker.port)
    door = start_door(tmp_path / "b", "gate-b", debug_broker.port, store.server_public_key(ORG), event)
    log = BrokerLog(debug_broker, "gate-b")
    watch = sqlite3.connect(door.ledger_path)        # the ledger as another connection sees it (what is committed)
    try:
        assert wait_for(lambda: ready(door, 4)), door.sync.rejections
        server.relay_every = 0.0                       # one message per relay
        sent = [_entry(event, f"queued-{i}") for i in range(relays)]
        cancelled = orders[1]["tickets"][0]["ticket_key"]
        ids = {a.scan_uuid for a in sent}
        relays_then: list[int] = []       # relays committed when the cancellation first was, read by another connection

        def applied(conn: sqlite3.Connection) -> int:
            return sum(u in ids for (u,) in conn.execute("SELECT scan_uuid FROM checkins WHERE origin='remote'"))
        changed = door.sync.on_change

        def on_change(what: str) -> None:     # the sync thread, after each commit: what another connection sees
            conn = sqlite3.connect(door.ledger_path)
            try:
                if not relays_then and conn.execute("SELECT 1 FROM revocations WHERE ticket_key=?",
                                                    (cancelled,)).fetchone():
                    relays_then.append(applied(conn))
            finally:
                conn.close()
            changed(what)
        door.sync.on_change = on_change
        lock = door.sync.ledger.lock                   # the sync thread waits: the messages queue up behind it
        lock.acquire()
        try:
            for a in sent:
                server.relay(ORG, event, [a])
            store.cancel_order(orders[1]["number"], "chargeback")
            queued = wait_for(lambda: door.sync._inbox.qsize() >= relays and door.sync._inbox._updates == 1, 30)
        finally:
            lock.release()
        assert queued, f"{door.sync._inbox.qsize()} queued"
        assert wait_for(lambda: applied(watch) == relays, 60), door.sync.rejections
        assert wait_for(lambda: bool(relays_then), 10), "the cancellation never reached the ledger"
        assert relays_then[0] <= LIVE_BATCH, f"the cancellation came after {relays_then[0]} of {relays} relays"
        assert wait_for(lambda: len(log.acked()) == len(log.sent()), 20), (len(log.acked()), len(log.sent()))
        assert log.acked() == log.sent()               # PUBACKs in the order the PUBLISHes came
        assert not door.sync.rejections
    finally:
        watch.close()
        door.close()
        server.stop()
        store.close()
