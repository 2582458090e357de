"""What the kiosks sell from, watched by the announcer: an organiser's change of a price, promotion, quota, sales
window or currency changes no ticket, so the live updates never carried it and the kiosks kept selling from the
catalogue of their last bundle (an online sale refused 'price changed' again at every confirm). The announcer
compares each event's desk offer (bundles.desk_offer) with the one it saw last and has the kiosks of the events
that changed sent their delta, whose first section carries the offer."""
from __future__ import annotations

from server_stub.sync import bundles
from server_stub.sync.contract import SyncStore


class DeskCatalogues:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], dict | None] = {}

    def _offers(self, store: SyncStore, org: str) -> dict[tuple[str, int], dict | None]:
        return {(org, e["event_id"]): bundles.desk_offer(store, e["event_id"]) for e in store.events(org)}

    def seed(self, store: SyncStore, org: str) -> None:
        """At the server's start: the offers its devices' next bundles carry anyway."""
        self._seen.update(self._offers(store, org))

    def changed(self, store: SyncStore, org: str) -> set[int]:
        """The events whose desk offer differs from the last look (a new event: none, its kiosks are sent it)."""
        now = self._offers(store, org)
        out = {e for (o, e), offer in now.items() if (o, e) in self._seen and self._seen[(o, e)] != offer}
        self._seen.update(now)
        return out


class PassLists:
    """What the doors admit a pass to: each event's `passes` list. A `server pass edit` or `pass remove` changes
    it and no ticket (or only the pass's tickets, for an event gained), so the live updates never carried it and a
    door online kept admitting (or refusing) the pass's holders as before until its next hello. The announcer
    compares each event's pass ids with the ones it saw last and has the devices of the events that changed say
    hello: the delta they get carries the events' pass lists (and an event gained, the pass's tickets)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], tuple[int, ...]] = {}

    @staticmethod
    def _lists(store: SyncStore, org: str) -> dict[tuple[str, int], tuple[int, ...]]:
        return {(org, e["event_id"]): tuple(p["pass_id"] for p in e["passes"]) for e in store.events(org)}

    def seed(self, store: SyncStore, org: str) -> None:
        """At the server's start: the lists its devices' next bundles carry anyway."""
        self._seen.update(self._lists(store, org))

    def changed(self, store: SyncStore, org: str) -> set[int]:
        """The events whose pass list differs from the last look (a new event: none, its devices are sent it)."""
        now = self._lists(store, org)
        out = {e for (o, e), passes in now.items() if (o, e) in self._seen and self._seen[(o, e)] != passes}
        self._seen.update(now)
        return out


def holds_any(store: SyncStore, org: str, registered: list[int], events: set[int]) -> bool:
    """Whether a device registered for these event or pass ids (none: every event) holds, or held through a pass
    edited since, one of `events`."""
    if not registered:
        return True
    held: set[int] = set()
    for i in registered:
        try:
            held.update(store.events_opened(int(i)))      # a pass: the events it opens and opened once
        except LookupError:
            held.add(int(i))
    return bool(held & events)
