"""Offline sales allotments: a kiosk's own Ed25519 key, certified by the organiser, and the `TG2:` tickets it signs.

A kiosk that may sell while the hotspot is down holds an allotment: a certificate, signed by one of the organiser's
ticket keys (the keys every door already trusts), naming the device, its public key, the events (or passes) and
categories it may sell, a ticket-id range, a maximum count and a validity window. Each ticket it sells carries the
certificate and is signed with the kiosk's key, so a door that never saw the sale verifies it offline: the
certificate with its keyring, the ticket with the certificate's key (agent.payload), then the ordered check
`check_allotment` (agent/decision.py) refuses an uncertified, expired, revoked or out-of-range sale.
Layouts and test vectors: docs/ticket-format.md ("TG2"), tests/vectors/.

Certificate (big-endian):
    u8 version (1)   u16 organiser key id   u32 allotment id   u8 n + device id (UTF-8, ≤ 32 bytes)
    32-byte device public key   u48 first ticket id   u48 last ticket id   u32 max count
    u32 valid from   u32 valid until   u8 n + n × u32 events/passes   u8 n + n × u16 categories (0: every one)
    64-byte Ed25519 signature by the organiser key of CERT_DOMAIN + everything before it
TG2 ticket: "TG2:" + base45( u16 certificate length | certificate | ticket body | 64-byte device signature )
    ticket body: the v1 body (agent.ticket_format) with version byte 2; device signature over
    TICKET_DOMAIN + certificate + ticket body (the ticket is bound to its certificate).
"""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.base45 import b45encode
from agent.errors import InvalidInput
from agent.ticket_format import (MAX_TEXT_LENGTH, SIGNATURE_SIZE, MalformedPayload, ParsedPayload, Ticket, _body,
                                 parse_payload, unwrap)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from agent.keyring import Keyring

SCHEME = "TG2:"
CERT_VERSION = 1
TICKET_VERSION = 2
CERT_DOMAIN = b"ticketgate-allotment-v1\x00"
TICKET_DOMAIN = b"ticketgate-ticket-v2\x00"
MAX_DEVICE_BYTES = 32
MAX_EVENTS = 4
MAX_CATEGORIES = 8
MAX_TICKET_ID = 2**48 - 1
ALLOTMENT_ID_BASE = 2**47        # allotment ranges live in [2**47, 2**48); the server draws its own ids below
# a kiosk's allotment is refilled (a new certificate; the old one stays valid for what was sold under it) once this
# share of it is sold or this many seconds before it ends: the kiosk asks then, the server grants no sooner
REFILL_USED = 0.8
REFILL_BEFORE_END = 3600


def refill_due(used: int, max_count: int, valid_until: float, now: float) -> bool:
    """Whether an allotment with `used` of `max_count` tickets sold, valid until `valid_until`, is due a refill."""
    return now > valid_until - REFILL_BEFORE_END or used >= max_count * REFILL_USED
_HEAD = struct.Struct(">BHI")    # version, organiser key id, allotment id
_TAIL = struct.Struct(">6s6sIII")  # first, last, max count, valid from, valid until


def offline_order_number(device_id: str, allotment_id: int, first_id: int, first_ticket: int) -> str:
    """The number of an order a kiosk sells offline, printed on its receipt and tickets, which the server files the
    order under when it is uploaded: `<device>-<allotment>-<n>`, n = the sale's first ticket id's place in the
    allotment (1: its first id). Unique (an allotment id is the server's, its ticket ids are sold once) and never a
    server number (`K7M2-Q9`: one dash; this one has two or more)."""
    return f"{device_id}-{allotment_id}-{first_ticket - first_id + 1}"


def revocation_key(allotment_id: int) -> str:
    """The key under which a revoked allotment travels in the revocation lists (bundles, live updates, ledger)."""
    return f"allotment:{allotment_id}"


