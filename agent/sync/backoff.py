"""Retry delays after a refused broker login: exponential, capped, with jitter (pure; randomness injected).

A hundred doors refused by a busy broker must not come back in the same second: each waits between half and
all of `min(cap, base * 2**attempt)` ("equal jitter"), so the retries spread out and the broker recovers.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0       # seconds before the first retry (at most)
    cap: float = 60.0       # never wait longer than this

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `attempt` (0 = the first retry)."""
        top = min(self.cap, self.base * 2.0 ** min(max(attempt, 0), 32))
        return top / 2 + rng() * top / 2
