"""A realistic demo device: two festival days, zones with organiser messages, orders, a signing key.

Used by `ticketgate kiosk --demo`, the rendering tests and the guides' screenshots. The key is generated
fresh each time and only its public half is trusted by the device.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.stored_policy import save_policy
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.ticket_format import Ticket
from kiosk_ui.door import Door
from agent.signing import SigningKey

DAY = 86400


@dataclass
class Demo:
    door: Door
    key: SigningKey
    now: float

    def ticket(self, ticket_id: int, event_id: int = 1, zones=(1,), category: int = 1, seat: str | None = None,
               **kw) -> str:
        return self.key.issue(Ticket(self.key.key_id, event_id, ticket_id, category=category, zones=tuple(zones),
                                     seat=seat, **kw))

    def forged(self, ticket_id: int = 1001) -> str:
        intruder = SigningKey.generate(self.key.key_id)       # same key id, another private key
        return intruder.issue(Ticket(self.key.key_id, 1, ticket_id, category=1, zones=(1,)))


def seed(home: str | Path, now: float | None = None, role: str = "kiosk", **gate_kw) -> Demo:
    now = time.time() if now is None else now
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate(1, organiser="Festival des Lumières")
    keyring = Keyring()
    keyring.add(key.trusted())
    keyring.save(home / "keyring.json")
    ledger = Ledger.open(home / "ledger.sqlite")
    # Friday's doors opened two hours ago (on the hour), whatever the time of day: the demo and the tests that use
    # it judge its tickets inside their validity window at any hour (a fixed 17:00 UTC was outside it 00:00-11:00)
    day0 = now - now % 3600 - 2 * 3600
    zones = [{"zone_id": 1, "name": "Floor", "message": ""}, {"zone_id": 2, "name": "Balcony", "message": ""},
             {"zone_id": 3, "name": "VIP lounge", "message": "VIP — hand out a wristband"}]
    cats = [{"category_id": 1, "name": "Standard", "message": ""},
            {"category_id": 2, "name": "VIP", "message": "VIP — hand out a wristband"},
            {"category_id": 3, "name": "Child", "message": "Child: must come with an adult"}]
    ledger.upsert_events([
        {"event_id": 1, "name": "Festival — Friday", "starts_at": day0, "ends_at": day0 + 6 * 3600, "zones": zones,
         "categories": cats, "organiser": "Festival des Lumières"},
        {"event_id": 2, "name": "Festival — Saturday", "starts_at": day0 + DAY, "ends_at": day0 + DAY + 6 * 3600,
         "zones": zones, "categories": cats, "organiser": "Festival des Lumières"},
        {"event_id": 3, "name": "Afterparty — Friday", "starts_at": day0 + 5 * 3600, "zones": zones[:1],
         "categories": cats[:1], "organiser": "Festival des Lumières"},
    ])
    buyers = [("A-1001", "Hélène Dupont", 1, 1, None), ("A-1002", "Bob Martin", 2, 3, "R3-12"),
              ("A-1003", "Chloé Bernard", 1, 2, None), ("A-1004", "Marc Lefèvre", 1, 1, None)]
    tickets: list[dict[str, Any]] = []
    for n, (order, name, cat, zone, seat) in enumerate(buyers):
        for k in range(2):
            tickets.append({"ticket_key": str(1001 + n * 10 + k), "event_id": 1, "order_number": order,
                            "buyer_name": name, "email": name.split()[0].lower() + "@example.org", "category": cat,
                            "zone": zone, "seat": seat, "order_status": "pending" if order == "A-1004" else "paid"})
    # the kiosk's printable copies (signed QR payloads), in the ledger as a kiosk's event bundle carries them
    for t in tickets:
        t["payload"] = key.issue(Ticket(1, 1, int(t["ticket_key"]), category=t["category"], zones=(t["zone"],),
                                        seat=t["seat"]))
    ledger.upsert_tickets(tickets)
    ledger.revoke(["1021"], "order refunded")
    policy = DevicePolicy(device_id="handheld-3", gate="North", events=frozenset({1}), zones=frozenset({1, 3}),
                          reread_window=3.0)
    save_policy(ledger, policy)
    ledger.set_setting("device_role", role)        # a kiosk (it holds printable copies) that scans too
    return Demo(Door(ledger, keyring, policy, **gate_kw), key, now)


def seed_desk(demo: Demo, desk: Any, now: float | None = None) -> None:
    """What the demo desk sells (prices, promotions, stock left, as the server's catalogue sends them) and a sales
    allotment for the kiosk's own key, certified by the demo organiser key (`desk`: kiosk_ui.adapters.desk.KioskDesk)."""
    from agent.allotment import ALLOTMENT_ID_BASE, Certificate, sign_certificate
    from agent.pricing import Offer, Promotion
    now = demo.now if now is None else now
    four_for_three = Promotion(1, "x_for_y", category=1, x=4, y=3)
    spring = Promotion(2, "percent", percent=10, code="SPRING", uses_left=50)
    offers = [
        {"offer": Offer(1, "EUR", {1: 2500, 2: 6000, 3: 1200}, (four_for_three, spring), max_per_order=10).to_json(),
         "stock": {"1": 40, "2": 3, "3": 0}},
        {"offer": Offer(2, "EUR", {1: 2800, 2: 6500, 3: 1200}, (four_for_three,), max_per_order=10).to_json(),
         "stock": {"1": 120, "2": 18, "3": 25}},
    ]
    demo.door.ledger.set_setting("desk_offers", offers)
    cert = Certificate(demo.key.key_id, 7, demo.door.policy.device_id, desk.public_key(),
                       ALLOTMENT_ID_BASE + 7_000_000, ALLOTMENT_ID_BASE + 7_000_499, 500, int(now) - 3600,
                       int(now) + 3 * DAY, (1, 2))
    desk.save_certificate(sign_certificate(cert, demo.key.private_key).to_text())
