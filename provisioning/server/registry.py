"""The provisioning state of the server (SQLite): one-time enrollment tokens and device broker credentials.

Tokens and organiser codes are stored only as digests; lookups hash first, so timing reveals nothing of
a stored secret, and the final match is `hmac.compare_digest`. Claiming a token is a single conditional
UPDATE: two devices racing for one token cannot both win.

The database and its -wal/-shm are 0600 from creation (the file is made 0600 before SQLite opens it, and
SQLite gives its side files the database's mode). The server's own broker password is not in it at all: it is
in `server-passwords.json` beside it (0600), so no WAL frame or free page ever holds it.
"""
from __future__ import annotations

import hmac
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.private_files import PRIVATE, make_private, private_dir, write_private
from provisioning.protocol import new_code, new_token, secret_digest

SERVER_PASSWORDS = "server-passwords.json"     # {org: password} of the organisers' server broker logins

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, code_digest TEXT NOT NULL UNIQUE, org TEXT NOT NULL,
    gate TEXT NOT NULL DEFAULT '', events TEXT NOT NULL DEFAULT '[]', created REAL NOT NULL, expires REAL NOT NULL,
    used_at REAL, device_id TEXT);
CREATE TABLE IF NOT EXISTS credentials (
    device_id TEXT PRIMARY KEY, org TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', gate TEXT NOT NULL DEFAULT '',
    events TEXT NOT NULL DEFAULT '[]', password_hash TEXT NOT NULL, public_key BLOB NOT NULL,
    enrolled_at REAL NOT NULL, revoked_at REAL, token_id INTEGER);