@dataclass(frozen=True)
class Certificate:
    key_id: int                        # the organiser ticket key that signs it
    allotment_id: int
    device_id: str
    public_key: bytes                  # the kiosk's raw 32-byte Ed25519 key
    first_id: int
    last_id: int
    max_count: int
    valid_from: int
    valid_until: int
    events: tuple[int, ...]            # event or pass ids
    categories: tuple[int, ...] = ()   # empty: every category
    signature: bytes = b""

    def body(self) -> bytes:
        device = self.device_id.encode()
        if not 0 < len(device) <= MAX_DEVICE_BYTES:
            raise InvalidInput(f"device id {self.device_id!r}: 1..{MAX_DEVICE_BYTES} bytes in a certificate")
        if len(self.public_key) != 32:
            raise InvalidInput("a device key is a raw 32-byte Ed25519 public key")
        if not 0 < self.first_id <= self.last_id <= MAX_TICKET_ID:
            raise InvalidInput(f"ticket range {self.first_id}..{self.last_id} is not within 1..2**48-1")
        if not 0 < self.max_count <= self.last_id - self.first_id + 1:
            raise InvalidInput(f"max count {self.max_count} does not fit the ticket range")
        if not 0 <= self.valid_from < self.valid_until <= 0xFFFFFFFF:
            raise InvalidInput("a certificate's validity is from < until, unix seconds")
        if not 0 < len(self.events) <= MAX_EVENTS or len(self.categories) > MAX_CATEGORIES:
            raise InvalidInput(f"a certificate names 1..{MAX_EVENTS} events and at most {MAX_CATEGORIES} categories")
        out = bytearray(_HEAD.pack(CERT_VERSION, self.key_id, self.allotment_id))
        out += bytes([len(device)]) + device + self.public_key
        out += _TAIL.pack(self.first_id.to_bytes(6, "big"), self.last_id.to_bytes(6, "big"), self.max_count,
                          self.valid_from, self.valid_until)
        out += bytes([len(self.events)]) + b"".join(struct.pack(">I", e) for e in self.events)
        out += bytes([len(self.categories)]) + b"".join(struct.pack(">H", c) for c in self.categories)
        return bytes(out)

    def to_bytes(self) -> bytes:
        if len(self.signature) != SIGNATURE_SIZE:
            raise InvalidInput("the certificate is not signed")
        return self.body() + self.signature

    def to_text(self) -> str:
        return base64.b64encode(self.to_bytes()).decode()

    @classmethod
    def from_text(cls, text: str) -> "Certificate":
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raise MalformedPayload("certificate is not base64") from None
        cert, used = cls.from_bytes(raw)
        if used != len(raw):
            raise MalformedPayload("certificate has trailing bytes")
        return cert

    @classmethod
    def from_bytes(cls, raw: bytes) -> tuple["Certificate", int]:
        """-> (certificate, bytes used). Raises MalformedPayload."""
        try:
            version, key_id, allotment_id = _HEAD.unpack_from(raw)
            if version != CERT_VERSION:
                raise MalformedPayload(f"unsupported certificate version {version}")
            pos = _HEAD.size
            n = raw[pos]
            device = raw[pos + 1:pos + 1 + n].decode()
            pos += 1 + n
            public_key = raw[pos:pos + 32]
            pos += 32
            first, last, max_count, vfrom, vuntil = _TAIL.unpack_from(raw, pos)
            pos += _TAIL.size
            n = raw[pos]
            events = struct.unpack_from(f">{n}I", raw, pos + 1)
            pos += 1 + 4 * n
            n = raw[pos]
            categories = struct.unpack_from(f">{n}H", raw, pos + 1)
            pos += 1 + 2 * n
            signature = raw[pos:pos + SIGNATURE_SIZE]
        except (struct.error, IndexError, UnicodeDecodeError):
            raise MalformedPayload("certificate truncated") from None
        if len(signature) != SIGNATURE_SIZE or len(public_key) != 32 or not device:
            raise MalformedPayload("certificate truncated")
        if len(device.encode()) > MAX_DEVICE_BYTES:      # checked here: the encoder's message would quote it
            raise MalformedPayload(f"certificate device id over {MAX_DEVICE_BYTES} bytes")
        cert = cls(key_id, allotment_id, device, public_key, int.from_bytes(first, "big"), int.from_bytes(last, "big"),
                   max_count, vfrom, vuntil, tuple(events), tuple(categories), signature)
        try:
            cert.body()     # the bounds the encoder keeps (anyone can make a TG2 payload with a key of their own)
        except InvalidInput as exc:
            raise MalformedPayload(f"certificate out of bounds: {exc}") from None
        return cert, pos + SIGNATURE_SIZE

    def signed_bytes(self) -> bytes:
        return CERT_DOMAIN + self.body()

    def active_at(self, now: float) -> bool:
        return self.valid_from <= now < self.valid_until

    def covers(self, ticket: Ticket) -> str | None:
        """None when the certificate allows this ticket, else what is out of range."""
        if not self.first_id <= ticket.ticket_id <= self.last_id:
            return f"ticket id {ticket.ticket_id} outside the allotment's range {self.first_id}..{self.last_id}"
        if ticket.event_id not in self.events:
            return f"{'pass' if ticket.is_pass else 'event'} {ticket.event_id} is not in allotment {self.allotment_id}"
        if self.categories and ticket.category not in self.categories:
            return f"category {ticket.category} is not in allotment {self.allotment_id}"
        if ticket.key_id != self.key_id:
            return "ticket names another key than its certificate"
        return None

    def to_json(self) -> dict[str, object]:
        return {"allotment_id": self.allotment_id, "device_id": self.device_id, "key_id": self.key_id,
                "public_key": base64.b64encode(self.public_key).decode(), "first_id": self.first_id,
                "last_id": self.last_id, "max_count": self.max_count, "valid_from": self.valid_from,
                "valid_until": self.valid_until, "events": list(self.events), "categories": list(self.categories)}


