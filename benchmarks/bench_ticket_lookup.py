"""The per-batch ticket lookup ingestion does to refuse a door action naming another event's ticket
(server_stub/sync/ingest.py `Scope.learn_tickets` -> store.ticket_targets): CPU and wall time per batch of
random real ticket keys, on a store of N tickets.

    python benchmarks/bench_ticket_lookup.py [--tickets 100000] [--batch 500] [--batches 40] [--db temp-postgres]
"""
from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import time
from pathlib import Path

from bench_sync_common import make_store


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--db", default=None, help="postgresql://… (an empty database) or temp-postgres; default SQLite")
    args = p.parse_args()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-ticket-lookup-") as tmp:
        if args.db == "temp-postgres":
            from tests.pg import PostgresServer
            args.db = stack.enter_context(PostgresServer(durable=True)).create_database()
        store, _event = make_store(Path(tmp), args.tickets, [], db=args.db)
        ids = [r[0] for r in store.q("SELECT ticket_id FROM tickets")]
        rnd = random.Random(1)
        batches = [{str(k) for k in rnd.sample(ids, args.batch)} for _ in range(args.batches)]
        cpu, wall = time.thread_time(), time.perf_counter()
        for keys in batches:
            assert len(store.ticket_targets(keys)) == len(keys)
        cpu, wall = (time.thread_time() - cpu) / args.batches, (time.perf_counter() - wall) / args.batches
        print(f"{args.tickets} tickets, {'PostgreSQL' if args.db else 'SQLite'}: ticket lookup of {args.batch} keys "
              f"{cpu * 1000:.2f} ms CPU, {wall * 1000:.2f} ms wall per batch ({cpu / args.batch * 1e6:.1f} µs CPU a key)")
        store.close()


if __name__ == "__main__":
    main()