"""
ROLES = ("door", "kiosk")      # kiosk: prints tickets (its bundles carry the signed QR payloads)


@dataclass(frozen=True)
class IssuedToken:
    token_id: int
    token: str          # the secret: printed in the QR, never stored
    code: str           # the hand-typed fallback, never stored
    org: str
    gate: str
    events: tuple[int, ...]
    expires: float
    role: str = "door"


@dataclass(frozen=True)
class TokenRow:
    token_id: int
    org: str
    gate: str
    events: tuple[int, ...]
    expires: float
    used_at: float | None
    role: str = "door"


@dataclass(frozen=True)
class DeviceCredential:
    device_id: str
    org: str
    name: str
    gate: str
    events: tuple[int, ...]
    password_hash: str
    public_key: bytes
    enrolled_at: float
    revoked_at: float | None


class Registry:
    def __init__(self, path: str | Path):
        self.path = str(path)
        private_dir(Path(self.path).parent, tighten=True)      # its database and the broker's passwords
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))   # 0600 before SQLite
        except FileExistsError:
            make_private(self.path, self.path + "-wal", self.path + "-shm")     # made 0644 by older versions
        self.secrets_path = Path(self.path).with_name(SERVER_PASSWORDS)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)
        if "role" not in {r[1] for r in self.conn.execute("PRAGMA table_info(tokens)")}:   # registries before roles
            self.conn.execute("ALTER TABLE tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'door'")
        if "replaced" not in {r[1] for r in self.conn.execute("PRAGMA table_info(credentials)")}:
            # revoked as replaced by a spare (`provision revoke --replaced`): its wipe keeps its unsent uploads
            self.conn.execute("ALTER TABLE credentials ADD COLUMN replaced INTEGER NOT NULL DEFAULT 0")
        self.lock = threading.Lock()
        self._move_server_logins_out()

    def close(self) -> None:
        self.conn.close()

    # -- tokens ------------------------------------------------------------------------------------------------
    def create_tokens(self, org: str, count: int, gate: str = "", events: tuple[int, ...] = (),
                      ttl: float = 12 * 3600, now: float | None = None, role: str = "door",
                      fingerprint: str | None = None) -> list[IssuedToken]:
        """`fingerprint`: the organiser server key's, that each organiser code's check character is made of
        (provisioning.protocol.code_check): a device finding servers by zeroconf sends it only to that server."""
        if role not in ROLES:
            raise ValueError(f"device role {role!r}: one of {', '.join(ROLES)}")
        now = time.time() if now is None else now
        out = []
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for _ in range(count):
                    token, code = new_token(), new_code(fingerprint)
                    token_id = self.conn.execute(
                        "INSERT INTO tokens(digest, code_digest, org, gate, events, created, expires, role) "
                        "VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                        (secret_digest(token), secret_digest(code), org, gate, json.dumps(list(events)), now, now + ttl,
                         role)).fetchone()[0]
                    out.append(IssuedToken(token_id, token, code, org, gate, tuple(events), now + ttl, role))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return out

    def drop_unused(self, token_ids: list[int]) -> int:
        """Tokens whose sheet was never written (a full disk): removed, unless a device already enrolled with one.
        -> how many."""
        with self.lock:
            return sum(self.conn.execute("DELETE FROM tokens WHERE id=? AND used_at IS NULL", (i,)).rowcount
                       for i in token_ids)

    def void(self, token_id: int, now: float) -> bool:
        """An unused token that crossed the Wi-Fi in clear (an older app) enrolls nobody from now on: it expires now."""
        with self.lock:
            return self.conn.execute("UPDATE tokens SET expires=? WHERE id=? AND used_at IS NULL AND expires>?",
                                     (now, token_id, now)).rowcount == 1

    def find_token(self, secret: str, by_code: bool = False) -> TokenRow | None:
        """The row of a token (or organiser code), used or not; None when unknown."""
        digest = secret_digest(secret)
        column = "code_digest" if by_code else "digest"
        with self.lock:
            row = self.conn.execute(f"SELECT id, {column}, org, gate, events, expires, used_at, role FROM tokens "
                                    f"WHERE {column}=?", (digest,)).fetchone()
        if row is None or not hmac.compare_digest(row[1], digest):
            return None
        return TokenRow(row[0], row[2], row[3], tuple(json.loads(row[4])), row[5], row[6], row[7])

    def claim_and_register(self, token_id: int, cred: DeviceCredential, now: float) -> bool:
        """Atomically use the token (unused and unexpired) and store the device's credential."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                won = self.conn.execute("UPDATE tokens SET used_at=?, device_id=? WHERE id=? AND used_at IS NULL "
                                        "AND expires>?", (now, cred.device_id, token_id, now)).rowcount == 1
                if won:
                    self.conn.execute(
                        "INSERT INTO credentials(device_id, org, name, gate, events, password_hash, public_key, "
                        "enrolled_at, token_id) VALUES (?,?,?,?,?,?,?,?,?)",
                        (cred.device_id, cred.org, cred.name, cred.gate, json.dumps(list(cred.events)),
                         cred.password_hash, cred.public_key, cred.enrolled_at, token_id))
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:    # a full disk: SQLite rolled back already (ROLLBACK would hide why)
                    self.conn.execute("ROLLBACK")
                raise
        return won

    def unclaim(self, token_id: int, device_id: str) -> None:
        """Undo `claim_and_register` when the rest of the enrollment failed: the token works again."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM credentials WHERE device_id=? AND token_id=?", (device_id, token_id))
            self.conn.execute("UPDATE tokens SET used_at=NULL, device_id=NULL WHERE id=? AND device_id=?",
                              (token_id, device_id))
            self.conn.execute("COMMIT")

    def holder(self, token_id: int) -> DeviceCredential | None:
        """The credential a used token registered (None: unused, or its device removed since)."""
        with self.lock:
            row = self.conn.execute("SELECT device_id FROM credentials WHERE token_id=?", (token_id,)).fetchone()
        return self.credential(row[0]) if row else None

    def set_password(self, device_id: str, password_hash: str) -> None:
        with self.lock:
            self.conn.execute("UPDATE credentials SET password_hash=? WHERE device_id=?", (password_hash, device_id))

    def tokens(self, org: str | None = None) -> list[TokenRow]:
        with self.lock:
            rows = self.conn.execute("SELECT id, '', org, gate, events, expires, used_at, role FROM tokens "
                                     "WHERE ? IS NULL OR org=? ORDER BY id", (org, org)).fetchall()
        return [TokenRow(r[0], r[2], r[3], tuple(json.loads(r[4])), r[5], r[6], r[7]) for r in rows]

    # -- credentials -------------------------------------------------------------------------------------------
    def credentials(self, include_revoked: bool = False) -> list[DeviceCredential]:
        sql = ("SELECT device_id, org, name, gate, events, password_hash, public_key, enrolled_at, revoked_at "
               "FROM credentials" + ("" if include_revoked else " WHERE revoked_at IS NULL") + " ORDER BY enrolled_at")
        with self.lock:
            rows = self.conn.execute(sql).fetchall()
        return [DeviceCredential(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), r[5], bytes(r[6]), r[7], r[8])
                for r in rows]

    def credential(self, device_id: str) -> DeviceCredential | None:
        return next((c for c in self.credentials(include_revoked=True) if c.device_id == device_id), None)

    def mark_revoked(self, device_id: str, now: float, replaced: bool = False) -> bool:
        with self.lock:
            return self.conn.execute("UPDATE credentials SET revoked_at=?, replaced=? WHERE device_id=? AND "
                                     "revoked_at IS NULL", (now, int(replaced), device_id)).rowcount == 1

    def mark_replaced(self, device_id: str) -> bool:
        """A device revoked already, said now to be replaced by a spare: its wipe fetched from now on keeps its
        unsent uploads. True when it changed."""
        with self.lock:
            return self.conn.execute("UPDATE credentials SET replaced=1 WHERE device_id=? AND revoked_at IS NOT NULL "
                                     "AND replaced=0", (device_id,)).rowcount == 1

    def replaced(self, device_id: str) -> bool:
        """Revoked as replaced by a spare (not lost or stolen)."""
        with self.lock:
            row = self.conn.execute("SELECT replaced FROM credentials WHERE device_id=? AND revoked_at IS NOT NULL",
                                    (device_id,)).fetchone()
        return bool(row and row[0])

    # -- server's own broker login -----------------------------------------------------------------------------
    def _server_passwords(self) -> dict[str, str]:
        try:
            data = json.loads(self.secrets_path.read_text())
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def server_login(self, org: str) -> tuple[str, str]:
        """(username, password) of the organiser server's broker user, created on first use."""
        import secrets
        with self.lock:
            passwords = self._server_passwords()
            if org not in passwords:
                passwords[org] = secrets.token_urlsafe(32)
                write_private(self.secrets_path, json.dumps(passwords, indent=2))
        return f"server-{org}", passwords[org]

    def server_logins(self) -> dict[str, tuple[str, str]]:
        """org -> (username, password) of every organiser server with a login on this broker."""
        with self.lock:
            return {org: (f"server-{org}", password) for org, password in self._server_passwords().items()}

    def _move_server_logins_out(self) -> None:
        """Older registries kept the server passwords in a table: move them to the 0600 file, then erase the
        table so that neither its pages nor the WAL keep them (secure_delete, checkpoint, VACUUM)."""
        if not self.conn.execute("SELECT 1 FROM sqlite_master WHERE name='server_login'").fetchone():
            return
        with self.lock:
            passwords = self._server_passwords()
            for org, password in self.conn.execute("SELECT org, password FROM server_login"):
                passwords.setdefault(org, password)
            write_private(self.secrets_path, json.dumps(passwords, indent=2))
            self.conn.execute("PRAGMA secure_delete=ON")
            self.conn.execute("DROP TABLE server_login")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
