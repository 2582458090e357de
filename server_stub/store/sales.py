"""The desk on the server: the catalogue's prices, quotas (stock), sales windows and promotions; online sales,
refunds and cancellations; offline sales allotments and their reconciliation.

Stock is counters per quota row (`quotas`: a target — event or pass — and a scope: the whole event (ref 0), a
category, a zone), moved in the transaction of what moves it: a sale takes with a conditional
`UPDATE … WHERE sold + held + n <= capacity` (atomic on SQLite under BEGIN IMMEDIATE and on PostgreSQL, where the
row lock makes a concurrent sale re-check the condition on the committed row), so two kiosks never oversell; a
cancellation, refund, exchange or quick cancellation at a door gives back; an allotment holds its maximum count
until its sales come back (then sold) or it is revoked (the unsold rest released). No quota row: unlimited.
"""
from __future__ import annotations

import json
import time
from typing import Any

from agent.allotment import (ALLOTMENT_ID_BASE, Certificate, offline_order_number, refill_due, revocation_key,
                             sign_certificate)
from agent.errors import InvalidInput
from agent.pretix_sig1 import KEY_PREFIX as PRETIX_KEY
from agent.reasons import WINDOW_CODES, coded, reason_fields
from agent.pricing import CartLine, Offer, PricingError, Promotion, normalize_code, price_cart
from agent.pricing import cents_text
from agent.safe_text import timestamp
from agent.sync.messages import (MAX_PARTS, SETTLE_METHODS, DeskAnswer, ExchangeRequest, OfflineSale, PaymentPart,
                                 RefundRequest, SaleRequest, SoldTicket, paid_parts)
from server_stub.model import PAID, PENDING, OrderInput, Position
from server_stub.reports import net_paid, spread
from server_stub.store.base import NotFound, StoreError, of_org
from server_stub.store.exchanges import ExchangeMixin
from server_stub.store.keys_devices import KeysDevicesMixin
from server_stub.store.order_store import ticket_id
from server_stub.store.stock import give_back, needs, take

SCOPES = ("event", "category", "zone")
DOOR_CANCEL = "quick-cancelled at the door"
UNDO = "undo"                   # what a kept desk answer holds for a rollback (server_stub.store.desk_rollback)
ROLLED_BACK = "rolled_back"     # when a rollback undid it; neither is sent to the kiosk
ALLOTMENT_SPAN = 2**20          # ticket ids per allotment range: first = BASE + id * SPAN
MAX_ALLOTMENT = 100_000

# one order line (a sale's, a priced pending order's, an exchange's, an offline sale's)
INSERT_LINE = ("INSERT INTO order_lines(order_id, line, category, zone, quantity, unit_cents, discount_cents, total_cents, "
               "promotion, promo_id) VALUES (?,?,?,?,?,?,?,?,?,?)")


