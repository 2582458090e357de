"""What a kiosk sells, as this device holds it: per event, date or pass its `Offer` (agent.pricing: prices per
category) and the stock left. From the kiosk bundle (each event's `desk`: the server's offer and stock, then its
passes'), unless the device keeps its own list (ledger setting `desk_offers`: the demo, a desk without a server).
Read by the desk (kiosk_ui.adapters.desk) and by an offline exchange (agent.desk: its price difference)."""
from __future__ import annotations

from typing import Any

from agent.ledger import Ledger
from agent.pricing import Offer

OFFERS = "desk_offers"


def held_offers(ledger: Ledger) -> list[dict[str, Any]]:
    """[{offer, stock, events, ...}]: a pass lists the events it admits to (the first is where its tickets are
    filed on this device)."""
    local = ledger.get_setting(OFFERS)
    if local:
        return list(local)
    out: dict[int, dict[str, Any]] = {}
    for e in ledger.events():
        desk = e.get("desk") or {}
        if desk.get("offer"):
            out[int(desk["offer"]["target_id"])] = dict(desk, events=[e["event_id"]])
        for p in desk.get("passes") or ():
            entry = out.setdefault(int(p["offer"]["target_id"]), dict(p, events=[]))
            entry["events"].append(e["event_id"])
    return list(out.values())


def held_offer(ledger: Ledger, target_id: int) -> Offer | None:
    """The offer of an event or pass as this device holds it; None when it holds none (no price list here)."""
    for entry in held_offers(ledger):
        if entry.get("offer") and int(entry["offer"]["target_id"]) == target_id:
            return Offer.from_json(entry["offer"])
    return None
