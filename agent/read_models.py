"""Read models over the action log, all built on `agent.history.fold`: who is inside, conflicts, counters.

One definition each, used by the device (ledger, door screens, `agent status`) and the server (stats, conflicts):

* **effective entries** of a ticket: its `entry` actions in server-time order, without the annulled ones and those
  before an organiser `reset` (`fold`);
* **inside**: per event, a ticket whose last effective movement is `in`;
* **conflict** (a ticket admitted twice), per (ticket, event): walking its effective entries, an `out` leaves,
  an admission while already inside is a duplicate, except from a multiple-entry gate (`mode` "multiple"), where
  coming in again is the point. Normal mode thus flags the second `in`; entry/exit flags `in, in`, not `in, out, in`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from agent.history import Action, fold, is_inside

OUT = "out"
MULTIPLE = "multiple"


@dataclass(frozen=True)
class Conflict:
    ticket_key: str
    event_id: int | None
    admissions: tuple[Action, ...]      # every effective admission for the event (exits left out), in order
    duplicates: tuple[Action, ...]      # those that came while the ticket was already inside


def effective_entries(actions: Iterable[Action]) -> tuple[Action, ...]:
    return fold(actions)[0]


def by_event(entries: Iterable[Action]) -> dict[int | None, list[Action]]:
    out: dict[int | None, list[Action]] = defaultdict(list)
    for e in entries:
        out[e.event_id].append(e)
    return out


def inside_events(entries: Iterable[Action]) -> frozenset[int | None]:
    """The events this ticket is inside now (its last effective movement there was `in`)."""
    return frozenset(ev for ev, moves in by_event(entries).items() if is_inside(moves))


def ticket_conflicts(ticket_key: str, entries: Iterable[Action], event_id: int | None = None) -> list[Conflict]:
    found = []
    for ev, moves in by_event(entries).items():
        if event_id is not None and ev != event_id:
            continue
        inside, dupes = False, []
        for m in moves:
            if m.direction == OUT:
                inside = False
                continue
            if inside and m.mode != MULTIPLE:
                dupes.append(m)
            inside = True
        if dupes:
            found.append(Conflict(ticket_key, ev, tuple(m for m in moves if m.direction != OUT), tuple(dupes)))
    return found


def conflicts(effective: Mapping[str, Iterable[Action]], event_id: int | None = None) -> list[Conflict]:
    """Every (ticket, event) admitted twice, from each ticket's effective entries; oldest duplicate first."""
    found = [c for key, entries in effective.items() for c in ticket_conflicts(key, entries, event_id)]
    found.sort(key=lambda c: (c.event_id or 0, c.duplicates[0].server_at))
    return found


def inside_counts(effective: Mapping[str, Iterable[Action]]) -> dict[int | None, int]:
    counts: dict[int | None, int] = defaultdict(int)
    for entries in effective.values():
        for ev in inside_events(entries):
            counts[ev] += 1
    return dict(counts)


class InsideCounter:
    """Who is inside, kept up to date ticket by ticket (the device refolds only the tickets whose log grew)."""

    def __init__(self) -> None:
        self._inside: dict[str, frozenset[int | None]] = {}
        self._counts: dict[int | None, int] = defaultdict(int)

    def update(self, ticket_key: str, actions: Iterable[Action]) -> None:
        for ev in self._inside.pop(ticket_key, ()):
            self._counts[ev] -= 1
        events = inside_events(effective_entries(actions))
        if events:
            self._inside[ticket_key] = events
            for ev in events:
                self._counts[ev] += 1

    def counts(self, events: Iterable[int] | None = None) -> dict[int | None, int]:
        wanted = None if events is None else set(events)
        return {ev: n for ev, n in self._counts.items() if n and (wanted is None or ev in wanted)}
