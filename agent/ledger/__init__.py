"""The device ledger: one SQLite file per device (WAL, synchronous=FULL)."""
from agent.ledger.store import Ledger, LedgerError

__all__ = ["Ledger", "LedgerError"]
