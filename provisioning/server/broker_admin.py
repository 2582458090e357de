"""Keeps mosquitto in step with the registry: writes password/ACL files, reloads, kicks revoked sessions.

Revocation, in order (docs/provisioning.md "Revocation"):
 1. a signed `wipe` command goes to the device's `cmd` topic (it wipes if it is listening);
 2. the device's password is replaced by an unknowable one, its topics dropped, mosquitto reloaded:
    mosquitto 2.0 re-checks connected clients on SIGHUP and drops the session;
 3. the server connects with the device's client id (clean start) to take over whatever session remains
    and delete its persistent state, then leaves;
 4. the device is removed from the files and mosquitto reloaded again.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

from agent.home import Broker, server_username, server_usernames
from agent.sync import signed, topics
from provisioning.protocol import wipe_body
from provisioning.server.mosquitto_files import BrokerUser, hash_password, write_files
from provisioning.server.registry import Registry
from agent.sync.transport import loop_stop

log = logging.getLogger("ticketgate.provision.broker")
RESIGNAL_AFTER = 0.5      # seconds: longer than a reload of our files takes


class Reloader(Protocol):
    def __call__(self) -> None: ...


class PidReloader:
    """SIGHUP to mosquitto's PID (given, or read from its pid_file at each reload)."""

    def __init__(self, pid: int | None = None, pid_file: str | Path | None = None):
        if pid is None and pid_file is None:
            raise ValueError("PidReloader needs a pid or a pid_file")
        self.pid, self.pid_file = pid, pid_file

    def __call__(self) -> None:
        if self.pid is not None:
            pid = self.pid
        elif self.pid_file is not None:
            pid = int(Path(self.pid_file).read_text().strip())
        else:
            raise ValueError("PidReloader needs a pid or a pid_file")
        os.kill(pid, signal.SIGHUP)


BrokerEndpoint = Broker       # the broker address enrollment hands out: the one definition is agent.home.Broker


