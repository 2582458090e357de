"""Cost of a kiosk bundle (every ticket row carries its signed QR payload; the amount due of each pending order)
against a door bundle.

    python benchmarks/bench_kiosk_bundle.py [--tickets 20000] [--pending 0.25]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)

from server_stub.model import OrderInput, Position  # noqa: E402
from server_stub.store import SqliteStore  # noqa: E402
from server_stub.sync import bundles  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=20000)
    p.add_argument("--pending", type=float, default=0.0, help="the share of orders pending (invoice): their dues")
    args = p.parse_args()
    n, pending = args.tickets, int(args.tickets * args.pending)
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore.open(Path(folder))
        store.create_organiser("o", "O")
        now = time.time()
        event = store.create_event("o", "E", now, now + 3600, "UTC", categories=[{"category_id": 1, "name": "S"}])
        store.set_price("o", event, 1, 2000)
        store.add_orders("o", [OrderInput(event, f"Buyer {i}", "", "pending" if i < pending else "paid",
                                          (Position(1, 1),)) for i in range(n)])
        store.current_key("o")
        for role, payloads in (("door", False), ("kiosk", True)):
            started = time.perf_counter()
            built = bundles.build(store, "o", [event], 0, payloads=payloads)
            took = time.perf_counter() - started
            size = sum(len(c) for c in built.chunks)
            print(f"{role:<6} bundle: {n} tickets ({pending} orders pending) in {took:.2f} s "
                  f"({took / n * 1e6:.0f} us/ticket), {size / 1e6:.2f} MB compressed")
        store.close()


if __name__ == "__main__":
    main()
