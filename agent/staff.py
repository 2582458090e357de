"""Staff: who may do what (roles and permissions), PIN hashes, badges, and the roster a device holds. Pure.

The organiser keeps the staff (`ticketgate server staff …`); every device holds its own organiser's roster, sent in
its signed bundle (section `staff`). A person logs in on a device by PIN (checked against a slow scrypt hash with a
per-person salt: a stolen device gives no PIN in less than a brute force of scrypt per guess) or by scanning the
badge the organiser printed (signed by the organiser's server key, which the device already trusts). Every item a
device records names the staff member on duty (`Staffed.staff` in agent/sync/messages.py); the device refuses an
action the role lacks, and the server refuses it again (server_stub/sync/ingest.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.errors import TicketgateError
from agent.scanned_text import unframed

ROLES = ("door", "desk", "supervisor")

# What each role may do. A supervisor may also change modes, events and zones, undo, refund, validate payments.
DOOR = frozenset({"entry", "cancel", "refusal"})
DESK = DOOR | {"sale", "exchange", "print"}
PERMISSIONS: dict[str, frozenset[str]] = {
    "door": DOOR,
    "desk": DESK,
    "supervisor": DESK | {"annul", "configure", "refund", "validate_payment"},
}
PERMISSION_LABELS = {"entry": "admit", "cancel": "cancel a ticket", "refusal": "scan", "sale": "sell",
                     "exchange": "exchange a ticket", "print": "print", "annul": "undo a check-in",
                     "configure": "change modes, events and zones", "refund": "refund or cancel an order",
                     "validate_payment": "validate a payment"}

# scrypt: 16 MiB, ~40 ms on a VM core, ~150-250 ms on a handheld's Cortex-A53 (benchmarks/bench_staff_pin.py)
KDF_N, KDF_R, KDF_P = 1 << 14, 8, 1
PIN_RE = re.compile(r"^[0-9]{4,8}$")
BADGE_PREFIX = "TGB1:"
BADGE_DOMAIN = b"ticketgate-badge-v1\x00"


class StaffError(TicketgateError, ValueError):
    """A login refused, a bad PIN format, an unreadable roster or badge."""


class NotPermitted(TicketgateError, PermissionError):
    """The staff member on duty (or nobody) may not do this."""


def allowed(role: str | None, action: str) -> bool:
    return role is not None and action in PERMISSIONS.get(role, frozenset())


def refusal_reason(name: str, role: str, action: str) -> str:
    return f"not allowed: {name} ({role}) cannot {PERMISSION_LABELS.get(action, action)}"


# -- PINs ----------------------------------------------------------------------------------------------------------
def check_pin_format(pin: str) -> str:
    if not PIN_RE.match(pin or ""):
        raise StaffError("a PIN is 4 to 8 digits")
    return pin


def hash_pin(pin: str, salt: bytes | None = None, n: int = KDF_N, r: int = KDF_R, p: int = KDF_P) -> dict[str, Any]:
    """-> {"kdf": "scrypt", "n", "r", "p", "salt", "hash"} (base64): what the server stores and the bundle carries."""
    check_pin_format(pin)
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 << 20, dklen=32)
    return {"kdf": "scrypt", "n": n, "r": r, "p": p, "salt": base64.b64encode(salt).decode(),
            "hash": base64.b64encode(digest).decode()}


def pin_matches(pin: str, stored: dict[str, Any] | None) -> bool:
    """Constant-time comparison of the PIN's scrypt hash with the stored one (False for anything malformed)."""
    if not stored or not PIN_RE.match(pin or ""):
        return False
    try:
        n, r, p = int(stored["n"]), int(stored["r"]), int(stored["p"])
        if stored.get("kdf") != "scrypt" or not (1 << 10 <= n <= 1 << 17 and 1 <= r <= 16 and 1 <= p <= 4):
            return False
        salt, want = base64.b64decode(stored["salt"]), base64.b64decode(stored["hash"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return False
    got = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 << 20, dklen=len(want))
    return hmac.compare_digest(got, want)


# -- badges --------------------------------------------------------------------------------------------------------
def make_badge(org: str, staff_id: str, serial: int, sign: Callable[[bytes], bytes]) -> str:
    """The QR text of a staff badge: `TGB1:` body `.` signature (base64url), signed with the organiser's server key.
    `serial` changes when the organiser reissues a badge: the old one stops working."""
    body = json.dumps({"o": org, "s": staff_id, "n": serial}, separators=(",", ":"), sort_keys=True).encode()
    sig = sign(BADGE_DOMAIN + body)
    return BADGE_PREFIX + _b64(body) + "." + _b64(sig)


def is_badge(text: str) -> bool:
    """A staff badge's text, also as a laser sends it (AIM identifier `]Q1` in front, CR/LF after: scanned_text)."""
    return unframed(text).startswith(BADGE_PREFIX)


def badge_parts(text: str) -> tuple[bytes, bytes]:
    """-> (body, signature) of a badge-shaped text, not verified (cheap: no key, no crypto). Raises StaffError."""
    try:
        text = unframed(text)
        if not text.startswith(BADGE_PREFIX):
            raise ValueError("no badge prefix")
        body_b64, sig_b64 = text[len(BADGE_PREFIX):].split(".", 1)
        return _unb64(body_b64), _unb64(sig_b64)
    except (ValueError, binascii.Error):
        raise StaffError("unreadable badge") from None


def read_badge(text: str, server_key: bytes | None) -> tuple[str, str, int]:
    """-> (org, staff id, serial) of a badge whose signature verifies with the organiser's server key."""
    if server_key is None:
        raise StaffError("this device is not enrolled: it cannot check a badge")
    body, sig = badge_parts(text)
    try:
        Ed25519PublicKey.from_public_bytes(server_key).verify(sig, BADGE_DOMAIN + body)
        d = json.loads(body)
        return str(d["o"]), str(d["s"]), int(d["n"])
    except InvalidSignature:
        raise StaffError("forged badge (not signed by this organiser)") from None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise StaffError("unreadable badge") from None


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# -- the roster a device holds -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    name: str
    role: str
    active: bool = True
    pin: dict[str, Any] | None = None     # the scrypt hash (hash_pin), None: badge only
    badge_serial: int = 0                 # 0: no badge issued

    def to_wire(self) -> dict[str, Any]:
        return {"staff_id": self.staff_id, "name": self.name, "role": self.role, "active": self.active,
                "pin": self.pin, "badge_serial": self.badge_serial}

    @classmethod
    def from_wire(cls, d: Any) -> "StaffMember":
        if not isinstance(d, dict):
            raise StaffError("a staff row is not an object")
        sid, name, role = d.get("staff_id"), d.get("name"), d.get("role")
        if not isinstance(sid, str) or not sid or len(sid) > 64 or not isinstance(name, str) or len(name) > 200:
            raise StaffError(f"bad staff row {str(sid)[:40]!r}")
        if role not in ROLES:
            raise StaffError(f"bad staff role {str(role)[:20]!r}")
        pin = d.get("pin")
        if pin is not None and not isinstance(pin, dict):
            raise StaffError(f"bad PIN hash for staff {sid}")
        serial = d.get("badge_serial", 0)
        if not isinstance(serial, int) or isinstance(serial, bool):
            raise StaffError(f"bad badge serial for staff {sid}")
        return cls(sid, name, role, bool(d.get("active", True)), pin, serial)


def parse_roster(rows: Any) -> list[StaffMember]:
    if not isinstance(rows, list) or len(rows) > 10_000:
        raise StaffError("malformed staff section")
    return [StaffMember.from_wire(r) for r in rows]
