"""A simulated door device on this machine: its own ledger, keyring, gate and sync client (demo, tests,
benchmarks). The real device runs the same classes (agent.gate.Gate + agent.sync.device.DeviceSync)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from agent.gate import Gate
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.private_files import private_dir
from agent.sync import device_transport
from agent.sync.device import DeviceOptions, DeviceSync
from agent.sync.transport import BrokerConfig


class SimDevice:
    def __init__(self, folder: str | Path, org: str, device_id: str, server_key: bytes, broker: BrokerConfig,
                 events: list[int], gate: str | None = None, options: DeviceOptions | None = None,
                 reread_window: float = 0.0, clock: Callable[[], float] = time.time, role: str = "door"):
        self.folder = Path(folder)
        private_dir(self.folder)      # its ledger and keyring: this user's alone
        self.org, self.device_id, self.server_key, self.broker = org, device_id, server_key, broker
        self.events, self.options, self.clock = list(events), options, clock
        self.role = role      # as registered on the server (door | kiosk: its bundles carry signed QR payloads)
        self.keyring_path = self.folder / "keyring.json"      # kept like a device's: a restart trusts what it did
        self.keyring = Keyring.load(self.keyring_path) if self.keyring_path.exists() else Keyring()
        self.ledger_path = self.folder / "ledger.sqlite"
        self.gate = Gate(Ledger.open(self.ledger_path), self.keyring,
                         DevicePolicy(device_id=device_id, gate=gate or device_id, events=frozenset(events),
                                      reread_window=reread_window), clock=clock)
        self.gate.listeners.append(lambda verdict: self.sync.notify() if self.sync else None)
        self.sync: DeviceSync | None = None

    @property
    def ledger(self) -> Ledger:
        return self.gate.ledger

    @property
    def online_sync(self) -> DeviceSync:
        """The running sync (after go_online)."""
        if self.sync is None:
            raise RuntimeError(f"{self.device_id} is offline")
        return self.sync

    def go_online(self) -> "SimDevice":
        if self.sync is None:
            self.sync = DeviceSync(self.ledger_path, self.org, self.device_id, self.server_key,
                                   device_transport(self.org, self.device_id, self.broker), keyring=self.keyring,
                                   keyring_path=self.keyring_path,
                                   events=self.events, options=self.options, on_change=self._changed,
                                   clock=self.clock)
            self.sync.start()
        return self

    def go_offline(self) -> None:
        if self.sync is not None:
            self.sync.stop()
            self.sync = None

    def _changed(self, what: str) -> None:
        if what == "bundle":   # passes may have changed: the decision needs the pass -> events map
            self.gate.set_policy(replace(self.gate.policy, pass_events=self.ledger.pass_events()), save=False)

    def ready(self, tickets: int = 1) -> bool:
        return self.sync is not None and self.sync.bundle_version > 0 and self.ledger.counts()["tickets"] >= tickets

    def scan(self, payload: str):
        return self.gate.scan(payload)

    def keep(self) -> None:
        """Leave in its folder what a device home holds for the app and `ticketgate agent` (its trusted keys, its
        name, gate and events), so the folder works as this device after the simulation (`demo --keep`)."""
        self.keyring.save(self.keyring_path)
        self.gate.set_policy(self.gate.policy)

    def close(self) -> None:
        self.go_offline()
        self.ledger.close()
