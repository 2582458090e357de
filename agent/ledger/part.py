"""What the ledger's parts (catalogue, search, staging) share with agent.ledger.Ledger, which provides it."""
from __future__ import annotations

import sqlite3
import threading
from typing import Callable, ContextManager

from agent.sqlite_file import Transaction


class LedgerPart:
    @property
    def conn(self) -> sqlite3.Connection:       # the ledger's one connection (its live index file attached)
        raise NotImplementedError
    lock: threading.RLock                       # held by every writer on it (see agent.sqlite_file.Transaction)
    transaction: Callable[[], Transaction]      # BEGIN IMMEDIATE … COMMIT, re-entrant
    relaxed_transaction: Callable[[], ContextManager[sqlite3.Connection]]   # the same, committed without an fsync
    path: str                                   # the database file
    _index_gen: int                             # the generation of the ticket index file attached (0: none)
    _index_written: Callable[[], None]          # a write to the ticket index: its commit marks both files
    _live_generation: Callable[[], int]         # the live index file's generation, as the ledger file says
    _new_generation: Callable[[], int]          # a generation never used before
    _attach_index: Callable[[int], None]        # attach that generation's file instead (outside a transaction)
    _stage_lock: threading.Lock                 # one staging step at a time
    set_setting: Callable[[str, object], None]
    _prune_later: Callable[[], None]            # deleted tickets' words are pruned from the index file (prune.py)
