"""A message the device received is acknowledged to the broker only once it is handled — a live one after the commit
that applied it — so a device killed in between gets it again and applies it once. Real mosquitto (its debug log is
the broker's view of what was delivered and acknowledged), a real device process killed with SIGKILL, real ledgers."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agent.sync import BrokerConfig, PahoTransport, topics
from tests.broker import Mosquitto, mosquitto_binary
from tests.helpers import ROOT, stop_process, wait_for, wait_for_line
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server, subscribed
from tests.test_sync_live_relay import _entry, _remote

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@pytest.fixture
def debug_broker(tmp_path):
    with Mosquitto(tmp_path / "broker", extra_config="log_type debug") as broker:
        yield broker


class BrokerLog:
    """What mosquitto says it sent to a client and what that client acknowledged (log_type debug)."""

    def __init__(self, broker: Mosquitto, client: str):
        self.path, self.client = Path(broker.log_path), client

    def lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines()

    def sent(self, topic_part: str = "") -> list[int]:
        """Packet ids of the QoS 1 messages sent to the client (on a topic containing `topic_part`), in order."""
        pattern = re.compile(rf"Sending PUBLISH to {re.escape(self.client)} \(d\d, q1, r\d, m(\d+), '([^']*)'")
        return [int(m[1]) for line in self.lines() if (m := pattern.search(line)) and topic_part in m[2]]

    def acked(self) -> list[int]:
        pattern = re.compile(rf"Received PUBACK from {re.escape(self.client)} \(Mid: (\d+)")
        return [int(m[1]) for line in self.lines() if (m := pattern.search(line))]

    def client_port(self) -> int:
        """The local port of the client's newest connection."""
        pattern = re.compile(rf"New client connected from 127\.0\.0\.1:(\d+) as {re.escape(self.client)} ")
        return [int(m[1]) for line in self.lines() if (m := pattern.search(line))][-1]


