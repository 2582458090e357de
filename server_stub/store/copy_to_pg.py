"""Copy an embedded SQLite server store (`<data>/server.sqlite`) into a fresh PostgreSQL database.

The source is read with sqlite-utils (tables, columns, rows streamed in pages) from a read-only connection; it
must be at this ticketgate's latest migration. The target is opened like the PostgreSQL store opens it (created
and migrated when fresh) and must hold no rows. All rows go in one transaction: tables in foreign-key order,
identity sequences advanced past the copied ids (and past SQLite's AUTOINCREMENT high-water marks), so new rows
never reuse an id. Private key files are not copied: `signing_keys.file` keeps naming them in the data folder,
which the PostgreSQL store reads with the same `--data`.
"""
from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server_stub.store.base import StoreError
from server_stub.store.postgres import _LOCK_ID, connect as pg_connect, display_url, without_password
from server_stub.store.schema import APPLICATION_ID, MIGRATIONS
from server_stub.store.sqlite_store import DB_NAME

PAGE = 1000
_SKIPPED = ("sqlite_", "orders_fts")     # SQLite's own tables, and the FTS index PostgreSQL replaces by a tsvector


@dataclass
class CopyResult:
    source: str
    database: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def open_source(data_dir: Path):
    """The SQLite store read-only, as a `sqlite_utils.Database`; refused unless it is ours at the latest schema."""
    import sqlite_utils
    path = Path(data_dir) / DB_NAME
    if not path.is_file():
        raise StoreError(f"no SQLite server store at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        app, version = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version"))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable SQLite database ({exc})") from None
    if app != APPLICATION_ID:
        conn.close()
        raise StoreError(f"{path} is not a ticketgate server store")
    if version != len(MIGRATIONS):
        conn.close()
        raise StoreError(f"{path} has schema {version}, this ticketgate's is {len(MIGRATIONS)}: open it with this "
                         "version first (any `ticketgate server` command on it migrates it), then copy"
                         if version < len(MIGRATIONS) else
                         f"{path} has schema {version}, newer than this ticketgate ({len(MIGRATIONS)})")
    return sqlite_utils.Database(conn), path


def _target_layout(raw) -> tuple[dict[str, list[str]], dict[str, list[str]], list[tuple[str, str]]]:
    """Writable columns per table (generated ones left out), identity columns per table, FK edges (child, parent)."""
    columns: dict[str, list[str]] = {}
    identity: dict[str, list[str]] = {}
    for table, column, ident, generated in raw.execute(
            "SELECT table_name, column_name, is_identity, is_generated FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name <> 'tg_schema' ORDER BY table_name, ordinal_position"):
        if generated == "ALWAYS":
            continue
        columns.setdefault(table, []).append(column)
        if ident == "YES":
            identity.setdefault(table, []).append(column)
    edges = raw.execute("SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
                        "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace").fetchall()
    return columns, identity, [(c, p) for c, p in edges if c != p]


def _fk_order(tables: list[str], edges: list[tuple[str, str]]) -> list[str]:
    done: list[str] = []
    pending = sorted(tables)
    while pending:
        ready = [t for t in pending if all(p in done or p not in pending for c, p in edges if c == t)]
        if not ready:
            raise StoreError(f"circular foreign keys among {', '.join(pending)}")
        done += ready
        pending = [t for t in pending if t not in ready]
    return done


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_to_postgres(data_dir: Path, url: str) -> CopyResult:
    """Copy every row of `<data_dir>/server.sqlite` into the PostgreSQL database at `url` (fresh or empty)."""
    db, path = open_source(data_dir)
    where = display_url(url)
    try:
        pg = pg_connect(url, create=True)
    except BaseException:
        db.conn.close()
        raise
    result = CopyResult(str(path), where)
    try:
        import psycopg
        try:
            with pg.raw.transaction():
                pg.raw.execute("SELECT pg_advisory_xact_lock($1)", (_LOCK_ID,))
                columns, identity, edges = _target_layout(pg.raw)
                _refuse_non_empty(pg.raw, where, columns)
                sources = {t.name: t for t in db.tables if not t.name.startswith(_SKIPPED)}
                unknown = sorted(set(sources) - set(columns))
                if unknown:
                    raise StoreError(f"{path} has tables {where} lacks ({', '.join(unknown)}); nothing was copied")
                for name in _fk_order(list(sources), edges):
                    result.rows[name] = _copy_table(pg, sources[name], columns[name], where)
                high = _sqlite_sequences(db)
                for table, cols in identity.items():
                    for col in cols:
                        _advance(pg.raw, table, col, high.get(table, 0))
        except psycopg.Error as exc:
            reason = without_password(str(exc).strip(), url)
            raise StoreError(f"copy into {where} failed ({reason}); it was rolled back, "
                             "nothing was copied") from None
    finally:
        pg.close()
        db.conn.close()
    return result


def _refuse_non_empty(raw, where: str, columns: dict[str, list[str]]) -> None:
    filled = [t for t in sorted(columns)
              if raw.execute(f"SELECT EXISTS (SELECT 1 FROM {_ident(t)})").fetchone()[0]]
    if filled:
        raise StoreError(f"{where} already holds server data (tables {', '.join(filled)}): copy only into a fresh, "
                         "empty database; nothing was copied")


def _copy_table(pg, table, target_columns: list[str], where: str) -> int:
    names = [c.name for c in table.columns]
    missing = [n for n in names if n not in target_columns]
    if missing:
        raise StoreError(f"{table.name}: columns {', '.join(missing)} are not in {where}; nothing was copied")
    sql = (f"INSERT INTO {_ident(table.name)} ({', '.join(map(_ident, names))}) "
           f"VALUES ({', '.join('?' * len(names))})")
    rows = (tuple(r[n] for n in names) for r in table.rows)      # streamed from one cursor
    count = 0
    while page := list(itertools.islice(rows, PAGE)):
        pg.executemany(sql, page)
        count += len(page)
    return count


def _sqlite_sequences(db) -> dict[str, int]:
    """AUTOINCREMENT's high-water marks: ids SQLite never hands out again, even after their row was deleted."""
    if "sqlite_sequence" not in db.table_names():
        return {}
    return {r["name"]: int(r["seq"]) for r in db["sqlite_sequence"].rows}


def _advance(raw, table: str, column: str, floor: int) -> None:
    raw.execute(f"SELECT setval(pg_get_serial_sequence($1, $2), "
                f"GREATEST(COALESCE((SELECT max({_ident(column)}) FROM {_ident(table)}), 0), $3::bigint) + 1, false)",
                (table, column, floor))


def summary(result: CopyResult) -> dict[str, Any]:
    return {"source": result.source, "database": result.database, "rows": result.total, "tables": result.rows}
