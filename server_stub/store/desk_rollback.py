"""What a kiosk did at the desk through the server (online sales, refunds and cancellations, exchanges; its offline
sales once reconciled), listed and undone for the rollback of a revoked (stolen) kiosk.

Undone, newest first (a refund of its own sale is undone before the sale), in the rollback's transaction:
  * a sale: its order cancelled (tickets revoked at every door, back on sale), the uses of promo codes it counted
    given back (a one-use code a thief spent works again);
  * a refund or cancellation: the order back to what it was (paid or pending), the tickets it revoked valid again
    and counted in stock again;
  * an exchange: the ticket it replaced valid again, the replacement revoked, the order's lines moved back;
  * the kiosk's offline allotments revoked (doors refuse the tickets it signs from now on).
What no store change undoes is listed (`not_undone`): money handed out or taken (a refund, an exchange's
difference, a sale's takings), and entries a door made with a ticket of it (the holder is inside).
Plain SQL on purpose: the same statements serve a PostgreSQL store.
"""
from __future__ import annotations

import json
from typing import Any

from server_stub.model import CANCELLED, PAID, PENDING, REFUNDED
from server_stub.reports import money
from server_stub.store.sales import ROLLED_BACK, UNDO, SalesMixin
from server_stub.store.stock import needs, release_tickets, take

DESK_UNDONE = ("sale", "refund", "exchange")


