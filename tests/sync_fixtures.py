"""Shared set-up of the sync tests: a real server store, a real mosquitto, devices with real ledgers."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.gate import Gate
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.sync import BrokerConfig, PahoTransport, device_transport
from agent.sync.device import DeviceOptions, DeviceSync
from agent.sync.uploader import UploadOptions
from server_stub.store import SqliteStore
from server_stub.sync.server import SyncServer

ORG = "demo"
FAST = DeviceOptions(upload=UploadOptions(batch_size=200, ack_timeout=0.5, max_backoff=2.0), hello_retry=0.5)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def make_store(folder: Path, tickets: int = 6, devices=("gate-a", "gate-b")) -> tuple[SqliteStore, int, list[dict]]:
    store = SqliteStore.open(folder)
    store.create_organiser(ORG, "Demo Festival")
    now = time.time()
    event = store.create_event(ORG, "Opening night", now - 3600, now + 6 * 3600, "Europe/Paris",
                               zones=[{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}],
                               categories=[{"category_id": 1, "name": "Standard"}])
    orders = [store.add_order(ORG, event, f"Buyer {i}", f"b{i}@example.org", positions=[{"category": 1, "zone": 1}])
              for i in range(tickets)]
    store.current_key(ORG)
    for d in devices:
        store.register_device(ORG, d, gate=d, events=[event])
    return store, event, orders


@dataclass
class Door:
    """One simulated device: ledger + keyring + gate + sync."""
    name: str
    folder: Path
    sync: DeviceSync
    gate: Gate
    keyring: Keyring
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        self.sync.stop()
        self.gate.ledger.close()


def start_door(folder: Path, name: str, port: int, server_key: bytes, event: int,
               options: DeviceOptions = FAST) -> Door:
    folder.mkdir(parents=True, exist_ok=True)
    keyring = Keyring()
    ledger_path = folder / "ledger.sqlite"
    sync = DeviceSync(ledger_path, ORG, name, server_key, device_transport(ORG, name, BrokerConfig(port=port)),
                      keyring=keyring, events=[event], options=options)
    gate = Gate(Ledger.open(ledger_path), keyring, DevicePolicy(device_id=name, gate=name, events=frozenset({event}),
                                                                  reread_window=0))
    gate.listeners.append(sync.notify)
    sync.start()
    return Door(name, folder, sync, gate, keyring)


def start_server(store: SqliteStore, port: int, name: str = "server-1", **kw) -> SyncServer:
    return SyncServer(store, PahoTransport(name, BrokerConfig(port=port)), name=name, orgs=[ORG], **kw).start()


def ready(door: Door, tickets: int) -> bool:
    return door.sync.bundle_version > 0 and door.gate.ledger.counts()["tickets"] >= tickets
