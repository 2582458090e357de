"""The organiser's reports and the till at event scale: participants and sales exported (CSV, XLSX), and a Z report
over a busy shift, on SQLite.

    python benchmarks/bench_reports.py [--tickets 20000] [--sales 2000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)

from agent.sync.messages import SaleLine, SaleRequest  # noqa: E402
from server_stub.exports import csv_bytes, xlsx_bytes  # noqa: E402
from server_stub.model import OrderInput, Position  # noqa: E402
from server_stub.reports import sales_summary  # noqa: E402
from server_stub.store import open_store  # noqa: E402


def timed(what: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{what:<44} {1000 * (time.perf_counter() - t0):9.0f} ms")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=20000)
    p.add_argument("--sales", type=int, default=2000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        store = open_store(Path(tmp) / "server")
        store.create_organiser("bench", "Bench Festival")
        now = time.time()
        ev = store.create_event("bench", "Soirée d'ouverture", now, now + 4 * 3600, "Europe/Paris",
                                [{"zone_id": 1, "name": "Fosse"}], [{"category_id": 1, "name": "Adulte"},
                                                                    {"category_id": 2, "name": "VIP"}])
        store.set_price("bench", ev, 1, 2500)
        store.set_price("bench", ev, 2, 6000)
        store.add_orders("bench", [OrderInput(ev, f"Hélène Dupont {i}", f"h{i}@example.org",
                                              positions=(Position(1, 1),)) for i in range(args.tickets)])
        store.register_device("bench", "kiosk-1", role="kiosk")
        shift = store.open_shift("bench", "kiosk-1", 20000)
        t0 = time.perf_counter()
        for i in range(args.sales):
            store.sell("bench", "kiosk-1", SaleRequest("bench", "kiosk-1", f"s{i}", ev, (SaleLine(1 + i % 2, 2),),
                                                       payment=("cash", "card")[i % 2]))
        print(f"{args.sales} desk sales (setup)                      {time.perf_counter() - t0:9.1f} s")
        rows = timed(f"participants ({args.tickets + 2 * args.sales} tickets)", lambda: store.participants("bench"))
        data = timed("  as CSV", lambda: csv_bytes(rows))
        book = timed("  as XLSX", lambda: xlsx_bytes([("participants", rows)]))
        print(f"  CSV {len(data) / 1e6:.1f} MB, XLSX {len(book) / 1e6:.1f} MB")
        lines = timed(f"sales lines ({args.sales} desk orders)", lambda: store.sales_lines("bench"))
        timed("  summary", lambda: sales_summary(lines))
        timed("  as XLSX", lambda: xlsx_bytes([("sales", lines)]))
        closed = timed(f"close the shift: Z report over {args.sales} sales",
                       lambda: store.close_shift("bench", shift["shift_id"], 0))
        print(f"  expected cash {closed['report']['expected_cash_cents']} cents")
        tracemalloc.start()                  # memory measured apart: tracemalloc slows every allocation
        csv_bytes(store.participants("bench"))
        print(f"peak Python memory, participants as CSV     {tracemalloc.get_traced_memory()[1] / 1e6:9.0f} MB")
        store.close()


if __name__ == "__main__":
    main()
