"""The device's broker login after enrollment, and the only two ways it ends in a wipe (docs/security.md):

- a validly signed `wipe` for this device: on its `cmd` topic, or fetched from the enrollment endpoint;
- a technician's `ticketgate provision wipe --yes` (provisioning.cli_device).

A login the broker refuses is never a wipe by itself: anyone who answers on the broker's address can send a
refusal (server busy, unavailable, rate exceeded, not authorised, bad credentials). It is retried with backoff and
jitter and recorded with its reason (`link.json`: `ticketgate provision status`, the app's sync line). When the
reason may mean "revoked" (not authorised, bad credentials) the device asks the enrollment endpoint, which returns
the organiser's signed wipe for a revoked device; nothing else is acted on.

The sync (agent.sync.DeviceSync) owns the long-running connection; it calls `on_refused`, `on_connected` and
`on_command` the same way.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from agent.sync import topics
from agent.sync.backoff import Backoff
from agent.sync.login_state import LoginState
from agent.sync.signed import Rejected, Verifier
from provisioning.device import revocation
from provisioning.device.state import Credentials, DeviceState
from provisioning.device.wipe import wipe
from provisioning.mqtt_connect import Refused, connect
from provisioning.protocol import REPLACED
from agent.sync.transport import loop_stop

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger("ticketgate.provision.link")
MAY_MEAN_REVOKED = frozenset({"not authorized", "bad user name or password"})   # paho's CONNACK reason names


def may_mean_revoked(reason: str) -> bool:
    return reason.strip().lower() in MAY_MEAN_REVOKED


def is_wipe_command(creds: Credentials, payload: bytes) -> bool:
    """True only for a validly signed wipe addressed to this device of this organiser."""
    return wipe_command(creds, payload) is not None


def wipe_command(creds: Credentials, payload: bytes) -> dict | None:
    """The body of a validly signed wipe addressed to this device of this organiser, else None."""
    try:
        body = Verifier(creds.server_key).open(payload, 64 * 1024)
    except Rejected as exc:
        log.warning("refused command: %s", exc)
        return None
    ours = body.get("cmd") == "wipe" and body.get("device") == creds.device_id and body.get("org") == creds.org
    return body if ours else None


def _replaced(body: dict) -> bool:
    """The organiser's wipe of a device replaced by a spare (not lost or stolen): its unsent uploads are kept for
    its next enrollment, as a technician's wipe keeps them."""
    return body.get("keep") is True


