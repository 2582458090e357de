"""An enrolled device that cannot reach its broker finds it again: it browses zeroconf for its organiser's
`provision serve`, takes the broker address that serve announces signed by the server key the device pinned at
enrolment (provisioning.broker_announce), saves it in credentials.json (0600) and says so once. Any other
announcement (another key, a replayed older one, another organiser's, unsigned) is ignored and said, once each.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable, Protocol

from agent.home import Broker
from provisioning.broker_announce import judge
from provisioning.device.discover import Found, discover
from provisioning.device.state import DeviceState

log = logging.getLogger("ticketgate.rediscover")
REDISCOVER_AFTER = 15.0    # s without the broker before a device looks for it on zeroconf, and between two looks
BROWSE_SECONDS = 4.0       # how long one look listens for announcements

Browse = Callable[[float, "list[str] | None"], "list[Found]"]


def _browse(seconds: float, interfaces: list[str] | None) -> list[Found]:
    return discover(seconds, interfaces=interfaces)


class BrokerFinder:
    """`look()` once the broker was unreachable for REDISCOVER_AFTER s: the new broker address (saved), or None."""

    def __init__(self, state: DeviceState, say: Callable[[str], None], interfaces: list[str] | None = None,
                 browse: Browse = _browse):
        self.state, self.say, self.interfaces, self.browse = state, say, interfaces, browse
        self._said: set[tuple[str, str]] = set()      # (announcer, why): a rogue announcement is said once

    def look(self) -> Broker | None:
        creds = self.state.load()
        if creds is None:
            return None
        held = creds.broker
        try:
            found = self.browse(BROWSE_SECONDS, self.interfaces)
        except OSError as exc:          # no multicast here (no network at all): looked again later
            self._once("zeroconf", f"cannot look for the broker on zeroconf ({exc})")
            return None
        best = None
        for item in found:
            txt = dict(item.txt)
            if txt.get("org") != creds.org and "at" not in txt:
                continue                # another organiser's server of an older version: nothing claimed
            judged = judge(txt, creds.org, creds.server_key, held.host, held.port, held.tls, held.seq)
            if judged.verdict == "ignored":
                self._once(item.name, f"ignored a broker announcement from {item.address} "
                                      f"({txt.get('at') or 'no address'}): {judged.why}")
            elif judged.verdict == "moved" and (best is None or judged.seq > best.seq):
                best = judged
        if best is None:
            return None
        moved = dataclasses.replace(held, host=best.host, port=best.port, seq=best.seq)
        self.state.save(dataclasses.replace(creds, broker=moved))
        self.say(f"the broker moved from {held.address} to {moved.address} (announced by organiser {creds.org}'s "
                 "server, signed with its key): saved, reconnecting there")
        return moved

    def _once(self, who: str, text: str) -> None:
        if (who, text) not in self._said:
            self._said.add((who, text))
            self.say(text)


class Movable(Protocol):
    """The sync's transport (agent.sync.transport.PahoTransport): whether it is connected, and moving it."""
    @property
    def connected(self) -> bool: ...
    def move(self, host: str, port: int) -> bool: ...


class BrokerFollower:
    """Beside a long-running sync (the app's): once the broker was unreachable for `after` s, looks for it (again
    every `after` s while it stays so) and moves the transport to the address found. A thread; `stop()` ends it."""

    def __init__(self, finder: BrokerFinder, transport: Movable, after: float = REDISCOVER_AFTER, tick: float = 0.5):
        self.finder, self.transport, self.after, self.tick = finder, transport, after, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-follower", daemon=True)

    def start(self) -> "BrokerFollower":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(BROWSE_SECONDS + 2)

    def _run(self) -> None:
        offline_since: float | None = None
        moving: Broker | None = None
        while not self._stop.wait(self.tick):
            if self.transport.connected:
                offline_since = None
                continue
            now = time.monotonic()
            if moving is not None:
                if self.transport.move(moving.host, moving.port):
                    moving, offline_since = None, now
                continue
            if offline_since is None:
                offline_since = now
            elif now - offline_since >= self.after:
                try:
                    moving = self.finder.look()
                except Exception:   # noqa: BLE001 - a look that fails is tried again later; the sync goes on
                    log.exception("looking for the broker failed")
                offline_since = time.monotonic()
