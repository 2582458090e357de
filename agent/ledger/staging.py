"""Staging and swap of the ticket index: a full bundle of any size is written into an index file of its own
(agent/ledger/index_file.py: its own lock, journal and fsync), then made live by one short commit of a pointer in
the ledger file, so the door's scans never wait for it (docs/ledger.md, "Full bundles").

    ledger.stage_begin()                      # a new index file, `<ledger>.index-<generation>.db`
    ledger.stage_tickets(rows)                # one commit per call, in that file: never the ledger's write lock
    ledger.stage_index()                      # its FTS index, from every staged row (by stage_swap)
    ledger.stage_swap(lambda: ...)            # one transaction: the pointer moves, the callback writes the rest
    ledger.stage_discard()                    # a bad bundle: the staged file goes, the live one was never touched
    ledger.stage_drop_old()                   # the replaced file (an unlink), and what a crash left

Until the swap commits, the live index is untouched: a crash (kill -9, power cut) at any point leaves the old
bundle scannable, and the staged file is deleted by the next open, `stage_begin` or `stage_drop_old`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from sqlite3 import Connection
from typing import Any, Callable, Iterable, Sequence

from agent.ledger import index_file
from agent.ledger.catalogue import TICKET_COLUMNS
from agent.ledger.part import LedgerPart
from agent.sqlite_file import let_writers_in


@dataclass
class Stage:
    generation: int
    path: str
    conn: Connection        # the stager's own connection to the staged file (not the ledger's)
    lock_fd: int            # flock held while staging: another process's sweep leaves the file alone
    commits: int = 0


class StagingMixin(LedgerPart):
    """Part of agent.ledger.Ledger (needs `conn`, `transaction()` and the index file helpers)."""

    # tables of the ticket index in the ledger file itself, left by a ledger from before index files (or by a
    # crash of its staging): deleted in short commits by `stage_drop_old`
    STAGE_TABLES = ("tickets_next", "tickets_fts_next", "tickets_old", "tickets_fts_old")

    STAGE_FLUSH_EVERY = 5      # staging commits between two fsyncs of the staged file's WAL (`stage_flush`): a
    # section (1,000 rows); each 200-row commit flushed: 300k rows replacing staged in 11.0 s against 8.1 s, scans'
    # p99 48 against 12 ms (alternating runs, docs/ledger.md)
    STAGE_INDEX_BATCH = 5_000    # staged rows whose text is indexed per commit once all are in (`stage_index`)
    _stage: Stage | None

    def stage_begin(self) -> None:
        """A new, empty index file, ready for `stage_tickets` (what an interrupted apply left is deleted first).
        Its FTS index is built once every row is in (`stage_index`, by `stage_swap`), in bounded commits."""
        self.stage_drop_old()          # and a stage of ours not finished
        generation = self._new_generation()
        path = index_file.index_path(self.path, generation)
        conn, fd = index_file.create(path)
        with self._stage_lock:
            self._stage = Stage(generation, path, conn, fd)

    def _staging(self) -> Stage:
        if self._stage is None:
            raise RuntimeError("no index being staged (stage_begin first, or it was discarded)")
        return self._stage

    def stage_tickets(self, tickets: Iterable[dict[str, Any]]) -> int:
        """Write rows into the staged index file in one commit; callers pass a few hundred at a time. The ledger's
        write lock is never taken (the file is the stager's alone), and nothing is fsynced at commit: staged rows
        are worth nothing until the swap; every STAGE_FLUSH_EVERY commits the file is flushed (`stage_flush`). A
        ticket key met twice keeps its last row. -> rows written."""
        return self.stage_ticket_rows(STAGED_COLUMNS, [tuple(t.get(c, _DEFAULTS.get(c)) for c in STAGED_COLUMNS)
                                                       for t in tickets])

    def stage_ticket_rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """`stage_tickets` of rows as a bundle section carries them (`columns` names their values; a column left out
        takes its default): no dict per row (1M of them cost 1.5 s of CPU)."""
        shape = _shape(tuple(columns))
        staged = {}
        for r in rows:
            row = shape(r)
            staged[row[0]] = row
        with self._stage_lock:
            stage = self._staging()
            conn = stage.conn
            conn.execute("BEGIN")
            try:
                conn.executemany(_UPSERT, staged.values())      # a key seen in an earlier batch: updated
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            stage.commits += 1
            commits = stage.commits
        if commits % self.STAGE_FLUSH_EVERY == 0:
            self.stage_flush()
        return len(staged)

    def stage_flush(self) -> None:
        """fsync the staged file's WAL: the disk's wait is paid here, by the staging thread, in small steps."""
        stage = self._stage
        if stage is not None:
            _flush(stage)

    def stage_index(self) -> None:
        """Build the staged file's FTS index from its rows (`index_file.index_text`: bounded commits, the WAL
        flushed after each). Called by `stage_swap`."""
        with self._stage_lock:
            stage = self._staging()
            index_file.index_text(stage.conn, self.STAGE_INDEX_BATCH, lambda: _flush(stage))

    def stage_swap(self, then: Callable[[], None] = lambda: None) -> None:
        """Make the staged index file the live one, and run `then()` (the rest of the bundle: events, flags, version)
        in the same transaction of the ledger file: readers see the old bundle or the new one, never a mix. The
        staged file is complete and on disk before that commit points at it. A ledger from before index files has
        its tickets in the ledger file: renamed away in the same transaction (deleted later, `stage_drop_old`)."""
        try:
            self.stage_index()
        except BaseException:
            self.stage_discard()
            raise
        with self._stage_lock:
            stage, self._stage = self._staging(), None
            try:
                index_file.finish(stage.conn, stage.path)
            except BaseException:
                _forget(stage)
                raise
        swapped = False
        try:
            with self.lock:
                with self.transaction():
                    if not os.path.exists(stage.path):
                        raise RuntimeError(f"the staged index {stage.path} was deleted before its swap")
                    if self.conn.execute("SELECT 1 FROM main.sqlite_master WHERE type='table' "
                                         "AND name='tickets'").fetchone():
                        for name in ("tickets_ai", "tickets_ad", "tickets_au"):
                            self.conn.execute(f"DROP TRIGGER IF EXISTS main.{name}")
                        for old, new in (("tickets", "tickets_old"), ("tickets_fts", "tickets_fts_old")):
                            self.conn.execute(f"ALTER TABLE main.{old} RENAME TO {new}")
                    self.conn.execute("DELETE FROM settings WHERE key='ledger.index_commit'")   # the new file: none
                    self.set_setting(index_file.GENERATION, stage.generation)
                    then()
                swapped = True
                self._attach_index(stage.generation)
        finally:
            if swapped:
                os.close(stage.lock_fd)
            else:
                _forget(stage)

    def stage_discard(self) -> None:
        """Forget a staged index that will not be made live (a bad section): the live one was never touched."""
        with self._stage_lock:
            stage, self._stage = self._stage, None
        if stage is not None:
            _forget(stage)

    def stage_drop_old(self, pause: float = 0.001, stop: Callable[[], bool] = lambda: False) -> None:
        """Delete what staging left: the index files of other generations (the one replaced by the last swap: an
        unlink; one staged by an apply that died), and the ticket tables a ledger from before index files kept
        in the ledger file. A DROP of a 1M-row table is one write of ~1.4 s (its FTS index ~0.7 s): their rows
        (and the FTS index's pages) are deleted first in short commits, `pause` seconds apart, so scans run in
        between. `stop()` true: leave the rest for later (the next call or `stage_begin` finishes). A stage of
        this ledger object in progress is discarded too (a wipe)."""
        self.stage_discard()           # one of ours in progress too (a wipe: personal data)
        index_file.sweep(self.path, self._live_generation())
        present = {r[0] for r in self.conn.execute(
            "SELECT name FROM main.sqlite_master WHERE type='table' AND name IN (?,?,?,?)", self.STAGE_TABLES)}
        if not present:
            return
        with self.transaction():       # triggers first: they name the FTS tables dropped next
            for table in ("tickets_next", "tickets_old"):
                for suffix in ("ai", "ad", "au"):
                    self.conn.execute(f"DROP TRIGGER IF EXISTS main.{table}_{suffix}")
        for table in ("tickets_fts_next", "tickets_fts_old", "tickets_next", "tickets_old"):
            if table not in present:
                continue
            # an FTS index's pages: all but its averages (rowid 1) and structure (10) records, which DROP reads
            rows, keep = (f"{table}_data", 10) if table.startswith("tickets_fts") else (table, 0)
            while True:
                if not self.conn.in_transaction:
                    let_writers_in()
                with self.relaxed_transaction():      # no fsync under the lock: losing a delete loses nothing
                    n = self.conn.execute(f"DELETE FROM main.{rows} WHERE rowid IN (SELECT rowid FROM main.{rows} "
                                          f"WHERE rowid > {keep} LIMIT {self.STAGE_DELETE_BATCH})").rowcount
                if n < self.STAGE_DELETE_BATCH:
                    break
                if stop():
                    return
                if not self.conn.in_transaction:
                    time.sleep(pause)
            with self.transaction():
                self.conn.execute(f"DROP TABLE main.{table}")

    STAGE_DELETE_BATCH = 500


STAGED_COLUMNS = (*TICKET_COLUMNS, "payload")
_DEFAULTS: dict[str, Any] = {"order_number": "", "buyer_name": "", "email": "", "order_status": "paid"}
_UPSERT = (f"INSERT INTO tickets({', '.join(STAGED_COLUMNS)}) VALUES ({', '.join('?' * len(STAGED_COLUMNS))}) "
           "ON CONFLICT(ticket_key) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in STAGED_COLUMNS[1:]))


def _shape(columns: tuple[str, ...]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function turning a row of `columns` into a row of STAGED_COLUMNS (ticket key as text; a column it does not
    know is left out: a newer server's). ValueError for a row of another width or a section without ticket_key."""
    if "ticket_key" not in columns:
        raise ValueError("staged ticket rows need a ticket_key column")
    width = len(columns)

    def checked(r: Sequence[Any]) -> Sequence[Any]:
        if not isinstance(r, (list, tuple)) or len(r) != width:
            raise ValueError(f"a ticket row that is not {width} values")
        return r
    if columns == STAGED_COLUMNS[:width]:            # a bundle's section: the same order, payload or not
        tail = (None,) * (len(STAGED_COLUMNS) - width)
        return lambda r: (str(checked(r)[0]), *r[1:], *tail)
    at = [columns.index(c) if c in columns else None for c in STAGED_COLUMNS]
    fill = [_DEFAULTS.get(c) for c in STAGED_COLUMNS]
    key = columns.index("ticket_key")
    return lambda r: (str(checked(r)[key]), *(d if i is None else r[i] for i, d in zip(at[1:], fill[1:])))


def _flush(stage: Stage) -> None:
    try:
        index_file.fsync(f"{stage.path}-wal")
    except FileNotFoundError:          # nothing written since the last checkpoint
        pass


def _forget(stage: Stage) -> None:
    """Close a stage's connection and delete its file (flock released last)."""
    stage.conn.close()      # a no-op when already closed (finish)
    index_file.remove([stage.path + s for s in ("", *index_file.SIDE_FILES)])
    os.close(stage.lock_fd)
