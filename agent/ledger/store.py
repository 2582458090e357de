"""Ledger storage: read a ticket's history, persist actions durably, catalogue, outbox, search (opening: guard.py).

Durability: WAL with synchronous=FULL, so the WAL is fsynced at every commit; `record()` commits
before it returns, and the shell returns a verdict only after `record()`. A power cut after a
verdict is shown cannot lose that check-in.
"""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from agent.history import Action, TicketHistory, fold
from agent.ledger.guard import LedgerError, Transaction, connect, split_sql

__all__ = ["Ledger", "LedgerError", "split_sql"]


_TICKET_COLUMNS = ("ticket_key", "event_id", "order_number", "buyer_name", "email", "category", "zone", "seat",
                   "order_status")


class Ledger:
    def __init__(self, conn: sqlite3.Connection, path: str):
        self.conn = conn
        self.path = path
        self._device_seq = conn.execute("SELECT max(device_seq) FROM checkins WHERE origin='local'").fetchone()[0] or 0
        self.commits_since_checkpoint = 0

    # -- opening -----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = True, full_check: bool = False) -> "Ledger":
        """Open (or create) a ledger. Refuses foreign, newer or damaged files without writing to them.

        At open, the tables the door's decisions and sync depend on are integrity-checked (small, fast even cold);
        the large ticket/search index is checked with full_check=True (`ticketgate agent status --verify`), and
        any damage met later surfaces as LedgerError. A full check of a 1M-ticket file takes ~2 s cold."""
        return cls(connect(str(path), create, full_check), str(path))

    def close(self) -> None:
        self.conn.close()

    def verify(self) -> str:
        """Full integrity check of the whole file (slow on a big ledger): 'ok' or SQLite's first complaint."""
        return self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]

    # -- WAL checkpoints ---------------------------------------------------------------------------------------
    CHECKPOINT_AFTER = 200          # commits (about 1,000 WAL pages): taken by checkpoint() when the door is idle
    CHECKPOINT_FORCED_AFTER = 2000  # commits: taken inside the commit if nobody called checkpoint() (bounds the WAL)

    def checkpoint(self, force: bool = False) -> bool:
        """Copy the WAL into the database file if enough commits piled up. Housekeeping for idle moments:
        a check-in is durable in the WAL already, so this never delays a verdict when called after one."""
        if not force and self.commits_since_checkpoint < self.CHECKPOINT_AFTER:
            return False
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.commits_since_checkpoint = 0
        return True

    def _committed(self) -> None:
        self.commits_since_checkpoint += 1
        if self.commits_since_checkpoint >= self.CHECKPOINT_FORCED_AFTER:
            self.checkpoint(force=True)

    @property
    def db(self):
        """sqlite-utils view of the same connection, for management and bulk work (imported lazily)."""
        import sqlite_utils
        return sqlite_utils.Database(self.conn)

    # -- settings ----------------------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                          (key, json.dumps(value)))

    # -- catalogue (from event bundles) ------------------------------------------------------------------------
    def upsert_events(self, events: Iterable[dict]) -> None:
        """Each event: event_id, name, starts_at, ends_at, timezone, organiser, zones [{zone_id, name, message}],
        categories [{category_id, name, message}], passes [{pass_id, name}]."""
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
                for p in e.get("passes", ()):
                    self.conn.execute("INSERT OR REPLACE INTO passes(pass_id, event_id, name) VALUES (?,?,?)",
                                      (p["pass_id"], e["event_id"], p.get("name", "")))

    def events(self) -> list[dict]:
        rows = self.conn.execute("SELECT event_id, name, starts_at, ends_at, timezone, organiser FROM events ORDER BY starts_at, event_id")
        out = []
        for event_id, name, starts, ends, tz, org in rows.fetchall():
            out.append({"event_id": event_id, "name": name, "starts_at": starts, "ends_at": ends, "timezone": tz,
                        "organiser": org,
                        "zones": [{"zone_id": z, "name": n, "message": m} for z, n, m in self.conn.execute(
                            "SELECT zone_id, name, message FROM zones WHERE event_id=? ORDER BY zone_id", (event_id,))],
                        "categories": [{"category_id": c, "name": n, "message": m} for c, n, m in self.conn.execute(
                            "SELECT category_id, name, message FROM categories WHERE event_id=? ORDER BY category_id", (event_id,))]})
        return out

    def event_times(self) -> dict[int, tuple[float | None, float | None]]:
        return {e: (s, t) for e, s, t in self.conn.execute("SELECT event_id, starts_at, ends_at FROM events")}

    def event_ids(self) -> frozenset[int]:
        return frozenset(r[0] for r in self.conn.execute("SELECT event_id FROM events"))

    def pass_events(self) -> dict[int, frozenset[int]]:
        out: dict[int, set[int]] = {}
        for pass_id, event_id in self.conn.execute("SELECT pass_id, event_id FROM passes"):
            out.setdefault(pass_id, set()).add(event_id)
        return {k: frozenset(v) for k, v in out.items()}

    def upsert_tickets(self, tickets: Iterable[dict], batch: int = 5000) -> int:
        """Bulk insert/update of the ticket index. Returns the number of rows written."""
        sql = (f"INSERT INTO tickets({', '.join(_TICKET_COLUMNS)}) VALUES ({', '.join('?' * len(_TICKET_COLUMNS))}) "
               "ON CONFLICT(ticket_key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in _TICKET_COLUMNS[1:]))
        count = 0
        rows: list[tuple] = []
        with self.transaction():
            for t in tickets:
                rows.append((str(t["ticket_key"]), t.get("event_id"), t.get("order_number", ""), t.get("buyer_name", ""),
                             t.get("email", ""), t.get("category"), t.get("zone"), t.get("seat"), t.get("order_status", "paid")))
                if len(rows) >= batch:
                    self.conn.executemany(sql, rows)
                    count += len(rows)
                    rows.clear()
            if rows:
                self.conn.executemany(sql, rows)
                count += len(rows)
        return count

    def set_order_status(self, order_number: str, status: str) -> int:
        with self.transaction():
            return self.conn.execute("UPDATE tickets SET order_status=? WHERE order_number=?", (status, order_number)).rowcount

    def revoke(self, ticket_keys: Iterable[str], reason: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self.transaction():
            self.conn.executemany("INSERT OR REPLACE INTO revocations(ticket_key, reason, at) VALUES (?,?,?)",
                                  [(k, reason, at) for k in ticket_keys])

    def unrevoke(self, ticket_keys: Iterable[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM revocations WHERE ticket_key=?", [(k,) for k in ticket_keys])

    def block(self, ticket_keys: Iterable[str], reason: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self.transaction():
            self.conn.executemany("INSERT OR REPLACE INTO blocked(ticket_key, reason, at) VALUES (?,?,?)",
                                  [(k, reason, at) for k in ticket_keys])

    def unblock(self, ticket_keys: Iterable[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM blocked WHERE ticket_key=?", [(k,) for k in ticket_keys])

    # -- history -----------------------------------------------------------------------------------------------
    def actions(self, ticket_key: str) -> list[Action]:
        rows = self.conn.execute(
            "SELECT scan_uuid, kind, at, device_id, gate, event_id, direction, ref_uuid, seq FROM checkins WHERE ticket_key=?",
            (ticket_key,)).fetchall()
        return [Action(*r) for r in rows]

    def history(self, ticket_key: str) -> TicketHistory:
        c = self.conn
        status = c.execute("SELECT order_status FROM tickets WHERE ticket_key=?", (ticket_key,)).fetchone()
        revoked = c.execute("SELECT reason FROM revocations WHERE ticket_key=?", (ticket_key,)).fetchone()
        blocked = c.execute("SELECT reason FROM blocked WHERE ticket_key=?", (ticket_key,)).fetchone()
        entries, cancelled = fold(self.actions(ticket_key))
        return TicketHistory(entries=entries, cancelled=cancelled, revoked=revoked[0] if revoked else None,
                             blocked=blocked[0] if blocked else None, order_status=status[0] if status else None)

    def record(self, ticket_key: str, action: Action, reason: str = "", clock_offset: float = 0.0,
               outbox: dict | None = None) -> int:
        """Persist one local action (and its outbox message) durably. Returns the device sequence number."""
        with self.transaction():
            self._device_seq += 1
            try:
                self.conn.execute(
                    "INSERT INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, device_seq, "
                    "clock_offset, ref_uuid, reason, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'local')",
                    (action.scan_uuid, action.kind, ticket_key, action.event_id, action.direction, action.at,
                     action.device_id, action.gate, self._device_seq, clock_offset, action.ref_uuid, reason))
                if outbox is not None:
                    body = dict(outbox, device_seq=self._device_seq)
                    self.conn.execute("INSERT INTO outbox(kind, body, created) VALUES (?,?,?)",
                                      (body.get("type", "action"), json.dumps(body, separators=(",", ":")), action.at))
            except BaseException:
                self._device_seq -= 1
                raise
        return self._device_seq

    def enqueue(self, kind: str, body: dict, durable: bool = True) -> int:
        """Queue a message for the server on its own (refusals for live stats, kiosk actions).

        durable=False commits without an fsync (synchronous=NORMAL for this one commit): the row reaches the disk
        with the next durable commit or checkpoint. For refusal statistics only, never for check-ins."""
        if not durable and not self.conn.in_transaction:
            self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.transaction():
                return self.conn.execute("INSERT INTO outbox(kind, body, created) VALUES (?,?,?)",
                                         (kind, json.dumps(body, separators=(",", ":")), time.time())).lastrowid
        finally:
            if not durable:
                self.conn.execute("PRAGMA synchronous=FULL")

    def merge_remote(self, actions: Iterable[dict]) -> int:
        """Actions from other gates or the server (idempotent by scan_uuid). Returns how many were new."""
        rows = [(a["scan_uuid"], a["kind"], a["ticket_key"], a.get("event_id"), a.get("direction"), a["at"],
                 a.get("device_id", ""), a.get("gate", ""), a.get("device_seq"), a.get("ref_uuid"), a.get("reason", ""))
                for a in actions]
        with self.transaction():
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, "
                "device_seq, ref_uuid, reason, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'remote')", rows)
            return self.conn.total_changes - before

    def last_local_action(self, device_id: str, kinds: tuple[str, ...] = ("entry", "cancel")) -> dict | None:
        marks = ",".join("?" * len(kinds))
        row = self.conn.execute(
            f"SELECT scan_uuid, kind, ticket_key, event_id, direction, at FROM checkins c WHERE origin='local' AND device_id=? "
            f"AND kind IN ({marks}) AND NOT EXISTS (SELECT 1 FROM checkins a WHERE a.kind='annul' AND a.ref_uuid=c.scan_uuid) "
            f"ORDER BY seq DESC LIMIT 1", (device_id, *kinds)).fetchone()
        return dict(zip(("scan_uuid", "kind", "ticket_key", "event_id", "direction", "at"), row)) if row else None

    def annulled(self, scan_uuid: str) -> bool:
        return self.conn.execute("SELECT 1 FROM checkins WHERE kind='annul' AND ref_uuid=?", (scan_uuid,)).fetchone() is not None

    def action(self, scan_uuid: str) -> dict | None:
        row = self.conn.execute("SELECT scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate FROM checkins "
                                "WHERE scan_uuid=?", (scan_uuid,)).fetchone()
        return dict(zip(("scan_uuid", "kind", "ticket_key", "event_id", "direction", "at", "device_id", "gate"), row)) if row else None

    # -- outbox ------------------------------------------------------------------------------------------------
    def outbox_pending(self, limit: int = 500) -> list[tuple[int, str, dict]]:
        rows = self.conn.execute("SELECT id, kind, body FROM outbox WHERE acked IS NULL ORDER BY id LIMIT ?", (limit,))
        return [(i, k, json.loads(b)) for i, k, b in rows.fetchall()]

    def outbox_ack(self, ids: Iterable[int], at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self.transaction():
            self.conn.executemany("UPDATE outbox SET acked=? WHERE id=? AND acked IS NULL", [(at, i) for i in ids])

    def outbox_size(self) -> int:
        return self.conn.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0]

    # -- search ------------------------------------------------------------------------------------------------
    SEARCH_CANDIDATES = 200   # rows checked against long prefixes before asking FTS5 for the whole prefix

    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Buyer name (accent/case-insensitive), email, order number or ticket id. Every word must match: as typed
        first; if nothing matches, the last word (being typed) as a prefix; then every word as a prefix
        (agent/search_query.py). An exact ticket id comes first."""
        from agent.search_query import search_forms
        found: dict[str, dict] = {}
        exact = self.ticket(query.strip()) if query else None
        if exact is not None:
            found[exact["ticket_key"]] = exact
        for form in search_forms(query):     # widen only while nothing matched
            hits, read = self._search_rows(form.match, form, limit, found)
            if form.prefixes and read >= self.SEARCH_CANDIDATES and len(found) < limit:
                hits += self._search_rows(form.native, None, limit, found)[0]
            if hits:
                break
        return list(found.values())[:limit]

    def _search_rows(self, match: str, form, limit: int, found: dict) -> tuple[int, int]:
        sql = (f"SELECT t.{', t.'.join(_TICKET_COLUMNS)} FROM tickets_fts f JOIN tickets t ON t.id = f.rowid "
               "WHERE tickets_fts MATCH ? LIMIT ?")
        hits = read = 0
        cap = self.SEARCH_CANDIDATES if form is not None and form.prefixes else limit
        for r in self.conn.execute(sql, (match, cap)):
            read += 1
            if form is None or form.keeps(r[0], r[2], r[3], r[4]):      # ticket key, order number, name, email
                hits += 1
                found.setdefault(r[0], dict(zip(_TICKET_COLUMNS, r)))
                if len(found) >= limit:
                    break
        return hits, read

    def ticket(self, ticket_key: str) -> dict | None:
        row = self.conn.execute(f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets WHERE ticket_key=?", (ticket_key,)).fetchone()
        return dict(zip(_TICKET_COLUMNS, row)) if row else None

    def inside(self) -> dict[int | None, int]:
        """Who is inside now, per event: tickets whose last effective movement is `in` (annulments and resets
        applied). For status screens; reads every ticket with an entry, not for the scan path."""
        counts: dict[int | None, int] = {}
        keys = [r[0] for r in self.conn.execute("SELECT DISTINCT ticket_key FROM checkins WHERE kind='entry'")]
        for key in keys:
            history = TicketHistory(entries=fold(self.actions(key))[0])
            for event_id in {a.event_id for a in history.entries}:
                if history.inside(event_id):
                    counts[event_id] = counts.get(event_id, 0) + 1
        return counts

    # -- status ------------------------------------------------------------------------------------------------
    def counts(self) -> dict:
        q = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"events": q("SELECT count(*) FROM events"), "tickets": q("SELECT count(*) FROM tickets"),
                "checkins": q("SELECT count(*) FROM checkins WHERE kind='entry'"),
                "revocations": q("SELECT count(*) FROM revocations"), "blocked": q("SELECT count(*) FROM blocked"),
                "outbox_pending": self.outbox_size()}

    # -- transactions ------------------------------------------------------------------------------------------
    def transaction(self):
        return Transaction(self.conn, self._committed)
