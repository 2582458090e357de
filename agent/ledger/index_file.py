"""The ticket index in a database file of its own (docs/ledger.md, "Full bundles").

`tickets` and `tickets_fts` live in `<ledger>.index-<generation>.db` (0600, WAL), ATTACHed to every connection of
the ledger as schema `idx`; unqualified names (`tickets`) find it there. The ledger file records the live
generation (setting `ledger.index`), so a full bundle is staged in a new file with its own lock, WAL and fsync and
made live by one short commit of that pointer; the replaced file is unlinked. Generation 0 is a ledger from
before: its tickets are still in the ledger file itself (main), until the first full bundle replaces them.

A file is staged while its stager holds an flock on it: a file of a newer generation than the live one and not
locked is the leftover of an apply that died, and is deleted.
"""
from __future__ import annotations

import fcntl
import glob
import os
import re
import sqlite3
from typing import Callable

from agent.private_files import PRIVATE, make_private

SCHEMA = "idx"                     # the attached index's schema name
GENERATION = "ledger.index"        # setting: the live index file's generation (0: the tickets are in main)
LAST_GENERATION = "ledger.index_last"   # setting: the last generation ever handed out (names are never reused)
APPLICATION_ID = 0x54474931        # "TGI1": a ticket index file of ticketgate
SIDE_FILES = ("-wal", "-shm", "-journal")
STAGE_CHECKPOINT_PAGES = 2000      # the staged file's WAL is copied into it every ~8 MB (by the stager's commit)

FTS_COLS = "buyer_name, email, order_number, ticket_key"
FTS_OPTIONS = ("content='tickets', content_rowid='id', tokenize='unicode61 remove_diacritics 2', detail='none', "
               "columnsize=0, prefix='1 2 3'")     # migration 3's, and 1-letter prefixes ("Ann M": agent/search_query.py)
LETTER_PREFIX = 1                   # a file made before that has prefix='2 3' (`has_letter_index`; Ledger.reindex)
TICKETS_DDL = ("CREATE TABLE tickets (id INTEGER PRIMARY KEY, ticket_key TEXT NOT NULL UNIQUE, event_id INTEGER, "
               "order_number TEXT NOT NULL DEFAULT '', buyer_name TEXT NOT NULL DEFAULT '', "
               "email TEXT NOT NULL DEFAULT '', category INTEGER, zone INTEGER, seat TEXT, "
               "order_status TEXT NOT NULL DEFAULT 'paid', payload TEXT, pass_id INTEGER)")
_NEW = "new.id, new.buyer_name, new.email, new.order_number, new.ticket_key"
_OLD = "old.id, old.buyer_name, old.email, old.order_number, old.ticket_key"


def triggers(table: str = "tickets", fts: str = "tickets_fts", prefix: str = "tickets") -> list[str]:
    """The FTS-feeding triggers of migration 1 (insert, delete, update), for `table` -> `fts`."""
    add = f"INSERT INTO {fts}(rowid, {FTS_COLS}) VALUES ({_NEW});"
    remove = f"INSERT INTO {fts}({fts}, rowid, {FTS_COLS}) VALUES ('delete', {_OLD});"
    return [f"CREATE TRIGGER {prefix}_ai AFTER INSERT ON {table} BEGIN {add} END",
            f"CREATE TRIGGER {prefix}_ad AFTER DELETE ON {table} BEGIN {remove} END",
            f"CREATE TRIGGER {prefix}_au AFTER UPDATE OF {FTS_COLS} ON {table} BEGIN {remove} {add} END"]


def add_missing_columns(conn: sqlite3.Connection, schema: str) -> None:
    """A tickets table made before `pass_id` existed (a ledger file's own, an index file of then) gets it: NULL,
    an event's ticket, until the next bundle names the pass."""
    have = {r[1] for r in conn.execute(f"PRAGMA {schema}.table_info(tickets)")}
    if have and "pass_id" not in have:
        conn.execute(f"ALTER TABLE {schema}.tickets ADD COLUMN pass_id INTEGER")


def fts_prefixes(create_sql: str) -> set[int]:
    """The prefix index lengths of an FTS5 table, from its CREATE VIRTUAL TABLE statement."""
    m = re.search(r"prefix\s*=\s*'([^']*)'", create_sql or "")
    return {int(n) for n in re.findall(r"\d+", m.group(1))} if m else set()


def has_letter_index(conn: sqlite3.Connection) -> bool:
    """Whether the live `tickets_fts` (main's if any: an unqualified name finds it first, else the index file's)
    has the 1-character prefix index."""
    for schema in ("main", SCHEMA):
        try:
            row = conn.execute(f"SELECT sql FROM {schema}.sqlite_master WHERE type='table' AND name='tickets_fts'"
                               ).fetchone()
        except sqlite3.OperationalError:      # no index file attached
            continue
        if row:
            return LETTER_PREFIX in fts_prefixes(row[0])
    return False


def index_path(ledger_path: str, generation: int) -> str:
    return f"{ledger_path}.index-{generation}.db"


