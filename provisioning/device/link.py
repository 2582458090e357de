"""The device's broker login after enrollment, with the revocation rules of docs/provisioning.md:

- a signed `wipe` command for this device on its `cmd` topic -> wipe;
- the broker refuses our login (bad username/password, not authorised) -> we were revoked -> wipe.
  Right after enrollment mosquitto may not have reloaded yet, so refusals inside `grace` seconds of the
  enrollment are retried, not acted on.

The sync (agent.sync) owns the long-running connection; it calls `on_refused` and `on_command` the same way.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from agent.sync import topics
from agent.sync.signed import Rejected, Verifier
from provisioning.device.state import Credentials, DeviceState
from provisioning.device.wipe import wipe
from provisioning.mqtt_connect import Refused, connect

log = logging.getLogger("ticketgate.provision.link")
GRACE = 10.0


def is_wipe_command(creds: Credentials, payload: bytes) -> bool:
    """True only for a validly signed wipe addressed to this device of this organiser."""
    try:
        body = Verifier(creds.server_key).open(payload, 64 * 1024)
    except Rejected as exc:
        log.warning("refused command: %s", exc)
        return False
    return body.get("cmd") == "wipe" and body.get("device") == creds.device_id and body.get("org") == creds.org


class DeviceLink:
    def __init__(self, state: DeviceState, on_wiped: Callable[[dict], None] | None = None, grace: float = GRACE):
        self.state, self.grace = state, grace
        self.on_wiped = on_wiped or (lambda done: None)
        self.creds = state.load()
        self.client = None
        self.wiped: dict | None = None

    def _wipe(self, reason: str) -> None:
        if self.wiped is None:
            self.wiped = wipe(self.state, reason)
            self.on_wiped(self.wiped)

    def on_refused(self) -> None:
        if self.creds and time.time() - self.creds.enrolled_at > self.grace:
            self._wipe("broker refused our login")

    def on_command(self, payload: bytes) -> None:
        if self.creds and is_wipe_command(self.creds, payload):
            self._wipe("signed wipe command")

    def connect(self, timeout: float = 5.0, on_message: Callable[[str, bytes], None] | None = None):
        """Log in (retrying refusals inside the grace period); returns the paho client or None when wiped."""
        if self.creds is None:
            raise RuntimeError("this device is not enrolled")
        cmd_topic = topics.cmd(self.creds.org, self.creds.device_id)

        def handler(client, userdata, msg):
            if msg.topic == cmd_topic:
                self.on_command(msg.payload)
            elif on_message is not None:
                on_message(msg.topic, msg.payload)

        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client = connect(self.creds.broker, self.creds.username, self.creds.password,
                                      client_id=self.creds.device_id, on_message=handler, subscribe=[cmd_topic],
                                      timeout=max(0.5, deadline - time.monotonic()))
                self.client.on_connect = self._later_connect
                return self.client
            except Refused:
                in_grace = time.time() - self.creds.enrolled_at <= self.grace
                if not in_grace or time.monotonic() >= deadline:
                    self.on_refused()
                    if self.wiped is not None:
                        return None
                    raise
                time.sleep(0.05)

    def _later_connect(self, client, userdata, flags, reason_code, properties) -> None:
        """paho reconnects by itself after a drop; a refusal then means we were revoked."""
        if reason_code.is_failure:
            self.on_refused()
            if self.wiped is not None:
                client.disconnect()
        elif self.creds is not None:
            client.subscribe(topics.cmd(self.creds.org, self.creds.device_id), qos=1)

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None
