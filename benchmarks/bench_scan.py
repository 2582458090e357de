"""Scan benchmark: payload text in -> durable verdict, on a ledger holding N tickets (default 1,000,000).

    python benchmarks/bench_scan.py                 # 1M tickets (built once into /tmp/ticketgate-bench)
    python benchmarks/bench_scan.py --tickets 20000 --scans 500 --forged 1000    # quick run

Prints p50/p99 per scan (first scans: a check-in written and fsynced; repeat scans: already_used, refusal queued),
scans/s on one core, and the forged/tampered run (accepted count, exceptions). Figures, not assertions.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from figures import pct  # noqa: E402  (puts this checkout on sys.path)
import core_fixture as fx  # noqa: E402

from agent.base45 import b45decode, b45encode  # noqa: E402
from agent.gate import Gate  # noqa: E402
from agent.ledger import Ledger  # noqa: E402
from agent.policy import DevicePolicy  # noqa: E402
from agent.ticket_format import SCHEME, Ticket  # noqa: E402
from agent.signing import SigningKey  # noqa: E402




def timed_scans(gate: Gate, payloads: list[str], idle: bool = True) -> tuple[list[float], dict, float]:
    """Time scan() (payload in -> durable verdict); gate.idle() runs after each verdict, outside the timing,
    as the CLI does (idle=False: as a shell that never calls it; the ledger checkpoints in the background).
    Returns (scan times ms, verdict counts, wall seconds including idle)."""
    times, codes = [], {}
    start = time.perf_counter()
    for p in payloads:
        t0 = time.perf_counter()
        v = gate.scan(p)
        times.append((time.perf_counter() - t0) * 1000)
        codes[v.code.value] = codes.get(v.code.value, 0) + 1
        if idle:
            gate.idle()
    return times, codes, time.perf_counter() - start


def report(label: str, times: list[float], codes: dict, wall: float) -> None:
    print(f"{label}: n={len(times)} p50={statistics.median(times):.3f} ms p90={pct(times, 90):.3f} ms "
          f"p99={pct(times, 99):.3f} ms p99.9={pct(times, 99.9):.3f} ms max={max(times):.3f} ms; "
          f"{len(times) / wall:,.0f} scans/s single core (checkpoints included)  verdicts {codes}")


def fsync_baseline(folder: Path, n: int = 500) -> None:
    """The disk's own latency for a 4 KiB append + fsync: the floor under any durable commit."""
    import os
    path = folder / "fsync-probe"
    times = []
    with open(path, "wb") as f:
        for _ in range(n):
            t0 = time.perf_counter()
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
            times.append((time.perf_counter() - t0) * 1000)
    path.unlink()
    print(f"disk baseline, 4 KiB append + fsync: p50={statistics.median(times):.3f} ms p99={pct(times, 99):.3f} ms "
          f"max={max(times):.3f} ms")


def forged_payloads(key: SigningKey, n: int, tickets: int, rnd: random.Random) -> list[object]:
    """Tampered bodies, flipped signature bits, truncations, foreign keys (same and unknown id), junk, bytes."""
    impostor = SigningKey.generate(1)
    stranger = SigningKey.generate(77)
    out: list[object] = []
    for i in range(n):
        tid = rnd.randrange(1, tickets + 1)
        good = key.issue(Ticket(1, fx.EVENT_ID, tid, zones=(1 + tid % 3,)))
        raw = bytearray(b45decode(good[len(SCHEME):]))
        kind = i % 8
        if kind in (0, 1):
            raw[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
            out.append(SCHEME + b45encode(bytes(raw)))
        elif kind == 2:
            out.append(good[:rnd.randrange(len(good))])
        elif kind == 3:
            out.append(impostor.issue(Ticket(1, fx.EVENT_ID, tid)))
        elif kind == 4:
            out.append(stranger.issue(Ticket(77, fx.EVENT_ID, tid)))
        elif kind == 5:
            pos = rnd.randrange(len(SCHEME), len(good))
            ch = rnd.choice([c for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:" if c != good[pos]])
            out.append(good[:pos] + ch + good[pos + 1:])
        elif kind == 6:
            out.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))))
        else:
            out.append(good + rnd.choice(["X", "00", "🎫", "\x00garbage"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--scans", type=int, default=3000)
    ap.add_argument("--forged", type=int, default=10_000)
    args = ap.parse_args(argv)
    rnd = random.Random(7)
    source = fx.build(args.tickets)
    work = fx.BENCH_DIR / "scan-run.sqlite"
    for p in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        p.unlink(missing_ok=True)
    shutil.copyfile(source, work)
    key = fx.bench_key()
    ids = rnd.sample(range(1, args.tickets + 1), 2 * args.scans)
    payloads = [key.issue(Ticket(1, fx.EVENT_ID, t, zones=(1 + t % 3,), category=t % 4)) for t in ids]
    payloads, others = payloads[:args.scans], payloads[args.scans:]
    ledger = Ledger.open(work)
    gate = Gate(ledger, fx.keyring(), DevicePolicy(device_id="bench", gate="g1", events=frozenset({fx.EVENT_ID}),
                                                   reread_window=0))
    print(f"ledger {source} ({source.stat().st_size / 1e6:.1f} MB, {args.tickets:,} tickets); journal "
          f"{ledger.conn.execute('PRAGMA journal_mode').fetchone()[0]}, synchronous "
          f"{ledger.conn.execute('PRAGMA synchronous').fetchone()[0]} (2 = FULL)")
    fsync_baseline(fx.BENCH_DIR)
    gate.scan(payloads[0])   # warm caches (first page reads), not counted
    report("first scans (check-in written + fsynced)", *timed_scans(gate, payloads[1:]))
    report("first scans, idle() never called (background checkpoints)", *timed_scans(gate, others, idle=False))
    report("repeat scans (already_used, refusal queued, no fsync)", *timed_scans(gate, payloads[1:]))
    quiet = Gate(ledger, fx.keyring(), gate.policy, log_refusals=False)
    report("repeat scans, refusals not queued (read-only path)", *timed_scans(quiet, payloads[1:]))

    forged = forged_payloads(key, args.forged, args.tickets, rnd)
    accepted = exceptions = 0
    codes: dict[str, int] = {}
    t0 = time.perf_counter()
    for p in forged:
        try:
            v = quiet.scan(p)
        except Exception:        # counted, never expected
            exceptions += 1
            continue
        accepted += v.accepted
        codes[v.code.value] = codes.get(v.code.value, 0) + 1
    dt = time.perf_counter() - t0
    print(f"forged/tampered: {len(forged):,} payloads -> {accepted} accepted, {exceptions} exceptions "
          f"({dt:.1f} s); verdicts {codes}")
    ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
