"""Server time on the device: the offset learned from the server, kept right when the wall clock steps.

The sync measures `offset = server time - device wall time` (agent.sync.clock) and stores a `ClockEstimate`
in the ledger: the offset, the server time it stood for, and where the boot clock was then. The boot clock
(CLOCK_BOOTTIME: counts suspend, never steps) carries the estimate forward: within the same boot,
server now = server time at measurement + boot time elapsed, whatever the wall clock did meanwhile (a device
without a real-time clock booted days behind and corrected by NTP, a user changing the time). After a reboot
only the offset is left, and the sync measures again on its first connection.

Every action is stamped with the device's wall time and the offset estimated at that moment; its server time
`at + clock_offset` is what orders actions (agent.history.fold) and judges time windows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

SETTING = "clock"                 # the ClockEstimate, as JSON, in the ledger's settings
STEP = 2.0                        # wall clock moved this much against the boot clock: a step, measure again

_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


def boot_clock() -> float:
    """Seconds since boot, including suspend (falls back to the monotonic clock where there is no BOOTTIME)."""
    clock_id = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock_id) if clock_id is not None else time.monotonic()


def current_boot_id() -> str:
    try:
        with open(_BOOT_ID_FILE) as f:
            return f.read().strip()
    except OSError:
        return ""            # unknown: an estimate is then carried by its offset only


@dataclass(frozen=True)
class ClockEstimate:
    offset: float                 # server time - device wall time, when measured
    server_at: float              # server time at the measurement
    boot_at: float                # boot clock at the measurement
    boot_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "server_at": self.server_at, "boot_at": self.boot_at, "boot_id": self.boot_id}

    @classmethod
    def from_json(cls, d: Any) -> "ClockEstimate | None":
        try:
            return cls(float(d["offset"]), float(d["server_at"]), float(d["boot_at"]), str(d.get("boot_id") or ""))
        except (TypeError, KeyError, ValueError):
            return None


class ServerClock:
    """Server time from the device's clocks and the stored estimate. Clocks injected (tests step them)."""

    def __init__(self, wall: Callable[[], float] = time.time, boot: Callable[[], float] = boot_clock,
                 boot_id: str | None = None):
        self.wall, self.boot = wall, boot
        self.boot_id = current_boot_id() if boot_id is None else boot_id

    def measured(self, server_now: float) -> ClockEstimate:
        """The estimate to store when the server's answer says it is `server_now` (server clock) now."""
        return ClockEstimate(server_now - self.wall(), server_now, self.boot(), self.boot_id)

    def offset(self, estimate: ClockEstimate | None) -> float:
        """Server time minus wall time now (0 when never measured)."""
        if estimate is None:
            return 0.0
        if self.boot_id and estimate.boot_id == self.boot_id:
            return estimate.server_at + (self.boot() - estimate.boot_at) - self.wall()
        return estimate.offset

    def now(self, estimate: ClockEstimate | None) -> float | None:
        """Server time now, or None when the server was never heard (nothing to judge freshness against)."""
        return None if estimate is None else self.wall() + self.offset(estimate)


class StepDetector:
    """Notices the wall clock stepping against the boot clock (call `stepped()` now and then)."""

    def __init__(self, clock: ServerClock, tolerance: float = STEP):
        self.clock, self.tolerance = clock, tolerance
        self._base = clock.wall() - clock.boot()

    def stepped(self) -> float:
        """The step in seconds since the last call that saw one (0.0: none)."""
        base = self.clock.wall() - self.clock.boot()
        step = base - self._base
        if abs(step) < self.tolerance:
            return 0.0
        self._base = base
        return step


# -- what was stamped before the server's time was ever learnt -------------------------------------------------------
UNMEASURED = "unmeasured"   # outbox body field, never uploaded: [boot clock, boot id] at the stamp ([None, ""]: unknown)


def unmeasured_mark() -> list[Any]:
    return [boot_clock(), current_boot_id()]


def stamp_offset(mark: Any, device_at: float, estimate: ClockEstimate) -> float:
    """The offset a message stamped at wall time `device_at` with `mark` (UNMEASURED) had: from the boot clock when the
    estimate was measured in the same boot (a wall clock stepped since does not matter), else the estimate's offset."""
    if (isinstance(mark, list) and len(mark) == 2 and isinstance(mark[0], (int, float)) and mark[1]
            and mark[1] == estimate.boot_id):
        return estimate.server_at + (float(mark[0]) - estimate.boot_at) - device_at
    return estimate.offset


def with_offset(body: dict[str, Any], offset: float) -> dict[str, Any]:
    """An outbox body dated by `offset` (server - device time): an action or refusal carries it (`clock_offset`; its
    `at` stays the device's time); any other message, whose `at` the server reads as its own time, gets `at` in server
    time and keeps the device's in `device_at`."""
    out = {k: v for k, v in body.items() if k != UNMEASURED}
    if "clock_offset" in out:
        out["clock_offset"] = offset
    else:
        device_at = float(out.get("device_at", out["at"]))
        out["at"], out["device_at"] = device_at + offset, device_at
    return out


def redated(body: dict[str, Any], estimate: ClockEstimate) -> dict[str, Any]:
    """A body marked UNMEASURED, dated by the estimate learnt since."""
    return with_offset(body, stamp_offset(body.get(UNMEASURED), float(body.get("device_at", body["at"])), estimate))
