"""Shared set-up of the sync benchmarks: a mosquitto of our own, a server store with N tickets, the server.

Not a benchmark itself. Sizes are arguments; defaults are the issue's targets.
"""
from __future__ import annotations

import random
import time
from contextlib import contextmanager
from pathlib import Path

from figures import percentiles  # noqa: E402,F401  (puts this checkout on sys.path; re-exported)

from agent.sync.transport import BrokerConfig, PahoTransport  # noqa: E402
from server_stub.model import OrderInput, Position  # noqa: E402
from server_stub.store import SqliteStore, SqlStore, open_store  # noqa: E402
from server_stub.sync.broker_process import BrokerProcess  # noqa: E402
from server_stub.sync.server import SyncServer  # noqa: E402

ORG = "bench"
FIRST = ["Hélène", "Zoë", "José", "Ana", "Bjørn", "Émile", "Jürgen", "Noémie", "Łukasz", "Mia", "Omar", "Chloé"]
LAST = ["Dupont", "Müller", "García", "Nowak", "Rossi", "Dubois", "Jensen", "Silva", "Novák", "Öztürk", "Martin"]


def make_store(folder: Path, tickets: int, devices: list[str], device_events: bool = True,
               db: str | None = None) -> tuple[SqlStore, int]:
    """SQLite in `folder`, or the PostgreSQL database `db` (an empty one) with the key files in `folder`."""
    store = open_store(folder, db=db) if db else SqliteStore.open(folder)
    store.create_organiser(ORG, "Benchmark")
    now = time.time()
    event = store.create_event(ORG, "Big night", now - 3600, now + 6 * 3600, "Europe/Paris",
                               zones=[{"zone_id": z, "name": f"zone {z}"} for z in (1, 2, 3)],
                               categories=[{"category_id": 1, "name": "Standard"}])
    rnd = random.Random(20261123)
    orders = (OrderInput(event, f"{rnd.choice(FIRST)} {rnd.choice(LAST)} {i}", f"buyer{i}@example.org",
                         positions=(Position(1, 1 + i % 3),)) for i in range(tickets))
    store.add_orders(ORG, orders)
    store.current_key(ORG)
    for d in devices:
        store.register_device(ORG, d, gate=d, events=[event] if device_events else [])
    return store, event


@contextmanager
def world(folder: Path, tickets: int, devices: list[str], workers: int = 1, device_events: bool = True,
          db: str | None = None, brokers: list | None = None):
    """`brokers`: gets the BrokerProcess (a benchmark that kills it)."""
    with BrokerProcess(folder / "mosquitto") as broker:
        if brokers is not None:
            brokers.append(broker)
        store, event = make_store(folder / "server", tickets, devices, device_events, db)
        config = BrokerConfig(port=broker.port)
        # capacity: no per-device rate limit nor inbox caps (`--raw` publishes every batch at once)
        servers = [SyncServer(store if i == 0 else open_store(folder / "server", create=False, db=db),
                              PahoTransport(f"server-{i + 1}", config), name=f"server-{i + 1}", orgs=[ORG],
                              announce=(i == 0), limits=None, caps=None).start()
                   for i in range(workers)]
        try:
            yield store, event, config, servers
        finally:
            for s in servers:
                s.stop()
                s.store.close()


def wait(predicate, timeout: float, step: float = 0.002) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if predicate():
            return time.perf_counter() - t0
        time.sleep(step)
    return None


