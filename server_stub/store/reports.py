"""The rows the organiser's reports and the till read (one definition; the grouping is in server_stub.reports).

- `sales_lines`: one row per priced order line, with its event, category and promotion, and — for desk sales — the
  desk (device), the staff member and the payment method recorded with the sale; its amount per method (a split
  payment's parts shared over the order's lines).
- `desk_moves`: what a desk did (sales, refunds, cancellations, exchanges) in a time window: the till's input.
- `participants`: one row per ticket with its buyer and check-in state.
- till shifts: opened with a float, closed with a counted amount, the Z report kept at closing. A shift counts what
  its desk did since the desk's previous shift closed (`shift_since`): a move made while no shift was open (a sale
  before the first one, an offline sale arriving after a forced close) is in the next shift's Z report, listed apart
  as taken outside a shift; no move of a desk is in two Z reports or in none.
"""
from __future__ import annotations

import json
import math
import time
import uuid
from collections import defaultdict
from typing import Any

from agent.errors import InvalidInput
from agent.reasons import coded, reason_fields
from agent.read_models import effective_entries, inside_events
from agent.sync.messages import PAYMENT_METHODS
from server_stub.model import PAID, PENDING, category_label
from server_stub.reports import lines_by_method
from server_stub.store.base import NotFound, StoreError
from server_stub.store.sales import ROLLED_BACK, SALE_FIRST, SPLIT
from server_stub.store.scans import ScansMixin
from server_stub.store.staff import StaffMixin

_NO_DESK: dict = {"device_id": "", "payment": "", "staff": "", "parts": []}
DESK_MOVES = ("sale", "refund", "exchange", "payment")     # payment: a pending order paid at the desk (agent pay)


def move_parts(body: dict, payment: str, total: int) -> list[tuple[str, int]]:
    """How a desk move's money moved: [(method, cents)], its split's parts (kept in its answer or message), else
    all of `total` by `payment` (cash when none was recorded)."""
    parts = body.get("parts") if isinstance(body.get("parts"), list) else None
    if parts:
        return [(str(x["method"]), int(x["cents"])) for x in parts if isinstance(x, dict)]
    return [(payment if payment and payment != SPLIT else "cash", total)]


def with_methods(lines: list[dict], desk: dict[str, dict]) -> list[dict]:
    """Each sales line with `by_method` ({method: cents}: a split order's lines share its parts, see
    lines_by_method; another's all under its method, none for an order no desk sold) and one column per method."""
    orders: dict[str, list[dict]] = defaultdict(list)
    for x in lines:
        orders[x["order"]].append(x)
    for number, rows in orders.items():
        parts = desk.get(number, {}).get("parts") or []
        if len(parts) > 1:                              # a split, or exchanges settled: its parts, netted per method
            shares = lines_by_method([x["total_cents"] for x in rows], parts)
        else:
            shares = [{x["payment"]: x["total_cents"]} if x["payment"] else {} for x in rows]
        for x, share in zip(rows, shares):
            x["by_method"] = share
            x.update({f"{method}_cents": share.get(method, 0) for method in PAYMENT_METHODS})
    return lines


