"""Ledger catalogue: events, zones, categories, passes and the ticket index, as pushed in event bundles."""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable

from agent.errors import InvalidInput
from agent.ledger.part import LedgerPart
from agent.validity import DEFAULT_VALIDITY_MARGIN_H, validity_window

TICKET_COLUMNS = ("ticket_key", "event_id", "order_number", "buyer_name", "email", "category", "zone", "seat",
                  "order_status", "pass_id")    # pass_id: the pass a pass ticket is of (None: an event's ticket)
_TICKET_COLUMNS = TICKET_COLUMNS


# what a full bundle replaces and a signed wipe deletes: event data and personal data, never the action log
CATALOGUE_TABLES = ("tickets", "status_changes", "revocations", "blocked", "passes", "zones", "categories", "events",
                    "order_dues")
# a ticket's order status as the door and the desk read it: the one changed live (`set_order_status_of`) if any,
# else its row's (the row aliased `t`)
ORDER_STATUS = ("coalesce((SELECT s.order_status FROM status_changes s WHERE s.ticket_key = t.ticket_key), "
                "t.order_status)")
# a ticket revoked again: the new reason and time, except that the desk's words for its own refund or cancellation
# ('refunded: Buyer cannot come') stay when the server's revocation of it comes (the order's reason alone): whichever
# arrives first, the kiosk says what happened, in its language
_REVOKED_AGAIN = ("ON CONFLICT(ticket_key) DO UPDATE SET at = excluded.at, reason = CASE WHEN revocations.reason IN "
                  "('refunded: ' || excluded.reason, 'cancelled: ' || excluded.reason) THEN revocations.reason "
                  "ELSE excluded.reason END")


def ticket_columns(columns: tuple[str, ...]) -> str:
    """SELECT list of these ticket columns of the row `t`, its order status as read (ORDER_STATUS)."""
    return ", ".join(ORDER_STATUS if c == "order_status" else f"t.{c}" for c in columns)


FORGET_CHUNK = 100      # tickets deleted per transaction by forget_tickets_in_steps (~5 ms each at 1M tickets)
FORGET_PAUSE = 0.005    # s between two: a door waiting in SQLite's busy handler gets its turn (bench_forget_event.py)


def _doomed(gone: list[int]) -> tuple[str, tuple[int, ...]]:
    """(condition on the ticket row `t`, its arguments): a ticket of the events `gone` (not of a pass that opens
    an event kept), or of a pass that opens only events in `gone`."""
    marks = ",".join("?" * len(gone))
    kept_passes = f"SELECT pass_id FROM passes WHERE event_id NOT IN ({marks})"
    return (f"((t.event_id IN ({marks}) AND (t.pass_id IS NULL OR t.pass_id NOT IN ({kept_passes}))) OR t.pass_id IN "
            f"(SELECT pass_id FROM passes WHERE event_id IN ({marks}) EXCEPT {kept_passes}))", (*gone, *gone, *gone, *gone))


class AmbiguousOrder(InvalidInput):
    """An order number typed in another case than printed names two orders here (ledger.order_number)."""


