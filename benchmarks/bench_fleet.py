"""A fleet at the door: D devices on one mosquitto and one server, N tickets, scans at a door's rate, cancellations,
exchanges and a bulk change of 1,000 tickets during the run, devices dropping off and coming back.

    python benchmarks/bench_fleet.py [--devices 200] [--tickets 1000000] [--seconds 60] [--per-process 20] [--device-nice 0]
    python benchmarks/bench_fleet.py --quick        # 20 devices, 20,000 tickets, 20 s
    python benchmarks/bench_fleet.py --one-device [--tickets 1000000]   # the decomposition on one core

`--one-device`: one device's ledger holding every ticket (a full bundle applied), then 1,000-ticket cancellations
committed at the server: the announcer's part (commit -> signed update published) and the device's part (verify
and parse, check the fields, apply) timed alone, the live update as sent (statuses) beside the same change with
whole ticket rows (the format before), alternately.

Devices are real agent devices (agent.gate.Gate + agent.sync.device.DeviceSync, each with its own SQLite ledger,
MQTT session and threads), `--per-process` of them per process: 200 Python processes would need ~8 GB and
200 interpreters time-sharing 2 cores, which measures the scheduler, not the sync. Devices sharing a process share
its interpreter lock, which real devices do not; fewer per process cost more CPU in all: 2026-12-02, one after the
other, 5 per process at niceness 10 (the server and broker favoured as machines of their own; at equal priority 40
busy processes left ingestion 1/41 of the cores, upload -> ingested p50 2.3-2.9 s) gave the change applied p95
1.76 / 1.42 s with 98-99 s of device CPU, 20 per process 1.33 s with 83 s (docs/performance.md). The server
(ingestion, announcer, relay) runs in this process, the broker in its own.

Each device starts holding the event, its trusted keys and the current version (as after its first bundle),
not the 1M-row ticket index: the door decides on the signature and the flags, which is what the fleet exchanges;
receiving and applying the 1M-row index is bench_bundle_apply.py (one device) — 200 copies would be 27 GB. Holding
event data, each device connects for the first time with no broker session, so it catches up (the version delta
and the entries after its action cursor: a small delta, no ticket row; before 2026-12-03 the whole 1M-ticket data,
5,017 chunks and 149 MB published in the measured window): the set-up waits until every device has, before the
measured window.

Reports revocation latency (order cancelled / ticket exchanged at the server -> the device holds the revocation),
the 1,000-ticket change (-> all online devices), cross-gate latency (accepted at one gate -> in the ledger of
every other online gate), server ingest rate (the whole fleet back online with its offline backlog), broker and
server memory, and every accepted scan on the server exactly once (0 lost, 0 doubled).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_sync_common import ORG, world
from figures import pct, thread_cpu_seconds

from agent.ledger.guard import LedgerError
from agent.sync import bundle as bundle_format
from agent.sync import device as device_module
from agent.sync import keyset
from agent.sync.apply import apply_bundle
from agent.sync.bundle import Pending
from agent.sync.device import DeviceOptions
from agent.sync.transport import BrokerConfig
from server_stub.sync.sim_device import SimDevice

TICK = 0.02
CHANGE_CPU: list[list[float]] = []   # (worker process) per device, the bulk change's phases in its sync thread:
                                     # CPU s then wall s of each of PHASES (the bench's own bookkeeping left out)
PHASES = ("verify", "check", "apply", "commit")
BULK_MARKS: dict[int, list[tuple[float, float]]] = {}   # sync thread id -> (thread CPU, wall) at each phase's end
BULK_QUEUED: dict[int, float] = {}      # sync thread id -> s the bulk change waited in the device's queue


def mark(thread: int | None = None) -> None:
    """The phase of the bulk change that the sync thread `thread` was in ends now."""
    marks = BULK_MARKS.get(threading.get_ident() if thread is None else thread)
    if marks is not None:
        marks.append((time.thread_time(), time.perf_counter()))


def timed_apply(apply):
    """agent.sync.device.apply_update, its start and end marked (check: from the signature to here)."""
    def apply_(ledger, u):
        mark()
        apply(ledger, u)
        mark()
    return apply_


def process_cpu(pid: int | str = "self") -> float:
    """CPU seconds (user + system) a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, tuple[str, float]]:
    """This process's threads alive now: OS thread id -> (its kind: its name without digits, CPU seconds so far)."""
    return {tid: (re.sub(r"\d+", "#", name), cpu) for tid, (name, cpu) in thread_cpu_seconds().items()}


def cpu_by_kind(before: dict[str, tuple[str, float]], total: float) -> dict[str, float]:
    """CPU seconds since `before` by thread kind; threads ended meanwhile (a device gone offline) as one kind."""
    out: dict[str, float] = {}
    for tid, (kind, cpu) in thread_cpu().items():
        out[kind] = out.get(kind, 0.0) + cpu - before.get(tid, (kind, 0.0))[1]
    out["(threads ended during the run)"] = total - sum(out.values())
    return out


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seed(folder: Path, store, event: int, keys: set[str]) -> Path:
    """The state a device is in after its first bundle, minus most of the ticket index: event, keys, version, and
    the index rows of the tickets this run touches (`keys`), so a live change meets them as on a real device,
    which holds them all (a status change of a known ticket is an UPDATE, not an insert into the search index)."""
    ids = sorted(int(k) for k in keys)
    rows = []
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        rows += [{"ticket_key": str(tid), "event_id": event, "order_number": number, "buyer_name": name,
                  "email": email, "category": cat, "zone": zone, "seat": seat, "order_status": status}
                 for tid, number, name, email, cat, zone, seat, status in store.q(
                     "SELECT t.ticket_id, o.number, o.buyer_name, o.email, t.category, t.zone, t.seat, o.status "
                     "FROM tickets t JOIN orders o ON o.order_id = t.order_id "
                     f"WHERE t.ticket_id IN ({','.join('?' * len(part))})", part)]
    sections = [{"events": [store.event(event)]}, bundle_format.ticket_section(rows)]
    chunks = bundle_format.encode_chunks(sections, os.urandom(16))
    manifest = {"org": ORG, "version": store.version(ORG), "base_version": 0, "events": [event],
                "keyring": store.keyring(ORG).to_json(), "chunks": [hashlib.sha256(c).hexdigest() for c in chunks]}
    path = folder / "seed.pickle"
    path.write_bytes(pickle.dumps(Pending(manifest, dict(enumerate(chunks)))))
    return path


