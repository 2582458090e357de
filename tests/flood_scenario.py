"""A stolen door floods the server with large *valid* batches while the door's own sync and another door upload (real
mosquitto, the real SyncServer, SQLite, a real device sync): what the server held, its memory, the other door's ack
times, and whether every row of the door arrived. Used by tests/test_ingest_flood.py and
benchmarks/bench_ingest_flood.py."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from agent.sync import BrokerConfig, topics
from agent.sync.messages import ActionItem, Batch
from server_stub.sync.server import SyncServer
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_server

ROWS = 3000                 # the door's outbox: 3 batches of 1,000 (its items burst)
FLOOD = 120                 # batches of ~4 MiB published as fast as the broker takes them: 480 MiB

# The thief: the door's outbox rows, each padded to ~4 KiB (a field the server ignores: the batch stays valid), sent
# again and again under new batch ids, never waiting for an ack. A process of its own (its client's buffers are not
# the server's memory).
FLOODER = r"""
import json, sqlite3, sys, time, uuid
import paho.mqtt.client as mqtt
from agent.sync.messages import Batch
port, ledger, org, device, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rows = sqlite3.connect(ledger).execute("SELECT id, kind, body FROM outbox ORDER BY id").fetchall()
pad = "x" * 3420
rows = [(i, k, json.dumps(dict(json.loads(b), pad=pad))) for i, k, b in rows]
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "thief", protocol=mqtt.MQTTv5)
c.max_inflight_messages_set(1000)
c.connect("127.0.0.1", port)
c.loop_start()
sent = []
deadline = time.monotonic() + 300
for k in range(n):             # as fast as the broker takes them (at most 50 waiting for its PUBACK here)
    while sum(not m.is_published() for m in sent[-50:]) >= 50 and time.monotonic() < deadline:
        time.sleep(0.001)
    chunk = rows[(k % 3) * 1000:(k % 3 + 1) * 1000]
    payload = Batch.encode(org, device, uuid.uuid4().hex, time.time(), chunk)
    sent.append(c.publish(f"tg/{org}/dev/{device}/up", payload, qos=1))
while not all(m.is_published() for m in sent) and time.monotonic() < deadline:
    time.sleep(0.05)
print(len(payload), sum(m.is_published() for m in sent), flush=True)
c.loop_stop()
c.disconnect()
"""


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """The peaks of the server's inbox (the real queue's length) and of this process's RSS, every 5 ms."""

    def __init__(self, server: SyncServer) -> None:
        super().__init__(daemon=True)
        self.server, self.stop = server, threading.Event()
        self.queued = self.rss = 0

    def run(self) -> None:
        while not self.stop.wait(0.005):
            self.queued = max(self.queued, self.server._inbox.qsize())
            self.rss = max(self.rss, _rss_kib())


@dataclass
class Flood:
    published: int              # the thief's batches the broker took
    stored: int                 # the door's rows the server holds at the end
    queued: int                 # the server's inbox: its longest (sampled every 5 ms)
    rss_grown_mib: int          # this process's RSS: its peak over the start (the server's memory, mostly)
    waits: list[float]          # the other door's ack times, sorted (s)
    cpu: float                  # this process's CPU time over the run (s)
    stats: dict[str, Any]       # the sync server's
    refusals: list[dict]        # `server refusals` of the door

    def text(self) -> str:
        return (f"inbox peak {self.queued} messages (held peak {self.stats.get('inbox_peak_messages')} / "
                f"{self.stats.get('inbox_peak_bytes')} bytes); RSS +{self.rss_grown_mib} MiB; other door's acks: median "
                f"{self.waits[len(self.waits) // 2]:.2f} s, max {self.waits[-1]:.2f} s over {len(self.waits)}; "
                f"CPU {self.cpu:.1f} s; rows stored {self.stored}/{ROWS}; not taken {self.stats.get('not_taken')}, "
                f"not parsed {self.stats.get('not_parsed')}, batches parsed {self.stats.get('batches')}")


def run_flood(folder: Path, port: int, batches: int = FLOOD) -> Flood:
    """The scenario on the broker at `port` (anonymous), its files in `folder`."""
    store, event, _ = make_store(folder / "server", tickets=1)
    server = start_server(store, port)
    door = SimDevice(folder / "gate-a", ORG, "gate-a", store.server_public_key(ORG), BrokerConfig(port=port),
                     [event], options=FAST)
    for i in range(ROWS):
        door.ledger.enqueue("action", ActionItem(str(uuid.uuid4()), "entry", f"pretix:F{i}", event, "in", time.time(),
                                                 "gate-a", "gate-a", reason="r" * 300).to_wire())
    honest, acks = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "gate-b", protocol=mqtt.MQTTv5), {}   # batch -> at
    honest.on_message = lambda c, u, m: acks.setdefault(
        json.loads(json.loads(m.payload)["body"]).get("batch"), time.monotonic())
    honest.connect("127.0.0.1", port)
    honest.loop_start()
    honest.subscribe(topics.down(ORG, "gate-b"), qos=1)
    rss0, cpu0 = _rss_kib(), time.process_time()
    sampler = Sampler(server)
    sampler.start()
    script = folder / "flooder.py"
    script.write_text(FLOODER)
    flooder = subprocess.Popen([sys.executable, str(script), str(port), str(door.ledger_path), ORG, "gate-a",
                                str(batches)], stdout=subprocess.PIPE, text=True)
    asked: dict[str, float] = {}
    try:
        door.go_online()              # the door's own sync, with the same identity, meanwhile
        n = 0
        while flooder.poll() is None and n < 600:        # the other door uploads one entry every 0.25 s
            n += 1
            body = ActionItem(str(uuid.uuid4()), "entry", f"pretix:H{n}", event, "in", time.time(), "gate-b").to_wire()
            batch = f"h{n}"
            asked[batch] = time.monotonic()
            honest.publish(topics.up(ORG, "gate-b"), Batch.encode(ORG, "gate-b", batch, time.time(),
                                                                 [(n, "action", json.dumps(body))]), qos=1)
            time.sleep(0.25)
        out, _ = flooder.communicate(timeout=300)
        assert wait_for(lambda: set(asked) <= set(acks), 60), sorted(set(asked) - set(acks))
        # nothing lost: the door's sync uploads every row it holds (what the server did not take was never acked)
        assert wait_for(lambda: door.ledger.outbox_size() == 0, 180, step=0.5), (door.ledger.outbox_size(),
                                                                                 server.stats)
    finally:
        sampler.stop.set()
        honest.loop_stop()
        honest.disconnect()
        door.close()
        server.stop()
    cpu = time.process_time() - cpu0          # this process: the server, the door's sync, the other door
    stored = store.q1("SELECT count(*) FROM scans WHERE device_id = 'gate-a'")[0]
    waits = sorted(acks[b] - t for b, t in asked.items())
    grown = (sampler.rss - rss0) // 1024
    refusals = store.refusals(ORG, "gate-a")
    store.close()
    return Flood(int(out.split()[1]), stored, sampler.queued, grown, waits, cpu, dict(server.stats), refusals)