class ReportsMixin(ScansMixin, StaffMixin):
    """Reports read what the other parts of the store keep (orders, desk sales, scans, staff)."""

    # -- names -------------------------------------------------------------------------------------------------
    def _names(self, org: str) -> tuple[dict[int, dict], dict[str, str]]:
        """target id -> {name, currency, categories, zones}; staff id -> name."""
        targets: dict[int, dict] = {}
        for e in self.events(org, removed=True):     # a removed event's money stays in the reports
            row = self.q1("SELECT currency FROM events WHERE event_id=?", (e["event_id"],))
            targets[e["event_id"]] = {"name": e["name"], "currency": row[0] if row else "EUR", "timezone": e["timezone"],
                                      "categories": {c["category_id"]: c["name"] for c in e["categories"]},
                                      "zones": {z["zone_id"]: z["name"] for z in e["zones"]}}
        for p in self.passes(org):
            first = targets.get((p.get("event_ids") or [None])[0], {})
            targets[p["pass_id"]] = {"name": p["name"], "currency": first.get("currency", "EUR"),
                                     "timezone": first.get("timezone", "UTC"),
                                     "categories": first.get("categories", {}), "zones": first.get("zones", {})}
        staff = {str(s["staff_id"]): s["name"] for s in self.staff(org)}
        return targets, staff

    def _desk_of_orders(self, org: str) -> dict[str, dict]:
        """order number -> the desk sale that made it (device, payment method, staff, `parts`: how it was paid,
        with its exchanges' differences at a desk, collected + or handed back -, each part its way)."""
        out: dict[str, dict] = {}
        for device, answer, payment, staff, kind in self.q(
                "SELECT device_id, answer, payment, staff, kind FROM desk_requests WHERE org=? AND kind IN "
                f"('sale', 'payment', 'exchange') ORDER BY {SALE_FIRST}", (org,)):
            a = json.loads(answer)
            number = a.get("offline_order") or (a.get("order_number") if a.get("ok") else None)
            if kind == "exchange":
                d = int(a.get("difference_cents") or 0)
                if number and d and not a.get(ROLLED_BACK):
                    settled = [(m, c if d > 0 else -c) for m, c in move_parts(a, payment or "cash", abs(d))]
                    sold = out.get(number) or dict(_NO_DESK, device_id=device, staff=staff, payment=payment or "cash")
                    out[number] = dict(sold, parts=sold["parts"] + settled, exchanged=True)   # (an order no desk
                continue                                  # sold, the organiser's: the differences are its desk money)
            parts = move_parts(a, payment or "cash", int(a.get("total_cents") or 0))     # a split's, or one
            if number and kind == "payment":       # a pending order paid at a desk later: paid that way, and (one
                sold = out.get(number) or dict(_NO_DESK, device_id=device, staff=staff)   # the organiser added)
                out[number] = dict(sold, payment=payment or "cash", parts=parts)          # at that desk, by them
            elif number:
                out[number] = {"device_id": device, "payment": payment or "cash", "staff": staff, "parts": parts}
        return out

    # -- sales ---------------------------------------------------------------------------------------------------
    def sales_lines(self, org: str, event_id: int | None = None) -> list[dict]:
        """Every priced order line of the organiser (optionally of one event or pass), oldest first."""
        targets, staff = self._names(org)
        desk = self._desk_of_orders(org)
        sql = ("SELECT o.number, o.status, COALESCE(l.target_id, o.target_id), o.created_at, o.buyer_name, l.category, "
               "l.zone, l.quantity, l.unit_cents, l.discount_cents, l.total_cents, l.promotion FROM order_lines l "
               "JOIN orders o ON o.order_id = l.order_id WHERE o.org=?")
        params: tuple = (org,)
        if event_id is not None:                       # a line exchanged to another date is that date's
            sql, params = sql + " AND COALESCE(l.target_id, o.target_id)=?", (org, event_id)
        out: list[dict] = []
        for (number, status, target, at, buyer, cat, zone, qty, unit, discount, total, promo) in self.q(
                sql + " ORDER BY o.order_id, l.line", params):
            t = targets.get(target, {})
            d = desk.get(number, _NO_DESK)
            out.append({"order": number, "status": status, "at": at, "event_id": target,
                        "event": t.get("name", str(target)), "currency": t.get("currency", "EUR"),
                        "category_id": cat, "category": category_label(cat, t.get("categories", {})), "zone": zone,
                        "promotion": promo or "", "quantity": qty, "unit_cents": unit, "discount_cents": discount,
                        "total_cents": total, "payment": d["payment"] or "", "desk": d["device_id"],
                        "staff_id": d["staff"], "staff": staff.get(d["staff"], d["staff"]), "buyer": buyer})
        return with_methods(out, desk)

    def unpriced_tickets(self, org: str, event_id: int | None = None) -> int:
        """Tickets of paid and pending orders that no priced line holds (imported, or added with `order add`; one of
        them exchanged at a desk for a difference has a line, the others not): sold, but not in `sales_lines`; not
        one out of use (exchanged at a desk: its replacement counts)."""
        held = "SELECT COALESCE(sum(l.quantity), 0) FROM order_lines l WHERE l.order_id = o.order_id"
        where = ("o.org=? AND o.status IN (?, ?) AND NOT EXISTS (SELECT 1 FROM revocations r WHERE "
                 "r.ticket_id = t.ticket_id AND r.active=1)")
        params: tuple = (org, PAID, PENDING)
        if event_id is not None:
            held += " AND COALESCE(l.target_id, o.target_id)=?"
            where += " AND t.target_id=?"
            params = (event_id, *params, event_id)
        return int(self.q1(f"SELECT COALESCE(sum(n), 0) FROM (SELECT count(*) - ({held}) AS n FROM tickets t JOIN "
                           f"orders o ON o.order_id = t.order_id WHERE {where} GROUP BY o.order_id, o.target_id) "
                           "per_order WHERE n > 0", params)[0])

    def desk_moves(self, org: str, device_id: str, since: float, until: float | None = None) -> list[dict]:
        """What a desk did between `since` and `until` (default now), oldest first: {kind, at, staff, payment,
        order, status, total_cents, difference_cents, lines, rolled_back (a device rollback undid it)}. Offline sales count when they reached the server."""
        until = time.time() if until is None else until
        targets, staff = self._names(org)
        out = []
        for request_id, kind, answer, at, who, payment in self.q(
                "SELECT request_id, kind, answer, at, staff, payment FROM desk_requests WHERE org=? AND device_id=? "
                "AND at >= ? AND at <= ? ORDER BY at, request_id", (org, device_id, since, until)):
            a = json.loads(answer)
            number = a.get("offline_order") or a.get("order_number")
            if kind not in DESK_MOVES or not (a.get("ok") or a.get("offline_order")):
                continue                                           # refused: nothing happened
            lines = a.get("lines") or []
            status = a.get("status", "")
            if a.get("offline_order") and not status:    # reconciled by an older version: as the order is now
                lines, status = self.order_lines(number), PENDING if payment == "invoice" else PAID
            if kind == "payment":
                lines = self.order_lines(number)
            if kind == "refund" and "parts" not in a:
                payment = self.order_payment(number)               # handed back the way it was paid
            total = a.get("total_cents")
            if total is None:
                total = sum(x["total_cents"] for x in lines)
            if kind == "refund" and a.get("parts"):
                payment = SPLIT if len(a["parts"]) > 1 else a["parts"][0]["method"]
            target = self.q1("SELECT target_id FROM orders WHERE number=?", (number,)) if lines else None
            names = targets.get(target[0], {}).get("categories", {}) if target else {}     # (the Z report's)
            out.append({"request_id": request_id, "kind": kind, "at": at, "staff_id": who,
                        "staff": staff.get(who, who), "payment": payment or "", "order": number,
                        # an exchange's parts settle its difference (collected, or handed back)
                        "parts": move_parts(a, payment, abs(int(a.get("difference_cents") or 0)) if kind == "exchange"
                                            else int(total)),
                        "status": status, "total_cents": int(total), "rolled_back": bool(a.get(ROLLED_BACK)),
                        "difference_cents": int(a.get("difference_cents") or 0),
                        "lines": [{"category": x["category"], "quantity": x["quantity"],
                                   "total_cents": x["total_cents"], "promotion": x.get("promotion") or "",
                                   "name": category_label(x["category"], names)} for x in lines]})
        out += self._refused_moves(org, device_id, since, until, staff)
        out += self._offline_exchange_moves(org, device_id, since, until, staff)
        out.sort(key=lambda m: m["at"])
        return out

    def _offline_exchange_moves(self, org: str, device_id: str, since: float, until: float,
                                staff: dict[str, str]) -> list[dict]:
        """The exchanges a kiosk recorded offline and the server applied (their `replacement`), filed by when they
        arrived: an exchange settling no money (a price difference nobody settled is `server conflicts`'), counted
        with the desk's exchanges."""
        out = []
        for scan_uuid, body, at in self.q(
                "SELECT scan_uuid, body, received_at FROM scans WHERE org=? AND device_id=? AND type='kiosk' AND "
                "kind='exchange' AND received_at >= ? AND received_at <= ? ORDER BY seq",
                (org, device_id, since, until)):
            b = json.loads(body)
            if not b.get("replacement"):
                continue                                    # refused: nothing happened
            who = str(b.get("staff") or "")
            out.append({"request_id": scan_uuid, "kind": "exchange", "at": at, "staff_id": who,
                        "staff": staff.get(who, who), "payment": "",
                        "order": self.ticket(b["replacement"])["order_number"],
                        "parts": [], "status": "", "total_cents": 0, "rolled_back": bool(b.get("rolled_back")),
                        "difference_cents": 0, "lines": [], "offline": True})
        return out

    def _refused_moves(self, org: str, device_id: str, since: float, until: float,
                       staff: dict[str, str]) -> list[dict]:
        """What a kiosk took money for that the server refused for good (an offline sale, a pending order paid at
        the desk), filed by when the refusal was recorded, as its sales are by when they arrived: kind `refused`,
        with the amount the kiosk took (a payment's `amount_cents`, else the order's total) and the reason."""
        out = []
        for outbox_id, reason_, body, at in self.q(
                "SELECT outbox_id, reason, body, received_at FROM refused_uploads WHERE org=? AND device_id=? "
                "AND received_at >= ? AND received_at <= ? ORDER BY received_at, id", (org, device_id, since, until)):
            b = json.loads(body)
            if not isinstance(b, dict) or b.get("action") not in ("offline_sale", "payment_validated"):
                continue
            number = str(b.get("order_number") or "")
            if b["action"] == "offline_sale":
                total = b.get("total_cents")
            elif type(b.get("amount_cents")) is int and b["amount_cents"] >= 0:   # what the desk collected
                total = b["amount_cents"]
            else:                                           # a kiosk of before `amount_cents`: the order's total
                try:
                    total = sum(x["total_cents"] for x in self.order_lines(number))
                except NotFound:                                    # an order the server does not know
                    total = 0
            out.append({"request_id": str(b.get("sale_id") or outbox_id), "kind": "refused", "at": at,
                        "staff_id": str(b.get("staff") or ""), "staff": staff.get(str(b.get("staff") or ""), ""),
                        "payment": SPLIT if b.get("parts") else str(b.get("payment") or "cash"),
                        "parts": move_parts(b, str(b.get("payment") or "cash"),
                                            int(total) if isinstance(total, int) else 0),
                        "order": number, "status": "refused",
                        "total_cents": int(total) if isinstance(total, int) else 0, "difference_cents": 0,
                        "lines": [], "what": "sale" if b["action"] == "offline_sale" else "payment",
                        "reason": reason_})
        return out

    def order_payment(self, number: str) -> str:
        """How an order was paid at a desk: its sale's method, or the method its payment was taken with later (a
        pending order); '' when neither happened at a desk."""
        method = ""
        for answer, payment in self.q("SELECT answer, payment FROM desk_requests WHERE kind IN ('sale', 'payment') "
                                      f"ORDER BY {SALE_FIRST}", ()):
            a = json.loads(answer)
            if number in (a.get("offline_order"), a.get("order_number") if a.get("ok") else None):
                method = payment or "cash"
        return method

    # -- participants ------------------------------------------------------------------------------------------
    def participants(self, org: str, event_id: int | None = None) -> list[dict]:
        """One row per ticket: order, buyer, event, category, zone, seat, status and check-in state; a ticket a door
        quick-cancelled (back on sale) says so, in `quick_cancelled`, one the organiser blocked (doors refuse it) in
        `blocked`. An event's list holds the tickets of the passes that open it too, with their check-in at that event
        (as `stats` counts them)."""
        from server_stub.stats import Scan
        targets, _ = self._names(org)
        sql = ("SELECT t.ticket_id, o.number, o.buyer_name, o.email, o.status, t.target_id, t.category, t.zone, t.seat, "
               "r.active, b.active, t.released FROM tickets t JOIN orders o ON o.order_id = t.order_id "
               "LEFT JOIN revocations r ON r.ticket_id = t.ticket_id LEFT JOIN blocks b ON b.ticket_id = t.ticket_id "
               "WHERE o.org=?")
        params: tuple = (org,)
        if event_id is not None:
            held = self.targets_of_event(event_id)
            sql, params = sql + f" AND t.target_id IN ({','.join('?' * len(held))})", (org, *held)
        scans = self._scans(org, event_id, actions_only=True)
        moves: dict[str, list] = {}
        for s in scans:
            if isinstance(s, Scan) and s.ticket_key:
                moves.setdefault(s.ticket_key, []).append(s.action())
        out = []
        for tid, number, buyer, email, status, target, cat, zone, seat, revoked, blocked, released in self.q(
                sql + " ORDER BY t.ticket_id", params):
            entries = effective_entries(moves.get(str(tid), ()))
            state = ("inside" if inside_events(entries) else "left") if entries else "not checked in"
            t = targets.get(target, {})
            out.append({"ticket": str(tid), "order": number, "buyer": buyer, "email": email,
                        "order_status": status, "revoked": bool(revoked), "blocked": bool(blocked),
                        "quick_cancelled": bool(released),
                        "event_id": target,
                        "event": t.get("name", str(target)), "category": category_label(cat, t.get("categories", {})),
                        "zone": "" if zone is None else t.get("zones", {}).get(zone, str(zone)), "seat": seat or "",
                        "check_in": state, "entries": len([e for e in entries if e.direction != "out"]),
                        "last_scan_at": entries[-1].server_at if entries else None})
        return out

    # -- till ----------------------------------------------------------------------------------------------------
    def open_shift(self, org: str, device_id: str, float_cents: int, staff: str = "", currency: str | None = None,
                   shift_uuid: str | None = None, at: float | None = None) -> dict:
        """A desk shift starts with a float (cash in the drawer). One open shift per desk; idempotent by uuid. In
        `currency`, else that of the desk's (first) event: what it sells in."""
        if not 0 <= int(float_cents) <= 10**9:
            raise InvalidInput(f"float {float_cents}: a number of cents, 0 or more")
        dev = self.device(device_id)
        if dev is None or dev["org"] != org:
            raise NotFound(f"no device {device_id!r} for organiser {org!r}")
        shift_uuid = shift_uuid or uuid.uuid4().hex
        currency = currency or self.desk_currency(device_id)
        with self.tx() as c:
            self._lock_org(org)
            same = c.execute("SELECT shift_id FROM till_shifts WHERE shift_uuid=?", (shift_uuid,)).fetchone()
            if same is not None:
                return self.shift(org, same[0])
            open_ = c.execute("SELECT shift_id FROM till_shifts WHERE org=? AND device_id=? AND closed_at IS NULL",
                              (org, device_id)).fetchone()
            if open_:                 # named: a kiosk that did not know (the organiser opened it) takes it as open
                raise coded(StoreError(f"{device_id} has an open shift ({open_[0]}): close it first"), "shift_open",
                            shift=open_[0])
            c.execute("INSERT INTO till_shifts(org, device_id, shift_uuid, staff, currency, float_cents, opened_at) "
                      "VALUES (?,?,?,?,?,?,?)", (org, device_id, shift_uuid, staff, currency.upper(), int(float_cents),
                                                 time.time() if at is None else at))
        return self.shift(org, self.q1("SELECT shift_id FROM till_shifts WHERE shift_uuid=?", (shift_uuid,))[0])

    def desk_currency(self, device_id: str) -> str:
        """What a desk sells in, its till's currency: that of its (first) event, EUR when it has none."""
        dev = self.device(device_id) or {}
        events = dev.get("events") or []
        return self.currency(int(events[0])) if events else "EUR"

    def close_shift(self, org: str, shift_id: int, counted_cents: int, staff: str = "", at: float | None = None,
                    warn_unsent: bool = True) -> dict:
        """Close with the cash counted in the drawer: the Z report is computed and kept with the shift, with the
        kiosk's sales made offline not received yet as its last status counted them (`warn_unsent`; the kiosk's own
        close waited for its outbox: no stale count of it)."""
        from server_stub.reports import z_report
        if not 0 <= int(counted_cents) <= 10**10:
            raise InvalidInput(f"counted {counted_cents}: a number of cents, 0 or more")
        s = self.shift(org, shift_id)
        if s["closed_at"] is not None:
            raise StoreError(f"shift {shift_id} is closed already")
        closed_at = time.time() if at is None else at
        _, names = self._names(org)
        report = z_report(dict(s, closed_at=closed_at, counted_cents=int(counted_cents), closed_by=staff),
                          self.desk_moves(org, s["device_id"], self.shift_since(org, s), closed_at), names,
                          self.unsent_sales(s["device_id"]) if warn_unsent else None)
        with self.tx() as c:
            if c.execute("UPDATE till_shifts SET closed_at=?, counted_cents=?, closed_by=?, report=? WHERE shift_id=? "
                         "AND closed_at IS NULL RETURNING shift_id", (closed_at, int(counted_cents), staff,
                                                                       json.dumps(report), shift_id)).fetchone() is None:
                raise StoreError(f"shift {shift_id} is closed already")
        return self.shift(org, shift_id)

    def shift(self, org: str, shift_id: int) -> dict:
        row = self.q1(f"SELECT {_SHIFT_COLS} FROM till_shifts WHERE shift_id=? AND org=?", (int(shift_id), org))
        if row is None:
            raise NotFound(f"no till shift {shift_id}")
        return _shift(row)

    def shifts(self, org: str, device_id: str | None = None) -> list[dict]:
        rows = self.q(f"SELECT {_SHIFT_COLS} FROM till_shifts WHERE org=? ORDER BY shift_id", (org,))
        return [s for s in map(_shift, rows) if device_id is None or s["device_id"] == device_id]

    def shift_report(self, org: str, shift_id: int) -> dict:
        """The Z report: the one kept at closing, or (open shift) the running figures until now (an X report). A kept
        one whose moves a rollback cancelled after closing says so (`rolled_back_since`, with the expected cash
        without them): it is not rewritten."""
        from server_stub.reports import rolled_back_since, z_report
        s = self.shift(org, shift_id)
        _, names = self._names(org)
        if s["report"] is not None:
            kept = {m["id"] for m in (s["report"].get("rolled_back") or {}).get("moves", [])}
            start = self.shift_since(org, s) if "outside_shift" in s["report"] else s["opened_at"]   # (kept before)
            now = z_report(s, self.desk_moves(org, s["device_id"], start, s["closed_at"]), names)
            since = [m for m in now["rolled_back"]["moves"] if m["id"] not in kept]
            return dict(s["report"], rolled_back_since=rolled_back_since(s["report"], since)) if since else s["report"]
        return z_report(s, self.desk_moves(org, s["device_id"], self.shift_since(org, s)), names,
                        self.unsent_sales(s["device_id"]))

    def shift_since(self, org: str, s: dict) -> float:
        """Where a shift's moves start: just after the desk's previous shift closed (the moves made while no shift
        was open are this one's), from the beginning for its first shift."""
        row = self.q1("SELECT max(closed_at) FROM till_shifts WHERE org=? AND device_id=? AND shift_id < ?",
                      (org, s["device_id"], s["shift_id"]))
        return 0.0 if row is None or row[0] is None else math.nextafter(float(row[0]), math.inf)

    def outside_shifts(self, org: str, device_id: str) -> list[dict]:
        """What the desk did since its last shift closed while none is open (in no Z report yet: its next shift's)."""
        shifts = self.shifts(org, device_id)
        if shifts and shifts[-1]["closed_at"] is None:
            return []
        since = math.nextafter(float(shifts[-1]["closed_at"]), math.inf) if shifts else 0.0
        return self.desk_moves(org, device_id, since)