# -- a worker process: several devices ---------------------------------------------------------------------------
def worker_main(spec_path: str, index: int) -> None:
    spec = json.loads(Path(spec_path).read_text())
    mine = spec["workers"][index]
    seed_bundle = pickle.loads(Path(spec["seed"]).read_bytes())
    watch_keys = set(spec["watch_keys"])
    arrivals: dict[str, dict[str, float]] = {}     # device -> ticket key -> first time it held the revocation/entry
    devices: dict[str, SimDevice] = {}
    watches: dict[str, Watch] = {}
    device_module.apply_update = timed_apply(device_module.apply_update)
    syncs: list = []                                # every sync client started (one per connection), for its log
    for name in mine["devices"]:
        d = SimDevice(Path(spec["folder"]) / name, ORG, name, bytes.fromhex(spec["server_key"]),
                      BrokerConfig(port=spec["port"]), [spec["event"]], options=DeviceOptions(tick=0.05))
        apply_bundle(d.ledger, seed_bundle, d.keyring)
        watches[name] = Watch(d, watch_keys, arrivals.setdefault(name, {}))
        d._changed = watches[name].changed      # (before go_online) called by its sync thread
        devices[name] = online(d, watches[name], syncs)
    # each device's first connection finds no broker session (a new client id) while it holds the event: it catches
    # up (the entries after its action cursor, docs/sync-protocol.md); done in the set-up, not the measured window
    deadline = time.time() + 300
    while time.time() < deadline and any(d.online_sync.catching_up for d in devices.values()):
        time.sleep(0.1)
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    cpu0, threads0 = process_cpu(), thread_cpu()
    scans = []
    held_loop: list[tuple[str, float]] = []         # (off | on, seconds the loop was held by it)
    pending = sorted(mine["scans"])                     # (offset, device, ticket_key, payload)
    toggles = sorted(mine["toggles"])                   # (offset, device, "off" | "on")
    while pending or toggles:
        now = time.time() - start
        while toggles and toggles[0][0] <= now:
            _, name, what = toggles.pop(0)
            t_toggle = time.time()
            devices[name].go_offline() if what == "off" else online(devices[name], watches[name], syncs)
            held_loop.append((what, time.time() - t_toggle))
        while pending and pending[0][0] <= now:
            _, name, key, payload = pending.pop(0)
            try:
                v = devices[name].scan(payload)
            except LedgerError as exc:     # no verdict (the ledger's write lock not had within its busy timeout)
                print(f"{name}: {exc}", file=sys.stderr, flush=True)
                scans.append((name, key, "no verdict (LedgerError)", time.time(), None, devices[name].sync is not None))
                continue
            scans.append((name, key, v.code.value, time.time(), v.scan_uuid, devices[name].sync is not None))
        time.sleep(TICK)
    for name, d in devices.items():
        online(d, watches[name], syncs)
    deadline = time.time() + 300
    while time.time() < deadline and any(d.ledger.outbox_size() for d in devices.values()):
        time.sleep(0.2)
    time.sleep(2.0)       # the relays of the last uploads leave after their acks (gathered up to RELAY_EVERY)
    # what is still queued for a device lands (late, not lost) before it stops: at the device, or still at the
    # broker while the device's MQTT thread waits for the CPU (its queue empty a moment is not the end)
    deadline, quiet = time.time() + 120, None
    while time.time() < deadline:
        if any(d.sync is not None and not d.sync._inbox.empty() for d in devices.values()):
            quiet = None
        elif quiet is None:
            quiet = time.time()
        elif time.time() - quiet >= 3.0:
            break
        time.sleep(0.2)
    local = {n: [r[0] for r in d.ledger.conn.execute("SELECT scan_uuid FROM checkins WHERE origin='local'")]
             for n, d in devices.items()}
    held = {n: [r[0] for r in d.ledger.conn.execute("SELECT ticket_key FROM checkins WHERE origin='remote'")
                if r[0] in watch_keys] for n, d in devices.items()}
    rejected: dict[str, int] = {"left in a stopped client's queue": sum(
        s._inbox.qsize() for s in syncs if s._thread is not None and not s._thread.is_alive())}
    for s in syncs:
        for _, reason in s.rejections:
            kind = reason.split(" ")[0] if not reason.startswith("replayed") else "replayed"
            rejected[kind] = rejected.get(kind, 0) + 1
    report = {"scans": scans, "arrivals": arrivals, "local": local, "rss": rss_mb(), "change_cpu": CHANGE_CPU,
              "cpu": process_cpu() - cpu0, "threads": cpu_by_kind(threads0, process_cpu() - cpu0),
              "held": held,
              "rejected": rejected, "held_loop": held_loop, "handled": handled,
              "outbox": sum(d.ledger.outbox_size() for d in devices.values())}
    for d in devices.values():
        d.close()
    print(json.dumps(report), flush=True)


