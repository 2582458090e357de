"""What the app adds to each scan, without rendering: Gate.scan + verdict view-model + status strip (counters with
'inside now', queue), on a ledger holding many tickets and entries from other gates; and a search whose rows each
carry the core's decision for the ticket (Door.search: Gate.judge_by_key per row, nothing recorded).

    .venv/bin/python benchmarks/bench_ui_scan.py [--tickets 100000] [--scans 300]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--scans", type=int, default=300)
    args = p.parse_args()
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    with tempfile.TemporaryDirectory() as tmp:
        demo = seed(tmp)
        ledger = demo.door.ledger
        n = args.tickets
        ledger.upsert_tickets({"ticket_key": str(100_000 + i), "event_id": 1, "order_number": f"B-{i}",
                               "buyer_name": f"Guest {i}", "zone": 1, "category": 1} for i in range(n))
        half = n // 2          # half the crowd already entered at other gates
        ledger.merge_remote({"scan_uuid": str(uuid.uuid4()), "kind": "entry", "ticket_key": str(100_000 + i),
                             "event_id": 1, "direction": "in", "at": time.time() - 3600, "device_id": "other",
                             "gate": "South"} for i in range(half))
        ctl = Controller(demo.door, build_services(demo.door, Path(tmp)))
        payloads = [demo.ticket(100_000 + half + i, zones=(1,)) for i in range(args.scans)]
        scan_ms, view_ms = [], []
        for payload in payloads:
            t0 = time.perf_counter()
            ctl.scan(payload)              # Gate.scan (durable) + verdict view-model + feedback
            t1 = time.perf_counter()
            ctl.status()                   # counters incl. inside now, sync badge, queue
            t2 = time.perf_counter()
            scan_ms.append((t1 - t0) * 1000)
            view_ms.append((t2 - t1) * 1000)
        search_ms = []
        for _ in range(50):                # 30 rows (the limit), of tickets entered or not
            t0 = time.perf_counter()
            rows = demo.door.search("Guest")
            search_ms.append((time.perf_counter() - t0) * 1000)
        assert len(rows) == 30 and all("state" in r for r in rows)
        q = lambda xs: f"median {statistics.median(xs):.2f} ms, p95 {sorted(xs)[int(len(xs) * 0.95)]:.2f} ms"  # noqa: E731
        print(f"ledger: {n} tickets, {half} entries from another gate; {args.scans} scans")
        print(f"  scan + verdict view-model: {q(scan_ms)}")
        print(f"  status strip (counters, inside now, queue): {q(view_ms)}")
        print(f"  search, up to 30 rows each judged by the core: {q(search_ms)}")
        demo.door.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
