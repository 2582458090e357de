"""Per-device upload limits: token buckets on items/s and bytes/s (the server's side of a flood from one device).

A genuine door scans about one ticket a second and uploads at most `UploadOptions.batch_size` (500) rows a batch, so
the burst holds a whole batch and the rate drains an hour offline in well under a minute. A batch over the available
tokens is deferred (the ack says `deferred` and `retry_after`; the device sends it again then); a batch larger than
the burst itself can never pass and is refused with reason "rate" (the device keeps it, the organiser sees it).
The buckets live in each ingestion worker: with N workers (`serve --workers N`) a device gets up to N times the rate.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Limits:
    items_per_s: float = 200.0
    items_burst: float = 1000.0
    bytes_per_s: float = 2 << 20
    bytes_burst: float = 8 << 20
    hellos_per_s: float = 1.0        # a device says hello on (re)connection, on server restarts, every few minutes
    hellos_burst: float = 20.0
    # the bundles hellos make the server build and send, in bytes: a hello naming a version far back (a delta of
    # nearly everything) costs a full bundle (1M tickets: seconds of the bundle thread, tens of MB queued at the
    # broker); a genuine device needs one or two, then small deltas
    bundle_bytes_per_s: float = 256 << 10
    bundle_bytes_burst: float = 64 << 20


class _Bucket:
    __slots__ = ("level", "at")

    def __init__(self, level: float, at: float):
        self.level, self.at = level, at


class DeviceLimiter:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic):
        self.limits, self.clock = limits, clock
        self._items: dict[str, _Bucket] = {}
        self._bytes: dict[str, _Bucket] = {}
        self._hellos: dict[str, _Bucket] = {}
        self._bundles: dict[str, _Bucket] = {}
        self._resting: dict[str, float] = {}     # device -> until when its last deferral asked it to wait

    def too_big(self, items: int, size: int) -> bool:
        return items > self.limits.items_burst or size > self.limits.bytes_burst

    def take(self, device: str, items: int, size: int) -> float:
        """0.0 when the batch may go in now (tokens taken), else the seconds to wait before sending it again."""
        now = self.clock()
        bi = self._fill(self._items, device, now, self.limits.items_per_s, self.limits.items_burst)
        bb = self._fill(self._bytes, device, now, self.limits.bytes_per_s, self.limits.bytes_burst)
        wait = max((items - bi.level) / self.limits.items_per_s, (size - bb.level) / self.limits.bytes_per_s, 0.0)
        if wait > 0:
            self._resting[device] = now + max(wait, 0.5)
            return max(wait, 0.5)
        bi.level -= items
        bb.level -= size
        return 0.0

    def resting(self, device: str, size: int) -> bool:
        """True when a message of `size` bytes from this device would be deferred whatever it holds, asked before
        parsing it (nothing taken, nothing counted twice): over the byte tokens it has now, or sent before the wait
        its last deferral asked for is over (a genuine device pauses until then, and sends its batches again)."""
        now = self.clock()
        until = self._resting.get(device)
        if until is not None and now >= until:
            del self._resting[device]
        elif until is not None:
            return True
        return size > self._fill(self._bytes, device, now, self.limits.bytes_per_s, self.limits.bytes_burst).level

    def take_hello(self, device: str) -> bool:
        """False when this device says hello faster than any genuine one (each hello costs a clock reply and a write)."""
        b = self._fill(self._hellos, device, self.clock(), self.limits.hellos_per_s, self.limits.hellos_burst)
        if b.level < 1:
            return False
        b.level -= 1
        return True

    def bundle_wait(self, device: str) -> float:
        """0.0 when a bundle may be built for this device now, else the seconds until it may (its bundle bytes
        spent: `spent_on_bundle` charges each after it is built, so one bigger than what is left still goes)."""
        b = self._fill(self._bundles, device, self.clock(), self.limits.bundle_bytes_per_s, self.limits.bundle_bytes_burst)
        return 0.0 if b.level > 0 else (1 - b.level) / self.limits.bundle_bytes_per_s

    def spent_on_bundle(self, device: str, size: int) -> None:
        b = self._fill(self._bundles, device, self.clock(), self.limits.bundle_bytes_per_s, self.limits.bundle_bytes_burst)
        b.level -= size

    @staticmethod
    def _fill(buckets: dict, device: str, now: float, rate: float, burst: float) -> _Bucket:
        b = buckets.get(device)
        if b is None:
            b = buckets[device] = _Bucket(burst, now)
        b.level = min(burst, b.level + (now - b.at) * rate)
        b.at = now
        return b
