"""Live messages queued together are applied in one ledger transaction (one commit), each still verified and
replay-checked on its own: a forged or replayed one in the middle of a batch is refused alone (real mosquitto, real
server, real device ledger)."""
from __future__ import annotations

import json
import threading
import uuid

from agent.sync import BrokerConfig, PahoTransport, topics
from agent.sync import device as sync_device
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server, subscribed
from tests.test_sync_live_relay import _entry, _remote


def _held(door, queued: int, publish) -> threading.Thread:
    """Hold the sync's ledger lock while `publish()` runs, until `queued` messages wait in its queue (the thread has
    taken at most one of them and waits on the lock): they are then applied as one burst. Returns the releaser."""
    lock = door.sync.ledger.lock
    lock.acquire()
    publish()
    arrived = wait_for(lambda: door.sync._inbox.qsize() >= queued - 1, 20)
    lock.release()
    assert arrived, f"only {door.sync._inbox.qsize()} messages queued"


def test_a_burst_of_relays_is_applied_with_fewer_commits_than_messages(tmp_path, broker, monkeypatch):
    # the batch's time bound (10 ms) is for the door's scans; on a loaded machine 40 verifications pass it, which is
    # not what this test is about: here only the count bounds a batch
    monkeypatch.setattr(sync_device, "LIVE_BATCH_SECONDS", 30.0)
    store, event, _ = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: ready(door, 2)), door.sync.rejections
        server.relay_every = 0.0                      # one message per relay
        n = 40
        actions = [_entry(event, f"burst-{i}") for i in range(n)]
        live0, commits0 = door.sync.stats["live"], door.sync.stats["live_commits"]
        _held(door, n, lambda: [server.relay(ORG, event, [a]) for a in actions])
        assert wait_for(lambda: door.sync.stats["live"] - live0 >= n, 20), door.sync.rejections
        assert {a.scan_uuid for a in actions} <= _remote(door)
        commits = door.sync.stats["live_commits"] - commits0
        assert 1 <= commits <= 3, f"{commits} commits for {n} messages"     # the first one may commit alone
    finally:
        door.close()
        server.stop()
        store.close()


def test_a_forged_and_a_replayed_message_in_a_batch_are_refused_alone(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    captured: list[bytes] = []
    spy = PahoTransport("spy-batch", BrokerConfig(port=broker.port), clean_start=True)
    spy.on_message = lambda topic, payload: captured.append(payload)
    spy.subscribe(topics.live(ORG, event))
    acked = subscribed(spy)            # connected is not subscribed: what is relayed before is lost
    spy.start()
    try:
        assert wait_for(lambda: ready(door, 2)) and acked.wait(10), door.sync.rejections
        server.relay_every = 0.0
        first = _entry(event, "first")
        server.relay(ORG, event, [first])               # applied before the burst: its replay is refused too
        assert wait_for(lambda: first.scan_uuid in _remote(door) and captured)
        old = captured[0]
        good = [_entry(event, f"good-{i}") for i in range(6)]
        forged_uuid = uuid.uuid4().hex
        outer = json.loads(old)
        outer["body"] = outer["body"].replace(first.scan_uuid, forged_uuid)    # the signature no longer matches
        forged = json.dumps(outer).encode()
        rejected0, commits0 = len(door.sync.rejections), door.sync.stats["live_commits"]

        def burst() -> None:
            for a in good[:3]:
                server.relay(ORG, event, [a])
            assert wait_for(lambda: len(captured) >= 4)
            replay_of = captured[1]                      # good[0]'s relay, its id remembered in this same batch
            spy.publish(topics.live(ORG, event), forged, wait=5)
            spy.publish(topics.live(ORG, event), replay_of, wait=5)
            spy.publish(topics.live(ORG, event), old, wait=5)
            for a in good[3:]:
                server.relay(ORG, event, [a])
        _held(door, 9, burst)
        assert wait_for(lambda: {a.scan_uuid for a in good} <= _remote(door), 20), door.sync.rejections
        assert wait_for(lambda: len(door.sync.rejections) - rejected0 >= 3, 10)
        reasons = [r for t, r in list(door.sync.rejections)[rejected0:] if t.endswith("/live")]
        assert sum(r.startswith("bad signature") for r in reasons) == 1, reasons
        assert sum(r.startswith("replayed message") for r in reasons) == 2, reasons
        assert forged_uuid not in _remote(door)
        got = door.ledger.conn.execute("SELECT count(*), count(DISTINCT scan_uuid) FROM checkins "
                                       "WHERE origin='remote'").fetchone()
        assert got == (7, 7)                             # first + 6 good, each once
        assert door.sync.stats["live_commits"] - commits0 <= 3      # 9 messages: not one commit each
    finally:
        spy.stop()
        door.close()
        server.stop()
        store.close()
