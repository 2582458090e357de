"""Push N tickets (signed, chunked, compressed bundle over mosquitto) -> device ready to scan and search.

    python benchmarks/bench_sync_push.py [--tickets 100000]

Measures from the organiser's `push` (bundle built from the store) until the device has verified and
applied it and a search answers; the device runs in this process (same 2 cores as server and broker).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_sync_common import ORG, wait, world

from agent.sync.device import DeviceOptions
from server_stub.sync.cli_hooks import push
from server_stub.sync.sim_device import SimDevice


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=100_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-push-") as tmp, \
            world(Path(tmp), args.tickets, ["bench-dev"]) as (store, event, config, servers):
        servers[0].stop()      # the push alone delivers (no hello-triggered bundle racing it)
        device = SimDevice(Path(tmp) / "dev", ORG, "bench-dev", store.server_public_key(ORG), config, [event],
                           options=DeviceOptions(bundle_timeout=120))
        device.go_online()
        time.sleep(0.5)
        t0 = time.perf_counter()
        result = push(store, ORG, [event], config)
        t_push = time.perf_counter() - t0
        took = wait(lambda: device.ready(args.tickets), 120, step=0.01)
        if took is None:
            raise SystemExit(f"device not ready: {list(device.sync.rejections)}")
        total = time.perf_counter() - t0
        t1 = time.perf_counter()
        hits = device.ledger.search("helene dupont")
        t_search = time.perf_counter() - t1
        print(f"tickets {result['tickets']}, bundle {result['bytes'] / 1e6:.2f} MB compressed")
        print(f"push (build + sign + publish, broker acked): {t_push:.2f} s")
        print(f"push -> device ready (verified, applied, searchable): {total:.2f} s")
        print(f"first search after ready: {t_search * 1000:.1f} ms, {len(hits)} hits; device {device.sync.last_bundle}")
        device.close()


if __name__ == "__main__":
    main()
