"""Removing deleted tickets' words from the search index's file, off the scan path (docs/ledger.md, "Events taken
away").

SQLite 3.40's FTS5 has no secure-delete: deleting a ticket (an event taken away: `forget_events`) adds a tombstone
segment, and the buyer's name and e-mail stay in the older segments until they are merged. `prune_step` runs one
bounded FTS5 `merge` (~`PRUNE_PAGES` pages) in a transaction of the index file alone (a scan, which writes the
ledger file, never waits on it); once no merge work is left the deleted entries are gone from the segments, the
pages they held were zeroed as they were freed (`secure_delete`, set on every connection), and the index's WAL is
checkpointed and truncated (it held the tombstones). The pending prune is a setting of the ledger file, so a device
restarted half-way finishes it; a full bundle that replaced the index file meanwhile ends it (the old file is
deleted)."""
from __future__ import annotations

from agent.ledger import index_file
from agent.ledger.part import LedgerPart

PRUNE_SETTING = "search.prune"     # the index generation whose FTS5 segments still hold deleted tickets' words
PRUNE_PAGES = 16                   # pages merged per step: a few ms (docs/performance.md, "Events taken away")
BUSY_TIMEOUT_MS = 5000             # the ledger connection's (agent/ledger/guard.py)


class PruneMixin(LedgerPart):
    """Part of agent.ledger.Ledger."""

    def prune_pending(self) -> bool:
        return self.conn.execute("SELECT 1 FROM settings WHERE key=?", (PRUNE_SETTING,)).fetchone() is not None

    def prune_step(self, pages: int = PRUNE_PAGES) -> bool:
        """One bounded step of rewriting the search index without the deleted tickets' words. -> True while work is
        left (call again between scans), False once they are gone from the file (or nothing was pending)."""
        with self.lock:
            pending = self.conn.execute("SELECT value FROM settings WHERE key=?", (PRUNE_SETTING,)).fetchone()
            if pending is None:
                return False
            if int(pending[0]) != self._index_gen:        # a full bundle replaced that file: it was deleted
                self._prune_done()
                return False
            schema = index_file.SCHEMA if self._index_gen else "main"
            if self._merge(schema, pages):
                return True
            if not self._checkpoint(schema):    # a reader still holds the old WAL frames: again at the next step
                return True
            self._prune_done()
            return False

    def _checkpoint(self, schema: str) -> bool:
        """The WAL (it held the tombstones) copied into the file without blocking writers (PASSIVE), then truncated
        (short: nothing left to copy), waiting for no reader. -> whether the WAL is empty now."""
        conn = self.conn
        busy, log, done = conn.execute(f"PRAGMA {schema}.wal_checkpoint(PASSIVE)").fetchone()
        if busy or done < log:
            return False
        conn.execute("PRAGMA busy_timeout=20")      # TRUNCATE holds the writers off while it waits for readers
        try:
            busy, log, _ = conn.execute(f"PRAGMA {schema}.wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return not busy and log <= 0

    def _merge(self, schema: str, pages: int) -> bool:
        """One FTS5 merge step of ~`pages` pages in a transaction of `schema`'s file only (deferred BEGIN: the
        ledger file is read, never locked for writing). -> whether it did work (more may be left)."""
        conn = self.conn
        conn.execute(f"PRAGMA {schema}.synchronous=NORMAL")    # not fsynced: the checkpoint at the end is
        conn.execute("BEGIN")
        try:
            before = conn.total_changes
            conn.execute(f"INSERT INTO {schema}.tickets_fts(tickets_fts, rank) VALUES ('merge', ?)", (-pages,))
            worked = conn.total_changes - before >= 2         # FTS5's sign that merge work was done
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            if not conn.in_transaction:
                conn.execute(f"PRAGMA {schema}.synchronous=FULL")
        return worked

    def _prune_done(self) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM settings WHERE key=?", (PRUNE_SETTING,))

    def _prune_later(self) -> None:
        """Inside the transaction that deleted tickets: their words are pruned from the index file from now on."""
        self.set_setting(PRUNE_SETTING, self._index_gen)

