"""A full bundle of N tickets applied while the door scans: scan latency during the apply, push -> ready, device RSS.

    python benchmarks/bench_bundle_apply.py [--tickets 1000000] [--rate 20]     # the issue's sizes
    python benchmarks/bench_bundle_apply.py --quick                              # 100,000 tickets
    python benchmarks/bench_bundle_apply.py --quick --trace     # + where each slow scan's time went (bundle_trace.py)
    python benchmarks/bench_bundle_apply.py --quick --stage-batch 1000 --flush-every 2    # A/B of the staging steps
    python benchmarks/bench_bundle_apply.py --actions 300000     # the event's device actions in every full bundle

The device is a process of its own, like the app: one Gate and one DeviceSync on one ledger (its RSS is the
agent's). It scans real signed tickets at `--rate` per second in a thread during both pushes:
  push 1: the device is empty -> time until ready to scan and search (the 45 s target at 1M);
  then 10 s of scans with nothing applied (the machine's baseline: the disk's fsync is most of a scan);
  then orders are cancelled and push 2 (another full bundle) replaces the 1M-ticket index under the running
  scans -> scan p50/p99 during it (target p99 <= 5 ms), no LedgerError, every verdict right for the version
  live at the time (cancelled tickets refused only once the new version is in); then the scans while the replaced
  index is deleted (drop-old).
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bundle_trace
from bench_sync_common import ORG, world
from figures import pct

from agent.sync.device import DeviceOptions
from agent.sync.transport import BrokerConfig
from server_stub.sync.cli_hooks import push
from server_stub.sync.sim_device import SimDevice


def memory() -> dict:
    """This process's resident memory now and at its peak (MB)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


# -- the device process ------------------------------------------------------------------------------------------
def device_main(args: argparse.Namespace) -> None:
    spec = json.loads(Path(args.device).joinpath("spec.json").read_text())
    bundle_trace.install(probe=spec["trace"])
    if spec["switch_interval"]:
        sys.setswitchinterval(spec["switch_interval"])      # the GIL's hand-over (Python's default 5 ms)
    if spec.get("stage_batch"):                             # A/B of the staging's step sizes
        from agent.sync import apply
        apply.STAGE_BATCH = spec["stage_batch"]
    if spec.get("flush_every"):
        from agent.ledger import Ledger
        Ledger.STAGE_FLUSH_EVERY = spec["flush_every"]
    device = SimDevice(Path(args.device) / "home", ORG, "door", bytes.fromhex(spec["key"]),
                       BrokerConfig(port=spec["port"]), [spec["event"]], options=DeviceOptions(bundle_timeout=300))
    # the scanning thread has its own ledger connection (the app's Gate), like the sync's
    scans: list[tuple] = []
    stop = threading.Event()

    def scanner() -> None:
        payloads = spec["payloads"]
        i = 0
        while not stop.is_set() and i < len(payloads):
            key, payload = payloads[i]
            before = device.sync.bundle_version if device.sync else 0
            t0 = time.perf_counter()
            bundle_trace.scan_start()
            try:
                code = device.scan(payload).code.value
            except Exception as exc:        # LedgerError included: counted, never hidden
                code = f"error:{type(exc).__name__}"
            took = time.perf_counter() - t0
            split = bundle_trace.scan_split()
            after = device.sync.bundle_version if device.sync else 0
            scans.append((time.time(), took, key, code, before, after, split))
            i += 1
            stop.wait(max(0.0, 1 / spec["rate"] - took))

    device.go_online()
    threading.Thread(target=scanner, daemon=True).start()
    print("online", flush=True)
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()
    print(json.dumps({"scans": scans, "memory": memory(), "trace": bundle_trace.report()}), flush=True)
    device.close()


