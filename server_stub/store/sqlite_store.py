"""`SqliteStore`: the embedded default — one SQLite file (`<data>/server.sqlite`) next to the key files.

WAL with synchronous=FULL: an ingested batch is on disk before the sync layer acknowledges it to the device (which
then drops it from its outbox). Several processes may open the file (ingestion workers): BEGIN IMMEDIATE
serialises their writes, `busy_timeout` is how long one waits for another.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from agent.search_query import fts_query
from agent.sqlite_file import Transaction, open_guarded
from agent.storage_errors import storage_problem
from server_stub.store.base import StoreError
from server_stub.store.schema import APPLICATION_ID, MIGRATIONS
from server_stub.store.sql_store import SqlStore

DB_NAME = "server.sqlite"


def connect(path: Path, create: bool, busy_timeout: float = 10.0, check: bool = True) -> sqlite3.Connection:
    pragmas = ("journal_mode=WAL", "synchronous=FULL",
               f"busy_timeout={int(busy_timeout * 1000)}",   # another writer (a worker, an import)
               "cache_size=-32768",                         # 32 MiB: the scan_uuid index stays in memory longer
               "wal_autocheckpoint=4000")                   # fewer checkpoints (each one fsyncs) during ingestion
    return open_guarded(path, application_id=APPLICATION_ID, migrations=MIGRATIONS, error=StoreError, create=create,
                        missing=f"no server store at {path} (run `ticketgate server init` first)", pragmas=pragmas,
                        check=(lambda conn: _integrity(conn, path)) if check else None, damaged=DAMAGED)


DAMAGED = ("keep a copy of it aside, then put your latest backup of it in its place (`sqlite3 FILE .recover` writes "
           "what is still readable to a new file) and start again; `server init` does not replace it")


def _integrity(conn: sqlite3.Connection, path: Path) -> None:
    result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if result != "ok":
        said = "; ".join(line.strip() for line in str(result).splitlines() if line.strip())
        raise StoreError(f"{path} failed its integrity check ({said}); it was left untouched — {DAMAGED}")


class FileGone(StoreError):
    """The store's file was deleted or replaced under the open connection: a write would go to a file nobody opens
    again (acknowledged to the devices, then lost when the process ends)."""


def _identity(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class SqliteStore(SqlStore):
    backend = "sqlite"

    def __init__(self, data_dir: str | Path, create: bool = True, busy_timeout: float = 10.0, check: bool = True):
        super().__init__(data_dir, create, busy_timeout=busy_timeout, check=check)

    @classmethod
    def open(cls, data_dir: str | Path, create: bool = True, busy_timeout: float = 10.0) -> "SqliteStore":
        return cls(data_dir, create, busy_timeout)

    def _connect(self, create: bool, **options: Any) -> sqlite3.Connection:
        self.path = self.data_dir / DB_NAME
        conn = connect(self.path, create, float(options.get("busy_timeout", 10.0)), bool(options.get("check", True)))
        self._file = _identity(self.path)
        return conn

    def tx(self) -> Transaction:
        """BEGIN .. COMMIT under the store lock, committed only while the file opened is still at its path."""
        return Transaction(self.conn, lock=self.lock, before_commit=self._still_there)

    def _still_there(self) -> None:
        """Before a COMMIT: the file at `path` is the one this connection writes (an `rm server.sqlite*`, or a copy
        put in its place, under a running `server serve` sent every later upload into a deleted file, acknowledged
        to the doors, gone when serve stopped). FileGone: rolled back, nothing acknowledged."""
        if _identity(self.path) != self._file:
            raise FileGone(f"{self.path} was deleted or replaced while this process had it open: nothing more is "
                           f"stored in it. Stop this process, put the file back (or restore your backup of it) and "
                           f"start it again")

    def unreachable(self, exc: BaseException) -> str | None:
        """'the disk holding … is full (…): free some space on it' when `exc` is the disk refusing a write (full,
        read-only): a running `server serve` says it once, as a database server's outage, not a traceback a batch."""
        if isinstance(exc, FileGone):
            return str(exc)
        if not isinstance(exc, sqlite3.OperationalError):
            return None
        problem = storage_problem(exc, self.path)
        return None if problem is None else f"{self.path} cannot be written: {problem.text} ({exc}); {problem.remedy}"

    def reopen(self) -> "SqliteStore":
        """Another connection to this file with its own lock (the sync announcer's reads: WAL lets them run beside
        ingestion's transactions instead of waiting for this store's lock). Checked once already: not again."""
        return SqliteStore(self.data_dir, create=False, check=False)

    def read_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _search_orders(self, query: str, org: str | None, limit: int) -> list[str]:
        match = fts_query(query)
        if not match:
            return []
        sql = "SELECT o.number FROM orders_fts f JOIN orders o ON o.order_id=f.rowid WHERE orders_fts MATCH ?"
        params: tuple = (match,)
        if org:
            sql, params = sql + " AND o.org=?", (match, org)
        return [r[0] for r in self.q(sql + " ORDER BY o.order_id LIMIT ?", (*params, limit))]
