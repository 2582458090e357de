"""Events screen: dates at the top, then one or several events, then zones. Pure state machine.

An event is listed under every day it runs on, in its own time zone: a three-day festival under each of its days, a
show ending after midnight under the next day too (the day changes while it runs). The screen opens on today's date
when an event runs now: the supervisor who opens it on a festival's third day sees that day's events."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

MAX_DAYS = 31           # an event running longer is listed under its first, last and current day only


def _tz(event: dict) -> tzinfo:
    try:
        return ZoneInfo(event.get("timezone") or "UTC")
    except Exception:
        return timezone.utc


def _local_day(ts: float, event: dict) -> date:
    return datetime.fromtimestamp(ts, _tz(event)).date()


def _span(event: dict) -> tuple[date, date] | None:
    """The first and last day the event runs on, in its time zone (an end at midnight sharp is the day before's);
    its start's day alone when it has no end; None without a start."""
    start, end = event.get("starts_at"), event.get("ends_at")
    if not isinstance(start, (int, float)):
        return None
    first = _local_day(start, event)
    return first, (_local_day(max(start, end - 1), event) if isinstance(end, (int, float)) else first)


def runs_on(event: dict, day: str) -> bool:
    """Whether the event runs on `day` ('YYYY-MM-DD' in its time zone; '—' for an event without a start)."""
    span = _span(event)
    return day == "—" if span is None else span[0].isoformat() <= day <= span[1].isoformat()


def event_dates(event: dict, now: float | None = None) -> list[str]:
    """Every day the event runs on, in its time zone. An event longer than MAX_DAYS (a season) is listed under its
    first and last days and, when it runs `now`, today's: a row of dates, not a calendar."""
    span = _span(event)
    if span is None:
        return ["—"]
    first, last = span
    if (last - first).days < MAX_DAYS:
        return [(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]
    today = [] if now is None or not runs_on(event, _today(event, now)) else [_today(event, now)]
    return sorted({first.isoformat(), last.isoformat(), *today})


def _today(event: dict, now: float) -> str:
    return _local_day(now, event).isoformat()


def _opening_date(events: list[dict], chosen: set[int], now: float) -> str | None:
    """The date the screen opens on: today's for a chosen event running today and not over, else a chosen event's
    first day; with none chosen, today's for an event running today and not over, else the next day an event not
    over runs, else the last day held."""
    def over(e: dict) -> bool:
        return isinstance(e.get("ends_at"), (int, float)) and e["ends_at"] <= now

    def running_today(pool: list[dict]) -> str | None:
        days = [_today(e, now) for e in pool if not over(e) and runs_on(e, _today(e, now))]
        return min(days) if days else None
    mine = [e for e in events if e["event_id"] in chosen]
    if mine:
        return running_today(mine) or event_dates(mine[0], now)[0]
    ahead = sorted(d for e in events if not over(e) for d in event_dates(e, now) if d != "—" and d >= _today(e, now))
    every = sorted({d for e in events for d in event_dates(e, now)})
    return running_today(events) or (ahead[0] if ahead else every[-1] if every else None)


@dataclass
class Selection:
    events: list[dict]
    date: str | None = None
    chosen_events: set[int] = field(default_factory=set)
    chosen_zones: set[int] = field(default_factory=set)     # empty: all zones
    now: float | None = None                                # when the screen opened (a season's current day)

    @classmethod
    def from_policy(cls, events: list[dict], policy_events, policy_zones, now: float | None = None) -> "Selection":
        # only what the screen can show (and untick): a stored event the event data no longer holds is dropped,
        # and with it its zones
        held = {e["event_id"] for e in events}
        now = time.time() if now is None else now
        sel = cls(events, chosen_events=set(policy_events or ()) & held, chosen_zones=set(policy_zones or ()),
                  now=now)
        if sel.chosen_events:
            sel.chosen_zones &= {z["zone_id"] for z in sel.zones()}
        sel.date = _opening_date(events, sel.chosen_events, now)
        return sel

    def dates(self) -> list[str]:
        return sorted({d for e in self.events for d in event_dates(e, self.now)})

    def pick_date(self, date: str) -> None:
        self.date = date

    def visible_events(self) -> list[dict]:
        return [e for e in self.events if self.date is None or runs_on(e, self.date)]

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
