"""Events screen: dates at the top, then one or several events, then zones. Pure state machine."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo


def event_date(event: dict) -> str:
    ts = event.get("starts_at")
    if ts is None:
        return "—"
    tz: tzinfo
    try:
        tz = ZoneInfo(event.get("timezone") or "UTC")
    except Exception:
        tz = timezone.utc
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d")


@dataclass
class Selection:
    events: list[dict]
    date: str | None = None
    chosen_events: set[int] = field(default_factory=set)
    chosen_zones: set[int] = field(default_factory=set)     # empty: all zones

    @classmethod
    def from_policy(cls, events: list[dict], policy_events, policy_zones) -> "Selection":
        # only what the screen can show (and untick): a stored event the event data no longer holds is dropped,
        # and with it its zones
        held = {e["event_id"] for e in events}
        sel = cls(events, chosen_events=set(policy_events or ()) & held, chosen_zones=set(policy_zones or ()))
        if sel.chosen_events:
            sel.chosen_zones &= {z["zone_id"] for z in sel.zones()}
        dates = sel.dates()
        chosen_dates = [event_date(e) for e in events if e["event_id"] in sel.chosen_events]
        sel.date = chosen_dates[0] if chosen_dates else (dates[0] if dates else None)
        return sel

    def dates(self) -> list[str]:
        return sorted({event_date(e) for e in self.events})

    def pick_date(self, date: str) -> None:
        self.date = date

    def visible_events(self) -> list[dict]:
        return [e for e in self.events if self.date is None or event_date(e) == self.date]

    def toggle_event(self, event_id: int) -> None:
        self.chosen_events ^= {event_id}
        valid = {z["zone_id"] for z in self.zones()}
        self.chosen_zones &= valid

    def zones(self) -> list[dict]:
        """Zones of the chosen events (by id; the same id in two events is one choice)."""
        seen: dict[int, dict] = {}
        for e in self.events:
            if e["event_id"] in self.chosen_events:
                for z in e.get("zones", []):
                    seen.setdefault(z["zone_id"], z)
        return [seen[k] for k in sorted(seen)]

    def toggle_zone(self, zone_id: int) -> None:
        self.chosen_zones ^= {zone_id}

    def result(self) -> tuple[frozenset[int], frozenset[int] | None]:
        """-> (events, zones) for the device policy; no zone ticked means every zone."""
        return frozenset(self.chosen_events), (frozenset(self.chosen_zones) if self.chosen_zones else None)

    @property
    def can_apply(self) -> bool:
        return bool(self.chosen_events)
