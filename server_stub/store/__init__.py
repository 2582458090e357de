"""The server stub's storage: the `ServerStore` interface and its SQLite implementation.

    store = open_store(data_dir)          # SqliteStore on <data_dir>/server.sqlite (+ keys/ folder)
"""
from pathlib import Path

from server_stub.store.base import NotFound, StoreError
from server_stub.store.protocol import ServerStore
from server_stub.store.sqlite_store import SqliteStore

__all__ = ["NotFound", "ServerStore", "SqliteStore", "StoreError", "open_store"]


def open_store(data_dir: str | Path, create: bool = True, busy_timeout: float = 10.0) -> SqliteStore:
    return SqliteStore.open(data_dir, create, busy_timeout)
