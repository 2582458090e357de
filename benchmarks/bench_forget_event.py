"""An event taken away from a door (`server device events DEV --remove N`): what deleting its tickets and pruning
their buyers' words from the search index's file (agent/ledger/prune.py) cost, and whether scans wait meanwhile.

    python benchmarks/bench_forget_event.py                      # 1M tickets, 10 % of them the event taken away
    python benchmarks/bench_forget_event.py --tickets 100000

A ledger of N tickets (event 7 kept, every 10th ticket of event 8, its buyers with words found nowhere else) is
built once, copied, then: its tickets deleted in short steps (`forget_tickets_in_steps`, as the sync thread does
before the command), `forget_events([8])` (the command's transaction; `--one-transaction`: everything in it, as
before), prune steps as the sync thread runs them, while a second connection (the door) records a check-in every 20 ms. Printed: the deletion's
time, the steps (count, p50/p99/max, total), the check-ins' latency during each phase, and how many times the
removed buyers' words occur in the ledger's files (after a checkpoint) before and after. Figures, not assertions.
"""
from __future__ import annotations

import argparse
import glob
import shutil
import sqlite3
import statistics
import threading
import time
import uuid
from pathlib import Path

from figures import pct  # noqa: E402  (puts this checkout on sys.path)
import core_fixture as fx  # noqa: E402

from agent.history import Action  # noqa: E402
from agent.ledger import Ledger  # noqa: E402
from agent.ledger.catalogue import FORGET_CHUNK, FORGET_PAUSE  # noqa: E402

GONE_EVENT = 8
MARK = b"vanishedbuyer"      # in every removed buyer's name and e-mail, nowhere else


def _tickets(n: int):
    for t in fx.tickets(n):
        i = int(t["ticket_key"])
        if i % 10 == 0:
            t = dict(t, event_id=GONE_EVENT, buyer_name=f"{t['buyer_name'].split()[0]} Q{i}vanishedbuyer",
                     email=f"q{i}vanishedbuyer@gone.example")
        yield t


def build(n: int) -> Path:
    path = fx.BENCH_DIR / f"forget-v1-{n}.sqlite"
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    fx.BENCH_DIR.mkdir(parents=True, exist_ok=True)
    for p in glob.glob(f"{path}*"):
        Path(p).unlink()
    ledger = Ledger.open(path)
    ledger.upsert_events([{"event_id": e, "name": f"event {e}", "zones": [{"zone_id": z, "name": f"zone {z}"}
                                                                           for z in (1, 2, 3)]}
                          for e in (fx.EVENT_ID, GONE_EVENT)])
    ledger.upsert_tickets(_tickets(n), batch=20000)
    ledger.conn.execute("INSERT INTO tickets_fts(tickets_fts) VALUES ('optimize')")   # as a full bundle leaves it
    ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ledger.close()
    done.touch()
    return path


def occurrences(path: Path) -> int:
    """How many times the removed buyers' mark is in the ledger's files (the ledger, its index file, their WALs),
    after a checkpoint of both."""
    conn = sqlite3.connect(path)
    for index in glob.glob(f"{path}.index-*.db"):
        conn.execute("ATTACH DATABASE ? AS idx", (index,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(Path(f).read_bytes().count(MARK) for f in glob.glob(f"{path}*") if not f.endswith(".done"))


def door(path: Path, stop: threading.Event, latencies: list[tuple[float, float]]) -> None:
    """A check-in every 20 ms on a connection of its own (the gate's), each durable: (when, how long)."""
    ledger = Ledger.open(path)
    i = 0
    while not stop.is_set():
        i += 1
        t0 = time.perf_counter()
        ledger.record(str(i), Action(str(uuid.uuid4()), "entry", time.time(), "bench-door", "g1", fx.EVENT_ID),
                      outbox={"kind": "entry"})
        latencies.append((t0, time.perf_counter() - t0))
        stop.wait(0.02)
    ledger.close()


def line(label: str, times: list[float]) -> str:
    if not times:
        return f"{label}: none"
    return (f"{label}: n={len(times)} p50={statistics.median(times) * 1000:.1f} ms p99={pct(times, 99) * 1000:.1f} ms "
            f"max={max(times) * 1000:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=None, help="pages per prune step (default: the ledger's)")
    ap.add_argument("--chunk", type=int, default=FORGET_CHUNK, help="tickets deleted per step before the command")
    ap.add_argument("--pause", type=float, default=FORGET_PAUSE, help="seconds between two deletion steps")
    ap.add_argument("--one-transaction", action="store_true", help="all in the command's transaction (as before)")
    args = ap.parse_args(argv)
    source = build(args.tickets)
    work = fx.BENCH_DIR / "forget-run.sqlite"
    for p in glob.glob(f"{work}*"):
        Path(p).unlink()
    shutil.copyfile(source, work)
    for index in glob.glob(f"{source}.index-*.db"):
        shutil.copyfile(index, str(work) + index[len(str(source)):])
    before = occurrences(work)
    size = sum(Path(f).stat().st_size for f in glob.glob(f"{work}*"))
    latencies: list[tuple[float, float]] = []
    stop = threading.Event()
    scanner = threading.Thread(target=door, args=(work, stop, latencies))
    ledger = Ledger.open(work)
    scanner.start()
    time.sleep(1.0)
    t0 = time.perf_counter()
    chunks: list[float] = []
    deleted = 0
    if not args.one_transaction:    # as DeviceSync._forget_first: the tickets in short steps, before the command
        mark = [time.perf_counter()]

        def timed() -> None:
            chunks.append(time.perf_counter() - mark[0])
            mark[0] = time.perf_counter() + args.pause
        deleted = ledger.forget_tickets_in_steps([GONE_EVENT], chunk=args.chunk, pause=args.pause, after_chunk=timed)
    c0 = time.perf_counter()
    deleted += ledger.forget_events([GONE_EVENT])          # the command's transaction
    command = time.perf_counter() - c0
    t1 = time.perf_counter()
    steps: list[float] = []
    kwargs = {"pages": args.pages} if args.pages else {}
    while True:
        s0 = time.perf_counter()
        more = ledger.prune_step(**kwargs)
        steps.append(time.perf_counter() - s0)
        if not more:
            break
        time.sleep(0.05)            # the sync thread's tick while pruning
    t2 = time.perf_counter()
    time.sleep(1.0)
    stop.set()
    scanner.join()
    found = len(ledger.search("vanishedbuyer"))
    ledger.close()
    after = occurrences(work)
    print(f"ledger of {args.tickets:,} tickets ({size / 1e6:.1f} MB); event {GONE_EVENT} taken away: {deleted:,} "
          f"tickets deleted in {(t1 - t0) * 1000:.0f} ms; the command's transaction {command * 1000:.0f} ms")
    if chunks:
        print(line(f"deletion steps before it ({args.chunk} tickets)", chunks))
    print(line(f"prune merge steps ({kwargs.get('pages', 'default')} pages)", steps[:-1])
          + f"; the last (checkpoint of the index file, truncating its WAL) {steps[-1] * 1000:.1f} ms; total "
            f"{sum(steps):.2f} s of work, {t2 - t1:.1f} s wall (50 ms between steps)")
    print(line("door check-ins before", [d for at, d in latencies if at < t0]))
    print(line("door check-ins during the deletion", [d for at, d in latencies if t0 <= at < t1 or at < t0 < at + d]))
    print(line("door check-ins during the prune", [d for at, d in latencies if t1 <= at < t2]))
    print(f"removed buyers' words in the ledger's files after a checkpoint: {before:,} before, {after:,} after; "
          f"search finds {found}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