_SHIFT_KEYS = ("shift_id", "device_id", "shift_uuid", "staff", "currency", "float_cents", "opened_at", "closed_at",
               "counted_cents", "closed_by", "report")
_SHIFT_COLS = ", ".join(_SHIFT_KEYS)


def _shift(row: tuple) -> dict:
    d = dict(zip(_SHIFT_KEYS, row))
    d["report"] = json.loads(d["report"]) if d["report"] else None
    return d


class MailStatusMixin:
    """The last e-mail delivery of each order's e-tickets (server_stub.mail): sent, refused (the address), failed."""
    q1: Any
    tx: Any

    def set_mail_status(self, org: str, number: str, address: str, status: str, detail: str = "",
                        attempts: int = 0) -> dict:
        with self.tx() as c:
            c.execute("INSERT INTO mail_status(order_number, org, address, status, detail, attempts, at) "
                      "VALUES (?,?,?,?,?,?,?) ON CONFLICT (order_number) DO UPDATE SET address=excluded.address, "
                      "status=excluded.status, detail=excluded.detail, attempts=excluded.attempts, at=excluded.at",
                      (number, org, address, status, detail, attempts, time.time()))
        return self.mail_status(number) or {}

    def mail_status(self, number: str) -> dict | None:
        row = self.q1("SELECT address, status, detail, attempts, at FROM mail_status WHERE order_number=?", (number,))
        return None if row is None else dict(zip(("address", "status", "detail", "attempts", "at"), row))