class SalesMixin(ExchangeMixin, KeysDevicesMixin):
    # -- stock ---------------------------------------------------------------------------------------------
    def quick_cancelled(self, c: Any, ticket_key: str, undone: bool = False) -> bool:
        """A door's quick cancellation (or its annulment, `undone`) reached the server: the ticket goes back on sale
        (or is taken again). Idempotent by the ticket's `released` flag."""
        tid = ticket_id(ticket_key)
        if tid is None:
            return False
        row = c.execute("UPDATE tickets SET released=? WHERE ticket_id=? AND released=? RETURNING target_id, category, "
                        "zone", (0 if undone else 1, tid, 1 if undone else 0)).fetchone()
        if row is None:
            return False
        moves = needs(row[0], [(row[1], row[2], 1)])
        if undone:
            take(c, moves, check=False)       # the ticket exists and was never resold: counted again
        else:
            give_back(c, moves)
        self._order_after_door_cancel(c, tid, undone)
        return True

    def _order_after_door_cancel(self, c: Any, ticket_id: int, undone: bool) -> None:
        """Every ticket of an order quick-cancelled at a door: the order is cancelled (nothing of it is sold any
        more); one of them taken back: the order is what it was. Doors keep saying `cancelled` for such tickets
        (check_revoked leaves an order cancelled this way to check_cancelled)."""
        order_id, org, status, reason = c.execute(
            "SELECT o.order_id, o.org, o.status, o.reason FROM orders o JOIN tickets t ON t.order_id = o.order_id "
            "WHERE t.ticket_id=?", (ticket_id,)).fetchone()
        if undone:
            if status != "cancelled" or not reason.startswith(DOOR_CANCEL):
                return
            new, why = (PENDING if reason.endswith(f"(was {PENDING})") else PAID), ""
        else:
            if status not in (PAID, PENDING) or c.execute(
                    "SELECT 1 FROM tickets t LEFT JOIN revocations r ON r.ticket_id = t.ticket_id AND r.active = 1 "
                    "WHERE t.order_id=? AND t.released = 0 AND r.ticket_id IS NULL", (order_id,)).fetchone():
                return
            new, why = "cancelled", f"{DOOR_CANCEL} (was {status})"
        version = self._bump(org)
        c.execute("UPDATE orders SET status=?, reason=?, updated_at=? WHERE order_id=?", (new, why, time.time(), order_id))
        c.execute("UPDATE tickets SET version=? WHERE order_id=?", (version, order_id))

    # -- catalogue ---------------------------------------------------------------------------------------------
    def _own_target(self, org: str, target_id: int) -> dict:
        return of_org(self.target(target_id), org, f"no event or pass {target_id} for organiser {org!r}")

    def set_currency(self, org: str, event_id: int, currency: str) -> None:
        currency = currency.strip().upper()
        if not (len(currency) == 3 and currency.isalpha()):
            raise InvalidInput(f"currency {currency!r}: a three-letter ISO 4217 code such as EUR or CHF")
        self._own_target(org, event_id)
        with self.tx() as c:
            c.execute("UPDATE events SET currency=? WHERE event_id=?", (currency, event_id))
            self._bump(org)            # the kiosks price in it: their next bundle carries it

    def currency(self, target_id: int) -> str:
        events = self.target(target_id)["event_ids"]
        row = self.q1("SELECT currency FROM events WHERE event_id=?", (events[0],)) if events else None
        return row[0] if row else "EUR"

    def set_price(self, org: str, target_id: int, category: int, cents: int) -> dict:
        if not 0 <= int(category) <= 65535:
            raise InvalidInput(f"category {category}: 0..65535")
        if not 0 <= int(cents) <= 10**10:
            raise InvalidInput(f"price {cents}: a number of cents, 0 or more")
        self._own_target(org, target_id)
        with self.tx() as c:
            c.execute("INSERT INTO prices(target_id, category, cents) VALUES (?,?,?) ON CONFLICT (target_id, category) "
                      "DO UPDATE SET cents=excluded.cents", (target_id, int(category), int(cents)))
            version = self._bump(org)  # the kiosks' next bundle carries the price list
            # pending orders with no priced line cost what the prices say: their amount due changed, the kiosks'
            # next delta carries it (their tickets' rows, changed)
            unpriced = ("SELECT o.order_id FROM orders o WHERE o.target_id=? AND o.status='pending' AND NOT EXISTS "
                        "(SELECT 1 FROM order_lines l WHERE l.order_id = o.order_id)")
            if c.execute(unpriced + " LIMIT 1", (target_id,)).fetchone():
                c.execute(f"UPDATE tickets SET version=? WHERE order_id IN ({unpriced})", (version, target_id))
        return {"target_id": target_id, "category": int(category), "cents": int(cents),
                "currency": self.currency(target_id)}

    def check_target_refs(self, org: str, target_id: int, category: int | None = None,
                          zone: int | None = None) -> None:
        """What `server price|quota|promo` name is a category (zone) of the target's events (any, when they name
        none): one they lack (a typo) is refused, naming theirs, rather than priced or limited where nothing sells."""
        events = [self.event(e) for e in self._own_target(org, target_id)["event_ids"]]
        for what, plural, value in (("category", "categories", category), ("zone", "zones", zone)):
            names = {x[f"{what}_id"]: x["name"] for e in events for x in e[plural]}
            if value is not None and names and int(value) not in names:
                raise InvalidInput(f"event or pass {target_id} has no {what} {value}; its {plural}: "
                                   + ", ".join(f"{k} ({v})" for k, v in sorted(names.items())))

    def prices(self, target_id: int) -> dict[int, int]:
        return {cat: cents for cat, cents in self.q("SELECT category, cents FROM prices WHERE target_id=? "
                                                    "ORDER BY category", (target_id,))}

    def set_quota(self, org: str, target_id: int, capacity: int, scope: str = "event", ref: int = 0) -> dict:
        """Create or resize a quota; `sold` starts from the target's active tickets in that scope."""
        if scope not in SCOPES:
            raise InvalidInput(f"quota scope {scope!r}: one of {', '.join(SCOPES)}")
        if not 0 <= int(capacity) <= 10**9:
            raise InvalidInput(f"capacity {capacity}: 0 or more")
        ref = 0 if scope == "event" else int(ref)
        self._own_target(org, target_id)
        where = {"event": "", "category": " AND t.category=?", "zone": " AND t.zone=?"}[scope]
        with self.tx() as c:
            self._lock_org(org)
            sold = c.execute("SELECT count(*) FROM tickets t LEFT JOIN revocations r ON r.ticket_id = t.ticket_id "
                             f"AND r.active = 1 WHERE t.target_id=? AND r.ticket_id IS NULL AND t.released = 0{where}",
                             (target_id,) + ((ref,) if where else ())).fetchone()[0]
            c.execute("INSERT INTO quotas(target_id, scope, ref, capacity, sold) VALUES (?,?,?,?,?) "
                      "ON CONFLICT (target_id, scope, ref) DO UPDATE SET capacity=excluded.capacity",
                      (target_id, scope, ref, int(capacity), sold))
            self._bump(org)            # the kiosks show the stock left from their bundle
        return next(q for q in self.quotas(target_id) if (q["scope"], q["ref"]) == (scope, ref))

    def quotas(self, target_id: int) -> list[dict]:
        """Each quota's figures; `oversold`: sold past its capacity (an offline kiosk's sales of a category or zone,
        reconciled after the last seats were sold online: an allotment holds whole-event stock only)."""
        return [{"target_id": target_id, "scope": s, "ref": r, "capacity": cap, "sold": sold, "held": held,
                 "left": max(cap - sold - held, 0), "oversold": max(sold - cap, 0)}
                for s, r, cap, sold, held in self.q("SELECT scope, ref, capacity, sold, held FROM quotas WHERE "
                                                    "target_id=? ORDER BY scope, ref", (target_id,))]

    def set_sales_window(self, org: str, target_id: int, opens_at: float | None = None, closes_at: float | None = None,
                         door_only: bool = False, max_per_order: int | None = None) -> dict:
        if opens_at is not None and closes_at is not None and closes_at <= opens_at:
            raise InvalidInput("sales must close after they open")
        if max_per_order is not None and not 0 < max_per_order <= 1000:
            raise InvalidInput(f"per-order limit {max_per_order}: 1..1000")
        self._own_target(org, target_id)
        with self.tx() as c:
            c.execute("INSERT INTO sales_windows(target_id, opens_at, closes_at, door_only, max_per_order) "
                      "VALUES (?,?,?,?,?) ON CONFLICT (target_id) DO UPDATE SET opens_at=excluded.opens_at, "
                      "closes_at=excluded.closes_at, door_only=excluded.door_only, max_per_order=excluded.max_per_order",
                      (target_id, opens_at, closes_at, int(door_only), max_per_order))
            self._bump(org)            # the kiosks sell (offline too) within the window their bundle gave them
        return self.sales_window(target_id)

    def sales_window(self, target_id: int) -> dict:
        row = self.q1("SELECT opens_at, closes_at, door_only, max_per_order FROM sales_windows WHERE target_id=?",
                      (target_id,))
        opens, closes, door, limit = row if row else (None, None, 0, None)
        return {"target_id": target_id, "opens_at": opens, "closes_at": closes, "door_only": bool(door),
                "max_per_order": limit}

    def add_promotion(self, org: str, kind: str, target_id: int | None = None, category: int | None = None,
                      x: int = 0, y: int = 0, percent: int = 0, amount_cents: int = 0, code: str | None = None,
                      max_uses: int | None = None, valid_from: float | None = None,
                      valid_until: float | None = None) -> dict:
        Promotion(0, kind, category, x, y, percent, amount_cents, normalize_code(code))     # checks the figures
        if target_id is not None:
            self._own_target(org, target_id)
        if max_uses is not None and (code is None or max_uses < 1):
            raise InvalidInput("a usage limit goes with a promo code, and is 1 or more")
        with self.tx() as c:
            row = c.execute("INSERT INTO promotions(org, target_id, kind, category, x, y, percent, amount_cents, code, "
                            "max_uses, valid_from, valid_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                            "ON CONFLICT (org, code) DO NOTHING RETURNING promo_id",
                            (org, target_id, kind, category, x, y, percent, amount_cents, normalize_code(code),
                             max_uses, valid_from, valid_until)).fetchone()
            if row is None:
                raise StoreError(f"promo code {normalize_code(code)} already exists")
            self._bump(org)            # the kiosks price with the promotions their bundle gave them
        return next(p for p in self.promotions(org) if p["promo_id"] == row[0])

    def promotions(self, org: str, target_id: int | None = None) -> list[dict]:
        rows = self.q("SELECT promo_id, target_id, kind, category, x, y, percent, amount_cents, code, max_uses, uses, "
                      "valid_from, valid_until FROM promotions WHERE org=? ORDER BY promo_id", (org,))
        out = []
        for pid, tgt, kind, cat, x, y, pct, amount, code, max_uses, uses, vf, vu in rows:
            if target_id is not None and tgt not in (None, target_id):
                continue
            p = Promotion(pid, kind, cat, x, y, pct, amount, code, vf, vu,
                          None if max_uses is None else max(max_uses - uses, 0))
            out.append(dict(p.to_json(), target_id=tgt, max_uses=max_uses, uses=uses))
        return out

    def offer(self, target_id: int) -> Offer:
        """What the target sells (pricing input shared with the kiosk)."""
        w = self.sales_window(target_id)
        org = self.target(target_id)["org"]
        return Offer(target_id, self.currency(target_id), self.prices(target_id),
                     tuple(Promotion.from_json(p) for p in self.promotions(org, target_id)), w["max_per_order"],
                     w["opens_at"], w["closes_at"], w["door_only"])

    def issue_ticket_payload(self, ticket_key: str | int) -> str:
        raise NotImplementedError        # server_stub.store.sql_store.SqlStore

    # -- online sale -------------------------------------------------------------------------------------------
    def _answered(self, request_id: str, device_id: str) -> dict | None:
        row = self.q1("SELECT device_id, answer FROM desk_requests WHERE request_id=?", (request_id,))
        if row is None:
            return None
        if row[0] != device_id:
            raise StoreError(f"request id {request_id} belongs to another device")
        return json.loads(row[1])

    def _keep_answer(self, org: str, device_id: str, answer: dict, payment: str | None = None) -> DeskAnswer:
        """Kept under its request id (the same request sent again gets this answer, nothing is done twice), with
        how the money moved (`payment`: an exchange's price difference; the till report counts it)."""
        with self.tx() as c:
            c.execute("INSERT INTO desk_requests(request_id, org, device_id, kind, answer, at, payment) "
                      "VALUES (?,?,?,?,?,?,?) ON CONFLICT (request_id) DO NOTHING",
                      (answer["request_id"], org, device_id, answer["kind"], json.dumps(answer), time.time(), payment or ""))
        return self._with_payloads(answer)

    def _with_payloads(self, answer: dict) -> DeskAnswer:
        tickets = tuple(SoldTicket(t["ticket_key"], t["category"], t["zone"], self.issue_ticket_payload(t["ticket_key"]))
                        for t in answer.pop("tickets", []))
        answer["lines"] = tuple(answer.get("lines", ()))
        for kept in ("offline_order", UNDO, ROLLED_BACK):      # kept for reconciliation or a rollback, not answered
            answer.pop(kept, None)
        answer["parts"] = tuple(PaymentPart.from_wire(x) for x in answer.get("parts") or ())
        return DeskAnswer(**answer, tickets=tickets)

    def sell(self, org: str, device_id: str, req: SaleRequest, now: float | None = None) -> DeskAnswer:
        """An online sale at a kiosk: priced, stock taken, order and tickets created, promo use counted, the answer
        stored (the same request again gets the same answer) — one transaction, committed only before the request's
        deadline (`Desk.expired`: else nothing is sold, reason code `expired`). Refusals come back `ok=False`. A
        `replay` (a kiosk restarted before it settled the answer) gets the stored answer, else a refusal stored
        under its id: the first copy, if it comes later, sells nothing either."""
        now = time.time() if now is None else now
        try:
            done = self._answered(req.request_id, device_id)
            if done is not None:
                return self._with_payloads(done)
            if req.replay:          # a kiosk restarted mid-sale asks again: never sold now, nor its first copy later
                return self._keep_answer(org, device_id, {
                    "device": device_id, "request_id": req.request_id, "kind": "sale", "ok": False,
                    "reason": f"not sold: sale request {req.request_id} never reached the server before the kiosk "
                              f"stopped", "reason_code": "expired", "reason_params": {"late": 1}})
            target = self._own_target(org, req.target_id)
            if target.get("removed_at") is not None:
                raise coded(StoreError(f"sales closed: pass {req.target_id} was removed by the organiser"),
                            "sales_closed")
            if any(self.event(e).get("removed_at") is not None for e in target["event_ids"]):
                raise coded(StoreError(f"sales closed: event {req.target_id} was removed by the organiser"),
                            "sales_closed")
            offer = self.offer(req.target_id)
            closed = offer.window_refusal(now, at_door=True)
            if closed:
                raise coded(StoreError(closed), WINDOW_CODES[closed])
            quote = price_cart(offer, [CartLine(x.category, x.quantity, x.zone) for x in req.lines], req.promo_code, now)
            if req.expected_cents is not None and req.expected_cents != quote.total_cents:
                raise coded(StoreError(f"price changed: {quote.total_cents} cents now, {req.expected_cents} shown"),
                            "price_changed")
            check_parts(req.parts, quote.total_cents, quote.currency, req.payment)
            status = PENDING if req.payment == "invoice" else PAID
            positions = tuple(Position(x.category, x.zone) for x in quote.lines for _ in range(x.quantity))
            order_in = OrderInput(req.target_id, req.buyer_name.strip() or f"desk {device_id}", req.email.strip(),
                                  status, positions)
            with self.tx() as c:
                for pid in quote.promo_ids:
                    if c.execute("UPDATE promotions SET uses = uses + 1 WHERE promo_id=? AND (max_uses IS NULL OR "
                                 "uses < max_uses) RETURNING uses", (pid,)).fetchone() is None:
                        raise coded(StoreError(f"promo code {quote.promo_code} is used up"), "promo_used_up",
                                    code=quote.promo_code)
                take(c, needs(req.target_id, [(x.category, x.zone, x.quantity) for x in quote.lines]))
                version = self._bump(org)
                number = self._insert_orders(c, org, [order_in], now, version)[0]
                order_id = c.execute("SELECT order_id FROM orders WHERE number=?", (number,)).fetchone()[0]
                c.executemany(INSERT_LINE,
                              [(order_id, i, x.category, x.zone, x.quantity, x.unit_cents, x.discount_cents,
                                x.total_cents, x.promotion, x.promo_id) for i, x in enumerate(quote.lines)])
                tickets = [{"ticket_key": str(t), "category": cat, "zone": z} for t, cat, z in c.execute(
                    "SELECT ticket_id, category, zone FROM tickets WHERE order_id=? ORDER BY position", (order_id,))]
                answer = {"device": device_id, "request_id": req.request_id, "kind": "sale", "ok": True,
                          "order_number": number, "status": status, "currency": quote.currency,
                          "total_cents": quote.total_cents, "lines": [x.to_json() for x in quote.lines],
                          "tickets": tickets, "parts": [x.to_wire() for x in req.parts]}
                c.execute("INSERT INTO desk_requests(request_id, org, device_id, kind, answer, at, payment) "
                          "VALUES (?,?,?,?,?,?,?)", (req.request_id, org, device_id, "sale", json.dumps(answer), now,
                                                     SPLIT if req.parts else req.payment))
                expired = req.expired(time.time())     # its deadline passed meanwhile (a wait for the write lock):
                if expired:                             # rolled back, the kiosk sells offline
                    raise coded(StoreError(str(expired)), "expired", **expired.params)
            del target
            return self._with_payloads(answer)
        except (StoreError, PricingError, InvalidInput) as exc:
            return DeskAnswer(device_id, req.request_id, "sale", False, str(exc), **reason_fields(exc))

    def order_lines(self, number: str) -> list[dict]:
        order = self.order(number)
        cols = ("category", "zone", "quantity", "unit_cents", "discount_cents", "total_cents", "promotion", "promo_id")
        return [dict(zip(cols, r)) for r in self.q(f"SELECT {', '.join(cols)} FROM order_lines WHERE order_id=? "
                                                   "ORDER BY line", (order["order_id"],))]

    def price_unpriced_order(self, c: Any, number: str) -> None:
        """Inside the transaction of a payment a desk took for an order with no priced line (the organiser's own,
        `order add --pending`): its tickets at the current prices, so the till, the sales report and a later refund
        count the money the desk took. Nothing when its event has no price."""
        order = self.order(number)
        if self.order_lines(number):
            return
        rows, prices = self._unpriced_lines(order)
        if not rows:
            return
        c.executemany(INSERT_LINE,
                      [(order["order_id"], i, category, zone, n, prices.get(category, 0), 0,
                        prices.get(category, 0) * n, "", None) for i, ((category, zone), n) in enumerate(rows)])

    def _unpriced_lines(self, order: dict) -> tuple[list[tuple[tuple[int, int | None], int]], dict[int, int]]:
        """An order with no priced line at the current prices: ([((category, zone), count)], prices); no rows when
        its event prices none of its categories."""
        prices = self.prices(order["event_id"])
        groups: dict[tuple[int, int | None], int] = {}
        for t in order["tickets"]:
            if not t["revoked"]:
                key = (t["category"] or 0, t["zone"])
                groups[key] = groups.get(key, 0) + 1
        if not any(prices.get(category) for category, _ in groups):
            return [], prices
        return sorted(groups.items(), key=lambda g: (g[0][0], -1 if g[0][1] is None else g[0][1])), prices

    def order_due(self, number: str) -> dict | None:
        """What a pending order costs, to collect at the desk: {cents, currency} from its lines (a desk sale on
        invoice), or its tickets at the current prices (the organiser's own order: what the payment will count).
        None when it is not pending, or nothing prices it (the desk then takes the payment without an amount)."""
        order = self.order(number)
        if order["status"] != "pending":
            return None
        lines = self.order_lines(number)
        if lines:
            cents = sum(x["total_cents"] for x in lines)
        else:
            rows, prices = self._unpriced_lines(order)
            if not rows:
                return None
            cents = sum(prices.get(category, 0) * n for (category, _), n in rows)
        return {"cents": cents, "currency": self.currency(order["event_id"])}

    def desk_refund(self, org: str, device_id: str, req: RefundRequest) -> DeskAnswer:
        """Cancel or refund a whole order at the desk: tickets revoked and back on sale; the amount to hand back
        (what its lines cost, when it was paid)."""
        try:
            done = self._answered(req.request_id, device_id)
            if done is not None:
                return self._with_payloads(done)
            order = of_org(self.order(req.order_number), org, f"no order {req.order_number!r}")
            paid = order["status"] == PAID
            changed = (self.refund_order if req.kind == "refund" else self.cancel_order)(order["number"], req.reason)
            # what its lines say was paid at desks (an organiser's order: only the exchange differences; handed
            back = max(0, sum(x["total_cents"] for x in self.order_lines(order["number"]))) if paid else 0   # back: 0)
            answer = {"device": device_id, "request_id": req.request_id, "kind": "refund", "ok": True,
                      "order_number": changed["number"], "status": changed["status"],
                      "currency": self.currency(order["event_id"]), "total_cents": back, "tickets": [],
                      UNDO: {"was": order["status"], "reason": req.reason,      # the tickets it revoked:
                             "tickets": [t["ticket_id"] for t in order["tickets"] if not t["revoked"]]},
                      "parts": [x.to_wire() for x in self.hand_back(order["number"], back)]}
            return self._keep_answer(org, device_id, answer)
        except (StoreError, InvalidInput) as exc:
            return DeskAnswer(device_id, req.request_id, "refund", False, str(exc), **reason_fields(exc))

    def paid_parts_of(self, number: str) -> tuple[PaymentPart, ...]:
        """How an order was paid at desks: its sale's parts (one, or a split's), or those its payment was taken with
        later (a pending order), with its exchanges' price differences collected or handed back each its way
        (server_stub.reports.net_paid); none when nothing was paid at a desk."""
        paid: tuple[PaymentPart, ...] = ()
        settled: list[tuple[str, int, str]] = []
        for answer, payment, kind in self.q("SELECT answer, payment, kind FROM desk_requests WHERE kind IN ('sale', "
                                            f"'payment', 'exchange') ORDER BY {SALE_FIRST}", ()):
            a = json.loads(answer)
            if number not in (a.get("offline_order"), a.get("order_number") if a.get("ok") else None):
                continue
            method = payment if payment in SETTLE_METHODS else "cash"
            if kind != "exchange":
                parts = tuple(PaymentPart.from_wire(x) for x in a.get("parts") or ())
                paid = paid_parts(method, int(a.get("total_cents") or 0), parts)
                continue
            difference = int(a.get("difference_cents") or 0)
            if difference and not a.get(ROLLED_BACK):
                sign = 1 if difference > 0 else -1
                ways = tuple(PaymentPart.from_wire(x) for x in a.get("parts") or ()) or (
                    PaymentPart(method, abs(difference)),)
                settled += [(p.method, sign * p.cents, p.reference) for p in ways]
        held = net_paid([(p.method, p.cents, p.reference) for p in paid], settled, MAX_PARTS)
        return tuple(PaymentPart(m, c, r) for m, c, r in held)

    def hand_back(self, number: str, back: int) -> tuple[PaymentPart, ...]:
        """A refund of `back` handed back the ways the order was paid, exchanges' differences included, in
        proportion (a split paid 20.00 cash and 30.00 card hands back 20.00 cash and 30.00 card); cash when it was
        not paid at a desk."""
        if back <= 0:
            return ()
        parts = self.paid_parts_of(number) or (PaymentPart("cash", back),)
        return tuple(PaymentPart(p.method, cents, p.reference)
                     for p, cents in zip(parts, spread(back, [p.cents for p in parts])) if cents > 0)

    def _paid_unit(self, ticket: dict) -> int:
        """What the buyer paid for this ticket: its order line's price after discount, else the current price."""
        row = self.q1("SELECT l.total_cents, l.quantity FROM order_lines l JOIN orders o ON o.order_id = l.order_id "
                      "WHERE o.number=? AND COALESCE(l.target_id, o.target_id)=? AND l.category=? AND l.quantity > 0 "
                      "ORDER BY l.line", (ticket["order_number"], ticket["target_id"], ticket["category"]))
        if row is not None and row[1]:
            return row[0] // row[1]
        return self.prices(ticket["target_id"]).get(ticket["category"] or 0, 0)

    @staticmethod
    def _move_line(c: Any, number: str, old: tuple[int, int], paid: int, new: tuple[int, int], zone: int | None,
                   price: int, unlined: bool = False) -> list[int]:
        """Inside the exchange's transaction: its order's lines say what the buyer paid for the tickets they hold
        now (the sales report, a later refund): one fewer of the old (event, category) at what was paid for it, one
        more of the new at its price, under its own event when it is not the order's (an exchange to another date).
        No line holds the old ticket (the organiser's own order, paid elsewhere): nothing to move, unless the desk
        settled a difference (`unlined`): then the new ticket's line at its price and, when the old one was worth
        something, a line of no ticket taking that worth back (−paid), so the order's lines add up to what the desk
        collected or handed back. Returns the lines added that way (a rollback takes them away), else none."""
        order_id, own = c.execute("SELECT order_id, target_id FROM orders WHERE number=?", (number,)).fetchone()
        row = c.execute("SELECT line, quantity, unit_cents, total_cents FROM order_lines WHERE order_id=? AND "
                        "COALESCE(target_id, ?)=? AND category=? AND quantity > 0 ORDER BY line",
                        (order_id, own, old[0], old[1])).fetchone()
        last = c.execute("SELECT max(line) FROM order_lines WHERE order_id=?", (order_id,)).fetchone()[0]
        added = [-1 if last is None else last]
        if row is None and not unlined:
            return []
        if row is None:
            if paid:                                   # the handed-in ticket's worth, paid elsewhere: no ticket
                added.append(added[-1] + 1)
                c.execute(INSERT_LINE, (order_id, added[-1], old[1], None, 0, paid, paid, -paid, "", None))
                if old[0] != own:
                    c.execute("UPDATE order_lines SET target_id=? WHERE order_id=? AND line=?",
                              (old[0], order_id, added[-1]))
        else:
            line, quantity, unit, total = row
            if quantity == 1:
                c.execute("DELETE FROM order_lines WHERE order_id=? AND line=?", (order_id, line))
            else:
                left = total - paid
                c.execute("UPDATE order_lines SET quantity=?, total_cents=?, discount_cents=? WHERE order_id=? AND "
                          "line=?", (quantity - 1, left, unit * (quantity - 1) - left, order_id, line))
            added = [max(added[0], line)]
        added.append(added[-1] + 1)
        c.execute(INSERT_LINE, (order_id, added[-1], new[1], zone, 1, price, 0, price, "", None))
        if new[0] != own:
            c.execute("UPDATE order_lines SET target_id=? WHERE order_id=? AND line=?", (new[0], order_id, added[-1]))
        return added[1:] if row is None else []

    def desk_exchange(self, org: str, device_id: str, req: ExchangeRequest) -> DeskAnswer:
        """Exchange a ticket for another event/date, category or zone: the old one revoked and back on sale, the
        new one taken from stock and signed; `difference_cents` = new price − what was paid (negative: to refund)."""
        try:
            done = self._answered(req.request_id, device_id)
            if done is not None:
                return self._with_payloads(done)
            old = of_org(self.ticket(req.ticket_key), org, f"no ticket {req.ticket_key}")
            target = old["target_id"] if req.target_id is None else req.target_id
            category = old["category"] if req.category is None else req.category
            price = self.prices(target).get(category)
            if price is None:
                raise coded(StoreError(f"category {category} has no price for {target}"), "no_price", category=category)
            paid = self._paid_unit(old)
            # an unpaid order (invoice) settles nothing now: its payment later counts the new price, once
            difference = price - paid if old["order_status"] == PAID else 0
            check_difference_parts(req.parts, difference, self.currency(target))
            zone = old["zone"] if req.zone is None and target == old["target_id"] else req.zone
            with self.tx() as c:         # the exchange, its order line and the answer: one transaction
                new = self.exchange_ticket(old["ticket_key"], req.reason, category=category, zone=zone, seat=None,
                                           target_id=target)
                # (an order no line prices, the organiser's: the difference settled gets lines, else it is in no
                added = self._move_line(c, new["order_number"], (old["target_id"], old["category"]), paid,   # report)
                                        (target, new["category"]), new["zone"], price, unlined=difference != 0)
                answer = {"device": device_id, "request_id": req.request_id, "kind": "exchange", "ok": True,
                          "order_number": new["order_number"], "status": new["order_status"],
                          "currency": self.currency(target), "total_cents": price, "difference_cents": difference,
                          "tickets": [{"ticket_key": new["ticket_key"], "category": new["category"],
                                       "zone": new["zone"]}], UNDO: {"ticket_key": old["ticket_key"], "paid": paid,
                                                               **({"unlined": added} if added else {})},
                          "parts": [x.to_wire() for x in req.parts]}      # the difference settled several ways
                return self._keep_answer(org, device_id, answer, SPLIT if req.parts else req.payment)
        except (StoreError, InvalidInput) as exc:
            return DeskAnswer(device_id, req.request_id, "exchange", False, str(exc), **reason_fields(exc))

    # -- offline allotments ------------------------------------------------------------------------------------
    def set_allotment_size(self, org: str, device_id: str, events: list[int], size: int, hours: float = 24.0,
                           categories: list[int] | None = None) -> dict:
        """The organiser sizes a kiosk's offline allotment; the kiosk gets (and refills) it when online."""
        dev = self.device(device_id)
        if dev is None or dev["org"] != org:
            raise NotFound(f"no device {device_id!r} for organiser {org!r}")
        if not 0 < size <= MAX_ALLOTMENT:
            raise InvalidInput(f"allotment size {size}: 1..{MAX_ALLOTMENT}")
        if not 0 < hours <= 24 * 14:
            raise InvalidInput(f"allotment validity {hours} h: up to 14 days")
        if not 0 < len(events) <= 4 or len(categories or ()) > 8:
            raise InvalidInput("an allotment names 1..4 events (or passes) and at most 8 categories")
        for e in events:
            self._own_target(org, e)
        with self.tx() as c:
            c.execute("INSERT INTO allotment_sizes(device_id, org, events, categories, size, hours) VALUES (?,?,?,?,?,?) "
                      "ON CONFLICT (device_id) DO UPDATE SET events=excluded.events, categories=excluded.categories, "
                      "size=excluded.size, hours=excluded.hours",
                      (device_id, org, json.dumps(sorted(events)), json.dumps(sorted(categories or [])), size, hours))
        return {"device_id": device_id, "events": sorted(events), "categories": sorted(categories or []),
                "size": size, "hours": hours}

    def grant_allotment(self, org: str, device_id: str, public_key: bytes, now: float | None = None) -> Certificate:
        """Certify the kiosk's key for the size the organiser set: stock held, the certificate signed with the
        current ticket key. Refused (StoreError) when no size is set or stock is short."""
        now = time.time() if now is None else now
        row = self.q1("SELECT org, events, categories, size, hours FROM allotment_sizes WHERE device_id=?", (device_id,))
        if row is None or row[0] != org:
            raise StoreError(f"no offline allotment is set for {device_id} (ticketgate server allotment set)")
        events, categories, size, hours = json.loads(row[1]), json.loads(row[2]), row[3], row[4]
        key = self.current_key(org)
        with self.tx() as c:
            self._refill_refusal(c, device_id, (events, categories, size, hours), now)
            version = self._bump(org)
            self._supersede(c, device_id)
            for e in events:
                take(c, {(e, "event", 0): size}, column="held")
            aid = c.execute("INSERT INTO allotments(org, device_id, public_key, events, categories, first_id, last_id, "
                            "max_count, valid_from, valid_until, certificate, created_at, version) "
                            "VALUES (?,?,?,?,?,0,0,?,?,?,'',?,?) RETURNING allotment_id",
                            (org, device_id, public_key, json.dumps(events), json.dumps(categories), size, int(now) - 60,
                             int(now + hours * 3600), now, version)).fetchone()[0]
            first = ALLOTMENT_ID_BASE + aid * ALLOTMENT_SPAN
            cert = sign_certificate(Certificate(key.key_id, aid, device_id, public_key, first, first + size - 1, size,
                                                int(now) - 60, int(now + hours * 3600), tuple(events),
                                                tuple(categories)), key.private_key)
            c.execute("UPDATE allotments SET first_id=?, last_id=?, certificate=? WHERE allotment_id=?",
                      (first, first + size - 1, cert.to_text(), aid))
        return cert

    @staticmethod
    def _refill_refusal(c: Any, device_id: str, sizing: tuple[list, list, int, float], now: float) -> None:
        """A new allotment replaces the device's current one only when that one is due a refill (mostly sold, or
        ending: agent.allotment.refill_due, the kiosk's own rule) or the organiser sized it anew: the one replaced
        stays valid at the doors for what was sold under it, so a stolen kiosk asking again and again held a valid
        certificate for `size` more tickets per answer. Raises StoreError (code `allotment_not_due`)."""
        row = c.execute("SELECT allotment_id, events, categories, max_count, used, valid_from, valid_until FROM "
                        "allotments WHERE device_id=? AND revoked_at IS NULL AND superseded_at IS NULL "
                        "ORDER BY allotment_id DESC", (device_id,)).fetchone()
        if row is None:
            return
        aid, events, categories, max_count, used, valid_from, valid_until = row
        events_now, categories_now, size, hours = sizing
        resized = (json.loads(events) != events_now or json.loads(categories) != categories_now or max_count != size
                   or abs(valid_until - valid_from - 60 - hours * 3600) > 1)
        if resized or refill_due(used, max_count, valid_until, now):
            return
        raise coded(StoreError(f"allotment {aid} of {device_id} is not due a refill: {max_count - used} of {max_count} "
                               f"tickets not sold (`ticketgate server allotment revoke {aid}` ends it)"),
                    "allotment_not_due", allotment=aid, left=max_count - used)

    @staticmethod
    def _supersede(c: Any, device_id: str) -> None:
        """A refill: the device's current allotments stop holding their unsold rest (their certificates stay valid
        for what was sold under them; sales still on the way count as sold when they arrive)."""
        rows = c.execute("UPDATE allotments SET superseded_at=? WHERE device_id=? AND revoked_at IS NULL AND "
                         "superseded_at IS NULL RETURNING events, max_count, used", (time.time(), device_id)).fetchall()
        for events, max_count, used in rows:
            for e in json.loads(events):
                give_back(c, {(e, "event", 0): max(max_count - used, 0)}, column="held")

    def allotment_sizes(self, org: str) -> dict[str, dict]:
        """device id -> the allotment the organiser sized for it (`allotment set`), granted or not yet."""
        rows = self.q("SELECT device_id, events, categories, size, hours FROM allotment_sizes WHERE org=? "
                      "ORDER BY device_id", (org,))
        return {d: {"events": json.loads(e), "categories": json.loads(c), "size": n, "hours": h}
                for d, e, c, n, h in rows}

    def allotments(self, org: str, device_id: str | None = None) -> list[dict]:
        cols = ("allotment_id", "device_id", "events", "categories", "first_id", "last_id", "max_count", "used",
                "valid_from", "valid_until", "created_at", "revoked_at", "reason", "superseded_at")
        rows = self.q(f"SELECT {', '.join(cols)} FROM allotments WHERE org=? ORDER BY allotment_id", (org,))
        out = [dict(zip(cols, r)) for r in rows]
        for a in out:
            a["events"], a["categories"] = json.loads(a["events"]), json.loads(a["categories"])
            a["revoked"] = a["revoked_at"] is not None
        return [a for a in out if device_id is None or a["device_id"] == device_id]

    def revoke_allotment(self, org: str, allotment_id: int, reason: str) -> dict:
        """Doors refuse the allotment's tickets once they learn it (revocation `allotment:<id>`, bundles and live);
        its unsold rest goes back on sale."""
        if not reason.strip():
            raise InvalidInput("revoking an allotment needs a reason")
        with self.tx() as c:
            row = c.execute("SELECT events, max_count, used, revoked_at, superseded_at FROM allotments "
                            "WHERE allotment_id=? AND org=?", (allotment_id, org)).fetchone()
            if row is None:
                raise NotFound(f"no allotment {allotment_id} for organiser {org!r}")
            if row[3] is not None:
                raise StoreError(f"allotment {allotment_id} is already revoked")
            version = self._bump(org)
            c.execute("UPDATE allotments SET revoked_at=?, reason=?, version=? WHERE allotment_id=?",
                      (time.time(), reason.strip(), version, allotment_id))
            for e in json.loads(row[0]) if row[4] is None else ():     # a superseded one holds nothing any more
                give_back(c, {(e, "event", 0): row[1] - row[2]}, column="held")
        return next(a for a in self.allotments(org) if a["allotment_id"] == allotment_id)

    def revocations_for_event(self, event_id: int, since_version: int = 0) -> list[dict]:
        """Ticket revocations, and the revoked allotments covering the event (doors refuse their TG2 tickets)."""
        return (super().revocations_for_event(event_id, since_version) + self.allotment_revocations(event_id, since_version)
                + self.key_revocations(event_id, since_version))

    def key_revocations(self, event_id: int, since_version: int = 0) -> list[dict]:
        """Revoked tickets this server did not issue (pretix secrets: `pretix:<seed>`) for the event, as revocation
        rows; active=False lifts one."""
        only_active = " AND active=1" if since_version <= 0 else ""
        rows = self.q("SELECT ticket_key, reason, at, active, version FROM key_revocations WHERE event_id=? AND "
                      f"version > ?{only_active} ORDER BY version", (event_id, since_version))
        return [{"ticket_key": k, "reason": r, "at": at, "active": bool(a), "version": v} for k, r, at, a, v in rows]

    def revoke_key(self, org: str, event_id: int, ticket_key: str, reason: str, active: bool = True) -> dict:
        """Revoke (or, `active` False, lift the revocation of) a ticket this server did not issue, by its ledger key
        (`pretix:<seed>`), at the event's devices: they get it live and in their next bundle."""
        if not reason.strip():
            raise InvalidInput("revoking a ticket needs a reason")
        if not ticket_key.startswith(PRETIX_KEY) or len(ticket_key) <= len(PRETIX_KEY) or len(ticket_key) > 200:
            raise InvalidInput(f"{ticket_key!r} is not a pretix ticket key (pretix:<seed>)")
        if self.event(event_id)["organiser"] != org:
            raise NotFound(f"no event {event_id} for organiser {org!r}")
        now = time.time()
        with self.tx() as c:
            version = self._bump(org)
            c.execute("INSERT INTO key_revocations(event_id, ticket_key, org, reason, at, active, version) "
                      "VALUES (?,?,?,?,?,?,?) ON CONFLICT (event_id, ticket_key) DO UPDATE SET reason=excluded.reason, "
                      "at=excluded.at, active=excluded.active, version=excluded.version",
                      (event_id, ticket_key, org, reason.strip(), now, int(active), version))
        return {"ticket_key": ticket_key, "event_id": event_id, "reason": reason.strip(), "at": now,
                "active": active, "version": version}

    def allotment_revocations(self, event_id: int, since_version: int = 0) -> list[dict]:
        """Revoked allotments covering the event, as revocation rows (`ticket_key` = `allotment:<id>`)."""
        targets = set(self.targets_of_event(event_id))
        rows = self.q("SELECT allotment_id, events, reason, revoked_at, version FROM allotments WHERE revoked_at IS NOT "
                      "NULL AND version > ? ORDER BY version", (since_version,))
        return [{"ticket_key": revocation_key(a), "reason": r, "at": at, "active": True, "version": v}
                for a, ev, r, at, v in rows if targets & set(json.loads(ev))]

    def _offline_lines(self, sale: OfflineSale, now: float) -> list[tuple]:
        """An offline sale's order lines, one per category and zone (category, zone, quantity, unit, discount, total,
        promotion, promo id): priced by the server's rules as the kiosk priced them; when the prices changed since,
        what the kiosk charged for each ticket (its `price_cents`: each line the sum of its tickets'), or, from a
        kiosk before it, the total the kiosk took spread over them at the current prices (the report, the till and
        a later exchange or refund then count what was paid for each ticket)."""
        counts: dict[tuple[int, int], int] = {}
        charged: dict[tuple[int, int], int] = {}
        for t in sale.tickets:
            key = (t.category or 0, -1 if t.zone is None else t.zone)
            counts[key] = counts.get(key, 0) + 1
            charged[key] = charged.get(key, 0) + (t.price_cents or 0)
        cart = [CartLine(category, n, None if zone < 0 else zone) for (category, zone), n in sorted(counts.items())]
        told = all(t.price_cents is not None for t in sale.tickets)   # (OfflineSale: they add up to the total)
        try:
            quote = price_cart(self.offer(sale.target_id), cart, sale.promo_code, sale.at or now)
            same = quote.total_cents == sale.total_cents and (not told or all(
                sum(x.total_cents for x in quote.lines if (x.category, -1 if x.zone is None else x.zone) == key)
                == cents for key, cents in charged.items()))
            if same:
                return [(x.category, x.zone, x.quantity, x.unit_cents, x.discount_cents, x.total_cents, x.promotion,
                         x.promo_id) for x in quote.lines]
        except PricingError:
            pass
        if told:                        # at the prices the kiosk charged: the unit its price (the highest of its
            out = []                    # tickets' when a promotion shared a discount unevenly), its discount the rest
            for x in cart:
                key = (x.category, -1 if x.zone is None else x.zone)
                unit = max(t.price_cents or 0 for t in sale.tickets
                           if (t.category or 0, -1 if t.zone is None else t.zone) == key)
                out.append((x.category, x.zone, x.quantity, unit, unit * x.quantity - charged[key], charged[key],
                            sale.promo_code, None))
            return out
        prices = self.prices(sale.target_id)
        totals = spread(sale.total_cents, [prices.get(x.category, 0) * x.quantity for x in cart])
        return [(x.category, x.zone, x.quantity, prices.get(x.category, 0),
                 prices.get(x.category, 0) * x.quantity - total, total, sale.promo_code, None)
                for x, total in zip(cart, totals)]

    def reconcile_offline_sale(self, c: Any, sale: OfflineSale, org: str, device_id: str) -> dict:
        """Inside the ingest transaction: a kiosk's offline sale becomes an order with its tickets (the ids it
        drew), filed under the number the kiosk printed (agent.allotment.offline_order_number), the allotment's
        held stock becomes sold. Refused (StoreError) when the allotment is not this device's, a ticket is outside
        it or already exists, or the sale names another number; (InvalidInput) when a ticket's category or zone is
        not the event's (a stolen kiosk's: the server would sign a TG1 payload and an e-ticket for it)."""
        row = c.execute("SELECT device_id, org, events, categories, first_id, last_id, max_count, used, "
                        "revoked_at IS NULL AND superseded_at IS NULL, revoked_at, reason FROM allotments "
                        "WHERE allotment_id=?", (sale.allotment_id,)).fetchone()
        if row is None or row[1] != org or row[0] != device_id:
            raise StoreError(f"allotment {sale.allotment_id} is not {device_id}'s")
        _, _, events, categories, first, last, max_count, used, holding, revoked_at, why = row
        flag = "; ".join(f for f in (revoked_allotment_flag(sale, revoked_at, why),   # sold before it was revoked:
                                     currency_flag(sale, self.currency(sale.target_id))) if f)   # honoured, flagged
        prior = c.execute("SELECT device_id, answer FROM desk_requests WHERE request_id=?", (sale.sale_id,)).fetchone()
        if prior is not None:
            if prior[0] != device_id:
                raise StoreError(f"sale id {sale.sale_id} belongs to another device")
            answered = json.loads(prior[1])
            if answered.get("offline_order"):
                return {"order_number": answered["offline_order"]}          # reconciled already: the same order
            if answered.get("kind") == "sale" and answered.get("ok"):
                # the kiosk gave up waiting for this sale's online answer and sold it offline with the same id: the
                # online order's tickets never reached the buyer, so the offline one counts and the online one goes
                self.cancel_order(answered["order_number"], "sold offline by the kiosk: the online answer came late")
        events, categories = json.loads(events), json.loads(categories)
        if sale.target_id not in events:
            raise StoreError(f"{sale.target_id} is not in allotment {sale.allotment_id}")
        n = len(sale.tickets)
        if used + n > max_count:
            raise StoreError(f"allotment {sale.allotment_id}: {used + n} tickets sold, {max_count} allowed")
        for t in sale.tickets:
            tid = ticket_id(t.ticket_key)
            if tid is None or not first <= tid <= last:
                raise StoreError(f"ticket {t.ticket_key} is outside allotment {sale.allotment_id}")
            if categories and t.category not in categories:
                raise StoreError(f"category {t.category} is not in allotment {sale.allotment_id}")
            Position(t.category, t.zone)
        for category, zone in sorted({(t.category, t.zone) for t in sale.tickets}, key=str):
            self.check_target_refs(org, sale.target_id, category, zone)
        number = offline_order_number(device_id, sale.allotment_id, first, min(int(t.ticket_key) for t in sale.tickets))
        if sale.order_number and sale.order_number != number:
            raise StoreError(f"offline sale {sale.sale_id}: order number {sale.order_number}, its tickets make {number}")
        version = self._bump(org)
        now = time.time()
        check_parts(sale.parts, sale.total_cents, sale.currency, sale.payment)
        status = PENDING if sale.payment == "invoice" else PAID
        email = sale.email.strip() if "@" in sale.email else ""         # (a typo never loses the sale)
        row = c.execute("INSERT INTO orders(number, org, target_id, buyer_name, email, status, created_at, updated_at) "
                        "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (number) DO NOTHING RETURNING order_id",
                        (number, org, sale.target_id, sale.buyer_name.strip() or f"desk {device_id}", email, status,
                         now, now)).fetchone()
        if row is None:
            raise StoreError(f"offline sale {sale.sale_id}: order {number} exists already")
        order_id = row[0]
        placed = c.execute(
            f"INSERT INTO tickets(ticket_id, order_id, position, target_id, category, zone, seat, version) VALUES "
            f"{','.join(['(?,?,?,?,?,?,?,?)'] * n)} ON CONFLICT (ticket_id) DO NOTHING RETURNING ticket_id",
            tuple(v for i, t in enumerate(sale.tickets) for v in (int(t.ticket_key), order_id, i, sale.target_id,
                                                                   t.category, t.zone, None, version))).fetchall()
        if len(placed) != n:
            raise StoreError(f"offline sale {sale.sale_id}: a ticket id of it exists already")
        c.execute("UPDATE allotments SET used = used + ? WHERE allotment_id=?", (n, sale.allotment_id))
        if holding:         # (a revoked or superseded allotment released its rest already)
            give_back(c, {(sale.target_id, "event", 0): n}, column="held")
        take(c, needs(sale.target_id, [(t.category, t.zone, 1) for t in sale.tickets]), check=False)
        lines = self._offline_lines(sale, now)
        c.executemany(INSERT_LINE, [(order_id, i, *line) for i, line in enumerate(lines)])
        for promo_id in sorted({line[7] for line in lines if line[7] is not None}):   # its uses, as an online sale's
            c.execute("UPDATE promotions SET uses = uses + 1 WHERE promo_id=?", (promo_id,))  # (made: even past the limit)
        # the id is answered now: a late copy of the kiosk's online request (same id) sells nothing more
        # (and the till counts the sale as it was made: its status, total and lines, whatever happens to the order)
        marker = {"device": device_id, "request_id": sale.sale_id, "kind": "sale", "ok": False,
                  "reason": f"sold offline by the kiosk as order {number}", "offline_order": number,
                  "status": status, "total_cents": sale.total_cents, "parts": [x.to_wire() for x in sale.parts],
                  "lines": [dict(zip(("category", "zone", "quantity", "unit_cents", "discount_cents", "total_cents",
                                      "promotion", "promo_id"), line)) for line in lines]}
        c.execute("INSERT INTO desk_requests(request_id, org, device_id, kind, answer, at, payment, staff) "
                  "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (request_id) DO UPDATE SET answer=excluded.answer, "
                  "payment=excluded.payment, staff=excluded.staff",
                  (sale.sale_id, org, device_id, "sale", json.dumps(marker), now, SPLIT if sale.parts else sale.payment,
                   sale.staff))
        return {"order_number": number, **({"flag": flag} if flag else {})}


