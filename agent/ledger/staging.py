"""Staging and swap of the ticket index: a full bundle of any size is written next to the live tables in short
commits, then made live in one short transaction, so scans never wait for it (docs/ledger.md, "Full bundles").

    ledger.stage_begin()                      # fresh tickets_next + tickets_fts_next (leftovers of a crash dropped)
    ledger.stage_tickets(rows)                # one short commit per call; scans run in between
    ledger.stage_swap(lambda: ...)            # one transaction: next -> live, the callback writes the rest
    ledger.stage_discard()                    # a bad bundle: the staged rows go, the live ones were never touched

Until the swap commits, the live `tickets` / `tickets_fts` are untouched: a crash (kill -9, power cut) at any point
leaves the old bundle scannable, and the staged rows are dropped by the next `stage_begin` or `stage_drop_old`.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

from agent.ledger.catalogue import TICKET_COLUMNS
from agent.ledger.part import LedgerPart
from agent.sqlite_file import let_writers_in

_FTS_COLS = "buyer_name, email, order_number, ticket_key"
_FTS_OPTIONS = ("content='tickets', content_rowid='id', tokenize='unicode61 remove_diacritics 2', detail='none', "
                "columnsize=0, prefix='2 3'")      # as migration 3: content names the live table (after the swap)
_TICKETS_DDL = ("CREATE TABLE {t} (id INTEGER PRIMARY KEY, ticket_key TEXT NOT NULL UNIQUE, event_id INTEGER, "
                "order_number TEXT NOT NULL DEFAULT '', buyer_name TEXT NOT NULL DEFAULT '', "
                "email TEXT NOT NULL DEFAULT '', category INTEGER, zone INTEGER, seat TEXT, "
                "order_status TEXT NOT NULL DEFAULT 'paid', payload TEXT)")
_NEW = "new.id, new.buyer_name, new.email, new.order_number, new.ticket_key"
_OLD = "old.id, old.buyer_name, old.email, old.order_number, old.ticket_key"


def _triggers(table: str, fts: str, prefix: str) -> list[str]:
    """The FTS-feeding triggers of migration 1, for `table` -> `fts`."""
    add = f"INSERT INTO {fts}(rowid, {_FTS_COLS}) VALUES ({_NEW});"
    remove = f"INSERT INTO {fts}({fts}, rowid, {_FTS_COLS}) VALUES ('delete', {_OLD});"
    return [f"CREATE TRIGGER {prefix}_ai AFTER INSERT ON {table} BEGIN {add} END",
            f"CREATE TRIGGER {prefix}_ad AFTER DELETE ON {table} BEGIN {remove} END",
            f"CREATE TRIGGER {prefix}_au AFTER UPDATE OF {_FTS_COLS} ON {table} BEGIN {remove} {add} END"]


class StagingMixin(LedgerPart):
    """Part of agent.ledger.Ledger (needs `conn` and `transaction()`)."""

    STAGE_TABLES = ("tickets_next", "tickets_fts_next", "tickets_old", "tickets_fts_old")

    STAGE_FLUSH_EVERY = 1      # staging commits between two flushes of the WAL to disk, outside the lock (stage_flush):
    # every commit, so a scan's own fsync has at most one staging commit's pages to write (docs/ledger.md)
    _stage_commits = 0         # stage_tickets commits so far (on this ledger object)
    STAGE_MERGE_PAGES = 20     # FTS merge work done after each staged batch (bounded: the commit stays short)

    def stage_begin(self) -> None:
        """Empty staging tables, ready for `stage_tickets` (leftovers of an interrupted apply are dropped first).
        The staged FTS index merges only in bounded steps (`stage_tickets`), never in one long crisis merge."""
        self.stage_drop_old()
        with self.transaction():
            self.conn.execute(_TICKETS_DDL.format(t="tickets_next"))
            self.conn.execute(f"CREATE VIRTUAL TABLE tickets_fts_next USING fts5({_FTS_COLS}, {_FTS_OPTIONS})")
            for option, value in (("automerge", 0), ("crisismerge", 64)):
                self.conn.execute(f"INSERT INTO tickets_fts_next(tickets_fts_next, rank) VALUES ('{option}', {value})")
            for sql in _triggers("tickets_next", "tickets_fts_next", "tickets_next")[2:]:   # update only (below)
                self.conn.execute(sql)

    def stage_tickets(self, tickets: Iterable[dict[str, Any]]) -> int:
        """Write rows into the staging index in one short commit; callers pass a few hundred at a time. No commit
        fsyncs while it holds the write lock (synchronous=NORMAL: staged rows are worth nothing until the swap,
        which is durable): a synced commit waited 10-50 ms for the disk with the lock held, and a scan behind it
        waited as long. Every STAGE_FLUSH_EVERY commits the WAL is flushed without the lock (`stage_flush`), so
        neither a scan's fsync nor the swap's has much of ours to write. A ticket key met twice keeps its last
        row. -> rows written."""
        cols = (*TICKET_COLUMNS, "payload")
        sql = (f"INSERT INTO tickets_next({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               "ON CONFLICT(ticket_key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in cols[1:]))
        rows = {str(t["ticket_key"]): (str(t["ticket_key"]), t.get("event_id"), t.get("order_number", ""),
                                       t.get("buyer_name", ""), t.get("email", ""), t.get("category"), t.get("zone"),
                                       t.get("seat"), t.get("order_status", "paid"), t.get("payload"))
                for t in tickets}
        self._stage_commits += 1
        if not self.conn.in_transaction:
            let_writers_in()       # the door's scans beginning a write go first
        with self.lock:
            relaxed = not self.conn.in_transaction
            if relaxed:
                self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self.transaction():
                    top = self.conn.execute("SELECT max(id) FROM tickets_next").fetchone()[0] or 0
                    self.conn.executemany(sql, rows.values())      # a key seen in an earlier batch: updated, and
                    self.conn.execute(                              # its FTS entry by the update trigger
                        f"INSERT INTO tickets_fts_next(rowid, {_FTS_COLS}) SELECT id, {_FTS_COLS} FROM tickets_next "
                        "WHERE id > ?", (top,))
                    if self.STAGE_MERGE_PAGES:
                        self.conn.execute("INSERT INTO tickets_fts_next(tickets_fts_next, rank) "
                                          f"VALUES ('merge', {self.STAGE_MERGE_PAGES})")
            finally:
                if relaxed:
                    self.conn.execute("PRAGMA synchronous=FULL")
        if self._stage_commits % self.STAGE_FLUSH_EVERY == 0:
            self.stage_flush()
        return len(rows)

    def stage_flush(self) -> None:
        """fsync the WAL file outside any transaction: the disk's wait is paid here, by the staging thread, while
        scans take and release the write lock (an fsync flushes the file whichever descriptor asks)."""
        if self.conn.in_transaction:
            return
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def stage_swap(self, then: Callable[[], None] = lambda: None) -> None:
        """Make the staged index the live one, and run `then()` (the rest of the bundle: events, flags, version) in
        the same transaction: readers see the old bundle or the new one, never a mix. Renames only: milliseconds
        whatever the size. The old tables are dropped afterwards (`stage_drop_old`)."""
        with self.transaction():
            for name in ("tickets_ai", "tickets_ad", "tickets_au", "tickets_next_ai", "tickets_next_ad",
                         "tickets_next_au"):
                self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            for old, new in (("tickets", "tickets_old"), ("tickets_fts", "tickets_fts_old"),
                             ("tickets_next", "tickets"), ("tickets_fts_next", "tickets_fts")):
                self.conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
            for sql in _triggers("tickets", "tickets_fts", "tickets"):
                self.conn.execute(sql)
            for option, value in (("automerge", 4), ("crisismerge", 16)):     # FTS5's defaults, as before
                self.conn.execute(f"INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('{option}', {value})")
            then()

    def stage_discard(self) -> None:
        """Forget a staged index that will not be made live (a bad section): the live tables were never touched."""
        self.stage_drop_old()

    def stage_drop_old(self, pause: float = 0.001, stop: Callable[[], bool] = lambda: False) -> None:
        """Drop what staging left: the tables replaced by the last swap, or staged by an apply that never finished.
        A DROP of a 1M-row table is one write of ~1.4 s (its FTS index ~0.7 s): the rows (and the FTS index's
        pages) are deleted first in short commits, `pause` seconds apart, so scans run in between. `stop()` true:
        leave the rest for later (the owner is shutting down; the next call or `stage_begin` finishes)."""
        present = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name IN (?,?,?,?)", self.STAGE_TABLES)}
        if not present:
            return
        with self.transaction():       # triggers first: they name the FTS tables dropped next
            for table in ("tickets_next", "tickets_old"):
                for suffix in ("ai", "ad", "au"):
                    self.conn.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
        for table in ("tickets_fts_next", "tickets_fts_old", "tickets_next", "tickets_old"):
            if table not in present:
                continue
            # an FTS index's pages: all but its averages (rowid 1) and structure (10) records, which DROP reads
            rows, keep = (f"{table}_data", 10) if table.startswith("tickets_fts") else (table, 0)
            batches = 0
            while True:
                if not self.conn.in_transaction:
                    let_writers_in()
                with self.relaxed_transaction():      # no fsync under the lock: losing a delete loses nothing
                    n = self.conn.execute(f"DELETE FROM {rows} WHERE rowid IN (SELECT rowid FROM {rows} WHERE "
                                          f"rowid > {keep} LIMIT {self.STAGE_DELETE_BATCH})").rowcount
                if n < self.STAGE_DELETE_BATCH:
                    break
                batches += 1
                if batches % self.STAGE_FLUSH_EVERY == 0:
                    self.stage_flush()
                if stop():
                    return
                if not self.conn.in_transaction:
                    time.sleep(pause)
            with self.transaction():
                self.conn.execute(f"DROP TABLE {table}")

    STAGE_DELETE_BATCH = 500