class DeviceLink:
    def __init__(self, state: DeviceState, on_wiped: Callable[[dict], None] | None = None,
                 backoff: Backoff = Backoff(0.5, 30.0), ask_timeout: float = 2.0):
        self.state, self.backoff, self.ask_timeout = state, backoff, ask_timeout
        self.on_wiped = on_wiped or (lambda done: None)
        self.creds = state.load()
        self.status = LoginState.load(state.link_path)
        self.client: mqtt.Client | None = None
        self.wiped: dict | None = None
        self.replaced = False           # wiped as replaced by a spare: its unsent uploads kept for its next enrollment
        self._lock = threading.Lock()

    def _wipe(self, reason: str, carry_over: bool = False) -> bool:
        """True when this wipe (or an earlier one) wiped the folder."""
        with self._lock:
            if self.wiped is not None:
                return True
            if self._enrolled_anew():
                log.warning("%s for %s ignored: this device holds another enrollment now", reason,
                            self.creds.device_id if self.creds else "?")
                return False
            done = wipe(self.state, reason, carry_over=carry_over)
            try:
                self.on_wiped(done)          # the app forgets its in-memory keys before anyone sees `wiped`
            finally:
                self.wiped, self.replaced = done, carry_over
            return True

    def _enrolled_anew(self) -> bool:
        """The folder holds another enrollment than this link's (the device enrolled again while this link ran):
        the retirement of the old one must not wipe the new one."""
        try:
            now = self.state.load()
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return self.creds is not None and now is not None and now.device_id != self.creds.device_id

    # -- hooks (the sync's thread, or paho's for `connect`) --------------------------------------------------
    def on_connected(self) -> None:
        self.status = LoginState("connected", last=time.time())     # when, for `agent status` on a device offline since
        self.status.save(self.state.link_path)

    def on_refused(self, reason: str = "") -> None:
        """Record and show the refusal; when it may mean we were revoked, ask for the signed wipe. Never wipes
        on the refusal alone."""
        if self.wiped is not None:
            return
        now = time.time()
        s = self.status
        self.status = LoginState("refused", reason or "refused", s.refusals + 1 if s.state == "refused" else 1,
                                 s.since if s.state == "refused" else now, now, s.revocation)
        log.warning("broker refused our login: %s", self.status.describe())
        if may_mean_revoked(reason):
            self.check_revocation()
        if self.wiped is None:
            self.status.save(self.state.link_path)

    def on_command(self, payload: bytes) -> None:
        body = wipe_command(self.creds, payload) if self.creds else None
        if body is not None:
            self._wipe(REPLACED if _replaced(body) else "signed wipe command", carry_over=_replaced(body))

    def check_revocation(self) -> bool:
        """Ask the enrollment endpoint; wipe only on the organiser's signed wipe for this device. True when wiped."""
        if self.creds is None or not self.creds.enroll_server:
            self.status.revocation = "no enrollment endpoint known to ask about a revocation"
            return False
        try:
            signed_wipe = revocation.ask(self.creds.enroll_server, self.creds.device_id, self.ask_timeout)
        except OSError as exc:
            self.status.revocation = f"revocation not checked ({exc})"
            return False
        if signed_wipe is None:
            self.status.revocation = "the enrollment endpoint says this device is not revoked"
            return False
        body = wipe_command(self.creds, signed_wipe)
        if body is None:
            self.status.revocation = "ignored a revocation answer not signed by the organiser for this device"
            return False
        if not self._wipe(REPLACED if _replaced(body) else "revoked: signed wipe from the enrollment endpoint",
                          carry_over=_replaced(body)):
            self.status.revocation = "this enrollment was replaced by the device's new one: nothing wiped"
            return False
        return True

    # -- the CLI's own connection ------------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0, on_message: Callable[[str, bytes], None] | None = None):
        """Log in, retrying refusals with backoff until `timeout`; returns the paho client, None when wiped (a
        signed revocation), or raises the last `Refused` (files untouched)."""
        if self.creds is None:
            raise RuntimeError("this device is not enrolled")
        cmd_topic = topics.cmd(self.creds.org, self.creds.device_id)

        def handler(client, userdata, msg):
            if msg.topic == cmd_topic:
                self.on_command(msg.payload)
            elif on_message is not None:
                on_message(msg.topic, msg.payload)

        deadline = time.monotonic() + timeout
        for attempt in range(10_000):
            try:
                self.client = client = connect(self.creds.broker, self.creds.username, self.creds.password,
                                               client_id=self.creds.device_id, on_message=handler,
                                               subscribe=[cmd_topic], timeout=max(0.5, deadline - time.monotonic()))
            except Refused as exc:
                self.on_refused(exc.reason)
                if self.wiped is not None:
                    return None
                wait = self.backoff.delay(attempt)
                if time.monotonic() + wait >= deadline:
                    raise
                time.sleep(wait)
                continue
            self.on_connected()
            client.on_connect = self._later_connect
            return client
        raise AssertionError("unreachable")

    def _later_connect(self, client, userdata, flags, reason_code, properties) -> None:
        """paho reconnects by itself after a drop; a refusal is retried with our backoff."""
        if reason_code.is_failure:
            wait = self.backoff.delay(self.status.refusals)
            client.reconnect_delay_set(min_delay=wait, max_delay=wait)
            self.on_refused(str(reason_code))
            if self.wiped is not None:
                client.disconnect()
        else:
            client.reconnect_delay_set(min_delay=1, max_delay=120)
            self.on_connected()
            if self.creds is not None:
                client.subscribe(topics.cmd(self.creds.org, self.creds.device_id), qos=1)

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            loop_stop(self.client)
            self.client = None
