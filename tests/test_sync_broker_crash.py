"""The broker killed (a crash, `kill -9`, the machine's OOM killer) and started again by `provision serve`: mosquitto
writes its persistence only on an orderly stop (or every `autosave_interval`, 30 min), so every offline device's
session, with the check-ins of the other gates queued for it, is gone. Real mosquitto, real SQLite."""
from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import replace

from agent.sync import BrokerConfig, PahoTransport, topics
from agent.sync.bundle import section
from agent.sync.device import CATCH_UP_SETTING, CURSORS_SETTING
from agent.sync.messages import ChunkHeader, Hello
from agent.verdicts import Code
from server_stub.store import order_store
from server_stub.sync.server import SyncServer
from tests.helpers import ROOT, stop_process, wait_for, wait_for_line
from tests.sync_fixtures import ORG, make_store, server_listening, start_door, start_server, subscribed


def _knows(door, scan_uuid: str) -> bool:
    return door.ledger.conn.execute("SELECT 1 FROM checkins WHERE scan_uuid=?", (scan_uuid,)).fetchone() is not None


def test_a_gate_offline_while_the_broker_crashed_learns_the_entries_it_missed(tmp_path, broker):
    """Before: gate B, offline while the broker crashed and came back, had no session there any more, so the
    entries gate A made meanwhile were relayed to nobody for it; B's next sync said it was up to date and B admitted
    the same ticket again (the cross-gate double entry the relay exists to stop; the server listed it only afterwards
    as a conflict). Now a device whose broker session is gone asks for its events' whole data again, with every
    entry made so far, and refuses the ticket: ALREADY USED at gate A."""
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    try:
        assert wait_for(lambda: a.ready(3) and b.ready(3), 30)
        ticket = store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])
        b.go_offline()                                  # its session (and queue) waits at the broker

        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)         # the broker crashes: nothing of it saved
        broker.proc.wait(10)
        broker.start()                                  # `provision serve` starts it again on the same port

        entry = a.scan(ticket)
        assert entry.accepted and entry.scan_uuid
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 30), a.online_sync.rejections

        b.go_online()
        assert wait_for(lambda: _knows(b, entry.scan_uuid), 20), "gate B never learnt gate A's entry"
        again = b.scan(ticket)
        assert again.code is Code.ALREADY_USED and again.first_use and again.first_use.gate == "gate-a"
        assert b.online_sync.bundle_version == store.version(ORG)
    finally:
        _shut(a, b, server, store)


def _shut(*parts) -> None:
    """Each part stopped in the order given (watchers, devices, then the server, then its store); None skipped."""
    for part in parts:
        if part is not None:
            (part.stop if isinstance(part, (SyncServer, PahoTransport)) else part.close)()


class _DownWatch:
    """Listens on a device's down topic beside it (a test client): the bundles the server sent it, decoded."""

    def __init__(self, port: int, device: str):
        self.manifests: list[dict] = []
        self.chunks: dict[str, dict[int, bytes]] = {}
        self.transport = PahoTransport(f"watch-{uuid.uuid4().hex[:8]}", BrokerConfig(port=port), clean_start=True)
        self.transport.on_message = self._got
        self.transport.subscribe(topics.down(ORG, device))
        acked = subscribed(self.transport)
        self.transport.start()
        assert acked.wait(10)

    def _got(self, topic: str, payload: bytes) -> None:
        if ChunkHeader.is_chunk(payload):
            head = ChunkHeader.unpack(payload)
            self.chunks.setdefault(head.bundle_id.hex(), {})[head.index] = payload
            return
        body = json.loads(json.loads(payload)["body"])
        if body.get("type") == "bundle":
            self.manifests.append(body)

    def bundles(self) -> list[dict]:
        return [m for m in self.manifests if len(self.chunks.get(m["bundle_id"], {})) == len(m["chunks"])]

    def sections(self, manifest: dict) -> list[dict]:
        got = self.chunks[manifest["bundle_id"]]
        return [section(got[i], i) for i in range(len(manifest["chunks"]))]

    def actions(self, manifest: dict) -> list[str]:
        return [a["scan_uuid"] for s in self.sections(manifest) for a in s.get("resets") or ()]

    def close(self) -> None:
        self.transport.stop()


def _crash(broker) -> None:
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGKILL)         # the broker crashes: nothing of it saved
    broker.proc.wait(10)
    broker.start()                                  # `provision serve` starts it again on the same port


def _cursors(door) -> dict:
    return door.ledger.get_setting(CURSORS_SETTING) or {}


