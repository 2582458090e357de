"""Orders and their tickets; cancellations, refunds, blocks, resets; the versioned deltas for bundles."""
from __future__ import annotations

import re
import time
import uuid
from typing import Callable, Iterable, Iterator

from agent.errors import InvalidInput
from agent.reasons import coded
from agent.search_query import elided_words, joins
from server_stub.model import (CANCELLED, PAID, PENDING, REFUNDED, OrderInput, Position, check_transition,
                               new_order_number, new_ticket_id, normalize_order_number)
from server_stub.store.base import NotFound, StoreError
from server_stub.store.catalogue import CatalogueMixin
from server_stub.store.stock import needs, release_tickets, take

_ORDER_COLS = "o.order_id, o.number, o.org, o.target_id, c.kind, o.buyer_name, o.email, o.status, o.reason, o.created_at, o.updated_at"
_ORDER_KEYS = ("order_id", "number", "org", "event_id", "target_kind", "buyer_name", "email", "status", "reason",
               "created_at", "updated_at")
_LEDGER_TICKET = ("ticket_key", "event_id", "order_number", "buyer_name", "email", "category", "zone", "seat",
                  "order_status")


def ticket_id(key: str) -> int | None:
    """The ticket id a key a device sent names: 1 to 18 ASCII digits (the store's ids: agent.sync.keyset), else None
    (a pretix key, or no ticket of this store). Never int() on what `str.isdigit` accepts: a longer number does not
    fit the store's integer (OverflowError, past every 'unknown ticket' guard: the sync server's whole drain failed),
    and '١٢٣' (Arabic-Indic digits) is int 123, another ticket than the one the scope check looked up."""
    return int(key) if key.isascii() and key.isdigit() and len(key) <= 18 else None


def _ticket_key(ticket_key: str | int) -> int:
    """The ticket id a key names (typed by staff: spaces around it allowed), else NotFound."""
    found = ticket_id(str(ticket_key).strip())
    if found is None:
        raise NotFound(f"no ticket {ticket_key!r} (ticket keys are numbers of at most 18 digits; a pretix ticket is "
                       "revoked by `server ticket revoke pretix:SEED --event N`)")
    return found


# a kiosk's offline number (agent.allotment.offline_order_number): `<device>-<allotment id>-<n>`
_OFFLINE_NUMBER = re.compile(r"(?P<device>.+)-(?P<allotment>\d{1,10})-(?P<n>\d{1,10})")
_TICKET_INTO = "tickets(ticket_id, order_id, position, target_id, category, zone, seat, version)"
CATCH_UP_OVERLAP = 120.0   # s: a catch-up also serves the actions ingested this long before the device's cursor
CHUNK = 500       # rows per multi-row INSERT (8 columns: well under SQLite's and PostgreSQL's parameter limits)


def _insert_random(c, into: str, key: str, count: int, draw: Callable[[], object], row: Callable[[int, object], tuple],
                   also: str = "") -> dict[int, tuple]:
    """Insert `count` rows whose first column `key` is drawn at random (unique within the batch). A key already
    taken inserts nothing (ON CONFLICT DO NOTHING: a PostgreSQL transaction stays usable, where a failed INSERT
    would abort it) and is drawn again. Returns {index: (key, *also)} from RETURNING."""
    placed: dict[int, tuple] = {}
    todo = list(range(count))
    for _ in range(20):
        if not todo:
            return placed
        keys: dict[object, int] = {}
        for k in todo:
            value = draw()
            while value in keys:
                value = draw()
            keys[value] = k
        rows = [row(k, value) for value, k in keys.items()]
        sql = (f"INSERT INTO {into} VALUES {','.join(['(' + ','.join('?' * len(rows[0])) + ')'] * len(rows))} "
               f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}{', ' + also if also else ''}")
        for got in c.execute(sql, tuple(v for r in rows for v in r)).fetchall():
            placed[keys[got[0]]] = tuple(got)
        todo = [k for k in todo if k not in placed]
    if todo:
        raise StoreError(f"could not draw a free {key.replace('_', ' ')}")
    return placed