def revoked_allotment_flag(sale: OfflineSale, revoked_at: float | None, why: str) -> str:
    """An offline sale under an allotment the organiser revoked: made after the revocation (by the kiosk's clock),
    refused (StoreError `allotment_revoked`: the kiosk took money for tickets every door refuses, to hand back); made
    before it, or undated, honoured with this flag for the organiser (its tickets are refused at the doors since the
    revocation: re-issue or refund them). '' when the allotment was not revoked."""
    if revoked_at is None:
        return ""
    at = timestamp(revoked_at, "%Y-%m-%d %H:%M UTC")
    if sale.at is not None and sale.at > revoked_at:
        raise coded(StoreError(f"allotment {sale.allotment_id} was revoked at {at} ({why}) before this sale: not "
                               f"sold, {cents_text(sale.total_cents, sale.currency)} taken to hand back to the buyer"),
                    "allotment_revoked", allotment=sale.allotment_id, at=at,
                    amount=cents_text(sale.total_cents, sale.currency))
    return (f"sold under allotment {sale.allotment_id} before it was revoked at {at} ({why}): the doors refuse its "
            "tickets (SALE NOT CERTIFIED); re-issue or refund the order")


def currency_flag(sale: OfflineSale, currency: str) -> str:
    """An offline sale stating another currency than the event's (the server's: `server price set --currency`; a
    kiosk that sold on a catalogue from before the organiser changed it): taken, counted in the event's currency, and
    flagged for the organiser. '' when it states the event's, or none (a kiosk before it)."""
    given = sale.currency.strip().upper()
    if not given or given == currency.upper():
        return ""
    return (f"sold offline in {given}, the event's currency is {currency.upper()}: counted as "
            f"{cents_text(sale.total_cents, currency.upper())}; check what the kiosk took and its price list "
            "(it sells in the event's currency once it has synced)")


