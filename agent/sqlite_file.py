"""An application's own SQLite file, opened safely: shared by the device ledger and the server store.

`open_guarded` refuses what is not ours (an empty file, a WAL without its database, unreadable, another
application's, a newer schema, failing its integrity check) without writing to it, sets the pragmas, and applies
pending migrations — each one in its own transaction, stamped with `PRAGMA application_id` and `user_version`.
A new file is built under a temporary name and linked into place complete, so a file at the path that is empty
was never one of ours (truncated, or another program's) and is refused, not replaced.
Files are private (0600) from creation; SQLite gives the -wal/-shm files the database file's mode.
`Transaction` is the re-entrant BEGIN IMMEDIATE … COMMIT both use.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Callable, Protocol, Sequence

from agent.private_files import PRIVATE, make_private
from agent.storage_errors import storage_problem

SIDE_FILES = ("-wal", "-shm", "-journal")


def open_guarded(path: str | Path, *, application_id: int, migrations: Sequence[str], error: type[Exception],
                 create: bool = True, missing: str = "", pragmas: Sequence[str] = (),
                 check: Callable[[sqlite3.Connection], None] | None = None,
                 damaged: str = "restore it from a backup or move it away") -> sqlite3.Connection:
    """Open (or create) the file; any refusal raises `error` with a message that says the file was left untouched.
    `check(conn)` runs on an existing file after the pragmas and may raise `error` itself. `damaged`: what to do
    with a file SQLite cannot read (its owner's words: what it may hold, what brings it back)."""
    path = str(path)
    if not os.path.exists(path):
        orphans = [path + s for s in SIDE_FILES[:1] + SIDE_FILES[2:] if os.path.exists(path + s)]
        if orphans:
            raise error(f"{path} is missing but {orphans[0]} is there (it may hold unsaved data); "
                        "nothing was created or deleted")
        if not create:
            raise error(missing or f"no database at {path}")
        _create(path, application_id, migrations, pragmas, error)
    if os.path.getsize(path) == 0:
        raise error(f"{path} is empty (0 bytes): it is not a database this ticketgate wrote (truncated?); "
                    f"it was left untouched — {damaged}")
    make_private(path, *(path + s for s in SIDE_FILES))
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problem = storage_problem(exc, path)
        if problem:         # a full or read-only disk: the file is fine, SQLite could not make its -shm/-wal
            raise error(f"cannot open {path}: {problem.text} ({exc}); it was left untouched — "
                        f"{problem.advice}") from None
        raise error(f"{path} is not a readable SQLite database ({exc}); it was left untouched — {damaged}") from None
    if app_id != application_id and (tables or version):     # a blank SQLite file holds nothing: adopted
        conn.close()
        raise error(f"{path} is a SQLite database of another application; it was left untouched")
    if version > len(migrations):
        conn.close()
        raise error(f"{path} has schema {version}, newer than this ticketgate ({len(migrations)})")
    try:
        for pragma in pragmas:
            conn.execute(f"PRAGMA {pragma}")
        if check is not None:
            check(conn)
        migrate(conn, migrations, application_id, version)
    except sqlite3.DatabaseError as exc:
        conn.close()
        problem = storage_problem(exc, path)
        if problem:
            raise error(f"cannot open {path}: {problem.text} ({exc}); it was left untouched — "
                        f"{problem.advice}") from None
        raise error(f"{path} cannot be used ({exc}); it was left untouched — {damaged}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _create(path: str, application_id: int, migrations: Sequence[str], pragmas: Sequence[str],
            error: type[Exception]) -> None:
    """Build the schema in `path.new-PID` (0600 from its first byte), then link it to `path`; a concurrent creator
    that linked first wins and ours is dropped. A crash leaves only the temporary file behind."""
    tmp = f"{path}.new-{os.getpid()}-{threading.get_ident()}"
    for leftover in (tmp, *(tmp + s for s in SIDE_FILES)):
        if os.path.exists(leftover):
            os.unlink(leftover)
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))
    except OSError as exc:
        raise error(f"cannot create {path}: {exc}") from None
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            for pragma in pragmas:
                conn.execute(f"PRAGMA {pragma}")
            migrate(conn, migrations, application_id, 0)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            problem = storage_problem(exc, tmp)
            if problem is None:
                raise
            raise error(f"cannot create {path}: {problem.text} ({exc}); nothing was created — "
                        f"{problem.advice}") from None
        finally:
            conn.close()      # the last connection: SQLite folds the WAL into the file and deletes it
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass                  # another process created it meanwhile: theirs is used
        except OSError:           # no hard links here (some Android storage): rename, unless it appeared meanwhile
            if not os.path.exists(path):
                os.rename(tmp, path)
    finally:
        for leftover in (tmp, *(tmp + s for s in SIDE_FILES)):
            if os.path.exists(leftover):
                os.unlink(leftover)


