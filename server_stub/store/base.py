"""Opening, guarding and migrating the server's SQLite file; transactions; the change counter.

WAL with synchronous=FULL: an ingested batch is on disk before the sync layer acknowledges it to the
device (which then drops it from its outbox). One connection per store object, shared by threads
under a lock; long reads (bundle streams) use their own short-lived read connection (a snapshot).
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from agent.sqlite_file import Transaction, open_guarded
from server_stub.store.schema import APPLICATION_ID, MIGRATIONS

DB_NAME = "server.sqlite"


class StoreError(Exception):
    """The store cannot do this (corrupt or foreign file, unknown organiser, bad state change...)."""


class NotFound(StoreError, LookupError):
    """No such organiser, event, order, ticket or device."""


def connect(path: Path, create: bool, busy_timeout: float = 10.0) -> sqlite3.Connection:
    pragmas = ("journal_mode=WAL", "synchronous=FULL",
               f"busy_timeout={int(busy_timeout * 1000)}",   # another writer (a worker, an import)
               "cache_size=-32768",                         # 32 MiB: the scan_uuid index stays in memory longer
               "wal_autocheckpoint=4000")                   # fewer checkpoints (each one fsyncs) during ingestion
    return open_guarded(path, application_id=APPLICATION_ID, migrations=MIGRATIONS, error=StoreError, create=create,
                        missing=f"no server store at {path} (run `ticketgate server init` first)", pragmas=pragmas,
                        check=lambda conn: _integrity(conn, path))


def _integrity(conn: sqlite3.Connection, path: Path) -> None:
    result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if result != "ok":
        raise StoreError(f"{path} failed its integrity check ({result}); it was left untouched")


class StoreBase:
    """Connection, lock, transactions and the per-organiser change counter; the mixins build on it."""

    def __init__(self, data_dir: str | Path, create: bool = True, busy_timeout: float = 10.0):
        self.data_dir = Path(data_dir)
        if create:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        elif not self.data_dir.is_dir():
            raise StoreError(f"no server data folder at {self.data_dir} (run `ticketgate server init` first)")
        self.path = self.data_dir / DB_NAME
        self.conn = connect(self.path, create, busy_timeout)
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def tx(self) -> Transaction:
        """BEGIN IMMEDIATE .. COMMIT under the store lock; nested use joins the outer transaction."""
        return Transaction(self.conn, lock=self.lock)

    def read_connection(self) -> sqlite3.Connection:
        """A separate connection for a long read: its own snapshot, no lock held while the caller iterates."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def q(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def q1(self, sql: str, params: tuple = ()):
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def _bump(self, org: str) -> int:
        """Inside a transaction: the organiser's next change version (one per transaction is enough)."""
        row = self.conn.execute("UPDATE organisers SET version = version + 1 WHERE org=? RETURNING version",
                                (org,)).fetchone()
        if row is None:
            raise NotFound(f"no organiser {org!r}")
        return row[0]

    def version(self, org: str) -> int:
        row = self.q1("SELECT version FROM organisers WHERE org=?", (org,))
        if row is None:
            raise NotFound(f"no organiser {org!r}")
        return row[0]
