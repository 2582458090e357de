"""Server store throughput: create N tickets, stream an event's tickets (full and delta), search orders, ingest N
actions, on either backend.

    python benchmarks/bench_store.py [--tickets 100000] [--actions 100000] [--batch 500]     # SQLite (temp folder)
    python benchmarks/bench_store.py --db postgresql://USER@HOST/EMPTY_DB                     # that PostgreSQL database
    python benchmarks/bench_store.py --db temp-postgres       # a private PostgreSQL (tests/pg.py), default durability
    --workers N: then N processes ingest another --actions actions together (each its own store connection)
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)

from server_stub.model import OrderInput, Position  # noqa: E402
from server_stub.store import open_store  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--actions", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--db", default=None, help="postgresql://… (an empty database) or temp-postgres; default SQLite")
    p.add_argument("--workers", type=int, default=0, help="also: N processes ingesting concurrently")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp, contextlib.ExitStack() as stack:
        db = args.db
        if db == "temp-postgres":
            from tests.pg import PostgresServer
            pg = stack.enter_context(PostgresServer(durable=True))    # fsync on, synchronous_commit on: as deployed
            db = pg.create_database()
        store = open_store(Path(tmp) / "server", db=db)
        print(f"backend  {store.backend}" + (f" {store.q1('SHOW server_version')[0]}" if store.backend == "postgresql"
                                               else f" {store.q1('SELECT sqlite_version()')[0]}"))
        store.create_organiser("bench", "Bench")
        now = time.time()
        ev = store.create_event("bench", "Big night", now, now + 4 * 3600, "Europe/Paris",
                                [{"zone_id": 1, "name": "Floor"}], [{"category_id": 1, "name": "Adult"}])
        orders = [OrderInput(ev, f"Buyer {i}", f"buyer{i}@example.org",
                             positions=(Position(1, 1), Position(1, 1)) if i % 2 else (Position(1, 1),))
                  for i in range(args.tickets * 2 // 3 + 1)]
        t0 = time.perf_counter()
        n_orders, n_tickets = 0, 0
        for o in orders:
            if n_tickets >= args.tickets:
                break
            n_orders += 1
            n_tickets += len(o.positions)
        created = store.add_orders("bench", orders[:n_orders])
        t_create = time.perf_counter() - t0
        print(f"create   {n_tickets:>7} tickets in {n_orders} orders: {t_create:6.2f} s  ({n_tickets / t_create:,.0f} tickets/s)")

        t0 = time.perf_counter()
        rows = sum(1 for _ in store.tickets_for_event(ev))
        t_stream = time.perf_counter() - t0
        print(f"stream   {rows:>7} tickets (full bundle):    {t_stream:6.2f} s  ({rows / t_stream:,.0f} rows/s)")

        v = store.version("bench")
        for n in created[::max(1, len(created) // 50)][:50]:
            store.cancel_order(n, "bench")
        t0 = time.perf_counter()
        delta = sum(1 for _ in store.tickets_for_event(ev, since_version=v))
        revs = len(store.revocations_for_event(ev, since_version=v))
        t_delta = time.perf_counter() - t0
        print(f"delta    {delta:>7} tickets + {revs} revocations after 50 cancellations: {t_delta * 1000:6.1f} ms")

        t0 = time.perf_counter()
        hits = sum(len(store.find_orders(f"buyer{i * 997 % n_orders}@example", "bench", limit=5)) for i in range(100))
        t_find = time.perf_counter() - t0
        print(f"search   100 buyer searches (prefix words), {hits} hits: {t_find * 10:6.1f} ms each")

        keys = [r["ticket_key"] for r in store.tickets_for_event(ev)]
        actions = [{"type": "action", "scan_uuid": str(uuid.uuid4()), "kind": "entry", "ticket_key": keys[i % len(keys)],
                    "event_id": ev, "direction": "in", "at": now + i * 0.01, "device_id": f"dev-{i % 20}",
                    "gate": f"gate-{i % 4}", "ref_uuid": None, "reason": "", "clock_offset": 0.0, "verdict": "accepted",
                    "device_seq": i // 20 + 1} for i in range(args.actions)]
        t0 = time.perf_counter()
        new = 0
        for i in range(0, len(actions), args.batch):
            new += store.ingest(actions[i:i + args.batch])[0]
        t_ingest = time.perf_counter() - t0
        print(f"ingest   {new:>7} actions, batches of {args.batch}:  {t_ingest:6.2f} s  ({new / t_ingest:,.0f} actions/s)")
        t0 = time.perf_counter()
        dup = sum(store.ingest(actions[i:i + args.batch])[1] for i in range(0, len(actions), args.batch))
        t_dup = time.perf_counter() - t0
        print(f"re-ingest {dup:>6} duplicates:               {t_dup:6.2f} s  ({dup / t_dup:,.0f} actions/s)")

        doubles = [dict(a, scan_uuid=str(uuid.uuid4()), device_id="dev-offline", gate="gate-x", at=a["at"] + 60)
                   for a in actions[:200]]       # 200 tickets admitted again by an offline gate
        store.ingest(doubles)
        t0 = time.perf_counter()
        conflicts = store.conflicts("bench")
        t_conf = time.perf_counter() - t0
        print(f"conflicts over {new + len(doubles)} actions: {len(conflicts)} found (200 planted) in {t_conf:6.2f} s")
        t0 = time.perf_counter()
        stats = store.stats("bench", ev)
        print(f"stats    over {new + len(doubles)} actions: {stats['entries']} entries, "
              f"{stats['double_entries']['conflicts']} conflicts in {time.perf_counter() - t0:6.2f} s")
        if args.workers:
            _parallel_ingest(Path(tmp) / "server", db, args.workers, keys, ev, now, args.actions, args.batch)
        store.close()


def _worker(folder: Path, db: str | None, actions: list[dict], batch: int, start, out) -> None:
    store = open_store(folder, create=False, db=db)
    start.wait()
    new = sum(store.ingest(actions[i:i + batch])[0] for i in range(0, len(actions), batch))
    store.close()
    out.put(new)


def _parallel_ingest(folder: Path, db: str | None, workers: int, keys: list[str], ev: int, now: float, n: int,
                     batch: int) -> None:
    """`workers` processes, one store connection each, ingest n new actions (disjoint shares) at the same time."""
    actions = [{"type": "action", "scan_uuid": str(uuid.uuid4()), "kind": "entry", "ticket_key": keys[i % len(keys)],
                "event_id": ev, "direction": "in", "at": now + i * 0.01, "device_id": f"dev-{i % 20}",
                "gate": f"gate-{i % 4}", "verdict": "accepted", "device_seq": i // 20 + 1} for i in range(n)]
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(folder, db, actions[w::workers], batch, start, out))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    time.sleep(1.0)              # every worker connected
    t0 = time.perf_counter()
    start.set()
    new = sum(out.get(timeout=600) for _ in procs)
    t = time.perf_counter() - t0
    for proc in procs:
        proc.join(30)
    print(f"ingest   {new:>7} actions by {workers} processes at once: {t:6.2f} s  ({new / t:,.0f} actions/s)")


if __name__ == "__main__":
    main()