SPLIT = "split"         # desk_requests.payment of a move paid several ways: its parts are in the answer (`parts`)
# desk requests of an order in the order they happened to it: its sale, its payment, then its exchanges (an offline
# sale is filed when it arrives, after the payment made of it offline, filed by its own arrival a moment earlier)
SALE_FIRST = "CASE kind WHEN 'sale' THEN 0 WHEN 'payment' THEN 1 ELSE 2 END, at"


def check_difference_parts(parts: tuple[PaymentPart, ...], difference: int, currency: str) -> None:
    """An exchange's price difference settled several ways: the parts (collected, or handed back) add up to it,
    else StoreError `difference_parts`, nothing exchanged (the refusal says the difference: type the parts again)."""
    if not parts:
        return
    paid = sum(x.cents for x in parts)
    if paid != abs(difference):
        shown = {"difference": cents_text(abs(difference), currency), "paid": cents_text(paid, currency)}
        raise coded(StoreError(f"the parts add up to {shown['paid']}, the price difference is {shown['difference']}"
                               f"{' to hand back' if difference < 0 else ''}: nothing exchanged"), "difference_parts",
                    **shown)


def check_parts(parts: tuple[PaymentPart, ...], total: int, currency: str, payment: str = "") -> None:
    """A split payment adds up to the total, and is money taken (no invoice in it): StoreError `parts_total`."""
    if not parts:
        return
    if payment == "invoice":
        raise InvalidInput("an invoice is not split: the buyer pays it later, at once")
    paid = sum(x.cents for x in parts)
    if paid != total:
        raise coded(StoreError(f"the payment's parts add up to {cents_text(paid, currency)}, the total is "
                               f"{cents_text(total, currency)}: nothing sold"), "parts_total",
                    total=cents_text(total, currency), paid=cents_text(paid, currency))


