"""Wiping a revoked device: orders, names and keys go; what stays is only the scan log (no personal data).

Removed: the ticket index and its full-text index (names, e-mails, order numbers), the catalogue, the
revocation/block lists, the organiser's staff list and who is logged in, the keyring, the broker credentials and the device's private key. SQLite runs with
secure_delete and VACUUMs afterwards so the names do not linger in free pages.
"""
from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from provisioning.device.state import DeviceState

log = logging.getLogger("ticketgate.provision.wipe")
_TABLES = ("tickets", "revocations", "blocked", "passes", "zones", "categories", "events")


def _shred(path: Path) -> None:
    """Overwrite then unlink (best effort on flash: the ledger wipe is what matters for names)."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.write(os.urandom(size))
            f.flush()
            os.fsync(f.fileno())
        path.unlink()
    except FileNotFoundError:
        pass


def wipe_ledger(ledger_path: Path) -> bool:
    if not ledger_path.exists():
        return False
    conn = sqlite3.connect(str(ledger_path), isolation_level=None, timeout=10)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table')")}
        conn.execute("BEGIN IMMEDIATE")
        for table in _TABLES:
            if table in names:
                conn.execute(f"DELETE FROM {table}")
        if "tickets_fts" in names:
            conn.execute("INSERT INTO tickets_fts(tickets_fts) VALUES ('delete-all')")
        if "settings" in names:
            # staff.*: the organiser's staff (names, PIN hashes a 4-digit PIN falls to offline, badge ids), who is
            # on duty, the PIN throttle
            conn.execute("DELETE FROM settings WHERE key LIKE 'sync.bundle%' OR key='policy' OR key LIKE 'staff.%'")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return True


def wipe(state: DeviceState, reason: str = "") -> dict:
    """Idempotent: wiping twice is fine. Returns what was removed (for the log and the tests)."""
    done = {"ledger": False, "keyring": state.keyring_path.exists(), "credentials": state.credentials_path.exists(),
            "device_key": state.key_path.exists()}
    try:
        done["ledger"] = wipe_ledger(state.ledger_path)
    except sqlite3.DatabaseError as exc:     # unreadable ledger: remove the file rather than leave names behind
        log.warning("wipe: ledger unreadable (%s); removing it", exc)
        for suffix in ("", "-wal", "-shm"):
            _shred(Path(str(state.ledger_path) + suffix))
        done["ledger"] = True
    for path in (state.keyring_path, state.credentials_path, state.key_path, state.link_path):
        _shred(path)
    log.warning("device wiped (%s): %s", reason or "revoked", done)
    return done
