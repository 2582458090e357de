"""Wiping a device: orders, names and keys go; what stays is only the scan log (no personal data).

The check-ins and other uploads not acknowledged by the server yet stay too (people did come in): after a
technician's wipe (`provision wipe --yes`, device handed back or moved) they are uploaded as the device's own once it
is enrolled again (the `WIPED_IDENTITY` setting: {device_id, carry_over, reason, unsent, retire_proof, retire_v}; agent.home.store_identity). After a revocation by the organiser (signed wipe: a
lost or stolen device) they are never carried over: kept on the device, refused by the server, listed for the
organiser (`server refusals`); its answers to commands not sent yet (the wipe's own `cmd_result`) are dropped, since
no one can read them. `ticketgate agent status` says what a wiped device keeps and why.

Removed: the ticket index and its full-text index (names, e-mails, order numbers), the catalogue, the
revocation/block lists, the organiser's staff list and who is logged in, the keyring, the broker credentials and the device's private key. SQLite runs with
secure_delete and VACUUMs afterwards so the names do not linger in free pages.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

from agent.home import UNENROLLED_ID, WIPED_IDENTITY, server_id
from agent.ledger.index_file import index_files
from agent.wiped_status import removed_text
from provisioning.device import identity, retire
from provisioning.device.state import DeviceState
from provisioning.protocol import RETIRE_VERSION

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


def unsent_uploads(ledger_path: Path) -> int:
    """Uploads (check-ins, cancellations, refused scans, kiosk messages) the server has not acknowledged yet: what a
    wipe keeps, as `ticketgate agent status` counts them (`outbox_pending`)."""
    if not ledger_path.exists():
        return 0
    conn = sqlite3.connect(f"{ledger_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
    finally:
        conn.close()


def _identity(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key='policy'").fetchone()
    try:
        return json.loads(row[0]).get("device_id") if row else None
    except (ValueError, AttributeError):
        return None


def wipe_ledger(ledger_path: Path, reason: str = "", carry_over: bool = False, retire_proof: str = "",
                organiser: dict[str, str] | None = None) -> bool:
    """`carry_over`: the uploads not sent yet become the device's own under its next enrollment (technician's wipe).
    `retire_proof`: the ended enrollment's signed `retire_message`, which the next enrollment sends along."""
    if not ledger_path.exists():
        return False
    conn = sqlite3.connect(str(ledger_path), isolation_level=None, timeout=10)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table')")}
        conn.execute("BEGIN IMMEDIATE")
        # the index files to delete: those of now, listed under the write lock. A file made after the commit (the
        # app's other connection finds no index and makes an empty one) takes a later generation and is not touched
        doomed = [name for files in index_files(str(ledger_path)).values() for name in files]
        if "settings" in names and "outbox" in names:
            old = _identity(conn)
            if not carry_over:
                # the answers to the revoked enrollment's commands, the wipe's own among them, reach no one: its
                # login is gone and the server reads nothing from a revoked device. Check-ins stay (people came in)
                conn.execute("DELETE FROM outbox WHERE acked IS NULL AND kind = 'cmd_result'")
            if old is not None and old != UNENROLLED_ID:
                unsent = conn.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0]
                conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                             "value=excluded.value", (WIPED_IDENTITY, json.dumps(
                                 {"device_id": old, "carry_over": carry_over, "reason": reason, "unsent": unsent}
                                 | (organiser or {})
                                 | ({"retire_proof": retire_proof, "retire_v": RETIRE_VERSION} if retire_proof else {}))))
        for table in _TABLES:
            if table in names:
                conn.execute(f"DELETE FROM {table}")
        if "tickets_fts" in names:
            conn.execute("INSERT INTO tickets_fts(tickets_fts) VALUES ('delete-all')")
        if "settings" in names:
            # staff.*: the organiser's staff (names, PIN hashes a 4-digit PIN falls to offline, badge ids), who is
            # on duty, the PIN throttle
            # ledger.index*: the ticket index file is deleted below (the next use makes an empty one); the last
            # generation handed out is kept, so a new file never takes the name of one a connection still holds
            conn.execute("DELETE FROM settings WHERE key LIKE 'sync.bundle%' OR key='policy' OR key LIKE 'staff.%' "
                         "OR (key LIKE 'ledger.index%' AND key != 'ledger.index_last')")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    finally:
        conn.close()
    for name in doomed:                                     # the ticket index file(s): names, e-mails, orders
        _shred(Path(name))
    return True


def wipe(state: DeviceState, reason: str = "", carry_over: bool = False) -> dict:
    """Idempotent: wiping twice is fine. Returns what was removed (for the log and the tests) and how many uploads
    not sent yet it kept (`unsent`). `carry_over`: see the module's docstring (False: a revocation)."""
    done = {"ledger": False, "keyring": state.keyring_path.exists(), "credentials": state.credentials_path.exists(),
            "device_key": state.key_path.exists(), "unsent": 0}
    retiring = None
    if carry_over and state.enrolled() and state.key_path.exists():   # before the key goes: it signs for the next
        successor = identity.generate(retire.successor_path(state))  # enrollment's key, made now
        retiring = retire.sign_retirement(state, identity.public_raw(successor))
        if retiring is None:
            _shred(retire.successor_path(state))
    elif not carry_over:            # a revocation: no retire proof, no key kept for it
        _shred(retire.successor_path(state))
    try:
        creds = state.load()
    except (OSError, ValueError, KeyError, TypeError):
        creds = None
    # whose enrollment ends: its uploads not sent yet never go to another organiser's server
    organiser = {"org": creds.org, "server": server_id(creds.server_key)} if creds is not None else None
    try:
        done["ledger"] = wipe_ledger(state.ledger_path, reason, carry_over, retiring["proof"] if retiring else "",
                                     organiser)
    except sqlite3.DatabaseError as exc:     # unreadable ledger: remove the file rather than leave names behind
        log.warning("wipe: ledger unreadable (%s); removing it", exc)
        for suffix in ("", "-wal", "-shm"):
            _shred(Path(str(state.ledger_path) + suffix))
        for files in index_files(str(state.ledger_path)).values():
            for name in files:
                _shred(Path(name))
        done["ledger"] = True
    done["unsent"] = unsent_uploads(state.ledger_path)      # what it keeps (a revocation drops its command answers)
    for path in (state.keyring_path, state.credentials_path, state.key_path, state.link_path):
        _shred(path)
    log.warning("device wiped (%s): %s", reason or "revoked", removed_text(done))
    return done