def online(device: SimDevice, watch: "Watch", syncs: list) -> SimDevice:
    """go_online, noting when each watched revocation is delivered: received and its signature verified (before
    it is applied; "d" + key). The device's sync thread verifies, so this includes its own queue.

    Cross-gate hops of a watched ticket: "u" + key its upload published by the gate that scanned it; at each other
    gate "q" + key the relay received by the MQTT thread, "v" + key taken from the sync's queue (verified)."""
    if device.sync is not None:
        return device
    device.go_online()
    sync = device.online_sync
    syncs.append(sync)
    keys, seen = watch.keys, watch.seen
    verifier, transport = sync.verifier, sync.transport
    verify, put, publish = verifier.open, transport.on_message, transport.publish
    received: dict[int, float] = {}

    def on_message(topic: str, payload: bytes) -> None:
        received[id(payload)] = time.time()
        put(topic, payload)

    def open_(data: bytes, *args):
        begun = (time.thread_time(), time.perf_counter())   # the sync thread's: it verifies, checks and applies
        taken = time.time()
        rx = received.pop(id(data), taken)
        body = verify(data, *args)
        if body.get("type") in ("update", "update2"):
            at = time.time()
            verified = (time.thread_time(), time.perf_counter())
            revoked = revoked_keys(body)
            for key in revoked:
                if key in keys and "d" + key not in seen:
                    seen["d" + key] = at
                    watch.revoked.add(key)       # held once the ledger shows it (Watch.changed)
            for a in body.get("resets") or ():
                key = a.get("ticket_key") if isinstance(a, dict) else None
                if key in keys and "e" + key not in seen:
                    watch.entered.add(key)
            if len(revoked) >= 500:       # the bulk change: its phases marked until on_change (Watch.changed)
                BULK_MARKS[threading.get_ident()] = [begun, verified, (time.thread_time(), time.perf_counter())]
                BULK_QUEUED[threading.get_ident()] = taken - rx
        elif body.get("type") == "checkins":
            for a in body.get("actions") or ():
                key = a.get("ticket_key") if isinstance(a, dict) else None
                if key in keys and "v" + key not in seen:
                    seen["v" + key], seen["q" + key] = taken, rx
                if key in keys and "e" + key not in seen and a.get("device_id") != sync.device:   # not its own
                    watch.entered.add(key)
        return body

    def publish_(topic: str, payload: bytes, *args, **kwargs):
        ok = publish(topic, payload, *args, **kwargs)
        if payload.startswith(b'{"type":"batch"'):
            at = time.time()
            for item in json.loads(payload)["items"]:
                key = item["body"].get("ticket_key") if isinstance(item.get("body"), dict) else None
                if key in keys and "u" + key not in seen:
                    seen["u" + key] = at
        return ok
    handle = sync._handle

    def handle_(item):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            handle(item)
        finally:
            kind = item[0] if item[0] != "msg" else item[1].rsplit("/", 1)[-1]
            n, wall, cpu = handled.get(kind, (0, 0.0, 0.0))
            handled[kind] = (n + 1, wall + time.perf_counter() - t0, cpu + time.thread_time() - c0)
    transport.on_message, verifier.open, transport.publish, sync._handle = on_message, open_, publish_, handle_
    live_batch = sync._live_batch      # consecutive live messages in one transaction: its commit is counted here

    def live_batch_(item):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return live_batch(item)
        finally:
            n, wall, cpu = handled.get("live batches (with their commit)", (0, 0.0, 0.0))
            handled["live batches (with their commit)"] = (n + 1, wall + time.perf_counter() - t0,
                                                           cpu + time.thread_time() - c0)
    sync._live_batch = live_batch_
    return device


def revoked_keys(body: dict) -> list[str]:
    """The ticket keys a live update revokes, in either form."""
    if body.get("type") == "update2":
        return [k for g in body.get("revoked") or () for k in keyset.unpack(g, "revoked")]
    return [r.get("ticket_key") for r in body.get("revocations") or () if isinstance(r, dict)]


handled: dict[str, tuple[int, float, float]] = {}    # message kind -> (count, wall s, thread CPU s) in the sync threads
WATCHER = "this benchmark's watcher (inside live batches)"


class Watch:
    """on_change of a device's sync: note when a watched ticket's revocation ("r" + key) or remote entry ("e" + key)
    first shows up in the device's ledger, read after the commit on the sync thread's own connection (its pages
    cached; a connection of the watcher's own re-read them after every commit of the sync's). Only the watched keys
    a verified message carried (`revoked`, `entered`, noted by online()) are looked up, until the ledger holds them;
    after a bundle, all of them."""

    def __init__(self, device: SimDevice, keys: set[str], seen: dict[str, float]) -> None:
        self.device, self.keys, self.seen = device, keys, seen
        self.revoked: set[str] = set()
        self.entered: set[str] = set()
        self.original = device._changed      # the device's own (its gate's policy after a bundle)

    def changed(self, what: str) -> None:
        at = time.time()
        marks = BULK_MARKS.get(threading.get_ident())
        if marks is not None and what == "live":
            mark()
            del BULK_MARKS[threading.get_ident()]
            if len(marks) == 6:       # begun, verified, the bench's bookkeeping done, apply begun, ended, reported
                spans = [(marks[0], marks[1]), *zip(marks[2:], marks[3:])]
                CHANGE_CPU.append([b[i] - a[i] for i in (0, 1) for a, b in spans]
                                  + [BULK_QUEUED.pop(threading.get_ident(), 0.0)])
        self.original(what)
        sync = self.device.sync
        if what not in ("live", "bundle") or sync is None or sync._thread is not threading.current_thread():
            return      # (a sync stopping, its thread still finishing: the next sync's first change notes them)
        c0, t0 = time.thread_time(), time.perf_counter()
        try:
            self.note(sync.ledger.conn, at, everything=what == "bundle")
        finally:       # the benchmark's own reads: inside the live batches' CPU, shown apart
            n, wall, cpu = handled.get(WATCHER, (0, 0.0, 0.0))
            handled[WATCHER] = (n + 1, wall + time.perf_counter() - t0, cpu + time.thread_time() - c0)

    def note(self, conn: sqlite3.Connection, at: float, everything: bool) -> None:
        every = self.keys if everything else None      # after a bundle: every watched key, once
        for prefix, keys, query in (
                ("r", self.revoked, "SELECT ticket_key FROM revocations "
                                    "WHERE ticket_key IN (SELECT value FROM json_each(?))"),
                ("e", self.entered, "SELECT DISTINCT ticket_key FROM checkins WHERE origin='remote' "
                                    "AND ticket_key IN (SELECT value FROM json_each(?))")):
            if not keys and every is None:
                continue
            for (key,) in conn.execute(query, (json.dumps(sorted(keys if every is None else every)),)).fetchall():
                self.seen.setdefault(prefix + key, at)
                keys.discard(key)


