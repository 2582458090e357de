"""`PostgresStore`: the server store on a PostgreSQL database (psycopg 3), chosen by a `postgresql://` URL.

The dialect layer is thin: `PgConnection` takes the store's SQL as written for both backends (`?` placeholders,
`BEGIN IMMEDIATE`) and hands PostgreSQL its form (`$1`, `BEGIN`); everything else — ON CONFLICT, RETURNING, the
queries themselves — is shared (server_stub/store/base.py). Only the order search differs (a tsvector here, FTS5
on SQLite).

Migrations (server_stub/store/schema_pg.py) are applied on open, all pending ones in one transaction under an
advisory lock, so several workers starting together migrate once. A database holding tables that are not ours,
or a newer schema, is refused and left untouched. Concurrency: READ COMMITTED; the unique scan uuid (ON CONFLICT
DO NOTHING) makes ingestion by several workers exactly-once, the organiser row lock (`_bump`) serialises an
organiser's other writes. Private keys stay files in the data folder (`--data`), never rows.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from agent.search_query import words
from server_stub.store.base import StoreError
from server_stub.store.schema_pg import APPLICATION, MIGRATIONS
from server_stub.store.sql_store import SqlStore

URL_SCHEMES = ("postgresql://", "postgres://")
_LOCK_ID = 0x54475331      # advisory lock taken while migrating ("TGS1", the SQLite application id)


def is_postgres_url(db: str | None) -> bool:
    return db is not None and db.startswith(URL_SCHEMES)


def display_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    try:
        from psycopg.conninfo import conninfo_to_dict
        d = conninfo_to_dict(url)
    except Exception:       # noqa: BLE001 - an unparsable URL: show nothing of it
        return "postgresql://(unparsable URL)"
    user = f"{d['user']}@" if d.get("user") else ""
    port = f":{d['port']}" if d.get("port") else ""
    return f"postgresql://{user}{d.get('host', '')}{port}/{d.get('dbname', '')}"


def without_password(text: str, url: str) -> str:
    """`text` (a driver's error about `url`) with the URL's password taken out, as typed and as decoded: libpq quotes
    what it cannot parse ('invalid percent-encoded token: "s3cret%zz"'), password included."""
    userinfo = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^@/?#]*)@", url)
    secrets = [userinfo.group(1)] if userinfo else []
    if userinfo and ":" in userinfo.group(1):
        secret = userinfo.group(1).split(":", 1)[1]
        secrets += [secret, unquote(secret)]
    secrets += [m.group(1) for m in re.finditer(r"(?:^|[?&\s])password=([^&\s]*)", url)]   # ?password=… or key=value
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _one_line(exc: BaseException, url: str) -> str:
    text = without_password(" ".join(str(exc).split()), url)
    missing = re.search(r'database "([^"]+)" does not exist', text)
    if missing:
        text += (f" (create it first, e.g. `sudo -u postgres createdb --owner USER {missing.group(1)}`, or correct the "
                 "name in the URL)")
    if "percent-encoded" in text:
        text += (" (in the URL, write % @ : / of a user name or password as %25 %40 %3A %2F; or leave the password out "
                 "of the URL and put it in ~/.pgpass)")
    return text


@functools.lru_cache(maxsize=512)
def to_pg(sql: str) -> str:
    """`?` -> `$1, $2…` outside quoted literals (PostgreSQL's own placeholders: psycopg's RawCursor sends the query
    as it is, no client-side parsing of a 500-row INSERT); BEGIN IMMEDIATE (SQLite's write lock taken up front) ->
    BEGIN (PostgreSQL locks rows as they are written)."""
    if sql.strip().upper() == "BEGIN IMMEDIATE":
        return "BEGIN"
    out, quote, n = [], None, 0
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            n += 1
            out.append(f"${n}")
            continue
        out.append(ch)
    return "".join(out)


def _connect_raw(url: str, connect_timeout: float, autocommit: bool = True):
    import psycopg
    conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(connect_timeout)),
                           cursor_factory=psycopg.RawCursor)
    conn.server_cursor_factory = psycopg.RawServerCursor
    return conn


# INSERT … VALUES (?,?,…) with no tail or ON CONFLICT … DO NOTHING: safe to send as one multi-row INSERT (two rows
# with one key in one statement are fine for DO NOTHING, an error for DO UPDATE; RETURNING would change the result)
_MULTI_ROW = re.compile(r"^(\s*INSERT\s+INTO\s+.+?)\s+VALUES\s*(\((?:\s*\?\s*,)*\s*\?\s*\))"
                        r"(\s*(?:ON\s+CONFLICT\s*(?:\([^)]*\))?\s*DO\s+NOTHING)?\s*)$", re.S | re.I)


class _Count:
    rowcount = 0


class PgConnection:
    """A psycopg connection (autocommit: transactions are the explicit BEGIN/COMMIT of agent.sqlite_file.Transaction)
    with the sqlite3 surface the store uses.

    A lost connection (server restarted, failover, network) fails the statement running — and the rest of its
    transaction, which the server discarded — and is reopened on the next statement outside a transaction, so a
    long-running worker recovers; the batch that failed was not acknowledged and its device sends it again."""

    def __init__(self, raw, url: str, connect_timeout: float):
        self.raw, self.url, self.connect_timeout = raw, url, connect_timeout
        self.explicit = False          # inside BEGIN … COMMIT/ROLLBACK

    def _live(self, sql: str) -> bool:
        """Reopen a lost connection where that is safe; False when `sql` (a ROLLBACK) has nothing left to do."""
        if not (self.raw.closed or self.raw.broken):
            return True
        if self.explicit and sql != "ROLLBACK":
            import psycopg
            raise psycopg.OperationalError("the database connection was lost during this transaction")
        self.raw.close()
        self.explicit = False
        if sql == "ROLLBACK":
            return False
        self.raw = _connect_raw(self.url, self.connect_timeout)
        return True

    def execute(self, sql: str, params: tuple | list = ()):
        text = to_pg(sql)
        if not self._live(text):
            return self.raw.cursor()      # a closed cursor: the ROLLBACK had nothing to roll back
        cur = self.raw.execute(text, params or None)
        if text in ("BEGIN", "COMMIT", "ROLLBACK"):
            self.explicit = text == "BEGIN"
        return cur

    def executemany(self, sql: str, rows):
        """Like sqlite3's; an `INSERT … VALUES (?,…) [ON CONFLICT … DO NOTHING]` goes as multi-row INSERTs
        (2–3x fewer server round trips than one Bind/Execute per row), `rowcount` summed."""
        self._live("")
        rows = list(rows)
        multi = _MULTI_ROW.match(sql)
        if multi is None or len(rows) < 2:
            cur = self.raw.cursor()
            cur.executemany(to_pg(sql), rows)
            return cur
        head, values, tail = multi.groups()
        per = max(1, min(1000, 30000 // max(1, values.count("?"))))
        done = _Count()
        for start in range(0, len(rows), per):
            part = rows[start:start + per]
            statement = f"{head} VALUES {','.join([values] * len(part))}{tail}"
            done.rowcount += self.raw.execute(to_pg(statement), [v for r in part for v in r]).rowcount
        return done

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus
        if self.raw.closed or self.raw.broken:
            return self.explicit
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


class PgSnapshot:
    """A read-only REPEATABLE READ transaction on its own connection; `execute` streams through a server-side
    cursor (a million-ticket bundle is never held in memory at once)."""

    def __init__(self, url: str):
        import psycopg
        self.raw = _connect_raw(url, 10.0, autocommit=False)
        self.raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.raw.read_only = True

    def execute(self, sql: str, params: tuple = ()):
        cur = self.raw.cursor(name="tg_stream")
        cur.itersize = 5000
        cur.execute(to_pg(sql), params or None)
        return cur

    def close(self) -> None:
        try:
            self.raw.rollback()
        finally:
            self.raw.close()


def connect(url: str, create: bool, connect_timeout: float = 10.0):
    """Open, refuse what is not ours, apply pending migrations."""
    try:
        import psycopg
    except ImportError:
        raise StoreError("PostgreSQL support needs psycopg: .venv/bin/pip install -e '.[postgres]'") from None
    where = display_url(url)
    try:
        raw = _connect_raw(url, connect_timeout)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {where}: {_one_line(exc, url)}") from None
    try:
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock($1)", (_LOCK_ID,))
            version = _schema_version(raw, where, create)
            for index in range(version, len(MIGRATIONS)):
                raw.execute(MIGRATIONS[index])
                raw.execute("INSERT INTO tg_schema(application, version) VALUES ($1, $2) ON CONFLICT (application) "
                            "DO UPDATE SET version=excluded.version", (APPLICATION, index + 1))
    except psycopg.Error as exc:
        raw.close()
        raise StoreError(f"{where} cannot be used ({_one_line(exc, url)}); it was left untouched") from None
    except BaseException:
        raw.close()
        raise
    return PgConnection(raw, url, connect_timeout)


def _schema_version(raw, where: str, create: bool) -> int:
    if raw.execute("SELECT to_regclass('tg_schema')").fetchone()[0] is None:
        tables = raw.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_schema = current_schema()").fetchone()[0]
        if tables:
            raise StoreError(f"{where} holds tables of another application; it was left untouched")
        if not create:
            raise StoreError(f"no server store in {where} (run `ticketgate server init --db …` first)")
        raw.execute("CREATE TABLE tg_schema (application TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        return 0
    row = raw.execute("SELECT version FROM tg_schema WHERE application=$1", (APPLICATION,)).fetchone()
    if row is None:
        raise StoreError(f"{where} holds tables of another application; it was left untouched")
    if row[0] > len(MIGRATIONS):
        raise StoreError(f"{where} has schema {row[0]}, newer than this ticketgate ({len(MIGRATIONS)})")
    return row[0]


class PostgresStore(SqlStore):
    backend = "postgresql"

    def __init__(self, data_dir: str | Path, url: str, create: bool = True, connect_timeout: float = 10.0):
        if not is_postgres_url(url):
            raise StoreError("a PostgreSQL database URL starts with postgresql://")
        self.url = url
        super().__init__(data_dir, create, connect_timeout=connect_timeout)

    @classmethod
    def open(cls, data_dir: str | Path, url: str, create: bool = True) -> "PostgresStore":
        return cls(data_dir, url, create)

    def _connect(self, create: bool, **options: Any) -> PgConnection:
        return connect(self.url, create, float(options.get("connect_timeout", 10.0)))

    def reopen(self) -> "PostgresStore":
        """Another connection to this database with its own lock (the sync announcer's reads)."""
        return PostgresStore(self.data_dir, self.url, create=False)

    def __repr__(self) -> str:
        return f"PostgresStore({display_url(self.url)})"

    def unreachable(self, exc: BaseException) -> str | None:
        """'the database postgresql://… is unreachable (…)' for a connection that failed or was lost (the next
        statement opens it again once the server is back)."""
        import psycopg
        if not isinstance(exc, psycopg.OperationalError):
            return None
        return f"the database {display_url(self.url)} is unreachable ({_one_line(exc, self.url)})"

    def read_connection(self) -> PgSnapshot:
        return PgSnapshot(self.url)

    def _search_orders(self, query: str, org: str | None, limit: int) -> list[str]:
        ws = [w.lower() for w in words(query)]
        if not ws:
            return []
        match = " & ".join(f"{w}:*" for w in ws)       # words are letters and digits only: safe in tsquery syntax
        sql, params = "SELECT number FROM orders WHERE search @@ to_tsquery('simple', ?)", [match]
        if org:
            sql, params = sql + " AND org=?", [match, org]
        return [r[0] for r in self.q(sql + " ORDER BY order_id LIMIT ?", (*params, limit))]
