"""Entry points the organiser CLI (`ticketgate server push|serve`) calls."""
from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from agent.sync.transport import BrokerConfig, PahoTransport
from server_stub.sync import bundles
from server_stub.sync.contract import SyncStore
from server_stub.sync.server import SyncServer

log = logging.getLogger("ticketgate.sync")


def broker_config(broker: BrokerConfig | str | None, username: str | None = None,
                  password: str | None = None) -> BrokerConfig:
    """"host:port" (or a BrokerConfig, or None for 127.0.0.1:1883)."""
    if isinstance(broker, BrokerConfig):
        return broker
    host, _, port = (broker or "127.0.0.1:1883").rpartition(":")
    return BrokerConfig(host=host or "127.0.0.1", port=int(port or 1883), username=username, password=password)


def push(store: SyncStore, org: str, event_ids: list[int], broker: BrokerConfig | str | None,
         progress: Callable[[int], None] | None = None, timeout: float = 60.0) -> dict:
    """Send a full signed bundle of `event_ids` to every registered device of `org` allowed those events.
    Returns {"devices", "delivered", "tickets", "version", "bytes", "seconds"} once the broker acknowledged
    (devices offline get it from their persistent session when they come back)."""
    started = time.monotonic()
    wanted = sorted(set(int(e) for e in event_ids))
    targets: dict[tuple[tuple[int, ...], bool], list[str]] = {}     # (events, kiosk) -> devices
    for d in store.devices(org):
        if d.get("revoked"):
            continue
        allowed = d.get("events") or wanted
        events = tuple(sorted(set(allowed) & set(wanted)))
        if events:
            targets.setdefault((events, bundles.is_kiosk(d)), []).append(d["device_id"])
    transport = PahoTransport(f"{org}-push-{int(time.time() * 1000) % 10**9}", broker_config(broker), clean_start=True)
    server = SyncServer(store, transport, name="push", ingest=False, announce=False, orgs=[org])
    server.start()
    tickets = total = delivered = 0
    version = store.version(org)
    try:
        if not transport.wait_connected(10):
            raise ConnectionError(f"no broker at {transport.config.host}:{transport.config.port}")
        for (events, kiosk), devices in targets.items():
            counted = [0]

            def step(n: int, counted=counted) -> None:
                counted[0] = n
                if progress:
                    progress(tickets + n)
            built = bundles.build(store, org, list(events), 0, progress=step, payloads=kiosk)
            tickets += counted[0]
            total += sum(len(c) for c in built.chunks) * len(devices)
            version = built.version
            delivered += server.send_bundle(org, devices, built, wait=timeout)
    finally:
        server.stop()
    return {"devices": sum(len(v) for v in targets.values()), "delivered": delivered, "tickets": tickets,
            "version": version, "bytes": total, "seconds": round(time.monotonic() - started, 3)}


def command(store: SyncStore, org: str, device: str, cmd: str, broker: BrokerConfig | str | None, **fields) -> bool:
    """Send one signed command (wipe, reset_ticket, config) to a device; True once the broker holds it (QoS 1,
    queued in the device's persistent session while it is offline)."""
    transport = PahoTransport(f"{org}-cmd-{int(time.time() * 1000) % 10**9}", broker_config(broker), clean_start=True)
    server = SyncServer(store, transport, name="cmd", ingest=False, announce=False, orgs=[org]).start()
    try:
        return transport.wait_connected(10) and server.send_command(org, device, cmd, **fields)
    finally:
        server.stop()


def serve(data_dir: str | Path, broker: BrokerConfig | str | None, orgs: list[str] | None = None, workers: int = 1,
          stop: threading.Event | None = None, store_factory: Callable[[Path], SyncStore] | None = None) -> int:
    """Run the sync server until SIGINT/SIGTERM (or `stop` is set): `workers` ingestion clients sharing the
    uploads, the first one also announcing live changes and the server presence."""
    from server_stub.store import open_store
    factory = store_factory or (lambda p: open_store(p, create=False))
    config = broker_config(broker)
    stop = stop or threading.Event()
    stores, servers = [], []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        for i in range(max(1, workers)):
            store = factory(Path(data_dir))
            stores.append(store)
            names = orgs or [o["org"] for o in store.organisers()]
            servers.append(SyncServer(store, PahoTransport(f"server-{i + 1}", config), name=f"server-{i + 1}",
                                      announce=(i == 0), orgs=names).start())
        log.info("sync server: %d worker(s) on %s:%d for %s", len(servers), config.host, config.port, names)
        stop.wait()
    finally:
        for s in servers:
            s.stop()
        for s in stores:
            s.close()
    return 0
