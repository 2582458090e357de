"""Exchanges a kiosk recorded offline (`agent exchange`, the app's offline path) settle no money: the kiosk refuses a
category at another price offline (agent.desk), so one arriving with a price difference comes from an older device
or a forged message. It is applied as the kiosk already did (the door refuses the old ticket, the replacement
exists), its order line is not moved and no sales report counts it (the desk's Z report counts it as an exchange
settling nothing); the difference nobody settled is kept in the exchange's record and listed by `server conflicts`
(`unsettled_exchanges`) for the organiser to settle."""
from __future__ import annotations

import json

from server_stub.store.sales import SalesMixin

UNSETTLED = "exchange_difference"        # the kind of a `server conflicts` entry listing one


class OfflineExchangesMixin(SalesMixin):
    def offline_exchange_difference(self, old: dict, new: dict) -> dict:
        """What to keep in the record of an offline exchange from `old` to `new` (store.ticket shapes): {} when its
        category (so its price) did not change, else the categories, the list prices' difference (new − old,
        None when one of them has no price) and the currency."""
        if new["category"] == old["category"]:
            return {}
        prices = self.prices(old["target_id"])
        if not prices:
            return {}                         # nothing on this event is priced (the organiser's own orders)
        before, after = prices.get(old["category"]), prices.get(new["category"])
        difference = None if before is None or after is None else after - before
        if difference == 0:
            return {}
        return {"category_before": old["category"], "category_after": new["category"], "difference_cents": difference,
                "currency": self.currency(old["target_id"]), "target_id": old["target_id"]}

    def unsettled_exchanges(self, org: str, event_id: int | None = None) -> list[dict]:
        """Offline exchanges whose price difference nobody settled, still in effect (a device rollback that undid one
        drops it), oldest first, shaped like a conflict (`kind` UNSETTLED, no admissions)."""
        targets = None if event_id is None else set(self.targets_of_event(event_id))
        out = []
        for (body,) in self.q("SELECT body FROM scans WHERE org=? AND type='kiosk' AND kind='exchange' ORDER BY seq",
                              (org,)):
            b = json.loads(body)
            if "category_after" not in b or (targets is not None and b.get("target_id") not in targets):
                continue
            old, new = str(b["ticket_key"]), str(b.get("replacement"))
            if self.q1("SELECT 1 FROM revocations WHERE ticket_id=? AND active=1 AND replacement=? AND reason LIKE "
                       "'exchanged:%'", (int(old), int(new))) is None:
                continue                      # undone since (device rollback; its order cancelled by it after)
            t = self.ticket(new)
            out.append({"kind": UNSETTLED, "ticket_key": old, "replacement": new, "event_id": b.get("target_id"),
                        "order_number": t["order_number"], "buyer_name": t["buyer_name"],
                        "order_status": t["order_status"], "device_id": b.get("device_id"), "at": b.get("at"),
                        "category_before": b["category_before"], "category_after": b["category_after"],
                        "difference_cents": b["difference_cents"], "currency": b["currency"],
                        "admissions": [], "first": None, "duplicates": [], "cancelled": None, "revoked": None})
        return out
