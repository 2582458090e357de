"""Revocation latency (order cancelled at the server -> every online device refuses it) and cross-gate
latency (accepted at gate A -> `already_used` at gate B), p50/p95.

    python benchmarks/bench_sync_latency.py [--devices 5] [--samples 100] [--tickets 2000]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench_sync_common import ORG, percentiles, wait, world

from server_stub.sync.sim_device import SimDevice


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=5)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--tickets", type=int, default=2000)
    args = p.parse_args()
    names = [f"gate-{i}" for i in range(args.devices)]
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-sync-latency-") as tmp, \
            world(Path(tmp), args.tickets, names) as (store, event, config, servers):
        devices = [SimDevice(Path(tmp) / n, ORG, n, store.server_public_key(ORG), config, [event]).go_online()
                   for n in names]
        if wait(lambda: all(d.ready(args.tickets) for d in devices), 60) is None:
            raise SystemExit("devices not ready")
        orders = store.q("SELECT o.number, t.ticket_id FROM orders o JOIN tickets t USING (order_id) ORDER BY o.order_id")
        rnd.shuffle(orders)
        revocation, cross, refused = [], [], 0
        for number, ticket_id in orders[:args.samples]:
            key = str(ticket_id)
            store.cancel_order(number, "benchmark")
            took = wait(lambda: all(d.ledger.history(key).revoked for d in devices), 10)
            revocation.append(took if took is not None else 10.0)
            time.sleep(rnd.uniform(0.0, 0.05))
        for number, ticket_id in orders[args.samples:2 * args.samples]:
            a, b = rnd.sample(devices, 2)
            payload = store.issue_ticket_payload(ticket_id)
            assert a.scan(payload).accepted
            took = wait(lambda: bool(b.ledger.history(str(ticket_id)).entries), 10, step=0.001)
            cross.append(took if took is not None else 10.0)
            refused += b.scan(payload).code.value == "already_used"
            time.sleep(rnd.uniform(0.0, 0.05))
        print(f"{args.devices} devices online, {args.tickets} tickets")
        print(f"revocation (cancel_order -> all {args.devices} devices have it): {percentiles(revocation)}")
        print(f"cross-gate (accepted at A -> in B's ledger):       {percentiles(cross)}; "
              f"then scanned at B: already_used {refused}/{len(cross)}")
        for d in devices:
            d.close()


if __name__ == "__main__":
    main()
