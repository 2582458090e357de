"""Shared set-up of the integration tests: a server store + sync server on a real mosquitto, a door device
(SimDevice) and a kiosk device running the app's own adapters (Door + SyncLink + printers). No tests here."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from agent.sync import BrokerConfig
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from provisioning.device.state import Broker, Credentials, DeviceState
from tests.sync_fixtures import FAST, ORG, make_store, start_door, start_server

KIOSK = "kiosk-1"


def kiosk_credentials(home: Path, port: int, server_key: bytes, event: int, device: str = KIOSK) -> Credentials:
    """What enrollment saves on a kiosk (the test broker takes any login; ACLs are provisioning's tests)."""
    creds = Credentials(device, ORG, "desk", "desk", (event,), device, "unused", Broker("127.0.0.1", port),
                        server_key, time.time() - 3600, role="kiosk")
    home.mkdir(parents=True, exist_ok=True)
    DeviceState(home).save(creds)
    return creds


class Env:
    def __init__(self, tmp: Path, port: int, tickets: int = 3):
        self.store, self.event, self.orders = make_store(tmp / "server", tickets=tickets, devices=("gate-a",))
        self.store.register_device(ORG, KIOSK, gate="desk", events=[self.event], role="kiosk")
        self.server_key = self.store.server_public_key(ORG)
        self.server = start_server(self.store, port)
        self.gate = start_door(tmp / "gate-a", "gate-a", port, self.server_key, self.event)
        self.home = tmp / "kiosk"
        kiosk_credentials(self.home, port, self.server_key, self.event)
        self.kiosk = Door.open_home(self.home)
        self.kiosk.set_identity(KIOSK, "desk")               # what Controller.after_enrollment does
        self.kiosk.set_selection(frozenset({self.event}), self.kiosk.policy.zones)
        self.ctl = Controller(self.kiosk, build_services(self.kiosk, self.home))
        self.link = self.ctl.services.sync
        self.link.options = FAST

    def kiosk_has(self, ticket_key: str) -> bool:
        self.link.poll()
        row = self.kiosk.ledger.ticket(ticket_key)
        return bool(row and row.get("payload"))

    def close(self) -> None:
        for step in (self.link.stop, self.gate.close, self.server.stop, self.kiosk.close, self.store.close):
            try:
                step()
            except Exception:
                pass


@contextmanager
def kiosk_env(tmp: Path, port: int, tickets: int = 3):
    env = Env(tmp, port, tickets)
    try:
        assert env.link.start(), env.link.status().detail
        yield env
    finally:
        env.close()


__all__ = ["BrokerConfig", "Env", "KIOSK", "ORG", "kiosk_env", "wait_for"]