def test_a_gate_back_after_the_broker_crashed_gets_only_the_entries_it_missed(tmp_path, broker, monkeypatch, backend,
                                                                                request):
    """Before: the gate whose session the broker lost asked for its events' whole data again (hello version 0): at a
    1M-ticket event, 200 gates downloading 30 MB and spending 21-40 s each applying it after one broker crash. Now it
    asks for the version delta and the entries after the action cursor it held (the last relay's): the answer is a
    delta from the version it holds carrying exactly the entries made while it was away (no ticket row, none of the
    entries it had), merged once; it refuses the ticket gate A let in meanwhile."""
    monkeypatch.setattr(order_store, "CATCH_UP_OVERLAP", 0.0)     # no overlap: exactly what it missed
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store, event, orders = make_store(tmp_path / "server", tickets=4, db=db)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    tickets = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
    watch = None
    try:
        assert wait_for(lambda: a.ready(4) and b.ready(4), 30)
        before = a.scan(tickets[0])
        assert wait_for(lambda: _knows(b, before.scan_uuid), 20)
        held = _cursors(b)
        assert held.get(str(event), 0) > 0, "a relay carries the server's action cursor"
        version = b.online_sync.bundle_version
        b.go_offline()

        _crash(broker)
        missed = [a.scan(t) for t in tickets[1:3]]
        assert all(m.accepted for m in missed)
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 30), a.online_sync.rejections
        watch = _DownWatch(broker.port, "gate-b")

        b.go_online()
        assert wait_for(lambda: all(_knows(b, m.scan_uuid) for m in missed) and not b.online_sync._catch_up, 20), \
            "gate B never learnt gate A's entries"
        assert wait_for(lambda: watch.bundles(), 10)
        [catch_up] = watch.bundles()
        assert (catch_up["base_version"], catch_up["version"]) == (version, version), "a delta, not the whole data"
        assert not any(s.get("tickets") for s in watch.sections(catch_up))
        assert sorted(watch.actions(catch_up)) == sorted(m.scan_uuid for m in missed)
        for entry in [before, *missed]:
            assert b.ledger.conn.execute("SELECT count(*) FROM checkins WHERE scan_uuid=?",
                                         (entry.scan_uuid,)).fetchone()[0] == 1
        again = b.scan(tickets[1])
        assert again.code is Code.ALREADY_USED and again.first_use and again.first_use.gate == "gate-a"
        assert b.ledger.get_setting(CATCH_UP_SETTING) is None
        assert _cursors(b)[str(event)] >= catch_up["cursor"] > held[str(event)]
    finally:
        _shut(watch, a, b, server, store)


def test_a_gate_whose_cursor_the_server_does_not_know_gets_the_whole_data(tmp_path, broker, caplog):
    """A cursor the store has no row for (the server's store replaced, a forged one): the server cannot tell what the
    gate missed, so it sends the whole event data (logged), which carries every entry."""
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    watch = None
    try:
        assert wait_for(lambda: a.ready(3) and b.ready(3), 30)
        b.go_offline()
        b.ledger.set_setting(CURSORS_SETTING, {str(event): 10 ** 9})
        _crash(broker)
        entry = a.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"]))
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 30), a.online_sync.rejections
        watch = _DownWatch(broker.port, "gate-b")
        with caplog.at_level(logging.WARNING, logger="ticketgate.sync.server"):
            b.go_online()
            assert wait_for(lambda: _knows(b, entry.scan_uuid) and not b.online_sync._catch_up, 20)
        assert wait_for(lambda: watch.bundles(), 10)
        assert [m["base_version"] for m in watch.bundles()] == [0]
        assert "unknown here: sending the whole event data" in caplog.text
    finally:
        _shut(watch, a, b, server, store)


def test_a_catch_up_serves_the_devices_own_events_only_whatever_cursors_it_names(tmp_path, broker):
    """A hello's catch-up cursors only say where each of the device's registered events starts: naming another
    event (and a cursor from that event's entries) brings nothing of that event."""
    store, event, orders = make_store(tmp_path / "server", tickets=2)
    now = time.time()
    other = store.create_event(ORG, "Other night", now - 3600, now + 6 * 3600, "Europe/Paris",
                               zones=[{"zone_id": 1, "name": "Floor"}], categories=[{"category_id": 1, "name": "Std"}])
    secret = store.add_order(ORG, other, "Other Buyer", "o@example.org", positions=[{"category": 1, "zone": 1}])
    store.register_device(ORG, "gate-o", gate="gate-o", events=[other])
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    o = start_door(tmp_path / "o", "gate-o", broker.port, key, other)
    watch = hello = None
    try:
        assert wait_for(lambda: o.ready(1), 30)
        admitted = o.scan(store.issue_ticket_payload(secret["tickets"][0]["ticket_key"]))
        assert wait_for(lambda: o.ledger.outbox_size() == 0, 30)
        assert wait_for(lambda: store.action_cursor() > 0, 10)
        foreign = store.action_cursor()       # the row of gate O's entry
        watch = _DownWatch(broker.port, "gate-a")
        hello = PahoTransport("gate-a", BrokerConfig(port=broker.port), clean_start=True)   # gate A's login
        hello.start()
        assert wait_for(lambda: hello.connected, 10)
        version = store.version(ORG)
        hello.publish(topics.up(ORG, "gate-a"), json.dumps(Hello(
            ORG, "gate-a", "p1", time.time(), version, (event,),
            catch_up={event: foreign, other: 0}).to_wire()).encode())
        assert wait_for(lambda: watch.bundles(), 20)
        for m in watch.bundles():
            assert (m["events"], m["base_version"]) == ([event], version)
            text = json.dumps(watch.sections(m))
            assert admitted.scan_uuid not in text and secret["tickets"][0]["ticket_key"] not in text
            assert all(not s.get("events") or [e["event_id"] for e in s["events"]] == [event]
                       for s in watch.sections(m))
    finally:
        _shut(watch, hello, o, server, store)


