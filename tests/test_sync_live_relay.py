"""Cross-gate relays on the live topic (real mosquitto, real server, real device ledgers): a gate that drops off while
relays stream in loses none of them, a replayed relay is still refused, a gate's own scans leave while it works
through a backlog, and the server gathers a burst of relays into few messages."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

from agent.sync import BrokerConfig, PahoTransport, topics
from agent.sync.messages import RelayedAction
from agent.sync.signed import Verifier
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server, subscribed


def _entry(event: int, key: str) -> RelayedAction:
    """An entry admitted at another gate, as the server relays it."""
    return RelayedAction(scan_uuid=uuid.uuid4().hex, kind="entry", ticket_key=key, event_id=event, direction="in",
                         at=time.time(), device_id="gate-z", gate="gate-z", device_seq=1)


def _remote(door) -> set[str]:
    return {u for (u,) in door.ledger.conn.execute("SELECT scan_uuid FROM checkins WHERE origin='remote'")}


def _flood(server, event: int, n: int, pause: float = 0.0) -> list[str]:
    """n relays, one message each (the server's relay path, nothing gathered), `pause` seconds apart."""
    server.relay_every = 0.0
    sent = []
    for i in range(n):
        action = _entry(event, f"flood-{i}")
        server.relay(ORG, event, [action])
        sent.append(action.scan_uuid)
        time.sleep(pause)
    return sent


def test_a_gate_dropping_off_while_relays_stream_in_applies_every_one_once_back(tmp_path, broker):
    """Stopping used to end the sync thread before the MQTT client: relays that arrived in between were acknowledged
    to the broker (never sent again) and never applied — a gate could admit those tickets a second time."""
    store, event, _ = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: ready(door, 2)), door.sync.rejections
        sent: list[str] = []
        flood = threading.Thread(target=lambda: sent.extend(_flood(server, event, 1500, pause=0.002)))
        flood.start()
        clients = []
        for _ in range(8):                       # drops off and comes back while the relays stream in
            assert wait_for(lambda: door.sync is not None and door.sync.stats["live"] >= 20, 20)
            clients.append(door.sync)
            door.go_offline()
            time.sleep(0.05)
            door.go_online()
        flood.join(60)
        assert not flood.is_alive()
        clients.append(door.sync)                # the broker delivers what the session kept meanwhile
        assert wait_for(lambda: len(_remote(door) & set(sent)) == len(sent), 30), \
            f"{len(sent) - len(_remote(door) & set(sent))} relays never applied"
        got = door.ledger.conn.execute("SELECT count(*), count(DISTINCT scan_uuid) FROM checkins "
                                       "WHERE origin='remote'").fetchone()
        assert got == (len(sent), len(sent))
        # a relay the broker sent again after the reconnection (its ack was not through) is refused as a replay
        # only because it was applied: id and entries are committed together
        for client in clients:
            for topic, reason in client.rejections:
                if not topic.endswith("/live"):
                    continue             # a clock reply meant for the client before: answered to this one
                assert reason.startswith("replayed message"), reason
                msg_id = reason.split()[-1]
                assert door.ledger.conn.execute("SELECT 1 FROM seen_messages WHERE id=?", (msg_id,)).fetchone()
    finally:
        door.close()
        server.stop()
        store.close()


