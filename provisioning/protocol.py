"""Wire formats shared by both sides (pure): enrollment QR text, organiser codes, signed proofs.

Enrollment QR:  TGE1:<token>:<fingerprint hex>:<host:port>:<org>
    token        32 random bytes, base32 without padding (QR alphanumeric-friendly once upper-cased)
    fingerprint  the organiser server key fingerprint (agent.keyring.fingerprint, colons removed)
    host:port    the enrollment endpoint hint (IPv6 in brackets); the device falls back to zeroconf
Organiser code: 8 characters of the order-number alphabet, shown as `K7M2-Q9XB`, typed by hand; the last one is
    `code_check` of the first 7 and the server key's fingerprint: a device finding servers by zeroconf sends the code
    only to a server whose advertised fingerprint it fits (another organiser's server never receives it).
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

from agent.errors import TicketgateError

QR_PREFIX = "TGE1"
SERVICE_TYPE = "_ticketgate._tcp.local."
MQTT_SERVICE_TYPE = "_mqtt._tcp.local."
PROTOCOL_VERSION = "1"
PROOF_DOMAIN = b"ticketgate-enroll-v1\x00"
RETIRE_DOMAIN = b"ticketgate-retire-v2\x00"
RETIRE_VERSION = 2                                 # `replaces.v`; v1 proofs (no `v`) are not honoured
STALE_NONCE = "nonce"     # `reason` of an enrollment refused for a nonce the endpoint does not hold (restarted
                          # since the challenge, expired, spent): the device asks for a new challenge
UNKNOWN_SECRET = "unknown"   # `reason` of an enrollment QR or organiser code this endpoint never issued: with a code
                             # found by zeroconf the device tries the next server that answered
IN_CLEAR = "clear"        # `reason` of an enrollment request sent unsealed (an app before sealed requests)
ENROLL_KEY = "enroll_key"   # `type` of the signed offer of the endpoint's X25519 key that requests are sealed to
MAX_DEVICE_NAME = 64      # characters of the display name a device enrolls with (`provision enroll --name`)
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"   # no 0/O, 1/I/L, U
CODE_LENGTH = 8                                    # 7 random (30^7 ~ 2.2e10; guessing is throttled) + 1 check
CODE_CHECK_DOMAIN = b"ticketgate-code-check\x00"
_TOKEN = re.compile(r"^[A-Z2-7]{52}$")
_FP = re.compile(r"^[0-9A-F]{16}$")
_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class BadInput(TicketgateError, ValueError):
    """Text that is not what it claims to be; str(exc) is shown to the technician."""


def new_token() -> str:
    return base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=")


def code_check(fingerprint: str, body: str) -> str:
    """The last character of an organiser code issued by the server of `fingerprint` whose first 7 are `body`."""
    digest = hashlib.sha256(CODE_CHECK_DOMAIN + compact_fingerprint(fingerprint).encode() + b"\x00" + body.encode())
    return CODE_ALPHABET[int.from_bytes(digest.digest()[:8], "big") % len(CODE_ALPHABET)]


def new_code(fingerprint: str | None = None) -> str:
    """A fresh organiser code; with the issuing server's key `fingerprint`, its last character is `code_check`."""
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH - (fingerprint is not None)))
    return body + code_check(fingerprint, body) if fingerprint is not None else body


def code_fits(code: str, fingerprint: str) -> bool:
    """Whether a (normalized) organiser code may have been issued by the server of `fingerprint` (1 in 30 codes of
    another server fit too: that server refuses it as unknown). Decided before the code is sent anywhere."""
    return bool(fingerprint) and code[-1:] == code_check(fingerprint, code[:-1])


def normalize_code(text: str) -> str:
    """What people type: `k7m2 q9xb`, `K7M2-Q9XB` -> `K7M2Q9XB`; O->0 style confusions are mapped."""
    compact = re.sub(r"[\s\-]", "", text or "").upper().translate(str.maketrans("OIL", "011"))
    if len(compact) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in compact):
        raise BadInput(f"an organiser code is {CODE_LENGTH} characters like K7M2-Q9XB")
    return compact


def show_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def secret_digest(secret: str) -> str:
    """What the registry stores and looks up: never the token or code itself."""
    return hashlib.sha256(b"ticketgate-token\x00" + secret.encode()).hexdigest()


def compact_fingerprint(fp: str) -> str:
    return fp.replace(":", "").upper()


@dataclass(frozen=True)
class EnrollQR:
    token: str
    fingerprint: str        # compact hex, 16 chars
    server: str             # host:port hint
    org: str

    def text(self) -> str:
        return f"{QR_PREFIX}:{self.token}:{self.fingerprint}:{self.server}:{self.org}"