class OrderMixin(CatalogueMixin):
    # -- creating ----------------------------------------------------------------------------------------------
    def order_import(self, org: str, digest: str) -> dict | None:
        """The import of a file with this content digest (`record_order_import`), None if never imported."""
        row = self.q1("SELECT file, orders, tickets, at FROM order_imports WHERE org=? AND digest=?", (org, digest))
        return None if row is None else dict(zip(("file", "orders", "tickets", "at"), row))

    def record_order_import(self, org: str, digest: str, file: str, orders: int, tickets: int) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO order_imports(org, digest, file, orders, tickets, at) VALUES (?,?,?,?,?,?) "
                      "ON CONFLICT (org, digest) DO UPDATE SET file=excluded.file, orders=excluded.orders, "
                      "tickets=excluded.tickets, at=excluded.at", (org, digest, file[:500], orders, tickets, time.time()))

    def add_order(self, org: str, event_id_or_pass: int, buyer_name: str, email: str = "", status: str = PAID,
                  positions: list[dict] | None = None) -> dict:
        order = OrderInput(int(event_id_or_pass), buyer_name.strip(), (email or "").strip(), status,
                           tuple(Position.from_dict(p) for p in (positions or [{}])))
        return self.order(self.add_orders(org, [order])[0])

    def add_orders(self, org: str, orders: Iterable[OrderInput], progress: Callable[[int], None] | None = None) -> list[str]:
        """Create many orders in ONE transaction (all or nothing). Returns their numbers in input order.
        Inserted CHUNK orders (and their tickets) per statement: few round trips to a database server.
        Their tickets count as sold in the quotas (never refused: the organiser may overbook on purpose), as a
        cancellation gives them back."""
        numbers: list[str] = []
        now = time.time()
        with self.tx() as c:
            version = self._bump(org)
            known: dict[int, None] = {}
            chunk: list[OrderInput] = []
            sold: dict[tuple[int, int, int | None], int] = {}
            for o in orders:
                if o.target_id not in known:
                    row = c.execute("SELECT org FROM catalogue WHERE id=?", (o.target_id,)).fetchone()
                    if row is None or row[0] != org:
                        raise NotFound(f"no event or pass {o.target_id} for organiser {org!r}")
                    known[o.target_id] = None
                for p in o.positions:
                    sold[(o.target_id, p.category, p.zone)] = sold.get((o.target_id, p.category, p.zone), 0) + 1
                chunk.append(o)
                if len(chunk) == CHUNK:
                    numbers += self._insert_orders(c, org, chunk, now, version)
                    chunk = []
                    if progress:
                        progress(len(numbers))
            if chunk:
                numbers += self._insert_orders(c, org, chunk, now, version)
            for (target, category, zone), n in sold.items():
                take(c, needs(target, [(category, zone, n)]), check=False)
        if progress:
            progress(len(numbers))
        return numbers

    def _insert_orders(self, c, org: str, chunk: list[OrderInput], now: float, version: int) -> list[str]:
        """One chunk of orders with their tickets; numbers and ticket ids drawn at random, a taken one drawn again."""
        placed = _insert_random(
            c, "orders(number, org, target_id, buyer_name, email, status, created_at, updated_at)", "number",
            len(chunk), new_order_number,
            lambda k, number: (number, org, chunk[k].target_id, chunk[k].buyer_name, chunk[k].email, chunk[k].status,
                               now, now), also="order_id")
        positions = [(placed[k][1], position, o.target_id, p) for k, o in enumerate(chunk)
                     for position, p in enumerate(o.positions)]
        for start in range(0, len(positions), CHUNK):
            part = positions[start:start + CHUNK]
            _insert_random(c, _TICKET_INTO, "ticket_id", len(part), new_ticket_id,
                           lambda k, ticket_id: (ticket_id, part[k][0], part[k][1], part[k][2], part[k][3].category,
                                                 part[k][3].zone, part[k][3].seat, version))
        return [placed[k][0] for k in range(len(chunk))]

    @staticmethod
    def _insert_ticket(c, order_id: int, position: int, target_id: int, p: Position, version: int) -> int:
        placed = _insert_random(c, _TICKET_INTO, "ticket_id", 1, new_ticket_id,
                                lambda k, ticket_id: (ticket_id, order_id, position, target_id, p.category, p.zone,
                                                      p.seat, version))
        return placed[0][0]

    # -- reading -----------------------------------------------------------------------------------------------
    def order_number(self, typed: str) -> str:
        """The number an order is stored under for what staff typed, in any case: a server number is upper case
        (normalize_order_number: `k7m2 q9` -> `K7M2-Q9`); an offline number `<device>-<allotment>-<n>` takes its
        device id as stored from the allotment, whose id the server drew for that one device (`KIOSK-1-7-3` ->
        `kiosk-1-7-3`). So two orders never differ only by case (docs/server.md). Unknown: as typed, stripped."""
        number = normalize_order_number(typed)
        offline = _OFFLINE_NUMBER.fullmatch(number)
        if offline is None or self.q1("SELECT 1 FROM orders WHERE number=?", (number,)):
            return number
        row = self.q1("SELECT device_id FROM allotments WHERE allotment_id=?", (int(offline["allotment"]),))
        if row is None or row[0].lower() != offline["device"].lower():
            return number
        stored = f"{row[0]}-{int(offline['allotment'])}-{int(offline['n'])}"
        return stored if self.q1("SELECT 1 FROM orders WHERE number=?", (stored,)) else number

    def order(self, number: str) -> dict:
        number = self.order_number(number)
        row = self.q1(f"SELECT {_ORDER_COLS} FROM orders o JOIN catalogue c ON c.id=o.target_id WHERE o.number=?", (number,))
        if row is None:
            raise NotFound(f"no order {number!r}")
        order = dict(zip(_ORDER_KEYS, row))
        rows = self.q("SELECT t.ticket_id, t.category, t.zone, t.seat, r.reason, r.active, b.reason, b.active, t.released "
                      "FROM tickets t LEFT JOIN revocations r USING (ticket_id) LEFT JOIN blocks b USING (ticket_id) "
                      "WHERE t.order_id=? ORDER BY t.position", (order["order_id"],))
        cancels = self._quick_cancels([r[0] for r in rows if r[8]])
        order["tickets"] = [
            {"ticket_key": str(t), "ticket_id": t, "category": cat, "zone": z, "seat": s,
             "revoked": rr if ra else None, "blocked": br if ba else None, "quick_cancelled": cancels.get(t)}
            for t, cat, z, s, rr, ra, br, ba, _released in rows]
        return order

    def _quick_cancels(self, ticket_ids: list[int]) -> dict[int, dict]:
        """Tickets put back on sale by a door's quick cancellation (`released`) -> that cancellation, not annulled:
        {at, gate, device_id} (the latest one when there were several)."""
        if not ticket_ids:
            return {}
        found: dict[int, dict] = {}
        for key, at, gate, device in self.q(
                "SELECT s.ticket_key, s.at, s.gate, s.device_id FROM scans s WHERE s.kind='cancel' AND s.type='action' "
                f"AND s.ticket_key IN ({','.join('?' * len(ticket_ids))}) AND NOT EXISTS (SELECT 1 FROM scans a "
                "WHERE a.kind='annul' AND a.ref_uuid=s.scan_uuid) ORDER BY s.at", tuple(str(t) for t in ticket_ids)):
            found[int(key)] = {"at": at, "gate": gate, "device_id": device}
        return {t: found.get(t, {"at": None, "gate": None, "device_id": None}) for t in ticket_ids}

    def find_orders(self, query: str, org: str | None = None, limit: int = 50) -> list[dict]:
        """Order number (typed loosely), buyer name (accents and case ignored), email; every word a prefix."""
        exact = self.q1("SELECT number FROM orders WHERE number=?", (self.order_number(query),))
        numbers = ([exact[0]] if exact else []) + self._search_orders(query, org, limit)
        seen: dict[str, None] = dict.fromkeys(numbers)
        out = []
        for n in list(seen)[:limit]:
            o = self.order(n)
            if org is None or o["org"] == org:
                out.append(o)
        for text, word in [] if out else elided_words(query):      # "obrien" for O'Brien, as the doors find it
            out = [o for n in self._search_orders(text, org, limit) if joins((o := self.order(n))["buyer_name"], word)]
            if out:
                break
        return out

    def ticket(self, ticket_key: str | int) -> dict:
        """One ticket with its order: the ledger row fields plus order/target details."""
        tid = _ticket_key(ticket_key)
        row = self.q1("SELECT t.ticket_id, t.target_id, c.kind, c.org, o.number, o.buyer_name, o.email, t.category, t.zone, "
                      "t.seat, o.status, t.released FROM tickets t JOIN orders o USING (order_id) JOIN catalogue c ON c.id=t.target_id "
                      "WHERE t.ticket_id=?", (tid,))
        if row is None:
            raise NotFound(f"no ticket {ticket_key}")
        keys = ("ticket_id", "target_id", "target_kind", "org", "order_number", "buyer_name", "email", "category", "zone",
                "seat", "order_status", "released")
        d = dict(zip(keys, row))
        d["ticket_key"] = str(d["ticket_id"])
        d["quick_cancelled"] = self._quick_cancels([d["ticket_id"]])[d["ticket_id"]] if d.pop("released") else None
        return d

    # -- state changes -----------------------------------------------------------------------------------------
    def _change_status(self, number: str, new: str, reason: str, revoke: bool) -> dict:
        number = self.order_number(number)
        now = time.time()
        with self.tx() as c:
            row = c.execute("SELECT order_id, org FROM orders WHERE number=?", (number,)).fetchone()
            if row is None:
                raise NotFound(f"no order {number!r}")
            order_id, org = row
            version = self._bump(org)        # first: a concurrent change of this order commits before we read it
            status = c.execute("SELECT status FROM orders WHERE order_id=?", (order_id,)).fetchone()[0]
            try:
                check_transition(status, new)
            except ValueError as exc:      # refunded or cancelled already: coded, a kiosk says it in its language
                refused = StoreError(f"order {number}: {exc}")
                raise (coded(refused, "order_closed", order=number) if status in (CANCELLED, REFUNDED)
                       else refused) from None
            c.execute("UPDATE orders SET status=?, reason=?, updated_at=? WHERE order_id=?", (new, reason, now, order_id))
            c.execute("UPDATE tickets SET version=? WHERE order_id=?", (version, order_id))
            if revoke:
                release_tickets(c, "t.order_id=?", (order_id,))      # back on sale, before they count as revoked
                # a ticket revoked already (exchanged) keeps its reason and time: `server conflicts` judges the
                # entries after it by that time; a lifted revocation is revoked again
                c.execute("INSERT INTO revocations(ticket_id, reason, at, active, version) "
                          "SELECT ticket_id, ?, ?, 1, ? FROM tickets WHERE order_id=? "
                          "ON CONFLICT(ticket_id) DO UPDATE SET reason=excluded.reason, at=excluded.at, active=1, "
                          "version=excluded.version WHERE revocations.active = 0",
                          (reason or f"order {new}", now, version, order_id))
        return self.order(number)

    def cancel_order(self, number: str, reason: str = "") -> dict:
        return self._change_status(number, CANCELLED, reason or "order cancelled", revoke=True)

    def refund_order(self, number: str, reason: str = "") -> dict:
        return self._change_status(number, REFUNDED, reason or "order refunded", revoke=True)

    def validate_payment(self, number: str) -> dict:
        return self._change_status(number, PAID, "payment validated", revoke=False)

    def set_order_email(self, org: str, number: str, email: str) -> dict:
        """The buyer's address, corrected (`server order set NUMBER --email`): e-tickets go to it from now on, and
        the devices get it with the order at their next sync."""
        email = email.strip()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", email) or not email.isprintable():
            raise InvalidInput(f"e-mail address {email!r}: like name@example.org expected")
        with self.tx() as c:
            row = c.execute("SELECT order_id, org FROM orders WHERE number=?", (number,)).fetchone()
            if row is None or row[1] != org:
                raise NotFound(f"no order {number!r}")
            version = self._bump(org)
            c.execute("UPDATE orders SET email=?, updated_at=? WHERE order_id=?", (email, time.time(), row[0]))
            c.execute("UPDATE tickets SET version=? WHERE order_id=?", (version, row[0]))
        return self.order(number)

    def _set_flag(self, table: str, ticket_key: str | int, reason: str, active: bool) -> dict:
        t = self.ticket(ticket_key)
        now = time.time()
        with self.tx() as c:
            version = self._bump(t["org"])
            c.execute(f"INSERT INTO {table}(ticket_id, reason, at, active, version) VALUES (?,?,?,?,?) "
                      f"ON CONFLICT(ticket_id) DO UPDATE SET reason=excluded.reason, at=excluded.at, "
                      f"active=excluded.active, version=excluded.version", (t["ticket_id"], reason, now, int(active), version))
        return {"ticket_key": t["ticket_key"], "reason": reason, "at": now, "active": active, "version": version}

    def block_ticket(self, ticket_key: str | int, reason: str) -> dict:
        if not reason.strip():
            raise InvalidInput("blocking a ticket needs a reason")
        return self._set_flag("blocks", ticket_key, reason, True)

    def unblock_ticket(self, ticket_key: str | int, reason: str = "unblocked") -> dict:
        return self._set_flag("blocks", ticket_key, reason, False)

    def revoke_ticket(self, ticket_key: str | int, reason: str) -> dict:
        """Revoke one ticket (an exchange at the kiosk, a lost ticket re-issued); the order is unchanged."""
        if not reason.strip():
            raise InvalidInput("revoking a ticket needs a reason")
        return self._set_flag("revocations", ticket_key, reason, True)

    def reset_ticket(self, ticket_key: str | int, reason: str) -> dict:
        """The organiser clears the ticket's check-ins. Returns the `reset` action (shaped for `Ledger.merge_remote`,
        plus `event_ids`, the events whose devices must receive it)."""
        if not reason.strip():
            raise InvalidInput("resetting a ticket needs a reason")
        t = self.ticket(ticket_key)
        target = self.target(t["target_id"])
        event_id = t["target_id"] if target["kind"] == "event" else None
        action = {"type": "action", "scan_uuid": str(uuid.uuid4()), "kind": "reset", "ticket_key": t["ticket_key"],
                  "event_id": event_id, "direction": None, "at": time.time(), "device_id": "server", "gate": "",
                  "ref_uuid": None, "reason": reason, "clock_offset": 0.0}
        with self.tx() as c:
            version = self._bump(t["org"])
            c.execute("INSERT INTO scans(scan_uuid, type, kind, ticket_key, event_id, at, device_id, reason, org, "
                      "received_at, version) VALUES (?, 'action', 'reset', ?, ?, ?, 'server', ?, ?, ?, ?)",
                      (action["scan_uuid"], action["ticket_key"], t["target_id"], action["at"], reason, t["org"],
                       action["at"], version))
        return dict(action, version=version, event_ids=target["event_ids"])

    # -- deltas for bundles ------------------------------------------------------------------------------------
    def tickets_for_event(self, event_id: int, since_version: int = 0) -> Iterator[dict]:
        """Ledger rows (`Ledger.upsert_tickets`) of every ticket valid for the event, changed after `since_version`.
        Pass tickets are listed with this event's id and their `pass_id`. Streams from its own read snapshot."""
        targets = self.targets_on_devices(event_id)
        conn = self.read_connection()
        try:
            cur = conn.execute(
                "SELECT t.ticket_id, o.number, o.buyer_name, o.email, t.category, t.zone, t.seat, o.status, t.target_id "
                "FROM tickets t JOIN orders o ON o.order_id = t.order_id "
                f"WHERE t.target_id IN ({','.join('?' * len(targets))}) AND t.version > ?", (*targets, since_version))
            while True:
                rows = cur.fetchmany(5000)
                if not rows:
                    break
                for tid, number, name, email, cat, zone, seat, status, target in rows:
                    yield {"ticket_key": str(tid), "event_id": event_id, "order_number": number, "buyer_name": name,
                           "email": email, "category": cat, "zone": zone, "seat": seat, "order_status": status,
                           "pass_id": None if target == event_id else target}
        finally:
            conn.close()

    def ticket_states_for_event(self, event_id: int, since_version: int) -> list[tuple[str, str]]:
        """(ticket key, order status) of the event's tickets changed after `since_version`: two columns, no row
        object. The announcer reads this first: a change that is only cancellations needs no more of the rows."""
        targets = self.targets_on_devices(event_id)
        return [(str(t), status) for t, status in self.q(
            "SELECT t.ticket_id, o.status FROM tickets t JOIN orders o ON o.order_id = t.order_id "
            f"WHERE t.target_id IN ({','.join('?' * len(targets))}) AND t.version > ?", (*targets, since_version))]

    def _flags_for_event(self, table: str, event_id: int, since_version: int) -> list[dict]:
        targets = self.targets_on_devices(event_id)
        only_active = " AND x.active=1" if since_version <= 0 else ""
        # driven by the flags' version index (migration 12 / PostgreSQL 10), each matched to its ticket by key; the
        # unary + keeps both planners off the tickets' (target, version) index, which walks every ticket of the event
        rows = self.q(f"SELECT x.ticket_id, x.reason, x.at, x.active, x.version FROM {table} x JOIN tickets t USING (ticket_id) "
                      f"WHERE +t.target_id IN ({','.join('?' * len(targets))}) AND x.version > ?{only_active} ORDER BY x.version",
                      (*targets, since_version))
        return [{"ticket_key": str(t), "reason": r, "at": at, "active": bool(a), "version": v} for t, r, at, a, v in rows]

    def revocations_for_event(self, event_id: int, since_version: int = 0) -> list[dict]:
        """[{ticket_key, reason, at, active, version}]; active=False lifts an earlier revocation."""
        return self._flags_for_event("revocations", event_id, since_version)

    def blocks_for_event(self, event_id: int, since_version: int = 0) -> list[dict]:
        """[{ticket_key, reason, at, active, version}]; active=False is an unblock."""
        return self._flags_for_event("blocks", event_id, since_version)

    def resets_for_event(self, event_id: int, since_version: int = 0) -> list[dict]:
        """Organiser actions for tickets of the event, shaped for `Ledger.merge_remote`: resets, and the annulments
        of a revoked device's rollback (`ref_uuid`: the entry they annul)."""
        targets = self.targets_on_devices(event_id)
        rows = self.q(f"SELECT scan_uuid, kind, ticket_key, at, reason, version, event_id, ref_uuid FROM scans "
                      f"WHERE version IS NOT NULL AND event_id IN ({','.join('?' * len(targets))}) AND version > ? "
                      f"ORDER BY version", (*targets, since_version))
        return [{"scan_uuid": u, "kind": kind or "reset", "ticket_key": k, "event_id": event_id if e == event_id else None,
                 "at": at, "device_id": "server", "gate": "", "reason": r, "version": v,
                 **({"ref_uuid": ref} if ref else {})} for u, kind, k, at, r, v, e, ref in rows]

    def actions_for_event(self, event_id: int, after: int = 0) -> list[dict]:
        """The devices' actions on the event (entries, exits, annulments, quick cancellations) shaped for
        `Ledger.merge_remote`, as the live topic relayed them: what a device enrolled later must know; `after`: only
        those past that action cursor (`catch_up_floor`). Read by (org, event, seq): SQLite's (org, event_id) index
        ends with the rowid, PostgreSQL's is (org, event_id, seq) (its migration 22)."""
        org = self.q1("SELECT org FROM events WHERE event_id=?", (event_id,)) if after else None
        where, params = ("org=? AND event_id=? AND seq > ?", (org[0], event_id, after)) if org else \
            ("event_id=?", (event_id,))
        rows = self.q("SELECT scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, device_seq, "
                      f"ref_uuid, reason, clock_offset, mode FROM scans WHERE {where} AND type='action' AND "
                      "version IS NULL AND kind IS NOT NULL AND ticket_key IS NOT NULL ORDER BY seq", params)
        cols = ("scan_uuid", "kind", "ticket_key", "event_id", "direction", "at", "device_id", "gate", "device_seq",
                "ref_uuid", "reason", "clock_offset", "mode")
        return [{k: v for k, v in zip(cols, r) if v is not None} for r in rows]

    def action_cursor(self) -> int:
        """The server's action cursor now: the last row of `scans` (its seq only grows; no row is ever deleted)."""
        return int(self.q1("SELECT coalesce(max(seq), 0) FROM scans")[0])

    def catch_up_floor(self, cursor: int, overlap: float | None = None) -> int | None:
        """The cursor to serve a device's missed actions after (`actions_for_event(e, after=…)`), for a device that
        holds them up to `cursor`: the last row ingested `overlap` seconds (default CATCH_UP_OVERLAP) before the
        cursor's row (the cursor itself with none), so the rows a
        second worker committed out of seq order (PostgreSQL) or relayed in a message lost with the broker come
        too (merged once by scan id). None: no such row here (another store, a forged cursor): whole data."""
        if cursor == 0:
            return 0
        row = self.q1("SELECT received_at FROM scans WHERE seq=?", (cursor,))
        if row is None:
            return None
        floor = self.q1("SELECT seq FROM scans WHERE seq <= ? AND received_at <= ? ORDER BY seq DESC LIMIT 1",
                        (cursor, row[0] - (CATCH_UP_OVERLAP if overlap is None else overlap)))
        return int(floor[0]) if floor else 0

    def count_tickets(self, event_id: int) -> int:
        targets = self.targets_of_event(event_id)
        return self.q1(f"SELECT count(*) FROM tickets WHERE target_id IN ({','.join('?' * len(targets))})", tuple(targets))[0]

    def count_tickets_of(self, event_ids: list[int]) -> int:
        """The tickets of these events and of the passes that open them, each once (a pass opening two is one)."""
        targets = sorted({t for e in event_ids for t in self.targets_of_event(e)})
        if not targets:
            return 0
        return self.q1(f"SELECT count(*) FROM tickets WHERE target_id IN ({','.join('?' * len(targets))})", tuple(targets))[0]


__all__ = ["OrderMixin", "PAID", "PENDING"]
