"""Opening, guarding and migrating the server's SQLite file; transactions; the change counter.

WAL with synchronous=FULL: an ingested batch is on disk before the sync layer acknowledges it to the
device (which then drops it from its outbox). One connection per store object, shared by threads
under a lock; long reads (bundle streams) use their own short-lived read connection (a snapshot).
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from server_stub.store.schema import APPLICATION_ID, MIGRATIONS

DB_NAME = "server.sqlite"


class StoreError(Exception):
    """The store cannot do this (corrupt or foreign file, unknown organiser, bad state change...)."""


class NotFound(StoreError, LookupError):
    """No such organiser, event, order, ticket or device."""


def connect(path: Path, create: bool, busy_timeout: float = 10.0) -> sqlite3.Connection:
    exists = path.exists() and path.stat().st_size > 0
    if not exists and not create:
        raise StoreError(f"no server store at {path} (run `ticketgate server init` first)")
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable SQLite database ({exc}); it was left untouched") from None
    if exists and app_id != APPLICATION_ID and (tables or version):
        conn.close()
        raise StoreError(f"{path} is a SQLite database of another application; it was left untouched")
    if version > len(MIGRATIONS):
        conn.close()
        raise StoreError(f"{path} has schema {version}, newer than this ticketgate ({len(MIGRATIONS)})")
    try:
        integrity = conn.execute("PRAGMA quick_check(1)").fetchone()[0] if exists else "ok"
        if integrity != "ok":
            raise StoreError(f"{path} failed its integrity check ({integrity}); it was left untouched")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")   # another writer (a worker, an import)
        conn.execute("PRAGMA cache_size=-32768")          # 32 MiB: the scan_uuid index stays in memory longer
        conn.execute("PRAGMA wal_autocheckpoint=4000")    # fewer checkpoints (each one fsyncs) during ingestion
        _migrate(conn, version)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path} cannot be used ({exc}); it was left untouched") from None
    except StoreError:
        conn.close()
        raise
    return conn


def split_sql(script: str) -> list[str]:
    """A migration script -> statements (trigger bodies kept whole; `--` comment lines dropped)."""
    statements, buf = [], []
    for line in script.splitlines():
        if not line.strip() or line.strip().startswith("--"):
            continue
        buf.append(line)
        text = "\n".join(buf)
        if text.rstrip().endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf))
    return statements


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    for index in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_sql(MIGRATIONS[index]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={index + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


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

    def tx(self) -> "_Tx":
        return _Tx(self)

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


class _Tx:
    """BEGIN IMMEDIATE .. COMMIT under the store lock; nested use joins the outer transaction."""

    def __init__(self, store: StoreBase):
        self.store, self.outer = store, False

    def __enter__(self) -> sqlite3.Connection:
        self.store.lock.acquire()
        conn = self.store.conn
        if not conn.in_transaction:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store.lock.release()
                raise
            self.outer = True
        return conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        conn = self.store.conn
        try:
            if self.outer:
                if exc_type:
                    conn.execute("ROLLBACK")
                else:
                    try:
                        conn.execute("COMMIT")
                    except BaseException:     # disk full, I/O error: never leave a half-open transaction behind
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
        finally:
            self.store.lock.release()
        return False