# -- the benchmark -----------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the door run")
    p.add_argument("--per-process", type=int, default=20)
    p.add_argument("--device-nice", type=int, default=0,
                   help="niceness of the device processes (e.g. 10 with a small --per-process: the server and the "
                        "broker then stand for machines of their own, not for 1/41 of these cores)")
    p.add_argument("--interval", type=float, default=4.0, help="mean seconds between two scans at one device")
    p.add_argument("--quick", action="store_true", help="20 devices, 20,000 tickets, 20 s")
    p.add_argument("--one-device", action="store_true", help="the server's and one device's part, on one core")
    p.add_argument("--relay-every", type=float, default=None,
                   help="seconds between two relays of an event's entries (default: the server's RELAY_EVERY)")
    p.add_argument("--relay-deliveries", type=float, default=None,
                   help="the server's relay_deliveries (relays x gates per second; the window is gates / this)")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker_main(args.worker[0], int(args.worker[1]))
    if args.one_device:
        return one_device(args.tickets)
    if args.quick:
        args.devices, args.tickets, args.seconds, args.per_process = 20, 20_000, 20.0, 10
    rnd = random.Random(2026)
    names = [f"gate-{i:03d}" for i in range(args.devices)]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp, \
            world(Path(tmp), args.tickets, names) as (store, event, config, servers):
        folder = Path(tmp)
        t_setup = time.perf_counter()
        orders = store.q("SELECT o.number, t.ticket_id FROM orders o JOIN tickets t USING (order_id)")
        rnd.shuffle(orders)
        plan = Plan(args, names, orders, rnd)
        spec = {"folder": str(folder / "devices"), "port": config.port, "event": event,
                "server_key": store.server_public_key(ORG).hex(), "seed": str(seed(folder, store, event, plan.watched | {k for _, _, k in plan.scans})),
                "watch_keys": sorted(plan.watched), "workers": plan.workers(store)}
        (folder / "spec.json").write_text(json.dumps(spec))
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(folder / "spec.json"), str(i)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  preexec_fn=lambda: os.nice(args.device_nice))
                 for i in range(len(spec["workers"]))]
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a worker failed to start")
        print(f"{args.devices} devices in {len(procs)} processes online, {args.tickets} tickets "
              f"(set-up {time.perf_counter() - t_setup:.0f} s)", flush=True)
        start = time.time() + 1.0
        for proc in procs:
            proc.stdin.write(f"{start}\n")
            proc.stdin.flush()
        if args.relay_every is not None:
            servers[0].relay_every = args.relay_every
        if args.relay_deliveries is not None:
            servers[0].relay_deliveries = args.relay_deliveries
        relayed: dict[str, float] = {}
        published = published_updates(servers[0], relayed)
        looks = timed_announces(servers[0])
        changes, memory = run_server_side(store, plan, start, args)
        outs = [json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1]) for proc in procs]
        summarise(args, plan, changes, memory, outs, store, start)
        cross_gate_hops(plan, outs, store, relayed, start)
        print("server published (messages, kB): " + ", ".join(
            f"{k} {n} ({size / 1000:.0f})" for k, (n, size) in sorted(servers[0].sent_kinds.items())))
        bulk = next(((at, size) for at, size, revoked in published if at >= changes["bulk_commit"] and revoked >= 500),
                    None)
        if bulk is not None:
            bulk_out = bulk[0]
            delivered = [min((arrivals_of(outs, d).get("d" + k, float("inf")) for _, k in plan.bulk))
                         for d in arrivals_all(outs)]
            delivered = [t - bulk_out for t in delivered if t != float("inf")]
            look = next(((a, b, c) for a, b, c in looks if b >= bulk_out), (bulk_out, bulk_out, 0.0))
            print(f"1,000-ticket change, server part (commit begun -> signed update published): "
                  f"{(bulk_out - changes['bulk_commit']) * 1000:.0f} ms (the commit took "
                  f"{(changes['bulk'] - changes['bulk_commit']) * 1000:.0f} ms or less; the announcer's look that sent "
                  f"it began {(look[0] - changes['bulk_commit']) * 1000:.0f} ms after, took "
                  f"{(look[1] - look[0]) * 1000:.0f} ms, {look[2] * 1000:.0f} ms of CPU), {bulk[1] / 1000:.1f} kB; broker -> first delivered to each device: "
                  f"p50 {pct(delivered, 50) * 1000:.0f} ms, p95 {pct(delivered, 95) * 1000:.0f} ms")


