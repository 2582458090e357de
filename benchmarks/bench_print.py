"""Print benchmark: ESC/POS ticket and ZPL ticket to a local TCP printer (build + connect + status + send + status),
CR80 badge rendered to PNG + PDF and saved.

    python benchmarks/bench_print.py [--runs 50]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

from figures import pct  # noqa: E402  (puts this checkout on sys.path)

from drivers.printers.model import PrintableTicket  # noqa: E402
from drivers.printers.service import PrinterConfig, print_ticket  # noqa: E402
from drivers.testkit.fake_printer import FakePrinter  # noqa: E402
from drivers.testkit.tickets import Issuer  # noqa: E402




def run(label: str, config_for, ticket: PrintableTicket, runs: int, goal_ms: float) -> None:
    times, failures = [], 0
    print_ticket(config_for(), ticket)                                       # warm-up: imports, fonts
    for _ in range(runs):
        t0 = time.perf_counter()
        result = print_ticket(config_for(), ticket)
        times.append((time.perf_counter() - t0) * 1000)
        failures += not result.printed
    print(f"  {label:<44} p50 {pct(times, 50):7.2f} ms  p99 {pct(times, 99):7.2f} ms  max {max(times):7.2f} ms  "
          f"goal {goal_ms:.0f} ms  failures {failures}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=50)
    args = p.parse_args()
    issuer = Issuer.create()
    ticket = PrintableTicket("Opening night", "Sat 28 Nov 2026, 20:00", issuer.payload(seat="F-12"), category="Standing",
                             zone="Floor", seat="Row F 12", order_number="A-1042", buyer_name="Hélène Dupont")
    print(f"{args.runs} runs each, after one warm-up:")
    with FakePrinter("escpos") as esc, FakePrinter("zpl") as zpl, tempfile.TemporaryDirectory() as tmp:
        run("ESC/POS ticket, native QR, TCP 127.0.0.1", lambda: PrinterConfig("escpos", host=esc.host, port=esc.port),
            ticket, args.runs, 100)
        run("ESC/POS ticket, raster QR, TCP 127.0.0.1",
            lambda: PrinterConfig("escpos", host=esc.host, port=esc.port, native_qr=False), ticket, args.runs, 100)
        run("ZPL show ticket, TCP 127.0.0.1", lambda: PrinterConfig("zpl", host=zpl.host, port=zpl.port), ticket,
            args.runs, 20)
        run("ZPL cinema ticket, TCP 127.0.0.1",
            lambda: PrinterConfig("zpl", host=zpl.host, port=zpl.port, format="cinema"), ticket, args.runs, 20)
        run("CR80 badge 300 dpi, PNG + PDF saved", lambda: PrinterConfig("badge", connection="save", save_folder=tmp),
            ticket, max(5, args.runs // 5), 300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