class BrokerAdmin:
    def __init__(self, registry: Registry, password_file: str | Path, acl_file: str | Path, reload: Reloader,
                 endpoint: BrokerEndpoint, org: str, sign: Callable[[bytes], bytes] | None = None,
                 live_events: Callable[[str, tuple[int, ...]], tuple[int, ...]] = lambda device, ids: ids):
        self.registry, self.password_file, self.acl_file, self.reload = registry, password_file, acl_file, reload
        self.endpoint, self.org, self.sign = endpoint, org, sign
        self.live_events = live_events     # (device id, enrolled ids) -> the events whose live topics it reads
                                           # (none: every event of its organiser)
        self._lock = threading.Lock()
        self._again: threading.Timer | None = None
        self._hashed: dict[str, str] = {}       # a server password -> its hash, made once
        self.registry.server_login(org)          # this organiser's server login, made on first use

    def _server_users(self) -> list[BrokerUser]:
        """One login per server connection (agent.home.server_username): client id = username on this broker,
        so `server serve`, `server push` and `provision revoke` never kick each other off. Every organiser whose
        server has a login on this broker keeps it (two organisers in one data folder share its broker: the files
        written for one must not lock the other's server out)."""
        users: list[BrokerUser] = []
        for org, (username, password) in sorted(self.registry.server_logins().items()):
            if password not in self._hashed:
                self._hashed[password] = hash_password(password)
            users += [BrokerUser(name, self._hashed[password], org, server=True) for name in server_usernames(username)]
        return users

    def server_login(self) -> tuple[str, str]:
        """(base username, password) of the organiser's server (see agent.home.server_username)."""
        return self.registry.server_login(self.org)

    def users(self, overrides: dict[str, BrokerUser | None] | None = None) -> list[BrokerUser]:
        overrides = overrides or {}
        out = self._server_users()
        for c in self.registry.credentials():
            user = overrides.get(c.device_id, BrokerUser(c.device_id, c.password_hash, c.org,
                                                         self.live_events(c.device_id, tuple(c.events))))
            if user is not None:
                out.append(user)
        out += [u for name, u in overrides.items() if u is not None and name not in {x.username for x in out}]
        return out

    def sync(self, overrides: dict[str, BrokerUser | None] | None = None, reload: bool = True) -> bool:
        """Rewrite both files from the registry and reload mosquitto. False when mosquitto could not be
        signalled (not running): the files are right, it reads them when it starts."""
        with self._lock:
            write_files(self.password_file, self.acl_file, self.users(overrides))
            if not reload:
                return True
            try:
                self.reload()
            except (OSError, ValueError, AssertionError) as exc:
                log.warning("mosquitto not reloaded (%s): it reads the new files when it starts", exc)
                return False
        # mosquitto clears its reload flag when a reload ends: a SIGHUP that came during a running reload is lost,
        # and a login just added (a door enrolled) stayed refused until some later reload. Once more, a bit after
        # the last sync (one timer: a burst of enrollments adds one reload, not one each).
        with self._lock:
            if self._again is not None:
                self._again.cancel()
            self._again = threading.Timer(RESIGNAL_AFTER, self._reload_again)
            self._again.daemon = True
            self._again.start()
        return True

    def _reload_again(self) -> None:
        try:
            self.reload()
        except (OSError, ValueError, AssertionError) as exc:
            log.warning("mosquitto not reloaded again (%s)", exc)

    # -- the server's own connection -----------------------------------------------------------------------
    def server_client(self, purpose: str = "revoke"):
        from provisioning.mqtt_connect import connect
        base, password = self.registry.server_login(self.org)
        username = server_username(base, purpose)
        return connect(self.endpoint, username, password, client_id=username)

    def revoke(self, device_id: str, timeout: float = 3.0, replaced: bool = False) -> dict:
        """Revoke `device_id` (see module doc). Returns timings in seconds for the record. `replaced`: by a spare,
        not lost or stolen: its signed wipe keeps its unsent uploads for its next enrollment."""
        t0 = time.monotonic()
        cred = self.registry.credential(device_id)
        if cred is None or cred.org != self.org:        # another organiser's device is not ours to revoke
            raise KeyError(f"no device {device_id!r} of {self.org}")
        self.registry.mark_revoked(device_id, time.time(), replaced)
        timings: dict[str, float] = {}
        if self.sign is not None:
            self._publish_wipe(cred.org, device_id, timeout, self.sign, replaced)
        timings["wipe_sent"] = time.monotonic() - t0
        temp = secrets.token_urlsafe(32)
        if self.sync({device_id: BrokerUser(device_id, hash_password(temp), "", ())}):     # reads nothing
            timings["reloaded"] = time.monotonic() - t0
            self._take_over(device_id, temp, timeout)
            timings["taken_over"] = time.monotonic() - t0
        self.sync()
        timings["removed"] = time.monotonic() - t0
        return timings

    def _publish_wipe(self, org: str, device_id: str, timeout: float, sign: Callable[[bytes], bytes],
                      replaced: bool = False) -> None:
        body = wipe_body(org, device_id, time.time(), keep=replaced)
        try:
            client = self.server_client("revoke")
        except OSError:
            return    # broker away: the device gets the signed wipe from the endpoint when its login is refused
        try:
            info = client.publish(topics.cmd(org, device_id), signed.seal(body, sign), qos=1)
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):
            pass
        finally:
            client.disconnect()
            loop_stop(client)

    def _take_over(self, device_id: str, temp_password: str, timeout: float) -> None:
        """Connect as the device (clean start): mosquitto hands us its session and drops any old one."""
        from provisioning.mqtt_connect import connect
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                client = connect(self.endpoint, device_id, temp_password, client_id=device_id, timeout=1.0)
            except (OSError, PermissionError):
                time.sleep(0.02)   # the reload may not be applied yet
                continue
            client.disconnect()
            loop_stop(client)
            return