def published_updates(server, relayed: dict[str, float] | None = None) -> list[tuple[float, int, int]]:
    """(time, size, revoked keys) of every signed message the server's transport publishes on a live topic;
    `relayed`: ticket key -> when the first relay of its entry was published (cross-gate hops)."""
    out: list[tuple[float, int, int]] = []
    publish = server.transport.publish
    server.sent_kinds = {}

    def noted(topic, payload, *a, **kw):
        ok = publish(topic, payload, *a, **kw)
        kind = topic.rsplit("/", 1)[-1]
        if kind in ("live", "down"):
            try:
                kind += "/" + json.loads(json.loads(payload)["body"])["type"]
            except (ValueError, KeyError, TypeError):
                kind += "/chunk"
        n, size = server.sent_kinds.get(kind, (0, 0))
        server.sent_kinds[kind] = (n + 1, size + len(payload))
        if topic.endswith("/live"):
            at = time.time()
            body = json.loads(json.loads(payload)["body"])
            out.append((at, len(payload), len(revoked_keys(body))))
            if relayed is not None and body.get("type") == "checkins":
                for a in body.get("actions") or ():
                    relayed.setdefault(a["ticket_key"], at)
        return ok
    server.transport.publish = noted
    return out


def timed_announces(server) -> list[tuple[float, float, float]]:
    """(start, end, CPU of its thread) of every look of the announcer that published something."""
    out: list[tuple[float, float, float]] = []
    announce = server.announce

    def timed(org):
        start, cpu = time.time(), time.thread_time()
        sent = announce(org)
        if sent:
            out.append((start, time.time(), time.thread_time() - cpu))
        return sent
    server.announce = timed
    return out


def arrivals_all(outs: list[dict]) -> list[str]:
    return [d for o in outs for d in o["arrivals"]]


def arrivals_of(outs: list[dict], device: str) -> dict[str, float]:
    return next(o["arrivals"][device] for o in outs if device in o["arrivals"])


# -- one device, one core: the decomposition ---------------------------------------------------------------------
class _Captured:
    """A transport that keeps what the announcer publishes (the server's part, without the broker)."""
    on_message = None

    def __init__(self):
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic, payload, *a, **kw):
        self.sent.append((topic, payload))
        return True

    def subscribe(self, topic):
        pass

    def start(self):
        pass

    def stop(self, status=None):
        pass


