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
