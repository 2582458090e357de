"""An idle device's sync thread passes every `idle_tick` (0.5 s), not every `tick`: a scan or a message wakes it at
once, and what no notice announces — an entry recorded by `ticketgate agent` in another process beside the app — still
leaves at its next pass (real mosquitto, real server, real ledgers)."""
from __future__ import annotations

import time

from agent.gate import Gate
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server


def _stored(store, scan_uuid: str) -> bool:
    return bool(store.q("SELECT count(*) FROM scans WHERE scan_uuid=?", (scan_uuid,))[0][0])


def test_an_entry_recorded_by_another_process_leaves_at_the_idle_sync_s_next_pass(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    other = None
    try:
        assert wait_for(lambda: ready(door, 2)), door.sync.rejections
        assert wait_for(lambda: not door.sync._timed(), 10), "the sync never became idle"
        # the CLI's gate: its own connection to the same ledger file, no listener telling the sync
        other = Gate(Ledger.open(door.ledger_path), door.keyring,
                     DevicePolicy(device_id="gate-b", gate="gate-b", events=frozenset([event])))
        verdict = other.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"]))
        assert verdict.code.value == "accepted"
        started = time.monotonic()
        assert wait_for(lambda: _stored(store, verdict.scan_uuid), 10), "an entry nothing announced never left"
        assert time.monotonic() - started < door.sync.o.idle_tick + 3.0
        # a scan through the app's own gate is announced: it leaves without waiting for a pass
        assert wait_for(lambda: not door.sync._timed(), 10)
        verdict = door.scan(store.issue_ticket_payload(orders[1]["tickets"][0]["ticket_key"]))
        assert wait_for(lambda: _stored(store, verdict.scan_uuid), 10)
    finally:
        if other is not None:
            other.ledger.close()
        door.close()
        server.stop()
        store.close()


def test_an_idle_sync_passes_at_its_idle_tick_and_a_busy_one_at_its_tick(tmp_path, broker):
    """Counted, not timed: the passes of an idle sync over 2 s are a few (idle_tick 0.5 s), not ~40 (tick 0.05 s);
    with a batch waiting for the server's ack (the server stopped) it passes every tick, to send it again in time."""
    store, event, orders = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    passes = [0]
    try:
        assert wait_for(lambda: ready(door, 2)), door.sync.rejections
        assert wait_for(lambda: not door.sync._timed(), 10)
        timed = door.sync._timed
        door.sync._timed = lambda: passes.__setitem__(0, passes[0] + 1) or timed()     # called once a pass
        time.sleep(2.0)
        idle = passes[0]
        assert 1 <= idle <= 8, f"{idle} passes in 2 s while idle"
        server.stop()
        door.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"]))
        assert wait_for(lambda: door.sync.uploader.inflight, 10)
        passes[0] = 0
        time.sleep(1.0)
        assert passes[0] >= 10, f"only {passes[0]} passes in 1 s with a batch waiting for its ack"
    finally:
        door.close()
        store.close()