class DeskRollbackMixin(SalesMixin):
    def desk_uploads(self, device_id: str) -> list[dict]:
        """The desk requests of `device_id` the server carried out (sales, offline sales reconciled, refunds,
        exchanges), oldest first, shaped as `device_uploads` rows (`type` desk) with the money that moved."""
        out = []
        for request_id, kind, answer, at, payment in self.q(
                "SELECT request_id, kind, answer, at, payment FROM desk_requests WHERE device_id=? AND kind IN "
                f"({','.join('?' * len(DESK_UNDONE))}) ORDER BY at, request_id", (device_id, *DESK_UNDONE)):
            a = json.loads(answer)
            if not (a.get("ok") or a.get("offline_order")):
                continue                                    # refused: nothing happened
            undo = a.get(UNDO) or {}
            new = [t["ticket_key"] for t in a.get("tickets") or ()]
            out.append({"seq": None, "scan_uuid": request_id, "type": "desk",
                        "kind": "offline sale" if a.get("offline_order") else kind,
                        "ticket_key": undo.get("ticket_key"), "event_id": None, "at": at, "received_at": at,
                        "order_number": a.get("offline_order") or a.get("order_number"),
                        "replacement": new[0] if kind == "exchange" and new else None,
                        "tickets": new if kind == "sale" else [], "payment": payment or "",
                        "amount_cents": _amount(kind, a), "currency": a.get("currency") or "",
                        "rolled_back": bool(a.get(ROLLED_BACK)), "flag": ""})
        return out

    def _desk_rows(self, c: Any, device_id: str, after: float) -> list[tuple]:
        """Inside the rollback's transaction: the device's desk requests carried out at or after `after` and not
        rolled back yet, as (time, request id, kind, answer, payment) for `_undo_desk_row`."""
        rows = c.execute("SELECT at, request_id, kind, answer, payment FROM desk_requests WHERE device_id=? AND at >= ? "
                         f"AND kind IN ({','.join('?' * len(DESK_UNDONE))})", (device_id, after, *DESK_UNDONE)).fetchall()
        out = []
        for at, request_id, kind, answer, payment in rows:
            a = json.loads(answer)
            if not a.get(ROLLED_BACK) and (a.get("ok") or a.get("offline_order")):
                out.append((at, request_id, kind, a, payment))
        return out

    def _undo_desk_row(self, c: Any, row: tuple, why: str, now: float, done: dict) -> None:
        """Undo one desk request (module doc; the rollback undoes them newest first), marking it rolled back."""
        _at, request_id, kind, a, payment = row
        undo = {"sale": self._undo_sale, "refund": self._undo_refund, "exchange": self._undo_exchange}[kind]
        undo(c, a, payment or ("" if kind == "refund" else "cash"), why, now, done)   # (a refund: as it was paid)
        c.execute("UPDATE desk_requests SET answer=? WHERE request_id=?", (json.dumps(dict(a, **{ROLLED_BACK: now})),
                                                                          request_id))

    def _revoke_allotments(self, c: Any, org: str, device_id: str, why: str) -> list[int]:
        revoked = [aid for (aid,) in c.execute("SELECT allotment_id FROM allotments WHERE device_id=? AND revoked_at "
                                               "IS NULL", (device_id,)).fetchall()]
        for aid in revoked:
            self.revoke_allotment(org, aid, why)
        return revoked

    def _undo_sale(self, c: Any, a: dict, payment: str, why: str, now: float, done: dict) -> None:
        number = a.get("offline_order") or a["order_number"]
        status = self._order_status(c, number)
        if status in (CANCELLED, REFUNDED, None):
            done["skipped"].append(f"sale {number}: order {status or 'not found'}, left as it is")
            return
        self.cancel_order(number, why)
        for promo_id in sorted({x["promo_id"] for x in a.get("lines") or () if x.get("promo_id") is not None}):
            c.execute("UPDATE promotions SET uses = uses - 1 WHERE promo_id=? AND uses > 0", (promo_id,))
        done["sales"].append(number)
        total = int(a.get("total_cents") or 0)
        if total:
            done["not_undone"].append(f"sale {number}: {money(total, a.get('currency', ''))} taken ({payment}) at "
                                      "the kiosk: not handed back by the rollback")
        issued = [str(t) for (t,) in c.execute("SELECT t.ticket_id FROM tickets t JOIN orders o ON o.order_id = "
                                               "t.order_id WHERE o.number=?", (number,)).fetchall()]
        done["not_undone"].extend(self._admitted(c, issued, number))       # (an offline sale's too)

    def _undo_refund(self, c: Any, a: dict, payment: str, why: str, now: float, done: dict) -> None:
        number = a["order_number"]
        row = c.execute("SELECT order_id, org, status, reason FROM orders WHERE number=?", (number,)).fetchone()
        if row is None or row[2] not in (CANCELLED, REFUNDED):
            done["skipped"].append(f"refund of {number}: order {row[2] if row else 'not found'}, left as it is")
            return
        order_id, org, _status, reason = row
        undo = a.get(UNDO) or {}
        was = undo.get("was") or (PAID if a.get("total_cents") else PENDING)
        version = self._bump(org)
        # the tickets the refund revoked (not one exchanged before it, whatever reason the kiosk gave); a refund
        # answered by an older version kept no list: its order's tickets revoked for the refund's reason
        revoked = undo.get("tickets")
        lifted = c.execute("UPDATE revocations SET active=0, reason=?, at=?, version=? WHERE active=1 AND reason=? AND "
                           "ticket_id IN (SELECT ticket_id FROM tickets WHERE order_id=?)"
                           + ("" if revoked is None else
                              f" AND ticket_id IN ({','.join(str(int(t)) for t in revoked) or 'NULL'})")
                           + " RETURNING ticket_id", (why, now, version, undo.get("reason", reason), order_id)).fetchall()
        for target, category, zone in c.execute(
                f"SELECT target_id, category, zone FROM tickets WHERE ticket_id IN ({','.join('?' * len(lifted))})",
                tuple(t for (t,) in lifted)).fetchall() if lifted else ():
            take(c, needs(target, [(category, zone, 1)]), check=False)   # the buyer's seats again (even past capacity)
        c.execute("UPDATE orders SET status=?, reason=?, updated_at=? WHERE order_id=?", (was, why, now, order_id))
        c.execute("UPDATE tickets SET version=? WHERE order_id=?", (version, order_id))
        done["refunds"].append(number)
        back = int(a.get("total_cents") or 0)
        if back:
            done["not_undone"].append(f"refund of {number}: {money(back, a.get('currency', ''))} handed back at the "
                                      f"kiosk: the order is {was} again, the money is gone")

    def _undo_exchange(self, c: Any, a: dict, payment: str, why: str, now: float, done: dict) -> None:
        number, new = a["order_number"], str(a["tickets"][0]["ticket_key"])
        undo = a.get(UNDO) or self._exchanged_before(c, a, new)
        if not undo:
            done["skipped"].append(f"exchange for ticket {new}: the ticket it replaced is not known, left as it is")
            return
        old = str(undo["ticket_key"])
        org, status = c.execute("SELECT org, status FROM orders WHERE number=?", (number,)).fetchone()
        if status in (CANCELLED, REFUNDED):       # its tickets are off for good: neither comes back
            done["skipped"].append(f"exchange of {old}: order {number} {status} since, left as it is")
            return
        if c.execute("SELECT 1 FROM revocations WHERE ticket_id=? AND active=1", (int(new),)).fetchone():
            done["skipped"].append(f"exchange of {old}: its replacement {new} was revoked or exchanged since, left as "
                                   "it is")                  # (its own replacement would stay valid beside the old one)
            return
        version = self._bump(org)
        release_tickets(c, "t.ticket_id=?", (int(new),))            # the replacement's seat back on sale…
        c.execute("INSERT INTO revocations(ticket_id, reason, at, active, version) VALUES (?,?,?,1,?) "
                  "ON CONFLICT(ticket_id) DO UPDATE SET reason=excluded.reason, at=excluded.at, active=1, "
                  "version=excluded.version", (int(new), why, now, version))
        if c.execute("UPDATE revocations SET active=0, reason=?, at=?, version=? WHERE ticket_id=? AND active=1 "
                     "RETURNING ticket_id", (why, now, version, int(old))).fetchone():
            t = c.execute("SELECT target_id, category, zone FROM tickets WHERE ticket_id=?", (int(old),)).fetchone()
            take(c, needs(t[0], [(t[1], t[2], 1)]), check=False)    # …the old one's taken again
            nt = c.execute("SELECT target_id, category FROM tickets WHERE ticket_id=?", (int(new),)).fetchone()
            price = int(a.get("total_cents") or 0)
            if undo.get("unlined"):           # the lines it gave an order no line priced: taken away again
                order_id = c.execute("SELECT order_id FROM orders WHERE number=?", (number,)).fetchone()[0]
                c.executemany("DELETE FROM order_lines WHERE order_id=? AND line=?",
                              [(order_id, int(line)) for line in undo["unlined"]])
            else:
                self._move_line(c, number, (nt[0], nt[1]), price, (t[0], t[1]), t[2],
                                int(undo.get("paid", price - int(a.get("difference_cents") or 0))))
        done["exchanges"].append({"ticket_key": old, "replacement": new})
        difference = int(a.get("difference_cents") or 0)
        how = " + ".join(f"{p['method']} {money(int(p['cents']), a.get('currency', ''))}" for p in a.get("parts") or ())
        if difference:
            done["not_undone"].append(
                f"exchange of {old}: {money(abs(difference), a.get('currency', ''))} "
                f"{'collected' if difference > 0 else 'handed back'} ({how or payment}) at the kiosk: not settled by "
                "the rollback")
        done["not_undone"].extend(self._admitted(c, [new], number))

    @staticmethod
    def _order_status(c: Any, number: str) -> str | None:
        row = c.execute("SELECT status FROM orders WHERE number=?", (number,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _exchanged_before(c: Any, a: dict, new: str) -> dict | None:
        """An exchange answered by an older version kept no `undo`: the ticket of its order it revoked as exchanged
        nearest its time (within 5 s), else None."""
        row = c.execute("SELECT r.ticket_id FROM revocations r JOIN tickets t ON t.ticket_id = r.ticket_id JOIN orders o "
                        "ON o.order_id = t.order_id JOIN desk_requests d ON d.request_id=? WHERE o.number=? AND "
                        "r.active=1 AND r.reason LIKE 'exchanged:%' AND r.ticket_id<>? AND abs(r.at - d.at) < 5 "
                        "ORDER BY abs(r.at - d.at) LIMIT 1", (a["request_id"], a["order_number"], int(new))).fetchone()
        return {"ticket_key": str(row[0])} if row else None

    @staticmethod
    def _admitted(c: Any, ticket_keys: list[str], number: str) -> list[str]:
        """Entries a door made (not annulled) with these tickets: the rollback cannot take the holder back out."""
        if not ticket_keys:
            return []
        rows = c.execute(f"SELECT ticket_key, device_id, gate FROM scans s WHERE s.type='action' AND s.kind='entry' "
                         f"AND s.ticket_key IN ({','.join('?' * len(ticket_keys))}) AND NOT EXISTS (SELECT 1 FROM "
                         "scans a WHERE a.kind='annul' AND a.ref_uuid=s.scan_uuid) ORDER BY s.at",
                         tuple(ticket_keys)).fetchall()
        return [f"ticket {key} of order {number} was admitted by {device} (gate {gate or '-'}): that entry stands"
                for key, device, gate in rows]


def _amount(kind: str, a: dict) -> int:
    """The money a desk request moved, as the kiosk's operator saw it: a sale's total (taken), a refund's
    (handed back, negative), an exchange's difference."""
    if kind == "exchange":
        return int(a.get("difference_cents") or 0)
    total = int(a.get("total_cents") or 0)
    return -total if kind == "refund" else total
