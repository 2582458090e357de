"""Throttling of failed enrollment attempts with token buckets (pure, clock injected).

Each source address (an IPv6 /64 counts as one) has a bucket of `per_source` failures that refills at
`per_source` per `window` seconds; a source with an empty bucket is answered 429 until a failure has refilled.
Failures from one source never slow down another: a flood from ten addresses cannot lock out a device that
scans a valid QR token. Hand-typed organiser codes (8 characters: guessable in principle) also share one bucket
of `code_limit` failed code attempts per `window` over all sources: a distributed guess slows code enrollment
for everyone, never QR tokens (52 characters, not guessable). Successful enrollments do not count.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Callable


def source_of(address: str) -> str:
    """The throttling key of a peer address: IPv4 as is, IPv6 by its /64 (one host may own a whole /64)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class Bucket:
    capacity: float
    rate: float              # refill per second
    level: float
    stamp: float

    def refill(self, now: float) -> float:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.level

    def wait(self, now: float) -> float:
        """Seconds until one failure may be spent (0: now)."""
        level = self.refill(now)
        return 0.0 if level >= 1 else (1 - level) / self.rate


class Throttle:
    def __init__(self, per_source: int = 5, window: float = 60.0, code_limit: int = 60,
                 clock: Callable[[], float] = time.monotonic, max_sources: int = 10000):
        self.per_source, self.window, self.code_limit, self.clock = per_source, window, code_limit, clock
        self.max_sources = max_sources
        self._sources: dict[str, Bucket] = {}
        self._codes = Bucket(code_limit, code_limit / window, code_limit, clock())
        self._lock = threading.Lock()

    def retry_after(self, source: str, code: bool = False) -> float:
        """0 when `source` may try now (with an organiser code: `code`), else seconds to wait."""
        with self._lock:
            now = self.clock()
            bucket = self._sources.get(source_of(source))
            wait = bucket.wait(now) if bucket is not None else 0.0
            return max(wait, self._codes.wait(now)) if code else wait

    def failed(self, source: str, code: bool = False) -> None:
        with self._lock:
            now = self.clock()
            key = source_of(source)
            bucket = self._sources.get(key)
            if bucket is None:
                if len(self._sources) >= self.max_sources:
                    self._forget(now)
                bucket = self._sources[key] = Bucket(self.per_source, self.per_source / self.window,
                                                     self.per_source, now)
            for b in (bucket, self._codes) if code else (bucket,):
                b.refill(now)
                b.level = max(b.level - 1, -b.capacity)     # hammering while refused: at most two windows' wait

    def _forget(self, now: float) -> None:
        """Drop full buckets (sources that have not failed lately); if none, the oldest half."""
        full = [k for k, b in self._sources.items() if b.refill(now) >= b.capacity]
        for key in full or sorted(self._sources, key=lambda k: self._sources[k].stamp)[: len(self._sources) // 2]:
            del self._sources[key]
