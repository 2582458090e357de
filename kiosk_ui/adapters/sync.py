"""The device's MQTT sync (agent.sync.DeviceSync) started from the enrollment credentials in the agent folder,
reported to the screens as a SyncStatus. Its callbacks arrive on the sync thread; the UI picks them up by polling.

Revocation: provisioning's DeviceLink hooks are passed to the sync, so a signed wipe (on the cmd topic, or fetched
from the enrollment endpoint when the broker refuses our login) wipes names, keys and credentials; the in-memory
keyring is emptied at once (nothing is admitted or printed after that) and the next poll stops the sync. A refused
login alone is only shown (with the broker's reason) and retried."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from agent import pid_lock, sync_lock
from agent.safe_text import printable
from kiosk_ui import door_queries
from kiosk_ui.door import Door
from kiosk_ui.i18n import tr
from kiosk_ui.presenters.labels import UPLOAD_KINDS
from kiosk_ui.presenters.refusals import refusal_text
from kiosk_ui.services import SyncStatus

if TYPE_CHECKING:
    from agent.sync.device import DeviceOptions, DeviceSync
    from provisioning.device.link import DeviceLink
    from provisioning.device.rediscover import BrokerFollower

log = logging.getLogger("ticketgate.kiosk.sync")
CONFLICTS_TTL = 10.0


class SyncLink:
    available = True

    def __init__(self, door: Door, home: Path):
        self.door, self.home = door, Path(home)
        self.sync: DeviceSync | None = None
        self.link: DeviceLink | None = None  # revocation -> wipe
        self.options: DeviceOptions | None = None   # tests: faster retries
        self.follower: BrokerFollower | None = None   # finds the broker when it moved (signed zeroconf announcement)
        self.interfaces: list[str] | None = None      # where it looks (None: every interface; tests: loopback)
        self.follow_after: float | None = None        # s unreachable before it looks (None: REDISCOVER_AFTER)
        self.detail = ""
        self._held: IO[str] | None = None    # the device folder's sync lock (agent.sync_lock) while syncing
        self._changed = threading.Event()
        self._conflicts = (0, -1e9)         # (count, when): a grouping over every entry, refreshed every few seconds
        door.gate.listeners.append(lambda verdict: self.sync.notify() if self.sync is not None else None)

    def start(self) -> bool:
        """Connect when this device is enrolled; otherwise stay offline and say why. Never raises. A sync already
        running (the device enrolled again) stops first: the old login's revocation must not wipe the new one."""
        self.stop()
        self.link = None
        try:
            from agent.sync import BrokerConfig, device_transport
            from agent.sync.device import DeviceSync
            from provisioning.device.link import DeviceLink
            from provisioning.device.state import DeviceState
            state = DeviceState(self.home)
            creds = state.load()
        except Exception as exc:   # a damaged credentials file must not stop the door
            self.detail = f"sync not started: {type(exc).__name__}"
            log.warning("sync not started: %s", exc)
            return False
        if creds is None:
            self.detail = "This device is not enrolled: see Set-up."
            return False
        try:
            self._held = sync_lock.hold(self.home)
        except (sync_lock.AlreadySyncing, pid_lock.NotALock) as exc:   # `agent sync` in a terminal: one client
            # id, they would flap; a sync.lock that is a link: taking it would write through it
            self.detail = str(exc)
            log.warning("sync not started: %s", exc)
            return False
        ca_file = None
        if creds.broker.tls and creds.broker.ca_pem:
            ca_file = self.home / "broker-ca.pem"
            ca_file.write_text(creds.broker.ca_pem)
        config = BrokerConfig(creds.broker.host, creds.broker.port, creds.username, creds.password,
                              tls=creds.broker.tls, ca_file=str(ca_file) if ca_file else None)
        link = self.link = DeviceLink(state, on_wiped=self._wiped)
        transport = device_transport(creds.org, creds.device_id, config)
        sync = self.sync = DeviceSync(self.home / "ledger.sqlite", creds.org, creds.device_id, creds.server_key,
                               transport, keyring=self.door.keyring,
                               keyring_path=self.home / "keyring.json", events=list(creds.events),
                               options=self.options, on_change=lambda what: self._changed.set(),
                               on_refused=link.on_refused, on_command=link.on_command,
                               on_connected=link.on_connected)
        sync.start()
        from provisioning.device.rediscover import REDISCOVER_AFTER, BrokerFinder, BrokerFollower
        finder = BrokerFinder(state, lambda text: log.warning("%s", printable(text)), interfaces=self.interfaces)
        self.follower = BrokerFollower(finder, transport, after=self.follow_after or REDISCOVER_AFTER).start()
        self.detail = ""
        return True

    def stop(self) -> bool:
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        if self.sync is None:
            self._release()
            return False
        self.sync.stop()
        self.sync = None
        self._release()
        return True

    def _release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    @property
    def wiped(self) -> bool:
        return self.link is not None and self.link.wiped is not None

    def _wiped(self, done: dict) -> None:
        """On the sync thread, right after provisioning wiped the folder: forget the keys held in memory too."""
        self.door.keyring.keys = {}
        self._changed.set()

    def poll(self) -> bool:
        """On the UI thread: apply what the sync changed (names, passes). True when something did."""
        if not self._changed.is_set():
            return False
        self._changed.clear()
        if self.wiped and self.sync is not None:
            self.stop()                      # our login is gone; the door keeps its scan log only
            self.detail = "This device was revoked and wiped: enroll it again in Set-up."
        self.door.reload_names()
        gate = self.door.gate
        gate.set_policy(replace(gate.policy, pass_events=self.door.ledger.pass_events()), save=False)
        return True

    def _conflict_count(self, ttl: float = CONFLICTS_TTL) -> int:
        _, when = self._conflicts
        if time.monotonic() - when > ttl:
            self._conflicts = (door_queries.conflicts(self.door.ledger), time.monotonic())
        return self._conflicts[0]

    def status(self) -> SyncStatus:
        ledger = self.door.ledger
        version = None
        if self.sync is not None:
            version = str(self.sync.bundle_version or "—")
        return SyncStatus(available=True, online=bool(self.sync is not None and self.sync.transport.connected),
                          queue=ledger.outbox_size(), bundle_version=version,
                          last_upload=door_queries.last_upload(ledger), conflicts=self._conflict_count(),
                          detail=self.detail or self._login_detail(), refused=ledger.outbox_refused_count(),
                          refusals=tuple(refusal_line(r) for r in ledger.outbox_refused(3)))

    def _login_detail(self) -> str:
        if self.sync is None:
            return "Sync not started."
        login = self.link.status if self.link is not None else None
        if login is not None and login.state == "refused" and not self.sync.transport.connected:
            return tr("Broker login refused: {reason} ({n}×, since {since}); data kept, retrying by itself.",
                      reason=login.reason, n=login.refusals,
                      since=time.strftime("%H:%M:%S", time.localtime(login.since)))
        return ""


def refusal_line(r: dict) -> str:
    """One refused upload for the Sync screen: what it was, and why, in the device's language from the reason code
    (the server's own text for a code this device does not know); escaped: it is remote text."""
    b = r["body"]
    kind = str(b.get("kind") or b.get("action") or r["kind"])
    what = " ".join(str(x) for x in (tr(UPLOAD_KINDS[kind]) if kind in UPLOAD_KINDS else kind,
                                     b.get("ticket_key") or b.get("order_number") or "") if x)
    # a refused undo undid nothing: the device restored what it undid (agent.ledger.Ledger.outbox_refuse)
    restored = (" — " + tr("the undo did not count: what it undid stands again on this device")
                if r.get("restored") else "")
    return printable(f"{what}: {refusal_text(r['refused'], r.get('refused_code', ''), r.get('refused_params'))}"
                     f"{restored}")