def _read_by_process(port: int) -> bool:
    """The loopback connection whose local port is `port` has nothing left in its kernel receive queue: the process
    read what the broker sent (paho hands a message to on_message as soon as it has read it)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "01":      # 01: established
            return int(fields[4].split(":")[1], 16) == 0
    return False


def _device(folder: Path, port: int, key: bytes, event: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "server_stub.sync.sim_run", "--folder", str(folder), "--org", ORG,
           "--device", "gate-k", "--port", str(port), "--server-key", key.hex(), "--event", str(event)]
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            text=True)


def _stop(proc: subprocess.Popen) -> None:
    stop_process(proc, signal.SIGTERM, wait=15)


def _remote_rows(ledger: Path, scan_uuid: str) -> int:
    with sqlite3.connect(ledger) as conn:
        return conn.execute("SELECT count(*) FROM checkins WHERE scan_uuid=? AND origin='remote'",
                            (scan_uuid,)).fetchone()[0]


def test_a_relay_received_by_a_device_killed_before_applying_it_is_applied_once_after_restart(tmp_path, debug_broker):
    store, event, _ = make_store(tmp_path / "server", tickets=2, devices=("gate-k",))
    server = start_server(store, debug_broker.port)
    server.relay_every = 0.0
    key, folder = store.server_public_key(ORG), tmp_path / "k"
    ledger, log = folder / "ledger.sqlite", BrokerLog(debug_broker, "gate-k")
    spy = PahoTransport("spy-ack", BrokerConfig(port=debug_broker.port), clean_start=True)
    relayed: list[bytes] = []
    spy.on_message = lambda topic, payload: relayed.append(payload)
    spy.subscribe(topics.live(ORG, event))
    acked = subscribed(spy)            # connected is not subscribed: what is relayed before is lost
    spy.start()
    proc = _device(folder, debug_broker.port, key, event)
    holder: sqlite3.Connection | None = None
    try:
        assert wait_for_line(proc, "ready", 60) and acked.wait(10)
        assert wait_for(lambda: set(log.sent()) <= set(log.acked()), 10), "the start's messages are acknowledged"
        before = len(log.sent("/live"))
        holder = sqlite3.connect(ledger, timeout=10, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")       # the device's ledger write lock: its sync thread cannot apply
        action = _entry(event, "k-1")
        server.relay(ORG, event, [action])
        assert wait_for(lambda: len(log.sent("/live")) > before and relayed, 10), "the broker never sent the relay"
        mid = log.sent("/live")[-1]
        port = log.client_port()
        assert wait_for(lambda: _read_by_process(port), 20), "the device process never read the relay"
        assert not wait_for(lambda: mid in log.acked(), 1.0), "acknowledged before it was applied"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        holder.execute("ROLLBACK")
        holder.close()
        holder = None
        assert _remote_rows(ledger, action.scan_uuid) == 0, "applied before the kill"

        proc = _device(folder, debug_broker.port, key, event)      # the same persistent session: sent again
        assert wait_for_line(proc, "ready", 60)
        assert wait_for(lambda: _remote_rows(ledger, action.scan_uuid) == 1, 20), "the relay was lost"
        assert wait_for(lambda: log.acked().count(mid) >= 1, 10), "the redelivered relay was never acknowledged"
        msg_id = json.loads(json.loads(relayed[-1])["body"])["id"]
        with sqlite3.connect(ledger) as conn:
            assert conn.execute("SELECT count(*) FROM seen_messages WHERE id=?", (msg_id,)).fetchone()[0] == 1
            assert conn.execute("SELECT count(*) FROM checkins WHERE origin='remote'").fetchone()[0] == 1
    finally:
        if holder is not None:
            holder.close()
        if proc.poll() is None:
            _stop(proc)
        spy.stop()
        server.stop()
        store.close()


def test_every_message_sent_to_a_device_is_acknowledged_once_handled_refused_ones_too(tmp_path, debug_broker):
    """Bundle chunks and manifest, clock answers, upload acks, relays, a forged relay and the server's presence: all
    acknowledged once handled (none left in the broker's in-flight window, which would stop delivery)."""
    store, event, orders = make_store(tmp_path / "server", tickets=3, devices=("gate-b",))
    server = start_server(store, debug_broker.port)
    door = start_door(tmp_path / "b", "gate-b", debug_broker.port, store.server_public_key(ORG), event)
    log = BrokerLog(debug_broker, "gate-b")
    rogue = PahoTransport("rogue-ack", BrokerConfig(port=debug_broker.port), clean_start=True)
    rogue.start()
    try:
        assert wait_for(lambda: ready(door, 3)) and rogue.wait_connected(10), door.sync.rejections
        door.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"]))
        assert wait_for(lambda: door.ledger.outbox_size() == 0, 20), "the upload was never acknowledged"
        relayed = _entry(event, orders[1]["tickets"][0]["ticket_key"])
        server.relay(ORG, event, [relayed])
        forged = json.dumps({"body": json.dumps({"type": "checkins", "org": ORG, "event": event, "actions": [],
                                                 "id": uuid.uuid4().hex, "ts": 0}), "sig": "00" * 64}).encode()
        rejected = len(door.sync.rejections)
        rogue.publish(topics.live(ORG, event), forged, wait=5)
        assert wait_for(lambda: relayed.scan_uuid in _remote(door) and len(door.sync.rejections) > rejected, 10)
        sent = log.sent()
        assert all(log.sent(t) for t in ("/down", "/live", "/server/status")), log.lines()[-20:]
        assert wait_for(lambda: set(sent) <= set(log.acked()), 10), f"not acknowledged: {set(sent) - set(log.acked())}"
    finally:
        rogue.stop()
        door.close()
        server.stop()
        store.close()


def test_a_relay_the_ledger_could_not_write_is_not_acknowledged_and_comes_back(tmp_path, debug_broker):
    """The device's ledger stays locked past its busy timeout (another process writing): the relay is refused as not
    applied, left unacknowledged with the broker, and applied once the device's next connection gets it again."""
    store, event, _ = make_store(tmp_path / "server", tickets=2, devices=("gate-b",))
    server = start_server(store, debug_broker.port)
    server.relay_every = 0.0
    door = start_door(tmp_path / "b", "gate-b", debug_broker.port, store.server_public_key(ORG), event)
    log = BrokerLog(debug_broker, "gate-b")
    holder = sqlite3.connect(door.sync.ledger_path, timeout=10, isolation_level=None)
    try:
        assert wait_for(lambda: ready(door, 2)), door.sync.rejections
        before = len(log.sent("/live"))
        holder.execute("BEGIN IMMEDIATE")
        action = _entry(event, "locked-1")
        server.relay(ORG, event, [action])
        assert wait_for(lambda: any("not applied: the ledger commit failed" in r for _, r in door.sync.rejections),
                        20), door.sync.rejections
        holder.execute("ROLLBACK")
        mid = log.sent("/live")[before]
        assert mid not in log.acked() and action.scan_uuid not in _remote(door)
        door.go_offline()
        door.go_online()                                 # the same session: the broker sends it again
        assert wait_for(lambda: action.scan_uuid in _remote(door), 20), door.sync.rejections
        assert wait_for(lambda: mid in log.acked(), 10)
    finally:
        holder.close()
        door.close()
        server.stop()
        store.close()