def one_device(tickets: int, rounds: int = 4) -> None:
    import zlib
    from agent.keyring import Keyring
    from agent.ledger import Ledger
    from agent.sync.apply import apply_live, apply_update
    from agent.sync.messages import Update, UpdateSets, UpdateV2
    from agent.sync.signed import Verifier, seal
    from bench_sync_common import make_store
    from server_stub.sync import bundles
    from server_stub.sync.server import SyncServer
    with tempfile.TemporaryDirectory(prefix="bench-fleet-one-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        store, event = make_store(folder / "server", tickets, ["gate-000"])
        built = bundles.build(store, ORG, [event])
        manifest = {"org": ORG, "version": built.version, "base_version": 0, "events": built.events,
                    "keyring": built.keyring, "chunks": [hashlib.sha256(c).hexdigest() for c in built.chunks]}
        ledger = Ledger.open(folder / "ledger.sqlite")
        apply_bundle(ledger, Pending(manifest, dict(enumerate(built.chunks))), Keyring())
        print(f"one device holding {ledger.counts()['tickets']} tickets (set-up {time.perf_counter() - t0:.0f} s)")
        server = SyncServer(store, _Captured(), orgs=[ORG], ingest=False, limits=None)
        server._seen_version[ORG] = store.version(ORG)
        key = store.server_key(ORG)
        verifier = Verifier(store.server_public_key(ORG))
        numbers = iter(n for (n,) in store.q("SELECT number FROM orders WHERE status='paid' ORDER BY random()"))
        labels = ("update2 (as sent)", "update (the form before)", "whole rows (before that)")
        figures: dict[str, list[tuple]] = {label: [] for label in labels}
        zipped = []
        for r in range(rounds):
            for label in (labels if r % 2 == 0 else labels[::-1]):
                since = store.version(ORG)
                with store.tx():
                    for _ in range(1000):
                        store.cancel_order(next(numbers), "benchmark bulk")
                t1 = time.perf_counter()
                server.announce(ORG)
                server_ms = (time.perf_counter() - t1) * 1000
                sent = [p for t, p in server.transport.sent if t.endswith("/live")]
                server.transport.sent.clear()
                if label != labels[0]:          # the same change in the forms before
                    u = UpdateV2.from_wire(json.loads(json.loads(sent[0])["body"]))
                    body = {"type": "update", "event": u.event,
                            "revocations": [{"ticket_key": k, "reason": why, "at": at} for k, why, at in u.revoked]}
                    if label == labels[1]:
                        body["states"] = [list(p) for p in u.states]
                    else:
                        body.update(bundles.bundle.ticket_section(list(store.tickets_for_event(event, since))))
                    sent = [seal(body, key.sign)]
                else:
                    z = [zlib.compress(p) for p in sent]
                    tz = time.process_time()
                    for _ in range(100):
                        [zlib.decompress(p) for p in z]
                    zipped.append((sum(map(len, z)), (time.process_time() - tz) * 10))
                c = [time.process_time()]
                bodies = [verifier.open(p) for p in sent]
                c.append(time.process_time())
                parsed = [UpdateSets.from_wire(b) if b["type"] == "update2" else Update.from_wire(b) for b in bodies]
                c.append(time.process_time())
                with ledger.relaxed_transaction():
                    for b, u in zip(bodies, parsed):
                        apply_update(ledger, u) if isinstance(u, UpdateSets) else apply_live(ledger, b)
                c.append(time.process_time())
                figures[label].append((sum(map(len, sent)), server_ms, *((b - a) * 1000 for a, b in zip(c, c[1:]))))
        for label, rows in figures.items():
            med = [sorted(col)[len(col) // 2] for col in zip(*rows)]
            print(f"1,000 cancellations, {label}: {med[0] / 1000:.1f} kB; server (query, build, sign) "
                  f"{med[1]:.1f} ms; device CPU: verify+parse {med[2]:.2f} ms, field checks {med[3]:.2f} ms, "
                  f"apply {med[4]:.2f} ms, total {sum(med[2:]):.2f} ms (median of {len(rows)})")
        zipped.sort()
        print(f"update2 compressed with zlib: {zipped[len(zipped) // 2][0] / 1000:.1f} kB, decompressing it "
              f"{zipped[len(zipped) // 2][1]:.3f} ms (not used: see docs/sync-protocol.md, \"Update v2\")")
        ledger.close()
        store.close()


class Plan:
    """Who scans what when, who drops off when, which orders are cancelled or exchanged when (all offsets)."""

    def __init__(self, args, names: list[str], orders: list[tuple], rnd: random.Random):
        self.args, self.names = args, names
        n_scans = int(args.devices * args.seconds / args.interval)
        self.scans = []                                   # (offset, device, ticket_key)
        pool = iter(orders)
        for _ in range(n_scans):
            _, ticket = next(pool)
            self.scans.append((rnd.uniform(0, args.seconds), rnd.choice(names), str(ticket)))
        self.rescans = [(o + rnd.uniform(5, 15), rnd.choice(names), k) for o, _, k in self.scans[:n_scans // 10]
                        if o + 15 < args.seconds]         # the same ticket at another gate: already_used
        self.cancels = [(rnd.uniform(2, args.seconds - 5), number, str(t)) for number, t in
                        (next(pool) for _ in range(max(10, int(args.seconds))))]
        self.bulk = [(number, str(t)) for number, t in (next(pool) for _ in range(1000))]
        self.bulk_at = args.seconds * 0.5
        self.exchanges = [(rnd.uniform(2, args.seconds - 5), str(t)) for _, t in (next(pool) for _ in range(20))]
        self.toggles = []                                 # a tenth of the fleet drops off for 5-15 s
        for name in rnd.sample(names, max(1, len(names) // 10)):
            off = rnd.uniform(2, args.seconds - 20)
            self.toggles += [(off, name, "off"), (off + rnd.uniform(5, 15), name, "on")]
        self.probe_keys = {k for o, _, k in self.scans[::20] if o < args.seconds - 10}   # relays have time to land
        self.watched = self.probe_keys | {k for _, _, k in self.cancels} | {k for _, k in self.bulk} | \
            {k for _, k in self.exchanges}

    def workers(self, store) -> list[dict]:
        per = self.args.per_process
        groups = [self.names[i:i + per] for i in range(0, len(self.names), per)]
        where = {n: i for i, g in enumerate(groups) for n in g}
        out = [{"devices": g, "scans": [], "toggles": []} for g in groups]
        for offset, name, key in self.scans + self.rescans:
            out[where[name]]["scans"].append((offset, name, key, store.issue_ticket_payload(key)))
        for offset, name, what in self.toggles:
            out[where[name]]["toggles"].append((offset, name, what))
        return out


def run_server_side(store, plan: Plan, start: float, args) -> tuple[dict, dict]:
    """Cancellations, exchanges and the bulk change at their times; memory sampled. -> (change times, memory)."""
    changes: dict[str, float] = {}
    events = [(o, "cancel", (n, k)) for o, n, k in plan.cancels] + [(o, "exchange", k) for o, k in plan.exchanges]
    events.append((plan.bulk_at, "bulk", None))
    events.sort()
    broker_pid = server_broker_pid()
    memory: dict = {"server": 0.0, "broker": 0.0}
    cpu0 = (process_cpu(), process_cpu(broker_pid) if broker_pid else 0.0)
    for offset, kind, what in events:
        while time.time() < start + offset:
            sample(store, memory, broker_pid)
            time.sleep(0.05)
        # each latency counts from before the change's commit (its own time included): taken after it, the
        # reference was late whenever this thread waited for the CPU after committing (a device "first" at -0.27 s)
        if kind == "cancel":
            at = time.time()
            store.cancel_order(what[0], "benchmark")
            changes["r" + what[1]] = at
        elif kind == "exchange":
            at = time.time()
            store.exchange_ticket(what, "benchmark")
            changes["r" + what] = at
        else:
            with store.tx():                       # 1,000 tickets in one change (one commit)
                for number, _ in plan.bulk:
                    store.cancel_order(number, "benchmark bulk")
                changes["bulk_commit"] = at = time.time()     # the commit begins
            changes["bulk"] = time.time()                     # (or later: when this thread runs again)
            changes.update({"r" + k: at for _, k in plan.bulk})
    while time.time() < start + args.seconds + 5:       # the run's end, and the dropped devices' catch-up
        sample(store, memory, broker_pid)
        time.sleep(0.1)
    memory["cpu"] = (process_cpu() - cpu0[0], (process_cpu(broker_pid) - cpu0[1]) if broker_pid else 0.0)
    return changes, memory


def sample(store, memory: dict, broker_pid: int | None) -> None:
    """Peak memory of this process (the server) and of mosquitto; the server's scan count once a second."""
    memory["server"] = max(memory["server"], rss_mb())
    memory["broker"] = max(memory["broker"], rss_mb(broker_pid) if broker_pid else 0.0)
    ingest = memory.setdefault("ingest", [])
    if not ingest or time.time() - ingest[-1][0] >= 1.0:
        ingest.append((time.time(), store.q("SELECT count(*) FROM scans")[0][0]))


def server_broker_pid() -> int | None:
    out = subprocess.run(["pgrep", "-P", str(os.getpid()), "mosquitto"], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out.strip() else None


def summarise(args, plan: Plan, changes: dict, memory: dict, outs: list[dict], store, start: float) -> None:
    scans = [s for o in outs for s in o["scans"]]
    arrivals: dict[str, dict[str, float]] = {}
    for o in outs:
        arrivals.update(o["arrivals"])
    offline = offline_windows(plan, start)
    revocation, bulk, cross = [], [], []
    for device, seen in arrivals.items():
        for key, at in changes.items():
            if key == "bulk" or not key.startswith("r") or not online_at(offline, device, at):
                continue
            got = seen.get(key)
            lat = (got - at) if got is not None else None
            (bulk if key[1:] in {k for _, k in plan.bulk} else revocation).append(lat)
    # a gate offline when it admits a ticket relays it when it is back: catch-up, counted apart
    accepted = {s[1]: (s[0], s[3], s[5]) for s in scans if s[2] == "accepted" and s[1] in plan.probe_keys}
    offline_scans: list[float | None] = []
    for key, (gate, at, gate_online) in accepted.items():
        for device, seen in arrivals.items():
            if device == gate or not online_at(offline, device, at):
                continue
            got = seen.get("e" + key)
            (cross if gate_online else offline_scans).append(got - at if got is not None else None)
    show("revocation (cancel/exchange -> online device holds it)", revocation)
    show("1,000-ticket change (one commit -> each online device holds all)", bulk)
    show("cross-gate (accepted at online A -> in every other online gate's ledger)", cross)
    show("  the same for tickets A admitted while offline (relayed once A is back)", offline_scans)
    change_cpu(outs, args)
    for stage, prefix in (("delivered to (received and verified by)", "d"), ("applied by (held in the ledger of)", "r")):
        done = [max((arrivals[d].get(prefix + k, float("inf")) for _, k in plan.bulk), default=0)
                - changes["bulk_commit"] for d in arrivals if online_at(offline, d, changes["bulk_commit"])]
        print(f"1,000-ticket change {stage} all {len(done)} online devices in {max(done):.2f} s "
              f"(p50 over devices {pct(done, 50):.2f} s, p95 {pct(done, 95):.2f} s, p99 {pct(done, 99):.2f} s, "
              f"first {min(done):.2f} s)")
    codes: dict[str, int] = {}
    for s in scans:
        codes[s[2]] = codes.get(s[2], 0) + 1
    local = [u for o in outs for uuids in o["local"].values() for u in uuids]
    rows, distinct = store.q("SELECT count(*), count(DISTINCT scan_uuid) FROM scans")[0]
    on_server = {u for (u,) in store.q("SELECT scan_uuid FROM scans")}
    lost = [u for u in local if u not in on_server]
    print(f"scans: {len(scans)} ({codes}); device check-ins {len(local)}; on the server {rows} rows, "
          f"{distinct} distinct: lost {len(lost)}, doubled {rows - distinct}; outboxes left {sum(o['outbox'] for o in outs)}")
    ingest = memory.get("ingest") or [(0, 0), (1, 0)]
    rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(ingest, ingest[1:])]
    print(f"server ingest: {rows} scans, peak {max(rates):.0f} scans/s over 1 s (the door rate sets it; the "
          f"server's own ceiling is bench_sync_ingest.py)")
    print(f"memory: server process {memory['server']:.0f} MB (store, ingestion, announcer), mosquitto "
          f"{memory['broker']:.0f} MB, devices {sum(o['rss'] for o in outs) / args.devices:.1f} MB each "
          f"({args.per_process} per process)")
    server_cpu, broker_cpu = memory.get("cpu", (0.0, 0.0))
    print(f"CPU from the start to {args.seconds + 5:.0f} s (devices: to their end): device processes "
          f"{sum(o.get('cpu', 0.0) for o in outs):.0f} s, server process {server_cpu:.0f} s (store, ingestion, "
          f"announcer, relays, this benchmark's sampling), mosquitto {broker_cpu:.0f} s")
    kinds: dict[str, float] = {}
    for o in outs:
        for kind, cpu in o.get("threads", {}).items():
            kinds[kind] = kinds.get(kind, 0.0) + cpu
    print("  device processes by thread: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(kinds.items(),
                                                                                          key=lambda kv: -kv[1])))


def change_cpu(outs: list[dict], args) -> None:
    """The CPU one device's sync thread spent on the 1,000-ticket change (verify, parse, check, apply, commit; its
    MQTT client's read of the few kB is another thread), and what the fleet needs against the cores it has; then
    each phase's CPU and wall time (wall much longer than CPU: the thread waited for the interpreter lock, which 20
    devices share in a process, or for the disk): verify the signature, check (fields and key sets, the replay
    check), apply (the SQL), commit (and what the device's batch applied after it, until it reports the change)."""
    rows = [r for o in outs for r in o["change_cpu"]]
    if not rows:
        print("no device timed the 1,000-ticket change")
        return
    cpu = sorted(sum(r[:len(PHASES)]) for r in rows)
    cores = os.cpu_count() or 1
    print(f"CPU per device for the 1,000-ticket change (its sync thread): p50 {pct(cpu, 50) * 1000:.1f} ms, p95 "
          f"{pct(cpu, 95) * 1000:.1f} ms (n={len(cpu)}); the fleet needs {sum(cpu):.2f} s of CPU for it, "
          f"{sum(cpu) / cores:.2f} s on {cores} idle cores")
    queued = [r[2 * len(PHASES)] for r in rows]
    print(f"  per phase, p50 / p95 ms: in the device's queue (MQTT thread -> sync thread) {pct(queued, 50) * 1000:.0f} / "
          f"{pct(queued, 95) * 1000:.0f} wall; " + "; ".join(
              f"{name} {pct([r[i] for r in rows], 50) * 1000:.2f} / {pct([r[i] for r in rows], 95) * 1000:.2f} CPU, "
              f"{pct([r[i + len(PHASES)] for r in rows], 50) * 1000:.1f} / "
              f"{pct([r[i + len(PHASES)] for r in rows], 95) * 1000:.1f} wall"
              for i, name in enumerate(PHASES)))


HOPS = (("scan -> upload published (A)", "s", "u"), ("upload -> server ingests", "u", "i"),
        ("ingest -> relay published", "i", "p"), ("relay published -> B's MQTT thread (broker)", "p", "q"),
        ("B's MQTT thread -> B's sync thread (queue)", "q", "v"), ("B's sync thread -> B's ledger (verify, merge)", "v", "e"))


def cross_gate_hops(plan: Plan, outs: list[dict], store, relayed: dict[str, float], start: float) -> None:
    """Where a cross-gate pair's time goes (A online at the scan; hop by hop, p50/p95, and the share of each hop in
    the slowest 5 %), and
    what became of the pairs that never arrived (held in the ledger at the end, or not; the clients' refusals)."""
    arrivals: dict[str, dict[str, float]] = {}
    for o in outs:
        arrivals.update(o["arrivals"])
    held = {d: set(keys) for o in outs for d, keys in o["held"].items()}
    ingested = {k: at for k, at in store.q("SELECT ticket_key, min(received_at) FROM scans WHERE type='action' "
                                           "GROUP BY ticket_key")}
    offline = offline_windows(plan, start)
    scans = [s for o in outs for s in o["scans"]]
    accepted = {s[1]: (s[0], s[3]) for s in scans if s[2] == "accepted" and s[1] in plan.probe_keys and s[5]}
    pairs, missing = [], {"held at the end": 0, "not held, relay received": 0, "not held, never received": 0}
    for key, (gate, at) in accepted.items():
        common = {"s": at, "u": arrivals[gate].get("u" + key), "i": ingested.get(key), "p": relayed.get(key)}
        for device, seen in arrivals.items():
            if device == gate or not online_at(offline, device, at):
                continue
            t = dict(common, q=seen.get("q" + key), v=seen.get("v" + key), e=seen.get("e" + key))
            if t["e"] is not None:
                pairs.append(t)
            elif key in held[device]:
                missing["held at the end"] += 1
            else:
                missing["not held, relay received" if t["q"] is not None else "not held, never received"] += 1
    if not pairs:
        return
    total = sorted(pairs, key=lambda t: t["e"] - t["s"])
    tail = total[int(len(total) * 0.95):]
    print(f"cross-gate hops over {len(pairs)} pairs (p50 / p95 ms; share of the slowest 5 %, "
          f"{(tail[0]['e'] - tail[0]['s']) * 1000:.0f} ms and over):")
    for label, a, b in HOPS:
        got = [t[b] - t[a] for t in pairs if t[a] is not None and t[b] is not None]
        part = [t[b] - t[a] for t in tail if t[a] is not None and t[b] is not None]
        whole = sum(t["e"] - t["s"] for t in tail if t[a] is not None and t[b] is not None)
        if got:
            print(f"  {label}: {pct(got, 50) * 1000:.0f} / {pct(got, 95) * 1000:.0f} ms; "
                  f"{sum(part) / whole * 100 if whole else 0:.0f} % of the tail")
    rejected: dict[str, int] = {}
    for o in outs:
        for k, n in o["rejected"].items():
            rejected[k] = rejected.get(k, 0) + n
    loop = [h for o in outs for h in o["held_loop"]]
    handled: dict[str, list[float]] = {}
    for o in outs:
        for k, v in o["handled"].items():
            handled[k] = [a + b for a, b in zip(handled.get(k, [0, 0.0, 0.0]), v)]
    print("device sync threads, per message kind: " + ", ".join(
        f"{k} {n} ({wall / n * 1000:.2f} ms wall, {cpu / n * 1000:.2f} ms CPU each; {cpu:.0f} s CPU in all)"
        for k, (n, wall, cpu) in sorted(handled.items())))
    if "live" in handled and "live batches (with their commit)" in handled:
        (live, _, _), (batches, wall, cpu) = handled["live"], handled["live batches (with their commit)"]
        print(f"live messages with their batch's commit: {wall / live * 1000:.2f} ms wall, {cpu / live * 1000:.2f} ms "
              f"CPU each ({live / batches:.1f} per batch, {cpu:.0f} s CPU in all)")
    print(f"cross-gate pairs never arrived: {missing}; messages the device clients refused: {rejected or 'none'}; "
          f"the worker loop held by go_offline up to {max((h for w, h in loop if w == 'off'), default=0):.1f} s, "
          f"by go_online up to {max((h for w, h in loop if w == 'on'), default=0):.1f} s")


def show(what: str, samples: list[float | None]) -> None:
    got = [s for s in samples if s is not None]
    missing = len(samples) - len(got)
    if not got:
        print(f"{what}: no samples")
        return
    print(f"{what}: n={len(got)} min={min(got) * 1000:.0f} ms p50={pct(got, 50) * 1000:.0f} ms "
          f"p95={pct(got, 95) * 1000:.0f} ms "
          f"p99={pct(got, 99) * 1000:.0f} ms max={max(got) * 1000:.0f} ms; never arrived {missing}")


def offline_windows(plan: Plan, start: float) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    offs = {}
    for offset, name, what in sorted(plan.toggles):
        if what == "off":
            offs[name] = start + offset
        else:
            out.setdefault(name, []).append((offs.pop(name), start + offset + 3.0))   # + reconnect and catch-up
    return out


def online_at(offline: dict, device: str, at: float) -> bool:
    """Online from `at` until what was sent then could reach it: not about to drop off (what is published while a
    device is away waits in its broker session and arrives on reconnection: catch-up, not latency)."""
    return not any(a - 20.0 <= at <= b for a, b in offline.get(device, ()))


if __name__ == "__main__":
    main()
