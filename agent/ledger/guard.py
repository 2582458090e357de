"""Opening a ledger file safely: refuse what is not ours (foreign, newer, damaged) without writing to it,
set the durability pragmas, apply migrations. Also the re-entrant transaction helper."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from agent.ledger.schema import APPLICATION_ID, MIGRATIONS


class LedgerError(Exception):
    """The ledger file cannot be used (corrupt, foreign, newer schema). The file is left untouched."""


def connect(path: str, create: bool = True, full_check: bool = False) -> sqlite3.Connection:
    path = str(path)
    exists = Path(path).exists() and Path(path).stat().st_size > 0
    if not exists and not create:
        raise LedgerError(f"no ledger at {path}")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"{path} is not a readable SQLite database ({exc}); it was left untouched") from None
    if exists and app_id != APPLICATION_ID and (tables or version):
        conn.close()
        raise LedgerError(f"{path} is a SQLite database of another application; it was left untouched")
    if version > len(MIGRATIONS):
        conn.close()
        raise LedgerError(f"{path} has schema {version}, newer than this ticketgate ({len(MIGRATIONS)})")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        # checkpoints are taken between scans (Ledger.checkpoint, called by Gate.idle), not inside a commit
        conn.execute("PRAGMA wal_autocheckpoint=0")
        if exists:
            _integrity(conn, path, full_check)
        migrate(conn, version)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerError(f"{path} cannot be used ({exc}); it was left untouched") from None
    except LedgerError:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, version: int) -> None:
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


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, re-entrant within one thread (nested use joins the outer transaction).

    The lock (one per Ledger, re-entrant) keeps another thread sharing the connection from slipping its writes into
    this transaction, or this one's into another thread's: a check-in is always committed by its own COMMIT."""

    def __init__(self, conn: sqlite3.Connection, on_commit=None, lock=None):
        self.conn, self.outer, self.on_commit = conn, False, on_commit
        self.lock = lock if lock is not None else threading.RLock()

    def __enter__(self):
        self.lock.acquire()
        try:
            if not self.conn.in_transaction:
                self.conn.execute("BEGIN IMMEDIATE")
                self.outer = True
        except BaseException:
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.outer:
                self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
                if not exc_type and self.on_commit is not None:
                    self.on_commit()
        finally:
            self.lock.release()
        return False


# checked at every open: what check-ins, refusals and sync read and write (the big ticket index is not)
_DOOR_TABLES = ("settings", "events", "passes", "checkins", "revocations", "blocked", "outbox")


def _integrity(conn: sqlite3.Connection, path: str, full: bool) -> None:
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    checks = ["PRAGMA quick_check(1)"] if full else [f"PRAGMA quick_check({t})" for t in _DOOR_TABLES if t in present]
    for sql in checks:
        result = conn.execute(sql).fetchone()[0]
        if result != "ok":
            raise LedgerError(f"{path} failed its integrity check ({result}); it was left untouched")


def split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
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
