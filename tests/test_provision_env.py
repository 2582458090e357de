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


class Inbox:
    """Messages received by a paho client, with a bounded wait."""

    def __init__(self) -> None:
        import threading
        self.items: list[tuple[str, bytes]] = []
        self.cond = threading.Condition()

    def __call__(self, client, userdata, msg) -> None:
        with self.cond:
            self.items.append((msg.topic, msg.payload))
            self.cond.notify_all()

    def wait_for(self, topic: str, payload: bytes | None = None, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if any(t == topic and (payload is None or p == payload) for t, p in self.items):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)


def login(env: Env, username: str, password: str, subscribe: list[str] | None = None, client_id: str = ""):
    """A connected client and its inbox; subscriptions acknowledged before returning."""
    import threading
    from provisioning.mqtt_connect import connect
    inbox = Inbox()
    client = connect(env.prov.admin.endpoint, username, password, client_id=client_id, on_message=inbox)
    granted: dict[int, list] = {}
    done = threading.Event()

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        granted[mid] = reason_codes
        done.set()
    client.on_subscribe = on_subscribe
    results = {}
    for topic in subscribe or ():
        done.clear()
        _, mid = client.subscribe(topic, qos=1)
        done.wait(10)
        results[topic] = granted.get(mid)
    client.granted = results
    return client, inbox


def server_login(env: Env, subscribe: list[str] | None = None):
    username, password = env.prov.registry.server_login(ORG)
    return login(env, username, password, subscribe, client_id=username)


def close(client) -> None:
    client.disconnect()
    client.loop_stop()


def enroll_device(env: Env, folder: Path, name: str = "gate", gate: str = "north", events: tuple[int, ...] | None = None):
    from provisioning.device.enroll import enroll
    from provisioning.device.state import DeviceState
    token = env.prov.registry.create_tokens(ORG, 1, gate=gate, events=tuple(env.events if events is None else events))[0]
    qr = env.prov.qr_for(token, env.server)
    state = DeviceState(folder)
    creds = enroll(state, env.server, token=token.token, expected_fingerprint=qr.fingerprint, name=name)
    return state, creds
