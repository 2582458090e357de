"""What a device is set to do: mode, events, zones, direction. Plain data, stored in the ledger's settings."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Mode(str, Enum):
    NORMAL = "normal"                    # one entry per ticket and event
    ENTRY_EXIT = "entry_exit"            # alternates in/out (or a fixed direction); tracks who is inside
    MULTIPLE = "multiple"                # any number of entries
    QUICK_CANCEL = "quick_cancel"        # scanning an unsold pre-printed ticket puts it back on sale


# what the app's mode menu and `agent status --lang fr` call each mode (English msgids of agent/locale/fr.po)
MODE_WORDS = {Mode.NORMAL: "Normal", Mode.ENTRY_EXIT: "Entry / exit", Mode.MULTIPLE: "Multiple entries",
              Mode.QUICK_CANCEL: "Quick cancellation"}


REREAD_MAX_SECONDS = 60.0      # a camera's re-reads come within seconds; longer hides a second entry as a re-read


def reread_seconds(value: object) -> float:
    """A re-read window as set by staff (`agent configure`), the organiser (`server device configure`, the signed
    `config` command) or the app: a number, 0 (off) to REREAD_MAX_SECONDS; else ValueError. The one rule."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"re-read window {value!r}: a number of seconds, 0 to {REREAD_MAX_SECONDS:g}")
    seconds = float(value)
    if not 0 <= seconds <= REREAD_MAX_SECONDS:                  # also nan
        raise ValueError(f"re-read window {value}: 0 to {REREAD_MAX_SECONDS:g} seconds")
    return seconds


def reread_arg(text: str) -> float:
    """--reread-window of `agent configure|scan` and `server device configure` (argparse type): reread_seconds."""
    try:
        return reread_seconds(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class DevicePolicy:
    device_id: str = "device"
    gate: str = "gate"
    mode: Mode = Mode.NORMAL
    events: frozenset[int] = frozenset()            # selected events; empty: every event the device knows
    zones: frozenset[int] | None = None             # accepted zones; None: all
    direction: str | None = None                    # entry/exit: fixed "in" / "out"; None alternates
    reread_window: float = 3.0                      # seconds a camera re-read repeats the verdict
    pass_events: dict[int, frozenset[int]] = field(default_factory=dict)  # pass id -> events it opens
    known_events: frozenset[int] | None = None      # events in the ledger (set by the shell); None: not restricted
    event_times: dict[int, tuple[float | None, float | None]] = field(default_factory=dict)  # id -> (start, end)
    # id -> the validity window of that event's own tickets (start - margin .. end + margin): a pass counts for one
    # of its events only within it (set by the shell from the ledger, like event_times)
    event_windows: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.zones is not None and not self.zones:
            object.__setattr__(self, "zones", None)      # an empty zone filter means "all zones", never "none"
        if self.direction not in (None, "in", "out"):
            raise ValueError(f"direction must be in, out or None (alternate), not {self.direction!r}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mode"] = self.mode.value
        d["events"] = sorted(self.events)
        d["zones"] = sorted(self.zones) if self.zones is not None else None
        d["pass_events"] = {str(k): sorted(v) for k, v in self.pass_events.items()}
        d["known_events"] = sorted(self.known_events) if self.known_events is not None else None
        d["event_times"] = {str(k): list(v) for k, v in self.event_times.items()}
        d["event_windows"] = {str(k): list(v) for k, v in self.event_windows.items()}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "DevicePolicy":
        return cls(device_id=d.get("device_id", "device"), gate=d.get("gate", "gate"), mode=Mode(d.get("mode", "normal")),
                   events=frozenset(d.get("events") or ()),
                   zones=frozenset(d["zones"]) if d.get("zones") is not None else None,
                   direction=d.get("direction"), reread_window=float(d.get("reread_window", 3.0)),
                   pass_events={int(k): frozenset(v) for k, v in (d.get("pass_events") or {}).items()},
                   known_events=frozenset(d["known_events"]) if d.get("known_events") is not None else None,
                   event_times={int(k): (v[0], v[1]) for k, v in (d.get("event_times") or {}).items()},
                   event_windows={int(k): (v[0], v[1]) for k, v in (d.get("event_windows") or {}).items()})
