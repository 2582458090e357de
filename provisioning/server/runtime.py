"""Wiring of the organiser side from one state folder (used by the CLI, the tests and the benchmark).

    <state>/provision.sqlite   tokens and device broker credentials (0600)
    <state>/mosquitto/passwd   password_file   <state>/mosquitto/acl   acl_file
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agent.keyring import fingerprint
from agent.private_files import private_dir
from provisioning.protocol import EnrollQR, compact_fingerprint
from provisioning.server.broker_admin import BrokerAdmin, BrokerEndpoint, Reloader
from provisioning.server.enrollment import EnrollmentService, OrganiserStore
from provisioning.server.registry import IssuedToken, Registry
from provisioning.throttle import Throttle


@dataclass(frozen=True)
class Paths:
    state: Path

    @property
    def registry(self) -> Path:
        return self.state / "provision.sqlite"

    @property
    def password_file(self) -> Path:
        return self.state / "mosquitto" / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.state / "mosquitto" / "acl"


class Provisioning:
    def __init__(self, state: str | Path, store: OrganiserStore, org: str, endpoint: BrokerEndpoint,
                 reload: Reloader, throttle: Throttle | None = None,
                 on_enrolled: Callable[[dict], None] | None = None):
        self.paths = Paths(Path(state))
        private_dir(self.paths.state, tighten=True)         # 0700: mosquitto's persistence (queued bundles) too
        private_dir(self.paths.password_file.parent, tighten=True)
        self.org, self.store = org, store
        self.registry = Registry(self.paths.registry)
        key = store.server_key(org)
        self.fingerprint = fingerprint(key.public_raw)
        self.admin = BrokerAdmin(self.registry, self.paths.password_file, self.paths.acl_file, reload, endpoint, org,
                                 sign=key.sign, live_events=self._events_of)
        self.service = EnrollmentService(org, store, self.registry, self.admin, throttle, on_enrolled=on_enrolled)
        self._followed: dict[str, tuple[int, ...]] | None = None     # the events of each device at the last look

    def _events_of(self, device_id: str, enrolled: tuple[int, ...]) -> tuple[int, ...]:
        """The events a device holds: as the organiser registered it now (`server device events` changes them),
        else as it enrolled; a pass stands for the events it opens (as the server judges its uploads,
        server_stub.sync.ingest.held_events); live updates are published per event. () : every event."""
        from server_stub.sync.ingest import held_events
        device = self.store.device(device_id)
        ids = list(device["events"] if device is not None else enrolled)
        org = device["org"] if device is not None else self.org      # another organiser's door in this data folder
        return tuple(sorted(held_events(self.store, org, ids))) if ids else ()

    def follow_registrations(self) -> bool:
        """The broker's ACL rewritten and mosquitto reloaded when the events of a device enrolled here changed in the
        store since the last call (`server device events`, from another terminal too): True when it did. `provision
        serve` calls it every few seconds. Only such a change rewrites the files: a revocation under way (`provision
        revoke` in another terminal: its device's login replaced for a moment) is left alone; enrolments and
        revocations write the files themselves."""
        held = {c.device_id: self._events_of(c.device_id, tuple(c.events)) for c in self.registry.credentials()}
        before, self._followed = self._followed, held
        if before is None or all(before.get(device, events) == events for device, events in held.items()):
            return False
        self.admin.sync()
        return True

    def write_broker_files(self, reload: bool = False) -> None:
        self.admin.sync(reload=reload)

    def qr_for(self, token: IssuedToken, server: str) -> EnrollQR:
        return EnrollQR(token.token, compact_fingerprint(self.fingerprint), server, self.org)

    def revoke(self, device_id: str, replaced: bool = False) -> dict:
        timings = self.admin.revoke(device_id, replaced=replaced)
        try:
            self.store.revoke_device(device_id, spare=replaced)
        except LookupError:
            pass
        return timings

    def cut_revoked(self) -> list[str]:
        """Devices the organiser revoked in the store (`ticketgate server device revoke`) lose their broker login
        and get the signed wipe, like `provision revoke`; one revoked as replaced by a spare (`--replaced`) the wipe
        that keeps its unsent uploads, also when marked so after it was cut. `provision serve` calls it at start and
        every few seconds. Returns the devices cut now."""
        revoked = {d["device_id"]: d for d in self.store.devices(self.org) if d.get("revoked")}
        cut = [c.device_id for c in self.registry.credentials() if c.device_id in revoked]
        for device_id in cut:
            self.admin.revoke(device_id, replaced=bool(revoked[device_id].get("replaced_by_spare")))
        for device_id, d in revoked.items():
            if d.get("replaced_by_spare") and device_id not in cut:
                self.registry.mark_replaced(device_id)         # cut already: its wipe fetched from now on keeps them
        return cut

    def close(self) -> None:
        self.registry.close()
