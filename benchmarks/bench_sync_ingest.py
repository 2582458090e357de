"""Ingestion throughput: D devices with S scans each waiting in their durable outboxes come online;
time until the server stored every scan once and every device got its acks (relays included).

    python benchmarks/bench_sync_ingest.py [--devices 4] [--scans 25000] [--batch 500] [--workers 1] [--raw]
        [--db postgresql://…|temp-postgres]     (default: SQLite; temp-postgres starts a private durable PostgreSQL)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import uuid
from pathlib import Path

from bench_sync_common import ORG, wait, world

from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from server_stub.sync.sim_device import SimDevice


def fill_outbox(device: SimDevice, event: int, n: int, keys: list[str] | None = None) -> None:
    """n entries as the gate writes them (checkins row + outbox message), in one transaction for speed."""
    now = time.time()
    rows, out = [], []
    for i in range(n):
        u = str(uuid.uuid4())
        body = {"type": "action", "scan_uuid": u, "kind": "entry", "ticket_key": keys[i] if keys else f"pretix:{device.device_id}-{i}",
                "event_id": event, "direction": "in", "at": now + i * 0.001, "device_id": device.device_id,
                "gate": device.device_id, "ref_uuid": None, "reason": "", "clock_offset": 0.0, "verdict": "accepted",
                "device_seq": i + 1}
        rows.append((u, "entry", body["ticket_key"], event, "in", body["at"], device.device_id, device.device_id, i + 1))
        out.append(("action", json.dumps(body, separators=(",", ":")), body["at"]))
    with device.ledger.transaction() as c:
        c.executemany("INSERT INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, "
                      "device_seq, origin) VALUES (?,?,?,?,?,?,?,?,?, 'local')", rows)
        c.executemany("INSERT INTO outbox(kind, body, created) VALUES (?,?,?)", out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--scans", type=int, default=25_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--db", default=None, help="postgresql://… (an empty database) or temp-postgres; default SQLite")
    p.add_argument("--raw", action="store_true",
                   help="server only: pre-built batches from plain MQTT clients (devices are other machines)")
    args = p.parse_args()
    with contextlib.ExitStack() as stack:
        if args.db == "temp-postgres":
            from tests.pg import PostgresServer
            args.db = stack.enter_context(PostgresServer(durable=True)).create_database()
        return raw(args) if args.raw else through_devices(args)


def through_devices(args) -> None:
    names = [f"dev-{i:02d}" for i in range(args.devices)]
    total = args.devices * args.scans
    options = DeviceOptions(upload=UploadOptions(batch_size=args.batch, window=8, ack_timeout=20.0))
    with tempfile.TemporaryDirectory(prefix="bench-sync-ingest-") as tmp, \
            world(Path(tmp), 10, names, workers=args.workers, db=args.db) as (store, event, config, servers):
        devices = [SimDevice(Path(tmp) / n, ORG, n, store.server_public_key(ORG), config, [event], options=options)
                   for n in names]
        for d in devices:
            fill_outbox(d, event, args.scans)
        t0 = time.perf_counter()
        for d in devices:
            d.go_online()
        stored = lambda: store.scan_count(ORG)  # noqa: E731
        took_store = wait(lambda: stored() >= total, 300, step=0.05)
        took_acks = wait(lambda: all(d.ledger.outbox_size() == 0 for d in devices), 300, step=0.05)
        took_acks = time.perf_counter() - t0 if took_acks is not None else None
        dup = sum(s.stats["dup"] for s in servers)
        print(f"{args.devices} devices x {args.scans} scans = {total}, batches of {args.batch}, {args.workers} worker(s)")
        print(f"stored on the server: {stored()} in {took_store:.2f} s -> {total / took_store:,.0f} scans/s")
        print(f"every outbox acknowledged after {took_acks:.2f} s -> {total / took_acks:,.0f} scans/s end to end; "
              f"duplicates re-sent {dup}")
        print("per worker:", {s.name: {k: s.stats[k] for k in ('batches', 'new', 'dup')} for s in servers})
        for d in devices:
            d.close()


def raw(args) -> None:
    from agent.sync import topics
    from agent.sync.transport import PahoTransport
    names = [f"dev-{i:02d}" for i in range(args.devices)]
    total = args.devices * args.scans
    with tempfile.TemporaryDirectory(prefix="bench-sync-ingest-") as tmp, \
            world(Path(tmp), 10, names, workers=args.workers, db=args.db) as (store, event, config, servers):
        messages = []
        now = time.time()
        for n in names:
            for start in range(0, args.scans, args.batch):
                items = [{"id": i + 1, "kind": "action", "body": {
                    "type": "action", "scan_uuid": str(uuid.uuid4()), "kind": "entry", "ticket_key": f"pretix:{n}-{i}",
                    "event_id": event, "direction": "in", "at": now + i * 0.001, "device_id": n, "gate": n,
                    "ref_uuid": None, "reason": "", "clock_offset": 0.0, "verdict": "accepted", "device_seq": i + 1}}
                    for i in range(start, min(args.scans, start + args.batch))]
                messages.append((topics.up(ORG, n), json.dumps({"type": "batch", "org": ORG, "device": n,
                                 "batch": uuid.uuid4().hex, "items": items}, separators=(",", ":")).encode()))
        client = PahoTransport("bench-publisher", config, clean_start=True)
        client.start()
        client.wait_connected(5)
        t0 = time.perf_counter()
        for topic, payload in messages:
            client.publish(topic, payload)
        took = wait(lambda: store.scan_count(ORG) >= total, 300, step=0.02)
        print(f"server only: {total} scans in {len(messages)} batches of {args.batch}, {args.workers} worker(s)")
        print(f"stored (durable, acks signed and sent, relays published) in {took:.2f} s -> {total / took:,.0f} scans/s")
        print("per worker:", {s.name: {k: s.stats[k] for k in ('batches', 'new', 'dup')} for s in servers})
        client.stop()


if __name__ == "__main__":
    main()