def parse_qr(text: str) -> EnrollQR:
    parts = (text or "").strip().split(":")
    if len(parts) < 6 or parts[0] != QR_PREFIX:
        raise BadInput("not a ticketgate enrollment QR (expected TGE1:...)")
    token, fp, org = parts[1].upper(), parts[2].upper(), parts[-1]
    server = ":".join(parts[3:-1])
    if not _TOKEN.match(token):
        raise BadInput("enrollment QR: malformed token")
    if not _FP.match(fp):
        raise BadInput("enrollment QR: malformed organiser fingerprint")
    try:
        split_hostport(server)
    except BadInput:
        raise BadInput("enrollment QR: malformed server address") from None
    if not _ORG.match(org):
        raise BadInput("enrollment QR: malformed organiser")
    return EnrollQR(token, fp, server, org)


def plausible_qr(text: str) -> bool:
    """Whether a text has the shape of an enrollment QR (`parse_qr` takes it): what the set-up screen's camera keeps
    from a retry step (a filtered image misread as another text is dropped, like a ticket's on the scan screen)."""
    try:
        parse_qr(text)
    except BadInput:
        return False
    return True


def split_hostport(text: str) -> tuple[str, int]:
    """`HOST:PORT` of a server (agent.home.HostPort) -> (host, port); BadInput when it is not one."""
    from agent.home import BadAddress, HostPort
    try:
        address = HostPort.parse(text, what="server address")
    except BadAddress as exc:
        raise BadInput(str(exc)) from None
    return address.host, address.port


def proof_message(nonce: str, device_public_key: bytes, box_public_key: bytes) -> bytes:
    """What the device signs with its new key: binds the server nonce to both of its public keys."""
    return PROOF_DOMAIN + nonce.encode() + b"\x00" + device_public_key + box_public_key


def enroll_key_body(org: str, public: bytes, now: float) -> dict:
    """The endpoint's enrollment key (X25519, raw) as the organiser's server key signs it (`agent.sync.signed`): a
    device seals its request to it once the signature verifies with the server key of the QR's fingerprint."""
    return {"type": ENROLL_KEY, "org": org, "key": base64.b64encode(public).decode(), "ts": now}


def retire_message(org: str, device_id: str, successor_key: bytes) -> bytes:
    """What a device signs with the key of the enrollment it ends (before a technician's wipe destroys it, or when
    enrolling again over it): the organiser may retire this enrollment, for the enrollment of `successor_key` only
    (the next enrollment's device key, whose possession that enrollment proves). A proof seen on the wire, or read
    from a wiped ledger, retires nothing when another enrollment sends it. v1 signed org and device id only."""
    return RETIRE_DOMAIN + org.encode() + b"\x00" + device_id.encode() + b"\x00" + successor_key


REPLACED = "replaced by a spare"      # the reason a device revoked with `provision revoke --replaced` is wiped for


def wipe_body(org: str, device_id: str, now: float, reason: str = "revoked by the organiser",
              keep: bool = False) -> dict:
    """The wipe order for one revoked device (signed with the organiser's server key before it is sent). `keep`: the
    device was replaced, not lost or stolen: its uploads not sent yet are kept and uploaded as its own under its next
    enrollment, as after a technician's wipe."""
    import uuid
    return {"type": "cmd", "cmd": "wipe", "id": str(uuid.uuid4()), "ts": now, "org": org, "device": device_id,
            "reason": REPLACED if keep else reason} | ({"keep": True} if keep else {})


def wifi_escape(value: str) -> str:
    """Escape per the ZXing WIFI: spec: backslash, ';', ',', '"', ':' get a backslash."""
    return "".join("\\" + c if c in '\\;,":' else c for c in value)


def _wpa_passphrase(password: str) -> bool:
    """What a phone accepts as a WPA/WPA2 key: 8..63 printable ASCII characters, or 64 hex digits."""
    if len(password) == 64:
        return all(c in "0123456789abcdefABCDEF" for c in password)
    return 8 <= len(password) <= 63 and all(" " <= c <= "~" for c in password)


def wifi_payload(ssid: str, password: str | None, security: str = "WPA", hidden: bool = False) -> str:
    if not ssid:
        raise BadInput("Wi-Fi QR: the SSID is empty")
    if security not in ("WPA", "WEP", "nopass"):
        raise BadInput("Wi-Fi QR: security is WPA, WEP or nopass")
    if len(ssid.encode()) > 32:
        raise BadInput(f"Wi-Fi QR: the SSID {ssid!r} is longer than 32 bytes: no Wi-Fi network has such a name")
    if security != "nopass" and not password:
        raise BadInput("Wi-Fi QR: a password is needed for WPA/WEP")
    if security == "nopass" and password:
        raise BadInput("Wi-Fi QR: --security nopass takes no password (an open network); for a network with a "
                       "password leave --security out (WPA)")
    if security == "WPA" and password and not _wpa_passphrase(password):
        raise BadInput("Wi-Fi QR: a WPA password is 8 to 63 characters (letters, digits, spaces and ASCII signs, "
                       "no accents), or a 64-digit hex key: no phone could join with this one")
    text = f"WIFI:S:{wifi_escape(ssid)};T:{security};"
    if security != "nopass":
        text += f"P:{wifi_escape(password or '')};"
    if hidden:
        text += "H:true;"
    return text + ";"
