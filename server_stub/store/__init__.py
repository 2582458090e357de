"""The server stub's storage: the `ServerStore` interface and its two backends.

    store = open_store(data_dir)                            # SqliteStore on <data_dir>/server.sqlite (embedded default)
    store = open_store(data_dir, db="postgresql://…")       # PostgresStore; key files still in <data_dir>/keys
    TICKETGATE_SERVER_DB=postgresql://… → the same, for every command that does not pass `db`
"""
from __future__ import annotations

import os
from pathlib import Path

from server_stub.store.base import NotFound, StoreError
from server_stub.store.postgres import PostgresStore, display_url, is_postgres_url
from server_stub.store.protocol import ServerStore
from server_stub.store.sql_store import SqlStore
from server_stub.store.sqlite_store import SqliteStore

__all__ = ["NotFound", "PostgresStore", "ServerStore", "SqlStore", "SqliteStore", "StoreError", "database_url",
           "describe", "open_store"]

DB_ENV = "TICKETGATE_SERVER_DB"


def database_url(db: str | None = None) -> str | None:
    """The database to use: `db`, else $TICKETGATE_SERVER_DB, else None (SQLite in the data folder)."""
    db = db or os.environ.get(DB_ENV) or None
    if db is not None and db not in ("sqlite", "") and not is_postgres_url(db):
        scheme = db.split("://", 1)[0] + "://" if "://" in db else "a path"     # never echo what may hold a password
        raise StoreError(f"database URL ({scheme}…): give a postgresql://USER@HOST:PORT/DBNAME URL "
                         "(or nothing for SQLite in the data folder)")
    return None if db in (None, "", "sqlite") else db


def open_store(data_dir: str | Path, create: bool = True, busy_timeout: float = 10.0,
               db: str | None = None) -> SqlStore:
    url = database_url(db)
    if url is not None:
        return PostgresStore(data_dir, url, create)
    return SqliteStore.open(data_dir, create, busy_timeout)


def describe(store: SqlStore) -> str:
    """Where the store's rows live, without secrets (for messages)."""
    return display_url(store.url) if isinstance(store, PostgresStore) else str(store.path)
