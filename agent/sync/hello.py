"""When a device says hello, and the clock probes waiting for an answer (no I/O; monotonic clock injected)."""
from __future__ import annotations

import time
import uuid
from typing import Callable

from agent.sync.signed import Rejected


class Greeter:
    def __init__(self, retry: float = 3.0, presence_wait: float = 2.0, max_retry: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.base_retry, self.retry, self.presence_wait, self.max_retry = retry, retry, presence_wait, max_retry
        self.monotonic = monotonic
        self.probes: dict[str, tuple[float, float]] = {}       # outstanding: probe id -> (device t0, monotonic)
        self.connected_at, self.greeted = monotonic(), True
        self.server_since: object = None                        # the server presence we last said hello to

    def connected(self) -> None:
        """Wait for the retained server presence; hello anyway after `presence_wait`."""
        self.connected_at, self.greeted, self.server_since = self.monotonic(), False, None

    def server_online(self, since: object) -> bool:
        """A server presence arrived: True when it is new (a (re)started server, or we reconnected)."""
        if since == self.server_since:
            return False
        self.server_since = since
        return True

    def probe(self, t0: float) -> str:
        self.greeted = True
        now = self.monotonic()
        self.probes = {k: v for k, v in self.probes.items() if now - v[1] < 300}
        probe = uuid.uuid4().hex
        self.probes[probe] = (t0, now)
        return probe

    def answer(self, probe: object) -> float | None:
        """-> the t0 of our probe; None for a late answer to a probe already answered, or to one of an earlier run
        (a restarted server answers the hellos that waited at the broker: nothing to measure, nothing changes).
        Rejected without a probe id."""
        if not isinstance(probe, str) or not probe:
            raise Rejected("clock reply to no outstanding probe (it names none)")
        found = self.probes.get(probe)
        if found is None:
            return None
        self.probes.clear()
        self.retry = self.base_retry
        return found[0]

    @property
    def waiting(self) -> bool:
        """A hello is due after a wait (the server's presence not seen yet) or unanswered (to be sent again)."""
        return not self.greeted or bool(self.probes)

    def due(self, bundle_pending: bool) -> bool:
        """Say hello now? (no presence seen after connecting, or unanswered: again, backing off)."""
        now = self.monotonic()
        if not self.greeted and now - self.connected_at > self.presence_wait:
            return True
        if self.probes and not bundle_pending and now - max(v[1] for v in self.probes.values()) > self.retry:
            self.retry = min(self.retry * 2, self.max_retry)
            return True
        return False
