"""Shared set-up of the sync tests: a real server store, a real mosquitto, devices with real ledgers."""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from agent.sync import BrokerConfig, PahoTransport
from agent.sync import topics
from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from server_stub.store import SqliteStore, open_store
from server_stub.sync.server import SyncServer
from server_stub.sync.sim_device import SimDevice

ORG = "demo"
FAST = DeviceOptions(upload=UploadOptions(batch_size=200, ack_timeout=0.5, max_backoff=2.0), hello_retry=0.5)


def make_store(folder: Path, tickets: int = 6, devices=("gate-a", "gate-b"),
               db: str | None = None, categories: tuple[str, ...] = ("Standard",)) -> tuple[SqliteStore, int, list[dict]]:
    """A store (SQLite in `folder`, or the PostgreSQL database `db` with its key files in `folder`) with an event,
    orders and registered doors."""
    store = open_store(folder, db=db) if db else SqliteStore.open(folder)
    store.create_organiser(ORG, "Demo Festival")
    now = time.time()
    event = store.create_event(ORG, "Opening night", now - 3600, now + 6 * 3600, "Europe/Paris",
                               zones=[{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}],
                               categories=[{"category_id": n, "name": name} for n, name in enumerate(categories, 1)])
    orders = [store.add_order(ORG, event, f"Buyer {i}", f"b{i}@example.org", positions=[{"category": 1, "zone": 1}])
              for i in range(tickets)]
    store.current_key(ORG)
    for d in devices:
        store.register_device(ORG, d, gate=d, events=[event])
    return store, event, orders


def start_door(folder: Path, name: str, port: int, server_key: bytes, event: int,
               options: DeviceOptions = FAST) -> SimDevice:
    return SimDevice(folder, ORG, name, server_key, BrokerConfig(port=port), [event], options=options).go_online()


def start_server(store: SqliteStore, port: int, name: str = "server-1", **kw) -> SyncServer:
    """A sync server for ORG, returned once it listens: requests published before its subscriptions reach the broker
    would go to nobody (its online announcement follows them on the same connection)."""
    server = SyncServer(store, PahoTransport(name, BrokerConfig(port=port)), name=name, orgs=[ORG], **kw).start()
    if server.announce_enabled:
        assert server_listening(port), "the sync server never announced itself online"
    return server


def server_listening(port: int, timeout: float = 30.0) -> bool:
    """The sync server announced itself online. It subscribes to the devices' requests on connecting, before that
    announcement on the same connection: from then on no request is published to nobody (the broker drops those)."""
    online = threading.Event()
    watcher = PahoTransport(f"watch-{uuid.uuid4().hex[:8]}", BrokerConfig(port=port), clean_start=True)
    watcher.on_message = lambda topic, payload: json.loads(payload).get("state") == "online" and online.set()
    watcher.subscribe(topics.server_status(ORG))
    watcher.start()
    try:
        return online.wait(timeout)
    finally:
        watcher.stop()


def subscribed(transport: PahoTransport) -> threading.Event:
    """Set once the broker acknowledged `transport`'s subscriptions (its SUBACK); call before `start()`. Connected is
    no such proof: the client sets it on the broker's CONNACK, before its SUBSCRIBE is even sent, and a message
    another client publishes before the broker has that subscription reaches nobody (seen once under load: the first
    relay of test_sync_live_relay's small event never arrived)."""
    acked = threading.Event()
    transport.client.on_subscribe = lambda *_: acked.set()
    return acked


def ready(door: SimDevice, tickets: int) -> bool:
    return door.ready(tickets)


def stop_unannounced(server: SyncServer) -> None:
    """The server gone without its goodbye: its retained presence still says online (its network cut, the broker
    not aware yet), so devices wait for answers that never come. A server stopped with its goodbye (`stop()`) is
    known offline at once: a kiosk sells offline without waiting."""
    server.announce_enabled = False
    server.stop()
