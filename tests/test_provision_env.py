"""Shared set-up for the provisioning tests (no tests here): a real SqliteStore, real mosquitto with our
password/ACL files, the real enrollment endpoint on 127.0.0.1."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioning.server.broker_admin import BrokerEndpoint
from provisioning.server.broker_config import extra_config
from provisioning.server.http_endpoint import EnrollmentServer
from provisioning.server.runtime import Provisioning
from provisioning.throttle import Throttle
from tests.broker import Mosquitto, free_port

ORG = "acme"


@dataclass
class Env:
    root: Path
    store: object
    prov: Provisioning
    broker: Mosquitto
    http: EnrollmentServer
    events: list[int]

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.http.port}"


@contextmanager
def provision_env(root: Path, throttle: Throttle | None = None, tls: bool = False):
    from server_stub.store import SqliteStore
    store = SqliteStore.open(root / "server")
    store.create_organiser(ORG, "Acme Events")
    now = time.time()
    events = [store.create_event(ORG, "Day 1", now, now + 86400), store.create_event(ORG, "Day 2", now, now + 86400)]
    store.current_key(ORG)
    port, tls_port, tls_files = free_port(), None, None
    if tls:
        from provisioning.server import tls as tlsmod
        tls_files, tls_port = tlsmod.ensure(root / "tls", ["127.0.0.1"]), free_port()
    endpoint = (BrokerEndpoint("127.0.0.1", tls_port, True, tls_files.ca_pem()) if tls
                else BrokerEndpoint("127.0.0.1", port))
    holder: dict = {}
    prov = Provisioning(root / "prov", store, ORG, endpoint, reload=lambda: holder["broker"].reload(),
                        throttle=throttle)
    prov.write_broker_files()
    broker = Mosquitto(root / "mosquitto", port=port, password_file=prov.paths.password_file,
                       acl_file=prov.paths.acl_file, extra_config=extra_config(tls_files, tls_port))
    holder["broker"] = broker
    broker.start()
    http = EnrollmentServer(prov.service, "127.0.0.1", 0).start()
    try:
        yield Env(root, store, prov, broker, http, events)
    finally:
        http.stop()
        broker.stop()
        prov.close()
        store.close()
