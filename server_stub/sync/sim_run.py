"""A simulated device as its own process (failure tests: `kill -9` mid-upload; benchmarks).

    python -m server_stub.sync.sim_run --folder F --org demo --device gate-a --port 1883 \
        --server-key HEX --event 1 [--payloads FILE] [--interval 0.002]

Scans every line of FILE (if given), keeps syncing until SIGTERM/SIGINT. Prints `ready` once the
bundle is applied and `scanned N` when done scanning.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from agent.sync.device import DeviceOptions
from agent.sync.transport import BrokerConfig
from agent.sync.uploader import UploadOptions
from server_stub.sync.sim_device import SimDevice


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sim_run")
    p.add_argument("--folder", type=Path, required=True)
    p.add_argument("--org", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-key", required=True, help="the organiser's server public key, hex")
    p.add_argument("--event", type=int, action="append", required=True)
    p.add_argument("--payloads", type=Path)
    p.add_argument("--interval", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    options = DeviceOptions(upload=UploadOptions(batch_size=args.batch, ack_timeout=1.0, max_backoff=3.0), hello_retry=1.0)
    device = SimDevice(args.folder, args.org, args.device, bytes.fromhex(args.server_key),
                       BrokerConfig(host=args.host, port=args.port), args.event, options=options).go_online()
    try:
        deadline = time.monotonic() + 30
        while not device.ready() and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.02)
        print("ready" if device.ready() else "not ready", flush=True)
        count = 0
        if args.payloads:
            for line in args.payloads.read_text().splitlines():
                if stop.is_set():
                    break
                if line.strip():
                    device.scan(line)
                    count += 1
                    if args.interval:
                        time.sleep(args.interval)
        print(f"scanned {count}", flush=True)
        stop.wait()
    finally:
        device.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
