"""Throttling of failed enrollment attempts, per source address and globally (pure, clock injected).

A source with `per_source` failures inside `window` seconds is refused until the oldest ages out;
`global_limit` failures from all sources together refuse everyone (a distributed guess) for the window.
Successful enrollments do not count.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class Throttle:
    def __init__(self, per_source: int = 5, global_limit: int = 50, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_sources: int = 10000):
        self.per_source, self.global_limit, self.window, self.clock = per_source, global_limit, window, clock
        self.max_sources = max_sources
        self._by_source: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def retry_after(self, source: str) -> float:
        """0 when `source` may try now, else seconds to wait."""
        with self._lock:
            now = self.clock()
            self._prune(self._all, now)
            waits = []
            if len(self._all) >= self.global_limit:
                waits.append(self._all[0] + self.window - now)
            q = self._by_source.get(source)
            if q is not None:
                self._prune(q, now)
                if len(q) >= self.per_source:
                    waits.append(q[0] + self.window - now)
                elif not q:
                    del self._by_source[source]
            return max(waits, default=0.0)

    def failed(self, source: str) -> None:
        with self._lock:
            now = self.clock()
            if source not in self._by_source and len(self._by_source) >= self.max_sources:
                for key in [k for k, q in self._by_source.items() if not q or q[-1] <= now - self.window]:
                    del self._by_source[key]
            self._by_source.setdefault(source, deque()).append(now)
            self._all.append(now)
