"""How many uploads refused whole (not JSON, not a batch, naming another device…) are kept one by one, per device.

A genuine device never sends such an upload (a version mismatch sends a few); a stolen one can send thousands a
second, each of which cost a store transaction, a `server refusals` row and a log line. Per device, the first
`burst` (then `per_s`) are kept one by one; the others are counted per reason in one summary per device and
`window`: one row, rewritten in place (`summary_row`), and one log line when counting starts. A batch over the
device's burst (refused whole, reason `rate`) costs one row per item, from a budget of its own. Pure apart from the
clock; used by the ingestion worker only (one thread).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

OTHER = "other reasons"


@dataclass
class Counted:
    """The uploads of one device counted (not kept one by one) since `since` (wall clock), per reason."""
    since: float
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def text(self) -> str:
        per = ", ".join(f"{why} ×{n:,}" for why, n in sorted(self.reasons.items(), key=lambda kv: -kv[1]))
        return f"{self.total:,} more upload(s) refused whole, counted, not kept one by one: {per}"


class RefusalBudget:
    def __init__(self, burst: float = 20.0, per_s: float = 0.1, window: float = 3600.0, max_reasons: int = 8,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.burst, self.per_s, self.window, self.max_reasons = burst, per_s, window, max_reasons
        self.clock, self.wall = clock, wall
        self._tokens: dict[str, tuple[float, float]] = {}           # device -> (level, at)
        self._counted: dict[str, tuple[float, Counted]] = {}        # device -> (window start, monotonic; counts)

    def keep(self, device: str, cost: float = 1.0) -> bool:
        """True: keep this refusal (`cost` rows) one by one (rows and log line); False: `count` it instead."""
        now = self.clock()
        level, at = self._tokens.get(device, (self.burst, now))
        level = min(self.burst, level + (now - at) * self.per_s)
        if level < cost:
            self._tokens[device] = (level, now)
            return False
        self._tokens[device] = (level - cost, now)
        return True

    def count(self, device: str, why: str, n: int = 1) -> tuple[Counted, bool]:
        """Count `n` refusals of `device` (reason cut to 80 characters, at most `max_reasons` kinds per device):
        its summary, and whether this count started it (a new window: say so once in the log)."""
        now = self.clock()
        started, counted = self._counted.get(device, (now - self.window - 1, Counted(0.0)))
        new = now - started > self.window
        if new:
            started, counted = now, Counted(self.wall())
            self._counted[device] = (started, counted)
        key = why[:80]
        if key not in counted.reasons and len(counted.reasons) >= self.max_reasons:
            key = OTHER
        counted.reasons[key] = counted.reasons.get(key, 0) + n
        return counted, new


def summary_row(topic: str, counted: Counted) -> tuple[int, str, dict]:
    """The `server refusals` row of a summary: its body is the same for the whole window, so the store rewrites the
    one row in place (its reason holds the counts)."""
    return 0, counted.text(), {"type": "upload", "topic": topic, "counted_since": counted.since}
