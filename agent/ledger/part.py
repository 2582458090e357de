"""What the ledger's parts (catalogue, search, staging) share with agent.ledger.Ledger, which provides it."""
from __future__ import annotations

import sqlite3
import threading
from typing import Callable, ContextManager

from agent.sqlite_file import Transaction


class LedgerPart:
    conn: sqlite3.Connection                    # the ledger's one connection
    lock: threading.RLock                       # held by every writer on it (see agent.sqlite_file.Transaction)
    transaction: Callable[[], Transaction]      # BEGIN IMMEDIATE … COMMIT, re-entrant
    relaxed_transaction: Callable[[], ContextManager[sqlite3.Connection]]   # the same, committed without an fsync
    path: str                                   # the database file
