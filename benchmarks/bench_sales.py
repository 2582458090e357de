"""Desk sales online: K kiosks each sending S sale requests (one line of Q tickets) over MQTT to the sync server,
which prices them, takes stock atomically, writes the order and signs the tickets (server_stub/store/sales.py).
Prints the server's sale throughput under concurrent kiosks and the latency from request sent to the signed answer
(tickets issued) received, per sale.

    python benchmarks/bench_sales.py [--kiosks 4] [--sales 200] [--quantity 2] [--window 8]
        [--db postgresql://…|temp-postgres]     (default: SQLite; temp-postgres starts a private durable PostgreSQL)

Each kiosk keeps at most --window requests in flight (a desk waits for its answer; several desks per kiosk device
are what the window stands for). Loopback mosquitto, one server worker.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path

from bench_sync_common import ORG, percentiles, world

from agent.sync import topics
from agent.sync.messages import DeskAnswer, SaleLine, SaleRequest
from agent.sync.signed import Verifier
from agent.sync.transport import PahoTransport


class Kiosk:
    def __init__(self, name: str, config, server_key: bytes, event: int, quantity: int, window: int):
        self.name, self.event, self.quantity = name, event, quantity
        self.verifier = Verifier(server_key)
        self.sent: dict[str, float] = {}
        self.latency: list[float] = []
        self.refused: list[str] = []
        self.slots = threading.Semaphore(window)
        self.t = PahoTransport(f"{name}-bench", config)
        self.t.on_message = self._got
        self.t.subscribe(topics.down(ORG, name))
        self.t.start()

    def _got(self, topic: str, payload: bytes) -> None:
        body = self.verifier.open(payload)
        if body.get("type") != "desk_answer":
            return
        a = DeskAnswer.from_wire(body)
        self.latency.append(time.perf_counter() - self.sent[a.request_id])
        if not a.ok or len(a.tickets) != self.quantity or not all(t.payload for t in a.tickets):
            self.refused.append(a.reason or "answer without its signed tickets")
        self.slots.release()

    def run(self, sales: int) -> None:
        for i in range(sales):
            self.slots.acquire()
            rid = f"{self.name}-{i}"
            msg = SaleRequest(ORG, self.name, rid, self.event, (SaleLine(1, self.quantity),), "card", f"T-{i}")
            self.sent[rid] = time.perf_counter()
            self.t.publish(topics.up(ORG, self.name), json.dumps(msg.to_wire()).encode())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--kiosks", type=int, default=4)
    p.add_argument("--sales", type=int, default=200, help="sales per kiosk")
    p.add_argument("--quantity", type=int, default=2, help="tickets per sale")
    p.add_argument("--window", type=int, default=8, help="requests in flight per kiosk")
    p.add_argument("--db", default=None, help="postgresql://… (an empty database) or temp-postgres; default SQLite")
    args = p.parse_args()
    with contextlib.ExitStack() as stack:
        if args.db == "temp-postgres":
            from tests.pg import PostgresServer
            args.db = stack.enter_context(PostgresServer(durable=True)).create_database()
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        names = [f"kiosk-{i:02d}" for i in range(args.kiosks)]
        with world(folder, 0, [], db=args.db) as (store, event, config, servers):
            for n in names:
                store.register_device(ORG, n, events=[event], role="kiosk")
            store.set_price(ORG, event, 1, 2500)
            total = args.kiosks * args.sales * args.quantity
            store.set_quota(ORG, event, total)
            store.set_quota(ORG, event, total, scope="category", ref=1)
            kiosks = [Kiosk(n, config, store.server_public_key(ORG), event, args.quantity, args.window) for n in names]
            time.sleep(1.0)                                   # subscriptions in place
            start = time.perf_counter()
            threads = [threading.Thread(target=k.run, args=(args.sales,)) for k in kiosks]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 600
            while sum(len(k.latency) for k in kiosks) < args.kiosks * args.sales and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed = time.perf_counter() - start
            for k in kiosks:
                k.t.stop()
            done = sum(len(k.latency) for k in kiosks)
            refused = [r for k in kiosks for r in k.refused]
            sold = store.quotas(event)[0]["sold"]
            backend = "PostgreSQL" if args.db else "SQLite"
            print(f"{backend}: {args.kiosks} kiosks x {args.sales} sales x {args.quantity} tickets, window "
                  f"{args.window}: {done} answers in {elapsed:.2f} s = {done / elapsed:.0f} sales/s "
                  f"({done * args.quantity / elapsed:.0f} tickets issued and signed/s); refused {len(refused)}; "
                  f"stock sold {sold} of {total}; tickets in store {store.count_tickets(event)}")
            print(f"sale request -> signed tickets answered: {percentiles([x for k in kiosks for x in k.latency])}")
            if refused:
                print(f"first refusal: {refused[0]}")


if __name__ == "__main__":
    main()