def _gate_b(folder, port: int, key: bytes, event: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "server_stub.sync.sim_run", "--folder", str(folder), "--org", ORG,
           "--device", "gate-b", "--port", str(port), "--server-key", key.hex(), "--event", str(event)]
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            text=True)


def _read(ledger, sql: str, args: tuple = ()):
    with sqlite3.connect(ledger) as conn:
        return conn.execute(sql, args).fetchone()


def test_a_gate_killed_mid_catch_up_catches_up_when_started_again(tmp_path, broker):
    """Gate B finds its session lost while the server is away, so its catch-up goes unanswered, and is killed (-9).
    Started again, the broker has its session now (from the killed run): only the catch-up kept in its ledger makes
    it ask for the entries gate A made while it was away, and it gets them, once."""
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    ledger = tmp_path / "b" / "ledger.sqlite"
    tickets = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
    proc = _gate_b(tmp_path / "b", broker.port, key, event)
    try:
        assert wait_for(lambda: a.ready(3), 30) and wait_for_line(proc, "ready", 30)
        first = a.scan(tickets[0])
        assert wait_for(lambda: _read(ledger, "SELECT 1 FROM checkins WHERE scan_uuid=?", (first.scan_uuid,)), 20)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

        _crash(broker)
        missed = a.scan(tickets[1])
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 30), a.online_sync.rejections
        server.stop()                               # gone: the catch-up below goes unanswered

        proc = _gate_b(tmp_path / "b", broker.port, key, event)
        assert wait_for(lambda: (_read(ledger, "SELECT value FROM settings WHERE key=?", (CATCH_UP_SETTING,))
                                 or ("null",))[0] != "null", 20), "no session: a catch-up is asked for"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

        server = start_server(store, broker.port)
        proc = _gate_b(tmp_path / "b", broker.port, key, event)
        assert wait_for(lambda: _read(ledger, "SELECT count(*) FROM checkins WHERE scan_uuid=?",
                                      (missed.scan_uuid,))[0] == 1, 30), "the killed catch-up was not resumed"
        assert wait_for(lambda: _read(ledger, "SELECT value FROM settings WHERE key=?", (CATCH_UP_SETTING,))[0]
                        == "null", 20)
        assert _read(ledger, "SELECT count(*) FROM checkins WHERE scan_uuid=?", (first.scan_uuid,))[0] == 1
    finally:
        stop_process(proc, signal.SIGTERM, wait=15)
        a.close()
        server.stop()
        store.close()


class _ServerBeforeCatchUps(SyncServer):
    """A sync server of before catch-ups: its hello read no `catch_up` (unknown fields were ignored)."""

    def _hello(self, org, device, msg, reg):
        super()._hello(org, device, replace(msg, catch_up=None), reg)


def test_a_gate_whose_server_ignores_its_catch_up_asks_for_the_whole_data(tmp_path, broker):
    """Devices updated before their server: a server of before catch-ups answers a hello naming the version the gate
    holds with nothing to send, so the entries it missed would never come. The gate then asks for the whole data
    (hello version 0), as it did with such a server, and learns them."""
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    server = _ServerBeforeCatchUps(store, PahoTransport("server-1", BrokerConfig(port=broker.port)), name="server-1",
                                   orgs=[ORG]).start()
    assert server_listening(broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    watch = None
    try:
        assert wait_for(lambda: a.ready(3) and b.ready(3), 30)
        b.go_offline()
        _crash(broker)
        entry = a.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"]))
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 30), a.online_sync.rejections
        watch = _DownWatch(broker.port, "gate-b")
        b.go_online()
        assert wait_for(lambda: _knows(b, entry.scan_uuid) and not b.online_sync.catching_up, 20), \
            "gate B never learnt gate A's entry"
        assert [m["base_version"] for m in watch.bundles()] == [0]
    finally:
        _shut(watch, a, b, server, store)
