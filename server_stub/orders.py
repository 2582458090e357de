"""Order helpers for the organiser's tools: ticket specs typed on a command line, and orders as text."""
from __future__ import annotations


from agent.errors import InvalidInput
from agent.safe_text import timestamp
from server_stub.csv_import import Catalogue, _lookup
from server_stub.model import Position

SPEC_KEYS = ("category", "zone", "seat")


def parse_ticket_spec(spec: str, catalogue: Catalogue) -> Position:
    """`category=Adult,zone=2,seat=R3-14` (ids or names; every part optional) -> Position."""
    fields: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip().casefold()
        if not sep or key not in SPEC_KEYS:
            raise InvalidInput(f"ticket spec {spec!r}: use category=..,zone=..,seat=..")
        fields[key] = value.strip()
    category = _lookup(fields["category"], catalogue.categories, "category") if fields.get("category") else 0
    zone = _lookup(fields["zone"], catalogue.zones, "zone") if fields.get("zone") else None
    return Position(category, zone, fields.get("seat") or None)


def _when(ts: float | None) -> str:
    return timestamp(ts, "%Y-%m-%d %H:%M UTC") if ts else "-"


def catalogue_names(store, target_id: int) -> dict[str, dict[int, str]]:
    """The category and zone names of an event, or of the events of a pass: {"categories": {id: name}, "zones": …}."""
    names: dict[str, dict[int, str]] = {"categories": {}, "zones": {}}
    for e in store.target(target_id)["event_ids"]:
        event = store.event(e)
        names["categories"].update((c["category_id"], c["name"]) for c in event["categories"])
        names["zones"].update((z["zone_id"], z["name"]) for z in event["zones"])
    return names


def order_text(order: dict, names: dict[str, dict[int, str]] | None = None) -> str:
    """Human summary of `store.order(...)`; categories and zones by their names (`catalogue_names`), else ids."""
    names = names or {"categories": {}, "zones": {}}
    head = (f"order {order['number']}  {order['status'].upper()}  {order['buyer_name']}"
            + (f" <{order['email']}>" if order["email"] else "")
            + f"  {order['target_kind']} {order['event_id']}  created {_when(order['created_at'])}")
    if order.get("reason"):
        head += f"  ({order['reason']})"
    rows = [head]
    for t in order["tickets"]:
        flags = [f"revoked: {t['revoked']}"] if t["revoked"] else []
        flags += [f"blocked: {t['blocked']}"] if t["blocked"] else []
        flags += [quick_cancel_text(t["quick_cancelled"])] if t.get("quick_cancelled") else []
        seat = f" seat {t['seat']}" if t["seat"] else ""
        zone = f" zone {names['zones'].get(t['zone'], t['zone'])}" if t["zone"] is not None else " all zones"
        category = f"category {names['categories'].get(t['category'], t['category'])}" if t["category"] else "no category"
        rows.append(f"  ticket {t['ticket_key']:>16}  {category}{zone}{seat}"
                    + (f"  [{'; '.join(flags)}]" if flags else "")
                    + (f"  {check_in_text(t['check_in'])}" if "check_in" in t else ""))
    return "\n".join(rows)


def ticket_states(ticket: dict) -> dict:
    """A ticket's revoked / blocked / quick-cancelled states as `--json` gives them: booleans, never null for "no"
    (the text says `revoked: no`), with the reason and the door's cancellation ({at, gate, device_id}) beside them."""
    cancel = ticket.get("quick_cancelled")
    return {"revoked": bool(ticket["revoked"]), "revoked_reason": ticket["revoked"] or "",
            "blocked": bool(ticket["blocked"]), "blocked_reason": ticket["blocked"] or "",
            "quick_cancelled": bool(cancel), "quick_cancellation": cancel or None}


def order_json(order: dict) -> dict:
    """`store.order(...)` as `server order … --json` gives it: each ticket's states by `ticket_states`."""
    return dict(order, tickets=[dict(t, **ticket_states(t)) for t in order["tickets"]])


def check_in_text(rows: list[dict]) -> str:
    """A ticket's check-in as the guest list has it: `inside (1 entry, last scan 2026-12-31 19:05 UTC)`; a pass's
    per event (`check_ins`)."""
    def one(r: dict) -> str:
        last = f", last scan {_when(r['last_scan_at'])}" if r["last_scan_at"] else ""
        return r["check_in"] + (f" ({r['entries']} entr{'y' if r['entries'] == 1 else 'ies'}{last})" if r["entries"] else "")
    if len(rows) == 1:
        return one(rows[0])
    return "; ".join(f"event {r['event_id']}: {one(r)}" for r in rows) or "-"


def check_ins(store, org: str, target_id: int) -> dict[str, list[dict]]:
    """ticket key -> its check-in at each event of the target (`store.participants`, the guest list's read model)."""
    out: dict[str, list[dict]] = {}
    for e in store.target(target_id)["event_ids"]:
        for r in store.participants(org, e):
            out.setdefault(r["ticket"], []).append({"event_id": e, "check_in": r["check_in"], "entries": r["entries"],
                                                    "last_scan_at": r["last_scan_at"]})
    return out


def quick_cancel_text(cancel: dict) -> str:
    """A door's quick cancellation of a ticket (`store.ticket`/`order`: quick_cancelled), as the organiser reads it."""
    where = f" at {cancel['gate'] or cancel['device_id']}" if cancel.get("device_id") else ""
    return f"quick-cancelled{where} {_when(cancel['at'])}: back on sale" if cancel.get("at") else \
        "quick-cancelled at a door: back on sale"


def order_line(order: dict) -> str:
    return (f"{order['number']}  {order['status']:<9} {order['buyer_name']:<28} {order['email']:<30} "
            f"{order['target_kind']} {order['event_id']}  {len(order['tickets'])} ticket(s)")
