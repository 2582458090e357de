"""Signing keys (ticket keys with rotation, one server key per organiser) and registered devices."""
from __future__ import annotations

import json
import re
import time

from agent.errors import InvalidInput
from agent.keyring import Keyring, TrustedKey
from server_stub.keys import MAX_KEY_ID, SERVER, TICKET, KeyFiles
from agent.signing import SigningKey
from server_stub.store.base import NotFound, StoreBase, StoreError, written

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")   # also the MQTT username and client id
_KEY_COLS = "key_id, org, purpose, public_key, file, created_at, valid_from, valid_until, current"
_DEVICE_KEYS = ("device_id", "org", "name", "gate", "events", "public_key", "registered_at", "revoked_at", "last_seen",
                "status", "role", "replaced_by", "replaced_by_spare")
ROLES = ("door", "kiosk")      # kiosk devices print tickets: only they get signed QR payloads


def _refuse_a_case_twin(c, org: str, device_id: str) -> None:
    """A new device id that differs only by case from a registered one (`GATE-1` beside `gate-1`) is refused: people
    read them as one name, the broker's logins and topics as two (migration 21's `id_folded` is the backstop)."""
    twin = c.execute("SELECT device_id, org FROM devices WHERE lower(device_id)=? AND device_id<>? "
                     "ORDER BY registered_at LIMIT 1", (device_id.lower(), device_id)).fetchone()
    # the same id, registered by a racing worker since this transaction's first look, is no twin: the insert's
    # conflict clause decides (its organiser's: updated; another's: refused)
    if twin is None:
        return
    whose = "registered here" if twin[1] == org else "of another organiser"
    raise InvalidInput(f"device id {device_id!r} differs only by case from {twin[0]!r} ({whose}): device ids are "
                       f"compared without case; re-register {twin[0]!r} as it is written or pick another id")


def _unique_violation(exc: Exception) -> bool:
    """A unique constraint refused a row (sqlite3's or psycopg's IntegrityError): on PostgreSQL a racing insert of
    the same device id can trip `id_folded`'s index before the insert's conflict clause sees the row; the retry does."""
    return any(k.__name__ == "IntegrityError" for k in type(exc).__mro__)


