"""20 devices scan offline (5,000 scans each, 200 tickets admitted at two devices), then reconnect:
time until the server holds every scan (outboxes acknowledged), scans lost, conflicts flagged.

    python benchmarks/bench_sync_converge.py [--devices 20] [--scans 5000] [--doubles 200]

Devices already hold their bundle (not re-sent here) and are not subscribed to the live topic: the figure
is the server's convergence; relayed entries are merged by each device on its own CPU in the field.
The offline scans are written to each device's ledger exactly as the gate writes them (checkins row +
outbox message), in bulk, to keep the set-up short; the upload path is the real one.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_sync_common import ORG, wait, world
from bench_sync_ingest import fill_outbox

from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from server_stub.sync.sim_device import SimDevice


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--scans", type=int, default=5000)
    p.add_argument("--doubles", type=int, default=200)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    names = [f"door-{i:02d}" for i in range(args.devices)]
    per_own = args.scans - args.doubles // args.devices
    distinct = per_own * args.devices
    options = DeviceOptions(upload=UploadOptions(batch_size=500, window=4, ack_timeout=30.0))
    with tempfile.TemporaryDirectory(prefix="bench-sync-converge-") as tmp, \
            world(Path(tmp), distinct, names, workers=args.workers, device_events=False) as (store, event, config, servers):
        keys = [str(r[0]) for r in store.q("SELECT ticket_id FROM tickets ORDER BY ticket_id")]
        plan: dict[str, list[str]] = {n: keys[i * per_own:(i + 1) * per_own] for i, n in enumerate(names)}
        doubles = keys[::per_own][:args.doubles] if args.doubles <= args.devices else \
            [keys[i * per_own + j] for j in range(args.doubles // args.devices) for i in range(args.devices)]
        for k in doubles:                      # admitted again at the next device
            owner = keys.index(k) // per_own
            plan[names[(owner + 1) % args.devices]].append(k)
        devices = []
        for n in names:
            d = SimDevice(Path(tmp) / n, ORG, n, store.server_public_key(ORG), config, [], options=options)
            fill_outbox(d, event, len(plan[n]), keys=plan[n])
            devices.append(d)
        total = sum(len(v) for v in plan.values())
        t0 = time.perf_counter()
        for d in devices:
            d.go_online()
        done = wait(lambda: all(d.ledger.outbox_size() == 0 for d in devices), 600, step=0.05)
        took = time.perf_counter() - t0 if done is not None else None
        stored = store.scan_count(ORG)
        rows, unique = store.q("SELECT count(*), count(DISTINCT scan_uuid) FROM scans WHERE org=?", (ORG,))[0]
        t1 = time.perf_counter()
        conflicts = store.conflicts(ORG, event)
        t_conf = time.perf_counter() - t1
        print(f"{args.devices} devices x {args.scans} offline scans = {total} scans, {len(doubles)} tickets at two devices")
        print(f"reconnect -> every outbox acknowledged, server holds all: {took:.2f} s "
              f"({total / took:,.0f} scans/s)" if took else "did not converge in 600 s")
        print(f"scans lost: {total - stored}; stored twice: {rows - unique} (re-sent and ignored: "
              f"{sum(s.stats['dup'] for s in servers)}); conflicts flagged: {len(conflicts)} (expected {len(doubles)}), "
              f"report in {t_conf:.2f} s")
        for d in devices:
            d.close()


if __name__ == "__main__":
    main()
