"""Server-time offset estimate (NTP-style, one round trip) and freshness checks. Pure functions.

The device sends t0 (its clock) in `hello`; the server answers t1 (received) and t2 (sent), both
server clock; the device notes t3 on arrival. offset = server - device ~ ((t1 - t0) + (t2 - t3)) / 2,
error at most half the round trip. Device time stays what the device shows; the offset travels with
every scan so the server can put scans of all gates on one time line.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


def offset(t0: float, t1: float, t2: float, t3: float) -> tuple[float, float]:
    """-> (offset seconds to add to device time to get server time, round-trip delay)."""
    return ((t1 - t0) + (t2 - t3)) / 2.0, max(0.0, (t3 - t0) - (t2 - t1))


class SeenIds(Protocol):
    def remember(self, msg_id: str, ts: float, forget_before: float | None) -> bool:
        """Note the id; False when it was there already."""


class MemorySeen:
    """Seen ids in memory (bounded): for tests and tools. A device persists them in its ledger."""

    def __init__(self, limit: int = 20000):
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def remember(self, msg_id: str, ts: float, forget_before: float | None) -> bool:
        if msg_id in self._seen:
            return False
        self._seen[msg_id] = ts
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True


MAX_AGE = 600.0          # seconds a signed server message stays fresh
# A command (config, wipe, reset_ticket) waits at the broker for a device offline as long as its session lasts
# (agent.sync.transport.BrokerConfig.session_expiry): its replay is refused by its id and by being no newer than the
# last command executed, not by its age.
COMMAND_MAX_AGE = 7 * 24 * 3600.0


class Freshness(Enum):
    FRESH = "fresh"
    STALE = "stale"            # older than its window: it waited at the broker (or is replayed after that long)
    FUTURE = "future"          # newer than the server-time estimate by more than the window: a clock is wrong
    REPLAYED = "replayed"      # its id was seen before
    MALFORMED = "malformed"    # no id or no timestamp


@dataclass(frozen=True)
class Check:
    """What `ReplayGuard.check` found: callers decide on `kind`; `reason` is the text shown (None when fresh)."""
    kind: Freshness
    age: float | None = None       # server now - ts, for STALE / FUTURE (negative when from the future)
    msg_id: str | None = None

    @property
    def fresh(self) -> bool:
        return self.kind is Freshness.FRESH

    @property
    def reason(self) -> str | None:
        if self.kind is Freshness.MALFORMED:
            return "message without id/ts"
        if self.kind in (Freshness.STALE, Freshness.FUTURE):
            return f"stale message ({self.age:.0f} s old)"
        if self.kind is Freshness.REPLAYED:
            return f"replayed message {self.msg_id}"
        return None


class ReplayGuard:
    """Refuses a signed server message seen before (by id) or too old for the estimated server time.

    `seen` keeps the ids (the device's ledger: a restart forgets nothing); ids older than the freshness window are
    forgotten, since the age check refuses those messages anyway."""

    def __init__(self, max_age: float = MAX_AGE, seen: SeenIds | None = None):
        self.max_age = max_age
        self.seen: SeenIds = seen if seen is not None else MemorySeen()

    def check(self, msg_id: object, ts: object, server_now: float | None, max_age: float | None = None) -> Check:
        """FRESH (and remembered) or why it is refused. `server_now` None: never synced, only the id is checked.
        `max_age`: this message's own window (default the guard's)."""
        if not isinstance(msg_id, str) or not msg_id or isinstance(ts, bool) or not isinstance(ts, (int, float)):
            return Check(Freshness.MALFORMED)
        if server_now is not None:
            age = server_now - ts
            if abs(age) > (self.max_age if max_age is None else max_age):
                return Check(Freshness.STALE if age > 0 else Freshness.FUTURE, age=age, msg_id=msg_id)
        forget = server_now - 2 * self.max_age if server_now is not None else None
        if not self.seen.remember(msg_id, float(ts), forget):
            return Check(Freshness.REPLAYED, msg_id=msg_id)
        return Check(Freshness.FRESH, msg_id=msg_id)