def test_a_replayed_relay_is_still_refused_after_a_reconnection(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    door = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    captured: list[bytes] = []
    spy = PahoTransport("spy-live", BrokerConfig(port=broker.port), clean_start=True)
    spy.on_message = lambda topic, payload: captured.append(payload)
    spy.subscribe(topics.live(ORG, event))
    acked = subscribed(spy)            # connected is not subscribed: what is relayed before is lost
    spy.start()
    try:
        assert wait_for(lambda: ready(door, 2)) and acked.wait(10)
        ticket = orders[0]["tickets"][0]["ticket_key"]
        entry = _entry(event, ticket)
        server.relay(ORG, event, [entry])
        assert wait_for(lambda: entry.scan_uuid in _remote(door))
        assert wait_for(lambda: captured)
        relay = captured[0]
        assert Verifier(key).open(relay)["actions"][0]["scan_uuid"] == entry.scan_uuid
        door.go_offline()
        door.go_online()
        assert wait_for(lambda: door.sync.connected)
        door.ledger.conn.execute("DELETE FROM checkins WHERE scan_uuid=?", (entry.scan_uuid,))   # an annulled
        door.ledger.conn.commit()             # trace gone: only the replay guard can tell the copy from news
        spy.publish(topics.live(ORG, event), relay, wait=5)     # the same signed bytes again
        assert wait_for(lambda: any(r.startswith("replayed message") for _, r in door.sync.rejections))
        assert entry.scan_uuid not in _remote(door)
    finally:
        spy.stop()
        door.close()
        server.stop()
        store.close()


def test_a_gate_uploads_its_scan_while_it_works_through_a_backlog_of_relays(tmp_path, broker):
    """Its own entry used to wait until every queued message was applied: seconds behind 200 gates' relays, and
    the other gates could admit the ticket meanwhile."""
    store, event, orders = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: ready(door, 2)), door.sync.rejections
        door.go_offline()
        sent = _flood(server, event, 2000)    # kept for it by the broker, delivered at once when it is back
        door.options = replace(door.options, tick=5.0, idle_tick=5.0)   # no periodic wake: the scan's notice starts its upload
        door.go_online()
        assert wait_for(lambda: door.sync._inbox.qsize() > 200, 20)
        verdict = door.scan(store.issue_ticket_payload(orders[1]["tickets"][0]["ticket_key"]))
        assert verdict.code.value == "accepted"
        assert wait_for(lambda: store.q("SELECT count(*) FROM scans WHERE scan_uuid=?", (verdict.scan_uuid,))[0][0],
                        30)
        assert len(_remote(door) & set(sent)) < len(sent), "uploaded only once the whole backlog was applied"
        assert wait_for(lambda: len(_remote(door) & set(sent)) == len(sent), 60)
    finally:
        door.close()
        server.stop()
        store.close()


def test_the_server_gathers_a_burst_of_relays_and_sends_the_first_at_once(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    server.relay_every, server.relay_deliveries = 0.3, 1     # 2 gates / 1 per second: the 0.3 s cap
    verify = Verifier(store.server_public_key(ORG)).open
    got: list[tuple[float, list[str]]] = []
    spy = PahoTransport("spy-live", BrokerConfig(port=broker.port), clean_start=True)
    spy.on_message = lambda topic, payload: got.append(
        (time.monotonic(), [a["scan_uuid"] for a in verify(payload).get("actions", ())]))
    spy.subscribe(topics.live(ORG, event))
    acked = subscribed(spy)            # connected is not subscribed: what is relayed before is lost
    spy.start()
    try:
        assert acked.wait(10)
        time.sleep(0.5)                       # a quiet spell
        burst = [_entry(event, f"burst-{i}") for i in range(50)]
        relayed_at = []
        for a in burst:
            server.relay(ORG, event, [a])
            relayed_at.append(time.monotonic())
        assert wait_for(lambda: sum(len(u) for _, u in got) == 50, 30)    # without a new upload to push them
        assert [x for _, u in got for x in u] == [a.scan_uuid for a in burst]     # all, once, in order
        # measured against how fast this host relayed the burst, not against fixed times (0.2 s, 1.5 s, 3 messages)
        window = server.relay_every
        assert relayed_at[1] - relayed_at[0] < window, "this host relayed slower than one a window: nothing to gather"
        assert got[0][1] == [burst[0].scan_uuid], got[0][1]     # the first left at once, alone: not gathered with
        #                                                         the ones relayed within its window after it
        assert len(got) <= 2 + (relayed_at[-1] - relayed_at[0]) / window, len(got)       # the rest: one a window
        assert got[-1][0] - relayed_at[-1] < window + 2.0     # the last, within a window of the burst's end
    finally:
        spy.stop()
        server.stop()
        store.close()


def test_a_small_event_s_relays_hardly_wait(tmp_path, broker):
    """The window is the event's gates / RELAY_DELIVERIES: 2 gates, 10 ms — a relay 50 ms after another leaves at
    once (at 200 gates it would wait up to 1 s for the next ones)."""
    store, event, _ = make_store(tmp_path / "server", tickets=2)
    server = start_server(store, broker.port)
    got: list[float] = []
    spy = PahoTransport("spy-live", BrokerConfig(port=broker.port), clean_start=True)
    spy.on_message = lambda topic, payload: got.append(time.monotonic())
    spy.subscribe(topics.live(ORG, event))
    acked = subscribed(spy)            # connected is not subscribed: what is relayed before is lost
    spy.start()
    try:
        assert acked.wait(10)
        for i in range(5):
            server.relay(ORG, event, [_entry(event, f"small-{i}")])
            time.sleep(0.05)
        assert wait_for(lambda: len(got) == 5, 10)      # five messages: none gathered
        assert not wait_for(lambda: len(got) > 5, 0.5)
    finally:
        spy.stop()
        server.stop()
        store.close()