class KeysDevicesMixin(StoreBase):
    @property
    def key_files(self) -> KeyFiles:
        return KeyFiles(self.data_dir / "keys")

    # -- keys --------------------------------------------------------------------------------------------------
    def _new_key(self, org: str, purpose: str, first: bool = False) -> SigningKey:
        """Insert the key row, write the private file, make it current: all or nothing. `first`: only when there is
        no current key yet (several workers asking for it at once create one, the others get it)."""
        now = time.time()
        files = self.key_files
        with self.tx() as c:
            self._lock_org(org)
            if first:
                current = c.execute(f"SELECT {_KEY_COLS} FROM signing_keys WHERE org=? AND purpose=? AND file != '' "
                                    "AND current=1", (org, purpose)).fetchone()
                if current is not None:
                    return self._load(current)
            key_id = c.execute("INSERT INTO signing_keys(org, purpose, public_key, file, created_at, current) "
                               "VALUES (?,?,?,?,?,0) RETURNING key_id", (org, purpose, b"", "", now)).fetchone()[0]
            if key_id > MAX_KEY_ID:
                raise StoreError("key id space (u16) exhausted")
            relative = files.relative(org, purpose, key_id)
            key = files.create(relative, key_id, organiser=org)
            try:
                self._bump(org)     # devices learn keys from bundles: a new version, else they never fetch the keyring
                c.execute("UPDATE signing_keys SET current=0 WHERE org=? AND purpose=?", (org, purpose))
                c.execute("UPDATE signing_keys SET public_key=?, file=?, current=1 WHERE key_id=?",
                          (key.public_raw, relative, key_id))
            except BaseException:
                files.remove(relative)
                raise
        return key

    def _key_rows(self, org: str, purpose: str) -> list[tuple]:
        return self.q(f"SELECT {_KEY_COLS} FROM signing_keys WHERE org=? AND purpose=? AND file != '' ORDER BY key_id",
                      (org, purpose))

    def _load(self, row: tuple) -> SigningKey:
        key_id, org, _p, _pub, file, _c, valid_from, valid_until, _cur = row
        return self.key_files.load(file, key_id, organiser=org, valid_from=valid_from, valid_until=valid_until)

    def signing_keys(self, org: str) -> list[SigningKey]:
        """Every ticket key of the organiser (oldest first), private halves loaded from their files."""
        return [self._load(r) for r in self._key_rows(org, TICKET)]

    def key_infos(self, org: str, purpose: str = TICKET) -> list[dict]:
        """Public metadata only (for `keys list`)."""
        from agent.keyring import fingerprint
        return [{"key_id": r[0], "purpose": r[2], "fingerprint": fingerprint(r[3]), "created_at": r[5],
                 "valid_from": r[6], "valid_until": r[7], "current": bool(r[8])} for r in self._key_rows(org, purpose)]

    def current_key(self, org: str) -> SigningKey:
        """The key new tickets are signed with (created on first use)."""
        rows = [r for r in self._key_rows(org, TICKET) if r[8]]
        return self._load(rows[0]) if rows else self._new_key(org, TICKET, first=True)

    def rotate_key(self, org: str, retire_old_at: float | None = None) -> SigningKey:
        """New current ticket key. Older keys stay trusted until their valid_until; `retire_old_at` sets it for
        the key being replaced (tickets it signed stop scanning then: re-issue them first)."""
        old = [r for r in self._key_rows(org, TICKET) if r[8]]
        key = self._new_key(org, TICKET)
        if old and retire_old_at is not None:
            with self.tx() as c:
                self._bump(org)     # the doors stop trusting it only once a bundle carries its end
                c.execute("UPDATE signing_keys SET valid_until=? WHERE key_id=?", (int(retire_old_at), old[0][0]))
        return key

    def keyring(self, org: str) -> Keyring:
        """Public ticket keys for devices (no private material). Creates the first key when there is none."""
        if not any(r[8] for r in self._key_rows(org, TICKET)):
            self.current_key(org)
        ring = Keyring()
        for key_id, _org, _p, public, _f, _c, valid_from, valid_until, _cur in self._key_rows(org, TICKET):
            ring.add(TrustedKey(key_id, bytes(public), org, valid_from, valid_until))
        return ring

    def server_key(self, org: str) -> SigningKey:
        """The organiser's server key: signs bundles and commands (its public half goes to devices)."""
        rows = [r for r in self._key_rows(org, SERVER) if r[8]]
        return self._load(rows[0]) if rows else self._new_key(org, SERVER, first=True)

    def server_public_key(self, org: str) -> bytes:
        rows = [r for r in self._key_rows(org, SERVER) if r[8]]
        return bytes(rows[0][3]) if rows else self.server_key(org).public_raw

    # -- devices -----------------------------------------------------------------------------------------------
    def register_device(self, org: str, device_id: str, name: str = "", gate: str = "", events: list[int] | None = None,
                        public_key: bytes | None = None, role: str = "door") -> dict:
        """Register (or re-enroll) a device; re-enrolling lifts an earlier revocation. role: door | kiosk."""
        if role not in ROLES:
            raise InvalidInput(f"device role {role!r}: one of {', '.join(ROLES)}")
        if not DEVICE_ID.match(device_id or ""):
            raise InvalidInput(f"device id {device_id!r}: letters, digits, '_', '.', '-', at most 64 characters")
        if public_key is not None and len(public_key) != 32:
            raise InvalidInput("a device public key is 32 raw Ed25519 bytes")
        events = sorted(set(int(e) for e in events or ()))
        now = time.time()
        for attempt in (1, 2):
            try:
                self._register_device(org, device_id, name, gate, events, public_key, role, now)
                break
            except Exception as exc:    # a worker registering the same id committed between our look and insert
                if attempt == 2 or not _unique_violation(exc):
                    raise
        return written(self.device(device_id), f"device {device_id!r}")

    def _register_device(self, org: str, device_id: str, name: str, gate: str, events: list[int],
                         public_key: bytes | None, role: str, now: float) -> None:
        with self.tx() as c:
            if c.execute("SELECT 1 FROM organisers WHERE org=?", (org,)).fetchone() is None:
                raise NotFound(f"no organiser {org!r}")
            row = c.execute("SELECT org FROM devices WHERE device_id=?", (device_id,)).fetchone()
            if row and row[0] != org:
                raise StoreError(f"device {device_id!r} belongs to another organiser")
            if row is None:
                _refuse_a_case_twin(c, org, device_id)
            stored = c.execute("INSERT INTO devices(device_id, org, name, gate, events, public_key, registered_at, role, "
                      "id_folded) VALUES (?,?,?,?,?,?,?,?,?) "
                      "ON CONFLICT(device_id) DO UPDATE SET name=excluded.name, gate=excluded.gate, events=excluded.events, "
                      "public_key=excluded.public_key, registered_at=excluded.registered_at, role=excluded.role, revoked_at=NULL, replaced_by=NULL, replaced_by_spare=0 "
                      "WHERE devices.org = excluded.org",      # another organiser registering it meanwhile: refused
                      (device_id, org, name, gate, json.dumps(events), public_key, now, role,
                       device_id.lower())).rowcount
            if stored == 0:
                raise StoreError(f"device {device_id!r} belongs to another organiser")

    def _device_dict(self, row: tuple) -> dict:
        d = dict(zip(_DEVICE_KEYS, row))
        d["events"] = json.loads(d["events"])
        d["public_key"] = bytes(d["public_key"]) if d["public_key"] is not None else None
        d["revoked"] = d["revoked_at"] is not None
        d["replaced_by"] = d["replaced_by"] or ""           # retired: the id its device enrolled again under
        d["retired"] = d["revoked"] and bool(d["replaced_by"])
        d["replaced_by_spare"] = bool(d["replaced_by_spare"])     # revoked as replaced: its wipe keeps its uploads
        return d

    def device(self, device_id: str) -> dict | None:
        row = self.q1(f"SELECT {', '.join(_DEVICE_KEYS)} FROM devices WHERE device_id=?", (device_id,))
        return self._device_dict(row) if row else None

    def devices(self, org: str) -> list[dict]:
        rows = self.q(f"SELECT {', '.join(_DEVICE_KEYS)} FROM devices WHERE org=? ORDER BY device_id", (org,))
        return [self._device_dict(r) for r in rows]

    def set_device_events(self, device_id: str, events: list[int]) -> dict:
        """The events a device holds from now on (`server device events`): at least one (none would mean every
        event). Its uploads, hellos, desk requests and broker ACL follow them."""
        events = sorted(set(int(e) for e in events))
        if not events:
            raise InvalidInput("a device registered for events keeps at least one")
        with self.tx() as c:
            if c.execute("UPDATE devices SET events=? WHERE device_id=?", (json.dumps(events), device_id)).rowcount == 0:
                raise NotFound(f"no device {device_id!r}")
        return written(self.device(device_id), f"device {device_id!r}")

    def revoke_device(self, device_id: str, replaced_by: str = "", spare: bool = False) -> dict:
        """Out of service from now on; `replaced_by`: retired, its device enrolled again under that id; `spare`:
        replaced by a spare, not lost or stolen (its wipe keeps its unsent uploads). A device out of service already
        keeps when and why (revoked again, it still says which id its device enrolled under), but for `spare`, which
        marks a revoked (not retired) device replaced by a spare."""
        with self.tx() as c:
            if c.execute("UPDATE devices SET revoked_at=?, replaced_by=?, replaced_by_spare=? WHERE device_id=? AND "
                         "revoked_at IS NULL", (time.time(), replaced_by or None, int(spare), device_id)).rowcount == 0:
                if c.execute("SELECT 1 FROM devices WHERE device_id=?", (device_id,)).fetchone() is None:
                    raise NotFound(f"no device {device_id!r}")
                if spare:
                    c.execute("UPDATE devices SET replaced_by_spare=1 WHERE device_id=? AND replaced_by IS NULL",
                              (device_id,))
        return written(self.device(device_id), f"device {device_id!r}")

    def touch_device(self, device_id: str, seen_at: float | None = None, status: str | None = None) -> None:
        """Presence from the sync layer (hello, status, uploads). Unknown devices are ignored."""
        with self.tx() as c:
            seen = time.time() if seen_at is None else float(seen_at)
            c.execute("UPDATE devices SET last_seen=CASE WHEN last_seen > ? THEN last_seen ELSE ? END, "
                      "status=coalesce(?, status) WHERE device_id=?", (seen, seen, status, device_id))

    def set_unsent_sales(self, device_id: str, count: int, counted_at: float) -> None:
        """A kiosk's status: `count` sales made offline not received yet, as counted at `counted_at` (the device's
        clock: not compared with the count kept, a corrected clock would hold a stale count; its statuses come in
        order on their one topic)."""
        with self.tx() as c:
            c.execute("UPDATE devices SET unsent_sales=?, unsent_at=? WHERE device_id=?",
                      (int(count), float(counted_at), device_id))

    def unsent_sales(self, device_id: str) -> tuple[int, float] | None:
        """(sales made offline not received yet, when the kiosk counted them); None: it never said."""
        row = self.q1("SELECT unsent_sales, unsent_at FROM devices WHERE device_id=?", (device_id,))
        return None if row is None or row[0] is None else (int(row[0]), float(row[1]))