def public_key_of(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInput("a device key is a raw 32-byte Ed25519 public key, base64")
    return raw


def sign_certificate(cert: Certificate, organiser_key: Ed25519PrivateKey) -> Certificate:
    """The organiser (server) signs a kiosk's certificate with one of its ticket keys."""
    from dataclasses import replace
    return replace(cert, signature=organiser_key.sign(cert.signed_bytes()))


@dataclass(frozen=True)
class AllotmentProof:
    """What the door learnt from a TG2 ticket: its certificate, and whether an organiser key it trusts signed it."""
    certificate: Certificate
    certified: bool
    detail: str = ""


@dataclass(frozen=True)
class ParsedTG2:
    certificate: Certificate
    ticket: Ticket
    signed: bytes           # what the device signature covers
    signature: bytes


def encode_offline_ticket(ticket: Ticket, cert: Certificate, device_key: Ed25519PrivateKey, check: bool = True) -> str:
    """A kiosk sells offline: the ticket (within its certificate) signed with the kiosk's own key. `check=False`
    signs what a rogue kiosk would (test vectors: the door must refuse it)."""
    if check and cert.covers(ticket) is not None:
        raise InvalidInput(f"not within the allotment: {cert.covers(ticket)}")
    cert_bytes = cert.to_bytes()
    body = bytes([TICKET_VERSION]) + _body(ticket)[1:]
    signature = device_key.sign(TICKET_DOMAIN + cert_bytes + body)
    text = SCHEME + b45encode(struct.pack(">H", len(cert_bytes)) + cert_bytes + body + signature)
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"the ticket would be {len(text)} characters (at most {MAX_TEXT_LENGTH}): shorter seat "
                           "or device id, fewer events or categories in the certificate")
    return text


def parse_offline_ticket(text: str) -> ParsedTG2:
    """Parse (not verify) a TG2 payload. Raises MalformedPayload."""
    raw = unwrap(text, SCHEME, "TG2")
    if len(raw) < 2:
        raise MalformedPayload("payload truncated")
    (length,) = struct.unpack_from(">H", raw)
    cert, used = Certificate.from_bytes(raw[2:2 + length])
    if used != length:
        raise MalformedPayload("certificate length does not match its fields")
    rest = raw[2 + length:]
    if not rest or rest[0] != TICKET_VERSION:
        raise MalformedPayload("TG2 ticket body missing or of another version")
    # the v1 parser reads the body: same layout, version byte 1
    v1 = parse_payload("TG1:" + b45encode(b"\x01" + rest[1:]))
    cert_bytes = raw[2:2 + length]
    body = rest[:-SIGNATURE_SIZE]
    return ParsedTG2(cert, v1.ticket, TICKET_DOMAIN + cert_bytes + body, rest[-SIGNATURE_SIZE:])


def verify_offline_ticket(parsed: ParsedTG2, keyring: Keyring, now: float) -> tuple[bool, AllotmentProof]:
    """-> (the device signature verifies, what the certificate is worth). Time and range are judged by the
    decision (check_allotment), on server time."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    cert = parsed.certificate
    try:
        Ed25519PublicKey.from_public_bytes(cert.public_key).verify(parsed.signature, parsed.signed)
    except (InvalidSignature, ValueError):
        return False, AllotmentProof(cert, False, "ticket signature does not verify with its allotment key")
    key = keyring.get(cert.key_id)
    if key is None:
        return True, AllotmentProof(cert, False, f"certificate signed by key {cert.key_id}, not in this keyring")
    if not key.active_at(now):
        return True, AllotmentProof(cert, False, f"certificate key {cert.key_id} is outside its validity window")
    if not key.verifies(cert.signature, cert.signed_bytes()):
        return True, AllotmentProof(cert, False, "certificate signature does not verify (forged allotment)")
    if key.events is not None and not set(cert.events) <= key.events:
        return True, AllotmentProof(cert, False, f"key {cert.key_id} may not certify sales for {list(cert.events)}")
    return True, AllotmentProof(cert, True)


__all__ = ["ALLOTMENT_ID_BASE", "AllotmentProof", "Certificate", "ParsedPayload", "ParsedTG2", "SCHEME",
           "encode_offline_ticket", "offline_order_number", "parse_offline_ticket", "revocation_key", "sign_certificate",
           "verify_offline_ticket"]