class CatalogueMixin(LedgerPart):
    """Part of agent.ledger.Ledger (needs `conn` and `transaction()`)."""

    # -- catalogue (from event bundles) ------------------------------------------------------------------------
    def upsert_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Each event: event_id, name, starts_at, ends_at, timezone, organiser, zones [{zone_id, name, message}],
        categories [{category_id, name, message}], passes [{pass_id, name}]."""
        dropped: set[int] = set()         # passes the organiser took from an event (`server pass edit`, `remove`)
        with self.transaction():
            for e in events:
                extra = {k: v for k, v in e.items() if k not in ("event_id", "name", "starts_at", "ends_at", "timezone",
                                                                  "organiser", "zones", "categories", "passes")}
                self.conn.execute(
                    "INSERT INTO events(event_id, name, starts_at, ends_at, timezone, organiser, data) VALUES (?,?,?,?,?,?,?) "
                    "ON CONFLICT(event_id) DO UPDATE SET name=excluded.name, starts_at=excluded.starts_at, "
                    "ends_at=excluded.ends_at, timezone=excluded.timezone, organiser=excluded.organiser, data=excluded.data",
                    (e["event_id"], e["name"], e.get("starts_at"), e.get("ends_at"), e.get("timezone", "UTC"),
                     e.get("organiser", ""), json.dumps(extra)))
                for table, id_col, rows in (("zones", "zone_id", e.get("zones", ())),
                                            ("categories", "category_id", e.get("categories", ()))):
                    for r in rows:
                        self.conn.execute(
                            f"INSERT INTO {table}(event_id, {id_col}, name, message) VALUES (?,?,?,?) "
                            f"ON CONFLICT DO UPDATE SET name=excluded.name, message=excluded.message",
                            (e["event_id"], r[id_col], r["name"], r.get("message", "")))
                if "passes" in e:       # the passes opening it now: one the organiser took it from goes
                    dropped.update(r[0] for r in self.conn.execute("SELECT pass_id FROM passes WHERE event_id=?",
                                                                   (e["event_id"],)).fetchall())
                    self.conn.execute("DELETE FROM passes WHERE event_id=?", (e["event_id"],))
                    dropped.difference_update(p["pass_id"] for p in e["passes"])
                for p in e.get("passes", ()):
                    self.conn.execute("INSERT OR REPLACE INTO passes(pass_id, event_id, name) VALUES (?,?,?)",
                                      (p["pass_id"], e["event_id"], p.get("name", "")))
            self._forget_passes(dropped)

    def _forget_passes(self, pass_ids: set[int]) -> None:
        """Inside a transaction: the tickets (buyers' names and e-mails) and flags of passes that open no event of
        this device any more; their check-ins and the outbox stay."""
        gone = sorted(p for p in pass_ids if self.conn.execute("SELECT 1 FROM passes WHERE pass_id=?", (p,)).fetchone()
                      is None)
        if not gone:
            return
        marks = ",".join("?" * len(gone))
        for table in ("status_changes", "revocations", "blocked"):
            self.conn.execute(f"DELETE FROM {table} WHERE ticket_key IN (SELECT ticket_key FROM tickets WHERE pass_id "
                              f"IN ({marks}))", gone)
        if self.conn.execute(f"DELETE FROM tickets WHERE pass_id IN ({marks})", gone).rowcount:
            self.conn.execute("DELETE FROM order_dues WHERE order_number NOT IN (SELECT order_number FROM tickets)")
            self._index_written()
            self._prune_later()

    def clear_catalogue(self, keep: tuple[str, ...] = ()) -> None:
        """Delete every event, ticket, revocation and block (full bundle, wipe). Check-ins and the outbox stay.
        `keep`: tables left alone (a full bundle swaps its tickets in: agent/ledger/staging.py)."""
        with self.transaction():
            for table in CATALOGUE_TABLES:
                if table not in keep:
                    self.conn.execute(f"DELETE FROM {table}")
            if "tickets" not in keep:
                self._index_written()

    def forget_events(self, event_ids: Iterable[int]) -> int:
        """Delete what the device holds of these events (taken away by the organiser: `server device events
        --remove`): their tickets (buyers' names and e-mails), flags, zones, categories, passes and the events; a
        pass's tickets stay while the pass opens an event kept. Check-ins and the outbox stay (uploaded as usual).
        The tickets are best deleted first by `forget_tickets_in_steps` (outside the command's transaction): what is
        left of them is deleted here. -> the tickets deleted here."""
        gone = sorted(set(int(e) for e in event_ids))
        if not gone:
            return 0
        marks = ",".join("?" * len(gone))
        with self.transaction():
            doomed, args = _doomed(gone)
            for table in ("status_changes", "revocations", "blocked"):      # small tables: each row looked up
                self.conn.execute(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM tickets t WHERE t.ticket_key = "
                                  f"{table}.ticket_key AND {doomed})", args)
            deleted = self.conn.execute(f"DELETE FROM tickets AS t WHERE {doomed}", args).rowcount
            for table in ("passes", "zones", "categories", "events"):
                self.conn.execute(f"DELETE FROM {table} WHERE event_id IN ({marks})", gone)
            # the amounts due of orders no ticket here names any more (the buyers' orders of those events)
            self.conn.execute("DELETE FROM order_dues WHERE order_number NOT IN (SELECT order_number FROM tickets)")
            self._index_written()
            if deleted:          # their words stay in the search index's segments until pruned (agent/ledger/prune.py)
                self._prune_later()
        return int(deleted)

    def forget_tickets_in_steps(self, event_ids: Iterable[int], chunk: int = FORGET_CHUNK, pause: float = FORGET_PAUSE,
                                after_chunk: Callable[[], None] = lambda: None) -> int:
        """The tickets `forget_events` deletes (and their flags), deleted `chunk` at a time, each chunk a short
        transaction of its own (not fsynced: the command's commit that follows is), `pause` s apart, before the
        command's: a scan waits for one chunk at most, not for the whole deletion (seconds at 1M tickets).
        -> the tickets deleted."""
        gone = sorted(set(int(e) for e in event_ids))
        doomed, args = _doomed(gone)
        last = total = 0
        while gone:
            with self.relaxed_transaction():
                rows = self.conn.execute(f"SELECT t.id, t.ticket_key FROM tickets t WHERE t.id > ? AND {doomed} "
                                         "ORDER BY t.id LIMIT ?", (last, *args, chunk)).fetchall()
                if not rows:
                    break
                ids, keys = [r[0] for r in rows], [r[1] for r in rows]
                for table in ("status_changes", "revocations", "blocked"):
                    self.conn.execute(f"DELETE FROM {table} WHERE ticket_key IN ({','.join('?' * len(keys))})", keys)
                self.conn.execute(f"DELETE FROM tickets WHERE id IN ({','.join('?' * len(ids))})", ids)
                self._index_written()
                if not total:
                    self._prune_later()
                last, total = ids[-1], total + len(ids)
            after_chunk()
            time.sleep(pause)
        return total

    def _order_rows(self, typed: str, select: str) -> list[tuple[Any, ...]]:
        """(order number as held, *select) of the tickets of the order `typed` names, in any case (staff type what
        a guest reads out: `k7m2-q9`, `KIOSK-1-7-3`). One scan. AmbiguousOrder when two orders here differ only
        by case and neither is typed exactly (a server of this version never makes such numbers: docs/server.md)."""
        typed = (typed or "").strip()
        rows = self.conn.execute(f"SELECT t.order_number, {select} FROM tickets t WHERE t.order_number = ? "
                                 "COLLATE NOCASE ORDER BY t.ticket_key", (typed,)).fetchall()
        numbers = {r[0] for r in rows}
        if len(numbers) > 1:
            if typed not in numbers:
                raise AmbiguousOrder(f"order number {typed!r} names {len(numbers)} orders here that differ only by "
                                     f"case ({', '.join(sorted(numbers))}): type it exactly as printed")
            numbers = {typed}
        return [tuple(r) for r in rows if r[0] in numbers]

    def order_number(self, typed: str) -> str:
        """The number this device holds an order under for what staff typed (case ignored); the typed text,
        stripped, when no ticket here has it. AmbiguousOrder: see _order_rows."""
        rows = self._order_rows(typed, "1")
        return str(rows[0][0]) if rows else (typed or "").strip()

    def order_tickets(self, order_number: str) -> list[str]:
        """The ticket keys of one order (typed in any case), sorted."""
        return [str(r[1]) for r in self._order_rows(order_number, "t.ticket_key")]

    def order_statuses(self, order_number: str) -> set[str]:
        """The statuses the tickets of one order have here (live changes included); empty: no such order here."""
        return {str(r[1]) for r in self._order_rows(order_number, ORDER_STATUS)}

    def set_order_dues(self, dues: Iterable[tuple[str, int | None, str]]) -> None:
        """(order number, cents due, currency); cents None: nothing due any more (paid, cancelled, unpriced)."""
        with self.transaction():
            for number, cents, currency in dues:
                if cents is None:
                    self.conn.execute("DELETE FROM order_dues WHERE order_number=?", (number,))
                else:
                    self.conn.execute("INSERT OR REPLACE INTO order_dues(order_number, cents, currency) VALUES (?,?,?)",
                                      (number, int(cents), currency))

    def order_due(self, order_number: str) -> tuple[int, str] | None:
        """(cents, currency) to collect for a pending order (typed in any case), as the server last said or this
        kiosk sold it; None when unknown here."""
        row = self.conn.execute("SELECT cents, currency FROM order_dues WHERE order_number=?",
                                (self.order_number(order_number),)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def payload_count(self) -> int:
        """Tickets whose signed QR this device holds (kiosk devices)."""
        return int(self.conn.execute("SELECT count(payload) FROM tickets").fetchone()[0])

    def events(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT event_id, name, starts_at, ends_at, timezone, organiser, data FROM events "
                                 "ORDER BY starts_at, event_id")
        out = []
        for event_id, name, starts, ends, tz, org, data in rows.fetchall():
            extra = json.loads(data or "{}")
            out.append({"event_id": event_id, "name": name, "starts_at": starts, "ends_at": ends, "timezone": tz,
                        "organiser": org, "language": extra.get("language", "en"),
                        "desk": extra.get("desk"),          # kiosk bundles: prices, promotions, stock left
                        "zones": [{"zone_id": z, "name": n, "message": m} for z, n, m in self.conn.execute(
                            "SELECT zone_id, name, message FROM zones WHERE event_id=? ORDER BY zone_id", (event_id,))],
                        "categories": [{"category_id": c, "name": n, "message": m} for c, n, m in self.conn.execute(
                            "SELECT category_id, name, message FROM categories WHERE event_id=? ORDER BY category_id", (event_id,))]})
        return out

    def event_times(self) -> dict[int, tuple[float | None, float | None]]:
        return {e: (s, t) for e, s, t in self.conn.execute("SELECT event_id, starts_at, ends_at FROM events")}

    def validity_of(self, event_ids: Iterable[int]) -> tuple[int | None, int | None]:
        """The validity window a ticket of these events carries in its QR (agent.validity): an event's ticket, or a
        pass's (from the first start to the last end of its events, those this device knows), from the events' dates
        and the server's margin as the bundle gave them (a bundle from before the margin was sent: the default
        margin). (None, None) for events this device does not know."""
        ids = sorted(set(event_ids))
        rows = self.conn.execute(f"SELECT starts_at, ends_at, data FROM events WHERE event_id IN ({','.join('?' * len(ids))})",
                                 ids).fetchall() if ids else []
        if not rows:
            return None, None
        margin = max(float(json.loads(data or "{}").get("validity_margin_h", DEFAULT_VALIDITY_MARGIN_H))
                     for _s, _e, data in rows)
        return validity_window([s for s, _e, _d in rows if s is not None], [e for _s, e, _d in rows if e is not None],
                               margin)

    def event_ids(self) -> frozenset[int]:
        return frozenset(r[0] for r in self.conn.execute("SELECT event_id FROM events"))

    def pass_events(self) -> dict[int, frozenset[int]]:
        out: dict[int, set[int]] = {}
        for pass_id, event_id in self.conn.execute("SELECT pass_id, event_id FROM passes"):
            out.setdefault(pass_id, set()).add(event_id)
        return {k: frozenset(v) for k, v in out.items()}

    def upsert_tickets(self, tickets: Iterable[dict[str, Any]], batch: int = 5000) -> int:
        """Bulk insert/update of the ticket index. Returns the number of rows written."""
        # + payload (signed QR, kiosk devices only): a row without one keeps the stored one (live updates carry none)
        cols = (*_TICKET_COLUMNS, "payload")
        sql = (f"INSERT INTO tickets({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               "ON CONFLICT(ticket_key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in _TICKET_COLUMNS[1:])
               + ", payload=coalesce(excluded.payload, tickets.payload)")
        count = 0
        rows: list[tuple[Any, ...]] = []
        with self.transaction():
            self._index_written()
            for t in tickets:
                rows.append((str(t["ticket_key"]), t.get("event_id"), t.get("order_number", ""), t.get("buyer_name", ""),
                             t.get("email", ""), t.get("category"), t.get("zone"), t.get("seat"), t.get("order_status", "paid"),
                             t.get("pass_id"), t.get("payload")))
                if len(rows) >= batch:
                    self._write_rows(sql, rows)
                    count += len(rows)
                    rows.clear()
            if rows:
                self._write_rows(sql, rows)
                count += len(rows)
        return count

    def _write_rows(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Whole ticket rows: each brings its order status, so a status changed live before is dropped."""
        self.conn.executemany(sql, rows)
        self._drop_status_changes(r[0] for r in rows)

    def _drop_status_changes(self, ticket_keys: Iterable[str]) -> None:
        self.conn.execute("DELETE FROM status_changes WHERE ticket_key IN (SELECT value FROM json_each(?))",
                          (_key_array(ticket_keys),))

    def update_ticket_states(self, tickets: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Tickets already known with the same searchable text (order number, buyer name, e-mail) and no payload:
        their event, category, zone, seat and order status are updated in place, without touching the search index
        (a cancellation of 1,000 orders is 1,000 status changes, ~10x cheaper than re-indexing them).
        -> the other rows (new tickets, changed names, payloads), for `upsert_tickets`."""
        rows = list(tickets)
        known: dict[str, tuple[Any, ...]] = {}
        keys = [str(t["ticket_key"]) for t in rows]
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            known.update((k, (o, n, e)) for k, o, n, e in self.conn.execute(
                "SELECT ticket_key, order_number, buyer_name, email FROM tickets WHERE ticket_key IN "
                f"({','.join('?' * len(part))})", part))
        light, rest = [], []
        for t in rows:
            text = (t.get("order_number", ""), t.get("buyer_name", ""), t.get("email", ""))
            if t.get("payload") is None and known.get(str(t["ticket_key"])) == text:
                light.append((t.get("event_id"), t.get("category"), t.get("zone"), t.get("seat"),
                              t.get("order_status", "paid"), t.get("pass_id"), str(t["ticket_key"])))
            else:
                rest.append(t)
        with self.transaction():
            self._index_written()
            self.conn.executemany("UPDATE tickets SET event_id=?, category=?, zone=?, seat=?, order_status=?, "
                                  "pass_id=? WHERE ticket_key=?", light)
            self._drop_status_changes(r[-1] for r in light)
        return rest

    def set_ticket_order_states(self, states: Iterable[tuple[str, str]]) -> None:
        """(ticket_key, order_status) each: the status of the rows held, in place (`set_order_status_of`)."""
        by_status: dict[str, list[str]] = {}
        for key, status in states:
            by_status.setdefault(status, []).append(key)
        with self.transaction():
            for status, keys in by_status.items():
                self.set_order_status_of(keys, status)

    def set_order_status_of(self, ticket_keys: Iterable[str], status: str) -> None:
        """The order status of these tickets, in one statement, as a live change (`status_changes`, migration 8): the
        ticket index is not written, a status already set is not written again. It is read with the ticket's row
        (ORDER_STATUS): for a ticket not held it stays unread until the next delta brings the row, which drops it."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO status_changes(ticket_key, order_status) SELECT value, ? FROM json_each(?) WHERE true "
                "ON CONFLICT(ticket_key) DO UPDATE SET order_status = excluded.order_status "
                "WHERE order_status IS NOT excluded.order_status", (status, _key_array(ticket_keys)))

    def revoke_rows(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """(ticket_key, reason, at) each, in one statement (live updates and bundles carry one reason per row)."""
        with self.transaction():
            self.conn.executemany(f"INSERT INTO revocations(ticket_key, reason, at) VALUES (?,?,?) {_REVOKED_AGAIN}",
                                  rows)

    def block_rows(self, rows: Iterable[tuple[str, str, float]]) -> None:
        with self.transaction():
            self.conn.executemany("INSERT OR REPLACE INTO blocked(ticket_key, reason, at) VALUES (?,?,?)", rows)

    def set_order_status(self, order_number: str, status: str) -> int:
        with self.transaction():
            self._index_written()
            keys = self.order_tickets(order_number)
            self._drop_status_changes(keys)
            return self.conn.executemany("UPDATE tickets SET order_status=? WHERE ticket_key=?",
                                         [(status, k) for k in keys]).rowcount

    def revoke(self, ticket_keys: Iterable[str], reason: str, at: float | None = None) -> None:
        self._mark("revocations", ticket_keys, reason, at)

    def unrevoke(self, ticket_keys: Iterable[str]) -> None:
        self._unmark("revocations", ticket_keys)

    def block(self, ticket_keys: Iterable[str], reason: str, at: float | None = None) -> None:
        self._mark("blocked", ticket_keys, reason, at)

    def unblock(self, ticket_keys: Iterable[str]) -> None:
        self._unmark("blocked", ticket_keys)

    def _mark(self, table: str, ticket_keys: Iterable[str], reason: str, at: float | None) -> None:
        """A revocation or block (`table`) of each ticket, with its reason and time (now when None): one statement."""
        at = time.time() if at is None else at
        with self.transaction():
            insert, again = ("INSERT", _REVOKED_AGAIN) if table == "revocations" else ("INSERT OR REPLACE", "")
            self.conn.execute(f"{insert} INTO {table}(ticket_key, reason, at) "
                              f"SELECT value, ?, ? FROM json_each(?) WHERE true {again}",
                              (reason, at, _key_array(ticket_keys)))

    def _unmark(self, table: str, ticket_keys: Iterable[str]) -> None:
        with self.transaction():
            self.conn.execute(f"DELETE FROM {table} WHERE ticket_key IN (SELECT value FROM json_each(?))",
                              (_key_array(ticket_keys),))


def _key_array(ticket_keys: Iterable[str]) -> str:
    """Ticket keys as one JSON array of strings, for `json_each(?)`: a set applied by one statement, which lets
    other threads in once (a statement per key releases and takes back the interpreter lock at each key)."""
    return json.dumps([str(k) for k in ticket_keys])
