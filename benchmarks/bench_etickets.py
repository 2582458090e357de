"""E-ticket rendering throughput (PNG and PDF), to plan `export-etickets --event` on big events.

    python benchmarks/bench_etickets.py [--tickets 200]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)

from server_stub.eticket import gather  # noqa: E402
from server_stub.eticket_pdf import render_pdf  # noqa: E402
from server_stub.eticket_png import render_png  # noqa: E402
from server_stub.model import OrderInput, Position  # noqa: E402
from server_stub.store import open_store  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eticket-") as tmp:
        store = open_store(Path(tmp) / "server")
        store.create_organiser("bench", "Bench Festival")
        now = time.time()
        ev = store.create_event("bench", "Opening night at the Grand Hall", now, now + 4 * 3600, "Europe/Paris",
                                [{"zone_id": 1, "name": "Floor"}], [{"category_id": 1, "name": "Adult"}])
        store.add_orders("bench", [OrderInput(ev, f"Hélène Dupont {i}", positions=(Position(1, 1, f"R{i}"),))
                                   for i in range(args.tickets)])
        keys = [r["ticket_key"] for r in store.tickets_for_event(ev)]
        for name, render in (("gather+sign", None), ("png", render_png), ("pdf", render_pdf)):
            t0 = time.perf_counter()
            size = 0
            for k in keys:
                e = gather(store, k)
                if render:
                    size += len(render(e))
            dt = time.perf_counter() - t0
            extra = f", {size / len(keys) / 1024:.0f} KiB each" if render else ""
            print(f"{name:<12} {len(keys)} tickets: {dt:6.2f} s ({dt / len(keys) * 1000:6.1f} ms/ticket{extra})")
        tickets = [gather(store, k) for k in keys]
        t0 = time.perf_counter()
        size = sum(len(render_pdf(tickets[i:i + 4])) for i in range(0, len(tickets), 4))
        dt = time.perf_counter() - t0
        print(f"{'pdf x4':<12} {len(keys)} tickets, 4 per order: {dt:6.2f} s ({dt / len(keys) * 1000:6.1f} ms/ticket, "
              f"{size / (len(keys) / 4) / 1024:.0f} KiB per order)")
        store.close()


if __name__ == "__main__":
    main()