# -- the benchmark -----------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--rate", type=float, default=20.0, help="scans per second at the door")
    p.add_argument("--cancel", type=int, default=200, help="orders cancelled before the second push")
    p.add_argument("--quick", action="store_true", help="100,000 tickets")
    p.add_argument("--trace", action="store_true", help="print where the slow scans' time went")
    p.add_argument("--switch-interval", type=float, default=0.0, help="the device's sys.setswitchinterval (s)")
    p.add_argument("--stage-batch", type=int, default=0, help="rows per staging commit (default: the agent's)")
    p.add_argument("--flush-every", type=int, default=0, help="staging commits per fsync of the staged file")
    p.add_argument("--actions", type=int, default=0,
                   help="device actions of other gates on the server before the pushes (entries, ~5%% exits and "
                        "annulments), carried by both full bundles")
    p.add_argument("--device", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.device:
        return device_main(args)
    if args.quick:
        args.tickets = 100_000
    rnd = random.Random(14)
    with tempfile.TemporaryDirectory(prefix="bench-bundle-apply-") as tmp, \
            world(Path(tmp), args.tickets, ["door"]) as (store, event, config, servers):
        servers[0].stop()       # the pushes alone deliver (no hello-triggered bundle racing them)
        rows = store.q("SELECT o.number, t.ticket_id FROM orders o JOIN tickets t USING (order_id)")
        picked = rnd.sample(rows, min(len(rows), 6000))
        cancelled = {str(t) for _, t in picked[:args.cancel]}
        if args.actions:
            add_actions(store, event, args.actions, {t for _, t in picked}, [t for _, t in rows], rnd)
        spec = {"key": store.server_public_key(ORG).hex(), "port": config.port, "event": event, "rate": args.rate,
                "trace": args.trace, "switch_interval": args.switch_interval, "stage_batch": args.stage_batch,
                "flush_every": args.flush_every,
                "payloads": [(str(t), store.issue_ticket_payload(t)) for _, t in picked]}
        folder = Path(tmp) / "device"
        folder.mkdir()
        (folder / "spec.json").write_text(json.dumps(spec))
        child = subprocess.Popen([sys.executable, __file__, "--device", str(folder)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "online"
        time.sleep(1.0)
        ledger_path = folder / "home" / "ledger.sqlite"
        ready1, window1, _ = pushed(store, event, config, ledger_path, 1)
        time.sleep(3.0)
        quiet = (time.time(), time.time() + 10.0)      # the same scans with no bundle being applied: the baseline
        time.sleep(10.0)
        for number, _ in picked[:args.cancel]:
            store.cancel_order(number, "benchmark")
        ready2, window2, second = pushed(store, event, config, ledger_path, 2)
        time.sleep(2.0 + args.tickets / 200_000)       # the replaced index is deleted meanwhile (drop-old)
        out, _ = child.communicate("stop\n", timeout=120)
        report = json.loads(out.strip().splitlines()[-1])
        summarise(args, report, cancelled, second, ready1, window1, ready2, window2, quiet)


def add_actions(store, event: int, n: int, spare: set, tickets: list, rnd: random.Random) -> None:
    """n actions of other gates, as their uploads leave them in the server's store (never on the tickets the device
    scans: their verdicts stay known): entries, and ~5% exits and ~5% annulments of an entry."""
    t0 = time.perf_counter()
    pool = [t for t in tickets if t not in spare]
    now = time.time()
    rows, entries = [], []
    for i in range(n):
        seq = i + 1
        kind, direction, ref = "entry", "in", None
        if entries and i % 20 == 7:
            kind, direction, ref = "exit", "out", None
        elif entries and i % 20 == 13:
            kind, direction, ref = "annul", None, entries.pop(rnd.randrange(len(entries)))
        ticket = pool[i % len(pool)] if kind != "annul" else ref[1]
        uuid = f"bench-{seq:09d}"
        if kind == "entry":
            entries.append((uuid, ticket))
        rows.append((uuid, "action", kind, str(ticket), event, direction, now - 3000 + i * 0.01, f"gate-{i % 8}",
                     f"gate-{i % 8}", seq, ref[0] if ref else None, ORG, now))
    with store.tx():
        store.conn.executemany(
            "INSERT INTO scans(scan_uuid, type, kind, ticket_key, event_id, direction, at, device_id, gate, "
            "device_seq, ref_uuid, org, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    print(f"{n} device actions stored on the server in {time.perf_counter() - t0:.1f} s", flush=True)


def pushed(store, event: int, config, ledger_path: Path, version_index: int) -> tuple[float, tuple[float, float], int]:
    """Push a full bundle; -> (seconds from push until the device's ledger holds it and searches, (start, end),
    the bundle version)."""
    import sqlite3
    start = time.time()
    t0 = time.perf_counter()
    result = push(store, ORG, [event], config, timeout=300)
    version = result["version"]
    while time.perf_counter() - t0 < 600:
        try:
            conn = sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True, timeout=5)
            row = conn.execute("SELECT value FROM settings WHERE key='sync.bundle'").fetchone()
            have = json.loads(row[0]).get("version") if row and row[0] != "null" else 0
            if have == version:
                live = conn.execute("SELECT value FROM settings WHERE key='ledger.index'").fetchone()
                if live:          # the ticket index is a file of its own (agent/ledger/index_file.py)
                    conn.execute("ATTACH DATABASE ? AS idx", (f"file:{ledger_path}.index-{int(live[0])}.db?mode=ro",))
                conn.execute("SELECT rowid FROM tickets_fts WHERE tickets_fts MATCH 'helene' LIMIT 20").fetchall()
                conn.close()
                took = time.perf_counter() - t0
                print(f"push {version_index}: {result['tickets']} tickets, {result['bytes'] / 1e6:.1f} MB compressed, "
                      f"pushed in {result['seconds']:.1f} s, device ready (applied, searchable) {took:.1f} s "
                      "after the push began", flush=True)
                return took, (start, time.time()), version
            conn.close()
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise SystemExit(f"push {version_index}: the device never reached version {version}")


def summarise(args, report: dict, cancelled: set[str], second: int, ready1: float, window1, ready2: float, window2,
              quiet) -> None:
    scans = report["scans"]
    seen: set[str] = set()
    wrong, errors = [], [s for s in scans if s[3].startswith("error")]
    for at, took, key, code, before, after, _ in scans:
        if before == 0 or before != after:
            if code == "accepted":
                seen.add(key)
            continue            # no bundle yet (no keys), or the version changed during this scan: either is right
        if key in cancelled and before >= second:
            expected = ("revoked", "cancelled")
        else:
            expected = ("already_used",) if key in seen else ("accepted",)
        if code not in expected:
            wrong.append((key, code, expected, before))
        if code == "accepted":
            seen.add(key)
    phases = report["trace"]["phases"]
    swapped = max((b for a, b, name in phases if name == "swap"), default=window2[1])
    drops = [(a, b) for a, b, name in phases if name == "drop-old" and a >= swapped]
    dropped = (min(a for a, _ in drops), max(b for _, b in drops)) if drops else None
    windows = [("push 1 (empty device)", window1), ("no bundle applied (baseline, same machine)", quiet),
               ("push 2 (index live, replaced)", window2)]
    if dropped:
        windows.append((f"drop-old after push 2 ({dropped[1] - dropped[0]:.1f} s)", dropped))
    for name, (a, b) in windows:
        during = [s[1] for s in scans if a <= s[0] - s[1] <= b]
        if during:
            print(f"scans during {name}: n={len(during)} p50={pct(during, 50) * 1000:.2f} ms "
                  f"p99={pct(during, 99) * 1000:.2f} ms max={max(during) * 1000:.1f} ms")
    print(f"scans in all: {len(scans)}, errors (LedgerError…): {len(errors)}, wrong verdicts: {len(wrong)} "
          f"{wrong[:3]}")
    print(f"push -> ready: first {ready1:.1f} s, second (replacing the index) {ready2:.1f} s")
    print(f"device process memory: RSS {report['memory']['VmRSS']:.0f} MB at the end, "
          f"peak {report['memory']['VmHWM']:.0f} MB ({args.tickets} tickets in its ledger)")
    if args.trace:
        bundle_trace.summarise(scans, report["trace"], windows)


if __name__ == "__main__":
    main()
