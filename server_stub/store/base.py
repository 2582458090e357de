"""What every store backend shares: the connection under a lock, transactions, short queries, the change counter.

The mixins (catalogue, orders, keys/devices, scans) hold ONE definition of each query, written in the SQL both
backends speak: `?` placeholders, `INSERT … ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING`, no engine-specific
functions. A backend (`SqliteStore`, `PostgresStore`) supplies the connection (`_connect`), a snapshot connection
for long reads (`read_connection`) and the order search (`_search_orders`) — the only parts where the dialects
differ. The PostgreSQL connection adapts placeholders itself (server_stub.store.postgres.PgConnection).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TypeVar

from agent.errors import TicketgateError
from agent.private_files import private_dir, tighten_dir
from agent.sqlite_file import Transaction

T = TypeVar("T")


class StoreError(TicketgateError):
    """The store cannot do this (corrupt or foreign database, unknown organiser, bad state change...)."""


class NotFound(StoreError, LookupError):
    """No such organiser, event, order, ticket or device."""


def of_org(row: dict, org: str | None, unknown: str) -> dict:
    """`row` (an order, ticket, event or pass) when it belongs to `org`; else NotFound(`unknown`): another
    organiser's rows are answered as if they did not exist."""
    if row["org"] != org:
        raise NotFound(unknown)
    return row


def written(found: T | None, what: str) -> T:
    """A row just written, read back: None only when another process removed it in between."""
    if found is None:
        raise NotFound(f"{what} was removed meanwhile")
    return found


class StoreBase:
    """Connection, lock, transactions and the per-organiser change counter; the mixins build on it."""

    backend = "?"
    path: Path | None = None     # the SQLite file (None on PostgreSQL)

    def __init__(self, data_dir: str | Path, create: bool = True, **options: Any):
        self.data_dir = Path(data_dir)       # private key files live here whatever the database
        if create:      # 0700: the database, its WAL and the keys' folder are the organiser's alone
            private_dir(self.data_dir, tighten=True)     # (one an older version made 0755 too)
        elif not self.data_dir.is_dir():
            raise StoreError(f"no server data folder at {self.data_dir} (run `ticketgate server init` first)")
        else:
            tighten_dir(self.data_dir)
        self.lock = threading.RLock()
        self.conn = self._connect(create, **options)

    def _connect(self, create: bool, **options: Any) -> Any:
        """The backend's connection: `execute(sql, params) -> cursor`, `executemany`, `in_transaction`, `close`."""
        raise NotImplementedError

    def read_connection(self):
        """A separate connection for a long read: its own snapshot, no lock held while the caller iterates."""
        raise NotImplementedError

    def _search_orders(self, query: str, org: str | None, limit: int) -> list[str]:
        """Order numbers whose number, buyer name or email has every typed word as a prefix (accents ignored)."""
        raise NotImplementedError

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def tx(self) -> Transaction:
        """BEGIN .. COMMIT under the store lock; nested use joins the outer transaction."""
        return Transaction(self.conn, lock=self.lock)

    def q(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def q1(self, sql: str, params: tuple = ()):
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def _bump(self, org: str) -> int:
        """Inside a transaction: the organiser's next change version (one per transaction is enough). The row lock
        it takes serialises an organiser's writers on PostgreSQL as BEGIN IMMEDIATE does on SQLite."""
        row = self.conn.execute("UPDATE organisers SET version = version + 1 WHERE org=? RETURNING version",
                                (org,)).fetchone()
        if row is None:
            raise NotFound(f"no organiser {org!r}")
        return row[0]

    def _lock_org(self, org: str) -> None:
        """Inside a transaction, before reading what a change depends on (a status, an active revocation, the
        current key): wait for the organiser's other writers to commit. Every versioned write takes this row lock
        (`_bump`), so on PostgreSQL (READ COMMITTED) the reads after it see their result, as after SQLite's
        BEGIN IMMEDIATE; there it is a no-op update."""
        if self.conn.execute("UPDATE organisers SET version = version WHERE org=?", (org,)).rowcount == 0:
            raise NotFound(f"no organiser {org!r}")

    def version(self, org: str) -> int:
        row = self.q1("SELECT version FROM organisers WHERE org=?", (org,))
        if row is None:
            raise NotFound(f"no organiser {org!r}")
        return row[0]
