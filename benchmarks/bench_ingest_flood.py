"""A stolen door floods the server with valid ~4 MiB batches as fast as the broker takes them, while the door's own
sync uploads its 3,000 rows and another door uploads one entry every 0.25 s (tests/flood_scenario.py: mosquitto of
its own, the real SyncServer and SQLite store in this process, the thief in a process of its own). Prints what the
server held (its inbox's peak), this process's RSS growth and CPU, the other door's ack times, and the rows stored.

    python benchmarks/bench_ingest_flood.py [--batches 120]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from figures import percentiles  # noqa: F401  (puts this checkout on sys.path)

from server_stub.sync.broker_process import BrokerProcess  # noqa: E402
from tests.flood_scenario import run_flood  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batches", type=int, default=120)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-flood-") as tmp, \
            BrokerProcess(Path(tmp) / "mosquitto") as broker:
        load = os.getloadavg()[0]
        flood = run_flood(Path(tmp), broker.port, args.batches)
    print(f"{flood.published} batches of ~4 MiB (load {load:.1f} at the start): {flood.text()}")


if __name__ == "__main__":
    main()
