"""Opening a ledger file safely: refuse what is not ours (foreign, newer, damaged) without writing to it,
set the durability pragmas, apply migrations (the mechanics are shared with the server store: agent.sqlite_file)."""
from __future__ import annotations

import sqlite3

from agent.errors import TicketgateError
from agent.ledger.schema import APPLICATION_ID, MIGRATIONS
from agent.sqlite_file import Transaction, open_guarded, split_sql

__all__ = ["LedgerError", "Transaction", "connect", "split_sql"]

# checkpoints are taken between scans (Ledger.checkpoint, called by Gate.idle), not inside a commit
_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000", "wal_autocheckpoint=0",
            "secure_delete=ON")     # freed content zeroed, on every build of SQLite (agent/ledger/prune.py)
# checked at every open: what check-ins, refusals and sync read and write (the big ticket index is not)
_DOOR_TABLES = ("settings", "events", "passes", "checkins", "revocations", "blocked", "status_changes", "outbox")


class LedgerError(TicketgateError):
    """The ledger file cannot be used (corrupt, foreign, newer schema). The file is left untouched."""


def connect(path: str, create: bool = True, full_check: bool = False) -> sqlite3.Connection:
    return open_guarded(path, application_id=APPLICATION_ID, migrations=MIGRATIONS, error=LedgerError, create=create,
                        missing=f"no ledger at {path}", pragmas=_PRAGMAS,
                        check=lambda conn: _integrity(conn, str(path), full_check), damaged=DAMAGED)


DAMAGED = ("copy it aside for the organiser (it may hold entries not uploaded yet), then move it away: the next "
           "`ticketgate agent sync` brings the event data back")


def _integrity(conn: sqlite3.Connection, path: str, full: bool) -> None:
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    checks = ["PRAGMA quick_check(1)"] if full else [f"PRAGMA quick_check({t})" for t in _DOOR_TABLES if t in present]
    for sql in checks:
        result = conn.execute(sql).fetchone()[0]
        if result != "ok":
            said = "; ".join(line.strip() for line in str(result).splitlines() if line.strip())
            raise LedgerError(f"{path} failed its integrity check ({said}); it was left untouched — {DAMAGED}")
