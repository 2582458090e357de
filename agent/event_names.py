"""Event, zone and category names and the organiser's messages (from the event bundle), as the door shows them: the
app's verdict screen and lists (kiosk_ui.door) and `ticketgate agent scan`."""
from __future__ import annotations

from typing import Any

from agent.ledger import Ledger
from agent.verdicts import Verdict


class EventNames:
    """The ledger's events, read once (the app reloads them when a bundle arrives)."""

    def __init__(self, ledger: Ledger):
        self._events = {e["event_id"]: e for e in ledger.events()}

    def event(self, event_id: int | None) -> dict[str, Any] | None:
        return self._events.get(event_id)

    def zone(self, event_id: int | None, zone_id: int) -> dict[str, Any] | None:
        return self._find(event_id, "zones", "zone_id", zone_id)

    def category(self, event_id: int | None, category_id: int | None) -> dict[str, Any] | None:
        return self._find(event_id, "categories", "category_id", category_id)

    def _find(self, event_id: int | None, table: str, id_col: str, value: int | None) -> dict[str, Any] | None:
        """The row of that event only: zone and category ids are per event, so a ticket of an event this device
        does not hold (never had, or taken away) is named by its numbers, never after another event's rows."""
        event = self._events.get(event_id)
        if value is None or event is None:
            return None
        return next((row for row in event[table] if row[id_col] == value), None)


def organiser_messages(v: Verdict, names: Any) -> list[str]:
    """The organiser's messages for an admitted ticket's category and zones (e.g. 'VIP — hand out a wristband'):
    the app's yellow band. `names`: an EventNames (or what has its category/zone)."""
    if not v.accepted:
        return []
    msgs: list[str] = []
    cat = names.category(v.event_id, v.category) if v.category else None
    for row in [cat] + [names.zone(v.event_id, z) for z in v.zones]:
        if row and row.get("message") and row["message"] not in msgs:
            msgs.append(row["message"])
    return msgs
