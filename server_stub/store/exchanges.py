"""Ticket exchange (the kiosk's `exchange` message, or the organiser): the old ticket is revoked and a replacement
is issued in the same order — a new ticket id, the same or a chosen category/zone/seat — in one transaction, so
devices learn both from the same change version (door devices: the revocation live; kiosk devices: a delta
with the replacement's signed payload, to print it)."""
from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

from agent.errors import InvalidInput
from agent.history import fold
from agent.reasons import coded
from agent.used import first_admission, used_refusal
from server_stub.model import Position
from server_stub.store.base import StoreError
from server_stub.store.order_store import OrderMixin
from server_stub.stats import SCAN_COLS, Scan
from server_stub.store.stock import needs, release_tickets, take

_KEEP = object()


class ExchangeMixin(OrderMixin):
    def exchange_ticket(self, ticket_key: str | int, reason: str, category: int | None = None, zone=_KEEP,
                        seat=_KEEP, target_id: int | None = None) -> dict:
        """Revoke `ticket_key` ("exchanged: reason") and issue its replacement, for another event/date or pass
        (`target_id`, same organiser) when given. Returns the new ticket (`store.ticket` shape, plus `replaces`). A
        ticket already revoked is not exchanged again (StoreError); no stock left for the new one: SoldOut."""
        if not reason.strip():
            raise InvalidInput("an exchange needs a reason")
        old = self.ticket(ticket_key)
        self._check_chosen(old["target_id"] if target_id is None else int(target_id), category, zone)
        with self.tx() as c:
            self._lock_org(old["org"])       # two kiosks exchanging the same ticket at once: the second sees the first
            if c.execute("SELECT 1 FROM revocations WHERE ticket_id=? AND active=1", (old["ticket_id"],)).fetchone():
                raise coded(StoreError(f"ticket {old['ticket_key']} is already revoked (exchanged before?)"),
                            "already_exchanged", ticket=old["ticket_key"])
            self._refuse_used(c, old["ticket_key"])
            order_id, position = c.execute(
                "SELECT order_id, (SELECT max(position) + 1 FROM tickets t2 WHERE t2.order_id = t.order_id) "
                "FROM tickets t WHERE ticket_id=?", (old["ticket_id"],)).fetchone()
            p = Position(category=old["category"] if category is None else int(category),
                         zone=old["zone"] if zone is _KEEP else zone, seat=old["seat"] if seat is _KEEP else seat)
            release_tickets(c, "t.ticket_id=?", (old["ticket_id"],))         # the old one back on sale…
            target = old["target_id"] if target_id is None else int(target_id)
            if target != old["target_id"] and self.target(target)["org"] != old["org"]:
                raise StoreError(f"no event or pass {target} for organiser {old['org']!r}")
            take(c, needs(target, [(p.category, p.zone, 1)]))                 # …the new one taken (SoldOut: nothing done)
            self.revoke_ticket(old["ticket_key"], f"exchanged: {reason}")     # joins this transaction (same version)
            version = c.execute("SELECT version FROM organisers WHERE org=?", (old["org"],)).fetchone()[0]
            new_id = self._insert_ticket(c, order_id, position, target, p, version)
            c.execute("UPDATE revocations SET replacement=? WHERE ticket_id=?", (new_id, old["ticket_id"]))
        return dict(self.ticket(new_id), replaces=old["ticket_key"])

    def _refuse_used(self, c, ticket_key: str) -> None:
        """StoreError `ticket_used` when any gate admitted the ticket (an entry not annulled nor reset; entry/exit: even
        if the holder went out): its replacement would be a second entry for one purchase (agent.used)."""
        rows = c.execute(f"SELECT {SCAN_COLS} FROM scans WHERE ticket_key=? AND type='action' ORDER BY seq",
                         (ticket_key,)).fetchall()
        entries = fold(Scan(*r).action() for r in rows)[0]
        first = first_admission(entries)         # its time said in its event's zone
        tz = ZoneInfo(self.event(first.event_id)["timezone"]) if first and first.event_id is not None else timezone.utc
        why = used_refusal(ticket_key, entries, tz)
        if why is not None:
            raise coded(StoreError(str(why)), why.code, **why.params)

    def _check_chosen(self, target_id: int, category: int | None, zone) -> None:
        """A category or zone the exchange chose must be one the event (or one of the pass's events) defines, as
        `server order add` and the CSV import require: else the replacement is a ticket for nowhere (a typo at the
        desk, a stolen kiosk) that a zoned gate refuses and an unzoned one admits."""
        events = [self.event(e) for e in self.target(target_id)["event_ids"]]
        categories = {c["category_id"] for ev in events for c in ev["categories"]}
        zones = {z["zone_id"] for ev in events for z in ev["zones"]}
        if category is not None and int(category) not in categories and (categories or int(category) != 0):
            raise InvalidInput(f"category {category} is not a category of event or pass {target_id} "
                               f"(it has {sorted(categories) or 'none'})")
        if zone is not _KEEP and zone is not None and zone not in zones:
            raise InvalidInput(f"zone {zone} is not a zone of event or pass {target_id} (it has {sorted(zones) or 'none'})")
