"""Where the organiser posted a device: the gate and the mode it may scan at, over time (docs/security.md).

The organiser's configuration is the authority, not what an upload says: the gate the device was registered or
enrolled with (`server device register --gate`, `provision tokens create --gate`), then each `server device
configure --gate|--mode` the device did not reject, from when it was sent (or the `--since` the organiser gave).
The setting it replaced stays valid until the device answered that it applied the change (never answered: still
valid, it may be offline scanning under it), and every boundary is widened by SETTLE either way for the scan's
dating error. What a device scanned before it was registered (enrolled) under its id is its word: a door wiped and
enrolled again sends what it scanned under its previous enrollment (agent.home.store_identity). No gate given: the
device's word (its technician named it at the door); no mode given: any mode. A scan is stored in the mode given at
its time, not the one it claims (`mode_counted`). A scan naming no gate claims none (counted at gate "?", as an
older device's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from agent.policy import Mode

# seconds either side of a change a scan may name the setting before or after it: a scan is dated on the server's
# time line by the device's offset (error up to half a round trip, a clock stepped since its last measure), and a
# configuration's time is when the organiser sent it
SETTLE = 300.0
ANY = None         # no setting given by the organiser: the device's word
# the organiser's modes, the one that hides the fewest double entries first: a scan claiming none of those set around
# its time is counted in the first of them (`multiple` hides every second entry, `quick_cancel` "already used")
STRICTEST_FIRST = (Mode.NORMAL.value, Mode.ENTRY_EXIT.value, Mode.QUICK_CANCEL.value, Mode.MULTIPLE.value)


@dataclass(frozen=True)
class Period:
    value: str | None      # ANY: not given
    start: float
    end: float


@dataclass(frozen=True)
class Posting:
    gates: tuple[Period, ...] = (Period(ANY, -math.inf, math.inf),)
    modes: tuple[Period, ...] = (Period(ANY, -math.inf, math.inf),)
    registered_at: float = -math.inf     # before: scanned under another enrollment (wiped, enrolled again), or none

    def gates_at(self, t: float) -> set[str] | None:
        """The gates the organiser gave the device around server time `t`; None: any (not given)."""
        return None if t < self.registered_at else _at(self.gates, t)

    def modes_at(self, t: float) -> set[str] | None:
        return None if t < self.registered_at else _at(self.modes, t)

    def mode_counted(self, claimed: str | None, t: float) -> str | None:
        """The mode a scan at server time `t` claiming `claimed` is stored and counted in (conflicts, stats, relayed
        to the other gates): its claim when the organiser set none then or set that one (around a change, either),
        else the organiser's: a stolen door claiming `multiple` hid its double entries."""
        modes = self.modes_at(t)
        if modes is None or claimed in modes:
            return claimed
        return min(modes, key=lambda m: STRICTEST_FIRST.index(m) if m in STRICTEST_FIRST else len(STRICTEST_FIRST))


def _at(periods: Iterable[Period], t: float) -> set[str] | None:
    found = {p.value for p in periods if p.start - SETTLE <= t <= p.end + SETTLE}
    return None if ANY in found or not found else {v for v in found if v is not None}


def posting(registered_gate: str, commands: list[dict[str, Any]], registered_at: float | None = None) -> Posting:
    """From the device's row (`gate`, `registered_at`) and its commands (`store.device_commands`: cmd, args, sent_at,
    result, answered_at)."""
    configs = sorted((c for c in commands if c["cmd"] == "config" and not _rejected(c)),
                     key=lambda c: _since(c))
    return Posting(_timeline(registered_gate or ANY, configs, "gate"), _timeline(ANY, configs, "mode"),
                   -math.inf if registered_at is None else float(registered_at))


def _timeline(first: str | None, configs: list[dict], key: str) -> tuple[Period, ...]:
    periods, value, start = [], first, -math.inf
    for c in configs:
        if key not in c["args"] or not isinstance(c["args"][key], str):
            continue
        applied = c["answered_at"] if c.get("result") is not None else math.inf
        periods.append(Period(value, start, max(applied, _since(c))))     # no gap, whatever the clocks said
        value, start = c["args"][key] or ANY, _since(c)
    periods.append(Period(value, start, math.inf))
    return tuple(periods)


def _since(command: dict) -> float:
    since = command["args"].get("since")
    return float(since) if isinstance(since, (int, float)) else float(command["sent_at"])


def _rejected(command: dict) -> bool:
    result = command.get("result")
    return isinstance(result, dict) and "rejected" in result


def organiser_setting(registered_gate: str, commands: list[dict[str, Any]]) -> dict[str, Any]:
    """What `server devices` and `provision devices` show of a device's posting: {gate: the organiser's last one
    (else the enrolment's, "" none), mode: the organiser's last one (None: never set, the device's word),
    enrolled_gate, setting: the state of the last `configure --gate|--mode` the device did not reject (its
    `device_commands` status's first word: applied, pending, expired, not sent; None: none sent)}."""
    configs = sorted((c for c in commands if c["cmd"] == "config" and not _rejected(c)
                      and any(isinstance(c["args"].get(k), str) for k in ("gate", "mode"))), key=_since)
    gate, mode = registered_gate, None
    for c in configs:
        gate = c["args"]["gate"] if isinstance(c["args"].get("gate"), str) else gate
        mode = (c["args"]["mode"] or None) if isinstance(c["args"].get("mode"), str) else mode
    setting = configs[-1]["status"].split(" (")[0].split(":")[0] if configs else None
    return {"gate": gate, "mode": mode, "enrolled_gate": registered_gate, "setting": setting}