class TillRequestsMixin(ReportsMixin):
    """A kiosk's till messages (agent.sync.messages.TillRequest), answered like desk requests: idempotent by request
    id (the answer is kept), refusals by name. The till's currency is the server's (`desk_currency`: the currency
    of the events the kiosk sells), never the kiosk's word: a kiosk stating another one is refused (`till_currency`)."""

    @staticmethod
    def _refuse_other_currency(given: str, currency: str) -> None:
        """StoreError `till_currency` when the kiosk states a currency (a kiosk before it sent none, or EUR) other
        than the till's."""
        if given and given.strip().upper() != currency.upper():
            raise coded(StoreError(f"this kiosk's till is in {currency.upper()}, the currency of the events it sells, "
                                   f"not {given.strip().upper()}: nothing done; let the kiosk sync its price list, "
                                   "then try again"), "till_currency", currency=currency.upper(),
                        given=given.strip().upper())

    def till_request(self, org: str, device_id: str, req) -> Any:
        from agent.sync.messages import DeskAnswer
        try:
            done = self._answered(req.request_id, device_id)
            if done is not None:
                return DeskAnswer(**dict(done, lines=tuple(done.get("lines", ())), tickets=()))
            if req.action == "open":
                self._refuse_other_currency(req.currency, self.desk_currency(device_id))
                s = self.open_shift(org, device_id, req.cents, req.staff, shift_uuid=req.request_id)
                answer = {"device": device_id, "request_id": req.request_id, "kind": "till", "ok": True,
                          "status": "open", "order_number": str(s["shift_id"]), "currency": s["currency"],
                          "total_cents": s["float_cents"]}
            else:
                open_ = [s for s in self.shifts(org, device_id) if s["closed_at"] is None]
                if not open_:
                    raise coded(StoreError(f"{device_id} has no open till shift"), "no_open_shift")
                self._refuse_other_currency(req.currency, open_[-1]["currency"])
                s = self.close_shift(org, open_[-1]["shift_id"], req.cents, req.staff, warn_unsent=False)
                z = s["report"]
                answer = {"device": device_id, "request_id": req.request_id, "kind": "till", "ok": True,
                          "status": "closed", "order_number": str(s["shift_id"]), "currency": s["currency"],
                          "total_cents": z["expected_cash_cents"], "difference_cents": z["difference_cents"],
                          "report": z}
            with self.tx() as c:
                c.execute("INSERT INTO desk_requests(request_id, org, device_id, kind, answer, at, staff) "
                          "VALUES (?,?,?,?,?,?,?) ON CONFLICT (request_id) DO NOTHING",
                          (req.request_id, org, device_id, "till", json.dumps(answer), time.time(), req.staff))
            return DeskAnswer(**answer)
        except (StoreError, InvalidInput) as exc:
            return DeskAnswer(device_id, req.request_id, "till", False, str(exc), **reason_fields(exc))