def migrate(conn: sqlite3.Connection, migrations: Sequence[str], application_id: int, version: int) -> None:
    for index in range(version, len(migrations)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_sql(migrations[index]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={application_id}")
            conn.execute(f"PRAGMA user_version={index + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


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


class _Executes(Protocol):
    def execute(self, sql: str, /) -> object: ...


def begin_immediate(conn: sqlite3.Connection | _Executes) -> None:
    """BEGIN IMMEDIATE, waiting for another writer up to the connection's busy_timeout by polling finely: SQLite's
    own busy handler sleeps 1, 2, 5, 10… ms between tries, so a scan behind a 1 ms commit of a bundle being staged
    waited 8 ms; here it waits ~1 ms (0.2 ms polls for the first 20 ms, then 2 ms). The caller counts as a writer
    waiting (`writers_waiting`) from its first try, so a batch job about to commit lets it go first."""
    if not isinstance(conn, sqlite3.Connection):        # the server store's PostgreSQL adapter: its own BEGIN
        conn.execute("BEGIN IMMEDIATE")
        return
    _waiting(+1)
    try:
        _begin_polling(conn)
    finally:
        _waiting(-1)


def _begin_polling(conn: sqlite3.Connection) -> None:
    timeout_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    if not timeout_ms:
        conn.execute("BEGIN IMMEDIATE")
        return
    conn.execute("PRAGMA busy_timeout=0")
    try:
        started = time.monotonic()
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                waited = time.monotonic() - started
                if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or waited * 1000 >= timeout_ms:
                    raise
            time.sleep(0.0002 if waited < 0.02 else 0.002)
    finally:
        conn.execute(f"PRAGMA busy_timeout={timeout_ms}")


_WAITING = [0]
_WAITING_LOCK = threading.Lock()


def _waiting(step: int) -> None:
    with _WAITING_LOCK:
        _WAITING[0] += step


def writers_waiting() -> int:
    """Threads of this process trying to BEGIN a write transaction (`begin_immediate`): a long batch job (a full
    bundle being staged) lets them go first before each of its commits (`let_writers_in`)."""
    return _WAITING[0]


def let_writers_in(limit: float = 0.005) -> None:
    """Before a batch job's commit: wait (at most `limit` seconds) while other threads of this process (the door's
    scans) are beginning a write. No pause when none is (a fixed sleep cost a third of a bundle's apply time)."""
    if not _WAITING[0]:
        return
    deadline = time.monotonic() + limit
    while _WAITING[0] and time.monotonic() < deadline:
        time.sleep(0.0002)


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, re-entrant within one thread (nested use joins the outer transaction).

    The lock (one per connection owner, re-entrant) keeps another thread sharing the connection from slipping its
    writes into this transaction, or this one's into another thread's: every write is committed by its own COMMIT.
    A failing COMMIT (disk full, I/O error) is rolled back, never left half open."""

    def __init__(self, conn: sqlite3.Connection, on_commit: Callable[[], None] | None = None,
                 lock: threading.RLock | None = None, *, fresh: Callable[[], bool] | None = None,
                 refresh: Callable[[], None] | None = None, before_commit: Callable[[], None] | None = None):
        self.conn, self.outer, self.on_commit = conn, False, on_commit
        self.lock = lock if lock is not None else threading.RLock()
        # fresh(): checked right after BEGIN; False: rolled back, refresh() run outside a transaction (e.g. the
        # ledger's attached index file replaced by another connection: re-attached), and BEGIN again
        self.fresh, self.refresh, self.before_commit = fresh, refresh, before_commit

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            if not self.conn.in_transaction:
                begin_immediate(self.conn)
                self.outer = True
                for _ in range(10):
                    if self.fresh is None or self.fresh():
                        break
                    self.conn.execute("ROLLBACK")
                    if self.refresh is not None:
                        self.refresh()
                    begin_immediate(self.conn)
                else:
                    raise sqlite3.OperationalError("the database kept changing under this transaction")
        except BaseException:
            if self.outer and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self.outer:
                if exc_type:
                    self.conn.execute("ROLLBACK")
                else:
                    try:
                        if self.before_commit is not None:
                            self.before_commit()
                        self.conn.execute("COMMIT")
                    except BaseException:
                        if self.conn.in_transaction:
                            self.conn.execute("ROLLBACK")
                        raise
                    if self.on_commit is not None:
                        self.on_commit()
        finally:
            self.lock.release()
