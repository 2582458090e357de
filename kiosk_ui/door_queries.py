"""Read-only figures from the ledger for the door screens (counters, stats). SQL only; no decisions."""
from __future__ import annotations

from agent.ledger import Ledger

# live entries: not annulled (the annulments are few; SQLite builds the IN list once per query)
_LIVE = ("c.kind='entry' AND c.scan_uuid NOT IN "
         "(SELECT ref_uuid FROM checkins WHERE kind='annul' AND ref_uuid IS NOT NULL)")


def inside_now(ledger: Ledger, events: frozenset[int] | None = None) -> int:
    """People inside now (all gates this device knows of; annulments and organiser resets applied): the ledger's
    read model (agent.read_models)."""
    return sum(ledger.inside(events).values())


def stats_rows(ledger: Ledger, by: str) -> list[tuple[str, int, int]]:
    """(label, entries in, exits) grouped by event, zone or gate, from live entries."""
    if by == "event":
        sql = (f"SELECT coalesce(e.name, 'event ' || c.event_id), "
               f"sum(c.direction IS NOT 'out'), sum(c.direction = 'out') FROM checkins c "
               f"LEFT JOIN events e ON e.event_id = c.event_id WHERE {_LIVE} GROUP BY c.event_id ORDER BY 1")
    elif by == "zone":
        sql = (f"SELECT coalesce(z.name, CASE WHEN t.zone IS NULL THEN '-' ELSE 'zone ' || t.zone END), "
               f"sum(c.direction IS NOT 'out'), sum(c.direction = 'out') FROM checkins c "
               f"LEFT JOIN tickets t ON t.ticket_key = c.ticket_key "
               f"LEFT JOIN zones z ON z.event_id = c.event_id AND z.zone_id = t.zone WHERE {_LIVE} GROUP BY 1 ORDER BY 1")
    elif by == "gate":
        sql = (f"SELECT CASE WHEN c.gate = '' THEN c.device_id ELSE c.gate END, "
               f"sum(c.direction IS NOT 'out'), sum(c.direction = 'out') FROM checkins c WHERE {_LIVE} GROUP BY 1 ORDER BY 1")
    else:
        raise ValueError(f"stats by event, zone or gate, not {by!r}")
    return [(str(label), int(i or 0), int(o or 0)) for label, i, o in ledger.conn.execute(sql).fetchall()]


def ticket_state(ledger: Ledger, ticket_key: str) -> str:
    """Plain state of one ticket for the search list: used / inside / out / cancelled / revoked / blocked / unpaid / valid."""
    history = ledger.history(ticket_key)
    if history.revoked is not None or history.order_status in ("cancelled", "refunded"):
        return "revoked"
    if history.blocked is not None:
        return "blocked"
    if history.order_status == "pending":
        return "unpaid"
    if history.cancelled is not None:
        return "cancelled"
    if history.entries:
        last = history.entries[-1]
        return "out" if last.direction == "out" else "used"
    return "valid"


def last_upload(ledger: Ledger) -> float | None:
    """When the server last acknowledged something from this device."""
    return ledger.last_acked()


def conflicts(ledger: Ledger) -> int:
    """Tickets admitted twice for an event (the server's rule, agent.read_models), once other gates' entries arrive."""
    return len(ledger.conflicts())
