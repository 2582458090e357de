"""Which events and zones a device may be set to admit: those its event data holds (pure rule, no I/O).

One rule for every way a selection is made: `agent configure` / `agent scan --events/--zones`, the organiser's
signed `config` command (agent.sync.commands) and the app's Events screen (kiosk_ui.door). An event the device does
not know, or a zone none of the selected events has, would make every scan after it WRONG EVENT / WRONG ZONE: refused,
naming what the device knows. A device with no event data yet (enrolled, first bundle not in; a keys-only device)
cannot check: the selection is taken and a notice says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from agent.errors import InvalidInput

MAX_LISTED = 12          # events / zones named in a refusal (the rest counted)


@dataclass(frozen=True)
class KnownEvent:
    event_id: int
    name: str = ""
    zones: Mapping[int, str] = field(default_factory=dict)     # zone id -> name


class SelectionRefused(InvalidInput):
    """The selection names an event or zone the device's event data does not hold; nothing was changed."""


def check_selection(events: Iterable[int], zones: Iterable[int] | None, known: Sequence[KnownEvent]) -> str | None:
    """`events` selected (empty: every event the device knows), `zones` accepted (None or empty: all).
    -> None when fine, a notice when the device holds no event data to check against.
    Raises SelectionRefused naming the unknown ids and what the device knows."""
    chosen, gates = sorted(set(events)), sorted(set(zones or ()))
    if not known:
        if not chosen and not gates:
            return None
        what = " and ".join(_ids(w, ids) for w, ids in (("event", chosen), ("zone", gates)) if ids)
        return (f"this device holds no event data yet: {what} taken unchecked (the first sync brings the events "
                "and zones); a wrong id makes every scan WRONG EVENT or WRONG ZONE")
    by_id = {e.event_id: e for e in known}
    unknown = [e for e in chosen if e not in by_id]
    if unknown:
        raise SelectionRefused(f"{_ids('event', unknown)} {_is(unknown)} not known on this device; its event data holds "
                               + _listed("event", [(e.event_id, e.name) for e in sorted(by_id.values(),
                                                                                         key=lambda e: e.event_id)]))
    selected = [by_id[e] for e in chosen] or sorted(by_id.values(), key=lambda e: e.event_id)
    offered: dict[int, str] = {}
    for e in selected:
        for zone_id, name in e.zones.items():
            offered.setdefault(zone_id, name)
    outside = [z for z in gates if z not in offered]
    if outside:
        whose = "the events of this device" if not chosen else _listed("event", [(e.event_id, e.name) for e in selected])
        has = _listed("zone", [(z, offered[z]) for z in sorted(offered)]) if offered else \
            "no zones (leave the zones empty: every zone)"
        raise SelectionRefused(f"{_ids('zone', outside)} {_is(outside)} not {'a zone' if len(outside) == 1 else 'zones'} "
                               f"of {whose}; "
                               f"{'they have' if len(selected) > 1 else 'it has'} {has}")
    return None


def _ids(what: str, ids: list[int]) -> str:
    return f"{what} {ids[0]}" if len(ids) == 1 else f"{what}s {', '.join(map(str, ids))}"


def _is(ids: list[int]) -> str:
    return "is" if len(ids) == 1 else "are"


def _listed(what: str, named: list[tuple[int, str]]) -> str:
    """"event 1 (Night 1)" / "events 1 (Night 1), 2, 3 (Day 3)", at most MAX_LISTED named, the rest counted."""
    shown = ", ".join(f"{i} ({n})" if n else str(i) for i, n in named[:MAX_LISTED])
    more = f" and {len(named) - MAX_LISTED} more" if len(named) > MAX_LISTED else ""
    return f"{what}{'s' if len(named) > 1 else ''} {shown}{more}"