def index_files(ledger_path: str) -> dict[int, list[str]]:
    """generation -> the files of it present (the database and its side files)."""
    found: dict[int, list[str]] = {}
    pattern = re.compile(re.escape(os.path.basename(ledger_path)) + r"\.index-(\d+)\.db(-wal|-shm|-journal)?$")
    for name in glob.glob(glob.escape(ledger_path) + ".index-*.db*"):
        m = pattern.match(os.path.basename(name))
        if m:
            found.setdefault(int(m.group(1)), []).append(name)
    return found


def create(path: str) -> tuple[sqlite3.Connection, int]:
    """A new, empty index file (0600 from its first byte, flocked before anything is written: another process's
    `sweep` never takes it for a leftover) and a connection to it for staging, committing without an fsync (a
    staged file is worth nothing until it is complete and `finish`ed; a crash leaves it to be deleted).
    -> (connection, the fd holding the flock: closed once the file is live or deleted)."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        conn = _schema(path)
    except BaseException:
        os.close(fd)
        remove([path])
        raise
    return conn, fd


def _schema(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # a WAL of its own, commits not fsynced (synchronous=NORMAL), its own checkpoints: staging appends to the WAL
    # rather than rewriting pages in place (a page being written back by another file's fsync — ext4's ordered
    # journal — stalls whoever writes it again: staging without a journal took 2.5-4x longer while the door fsynced)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint={STAGE_CHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute(TICKETS_DDL)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute(f"CREATE VIRTUAL TABLE tickets_fts USING fts5({FTS_COLS}, {FTS_OPTIONS})")
    for option, value in (("automerge", 0), ("crisismerge", 64)):     # merged in bounded steps (`index_text`)
        conn.execute(f"INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('{option}', {value})")
    return conn         # no triggers while staging: the text is indexed once every row is in (`index_text`)


def index_text(conn: sqlite3.Connection, batch: int, after_commit: Callable[[], None]) -> None:
    """Index the staged rows' text (FTS5), `batch` rows per commit, then merge the index's segments into one in
    steps of ~250 pages (as FTS5's 'optimize', in bounded commits); `after_commit()` after each (the staging's
    fsync). Once, after the last row: fed 200 rows at a time during the staging and merged after each, it cost
    far more CPU (docs/ledger.md, "Full bundles")."""
    top = conn.execute("SELECT max(id) FROM tickets").fetchone()[0] or 0
    for low in range(0, top, batch):
        _commit(conn, f"INSERT INTO tickets_fts(rowid, {FTS_COLS}) SELECT id, {FTS_COLS} FROM tickets "
                      "WHERE id > ? AND id <= ?", (low, low + batch))
        after_commit()
    while True:
        before = conn.total_changes
        _commit(conn, "INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('merge', -250)", ())
        after_commit()
        if conn.total_changes - before < 2:       # FTS5's sign that no merge work was left
            return


def _commit(conn: sqlite3.Connection, sql: str, args: tuple[int, ...]) -> None:
    conn.execute("BEGIN")
    try:
        conn.execute(sql, args)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def finish(conn: sqlite3.Connection, path: str) -> None:
    """Make a staged file ready to go live: all triggers, FTS5's own merge settings, its WAL checkpointed; closed
    and fsynced
    (the file and its folder), so the commit that points the ledger at it never points at a file not on disk."""
    for sql in triggers():
        conn.execute(sql)
    for option, value in (("automerge", 4), ("crisismerge", 16)):      # FTS5's defaults, as before
        conn.execute(f"INSERT INTO tickets_fts(tickets_fts, rank) VALUES ('{option}', {value})")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")     # all in the file (and synced: synchronous=NORMAL)
    conn.close()
    fsync(path)
    fsync(os.path.dirname(os.path.abspath(path)))


def empty(path: str) -> None:
    """A complete, empty index file (a ledger whose index was wiped, or that never had one)."""
    conn, fd = create(path)
    try:
        finish(conn, path)
    finally:
        os.close(fd)


def fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(path: str) -> int:
    """flock a file; BlockingIOError: it is being staged. -> the fd."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove(files: list[str]) -> None:
    for name in sorted(files, key=len, reverse=True):       # side files first, the database last
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def sweep(ledger_path: str, live: int, keep: frozenset[int] = frozenset()) -> list[int]:
    """Delete the index files that are not the live one: older ones (replaced by a swap; a connection still reading
    one keeps its open file until it re-attaches) and newer ones no stager holds (an apply that died).
    -> the generations deleted."""
    gone = []
    for generation, files in index_files(ledger_path).items():
        if generation == live or generation in keep:
            continue
        db = index_path(ledger_path, generation)
        if generation > live and os.path.exists(db):
            try:
                fd = _lock(db)
            except BlockingIOError:
                continue                 # being staged right now
            try:
                remove(files)
            finally:
                os.close(fd)
        else:
            remove(files)
        gone.append(generation)
    return gone


def attach(conn: sqlite3.Connection, path: str) -> None:
    """ATTACH the live index file as `idx`; it must exist (ATTACH would create an empty one)."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    make_private(path, *(path + s for s in SIDE_FILES))
    conn.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (path,))
    conn.execute(f"PRAGMA {SCHEMA}.synchronous=FULL")
    conn.execute(f"PRAGMA {SCHEMA}.secure_delete=ON")   # freed content zeroed: deleted buyers do not linger (prune.py)


def detach(conn: sqlite3.Connection) -> None:
    conn.execute(f"DETACH DATABASE {SCHEMA}")
