"""Ticket format v1: a compact binary ticket, Ed25519-signed, base45 text behind the `TG1:` prefix.

Shared by the agent (parse + verify) and the server stub (encode + sign). Layout and
rationale: docs/ticket-format.md. All integers are big-endian.

    u8  version (1)        u16 key id        u8 flags        u32 event id (or pass id)
    u48 ticket id          u16 category      u8 zone count   zone count x u8 zone id
    [u8 seat length, seat UTF-8]   [u32 valid from]   [u32 valid until]   64-byte signature
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.base45 import b45decode, b45encode
from agent.errors import InvalidInput, TicketgateError

if TYPE_CHECKING:
    import segno
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SCHEME = "TG1:"
VERSION = 1
SIGNATURE_SIZE = 64
MAX_TEXT_LENGTH = 512  # anything longer is not one of our tickets
SIGNING_DOMAIN = b"ticketgate-ticket-v1\x00"  # a ticket signature can never pass for another message

FLAG_PASS = 0x01        # the event id field holds a pass id (valid for several events)
FLAG_SEAT = 0x02
FLAG_VALID_FROM = 0x04
FLAG_VALID_UNTIL = 0x08
_KNOWN_FLAGS = FLAG_PASS | FLAG_SEAT | FLAG_VALID_FROM | FLAG_VALID_UNTIL

_HEAD = struct.Struct(">BHBI6sHB")  # version, key id, flags, event/pass, ticket id (48 bit), category, zone count
MAX_TICKET_ID = 2**48 - 1

# QR error correction of every ticket code we draw (e-tickets, receipts, badges, labels, test frames): M, measured
# against L, Q and H on the door conditions (docs/ticket-format.md, "QR error correction"). Decoders read any level.
QR_ERROR_LEVEL = "M"


class MalformedPayload(TicketgateError, ValueError):
    """The text is not a well-formed ticket payload (a verdict, not a crash: see agent.payload)."""


@dataclass(frozen=True)
class Ticket:
    key_id: int
    event_id: int                      # event id, or pass id when is_pass
    ticket_id: int
    category: int = 0
    zones: tuple[int, ...] = ()        # empty: every zone of the event
    seat: str | None = None
    valid_from: int | None = None      # unix seconds, UTC
    valid_until: int | None = None
    is_pass: bool = False
    scheme: str = field(default="tg1", compare=False)
    key: str = field(default="", compare=False)  # the ledger's ticket key; derived when empty
    unknown_item: int | None = field(default=None, compare=False)   # pretix: an item the device's mapping lacks

    def __post_init__(self) -> None:
        object.__setattr__(self, "zones", tuple(self.zones))
        if self.seat == "":
            object.__setattr__(self, "seat", None)   # no seat and an empty seat are the same ticket
        if not self.key:
            object.__setattr__(self, "key", str(self.ticket_id))


@dataclass(frozen=True)
class ParsedPayload:
    ticket: Ticket
    signed: bytes      # exactly the bytes the signature covers
    signature: bytes


_RANGES = (("key_id", 0xFFFF), ("event_id", 0xFFFFFFFF), ("ticket_id", MAX_TICKET_ID), ("category", 0xFFFF))


def _body(t: Ticket) -> bytes:
    for name, top in _RANGES:
        if not 0 <= getattr(t, name) <= top:
            raise ValueError(f"{name} out of range 0..{top}")
    for name in ("valid_from", "valid_until"):
        value = getattr(t, name)
        if value is not None and not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"{name} must be unix seconds in 0..2**32-1")
    if len(t.zones) > 255 or any(not 0 <= z <= 255 for z in t.zones):
        raise ValueError("zones must be at most 255 ids in 0..255")
    flags = (FLAG_PASS if t.is_pass else 0) | (FLAG_SEAT if t.seat else 0)
    flags |= (FLAG_VALID_FROM if t.valid_from is not None else 0) | (FLAG_VALID_UNTIL if t.valid_until is not None else 0)
    out = bytearray(_HEAD.pack(VERSION, t.key_id, flags, t.event_id, t.ticket_id.to_bytes(6, "big"),
                               t.category, len(t.zones)))
    out += bytes(t.zones)
    if t.seat:
        seat = t.seat.encode()
        if len(seat) > 255:
            raise ValueError("seat label longer than 255 bytes")
        out += bytes([len(seat)]) + seat
    for value in (t.valid_from, t.valid_until):
        if value is not None:
            out += struct.pack(">I", value)
    return bytes(out)


def encode_ticket(ticket: Ticket, private_key: Ed25519PrivateKey) -> str:
    """Serialize and sign with the organiser's Ed25519 private key. A ticket over MAX_TEXT_LENGTH characters (many
    zones, a long seat) is refused here: every door would refuse it as malformed."""
    body = _body(ticket)
    signature = private_key.sign(SIGNING_DOMAIN + body)
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("signature must be 64 bytes")
    text = SCHEME + b45encode(body + signature)
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"the ticket would be {len(text)} characters (at most {MAX_TEXT_LENGTH}): shorter seat "
                           "label or fewer zones")
    return text


def unwrap(text: str, scheme: str, what: str) -> bytes:
    """The bytes of a `scheme` payload (TG1:, TG2:): prefix checked, length bounded, base45 decoded.
    Raises MalformedPayload."""
    if not text.startswith(scheme):
        raise MalformedPayload(f"not a {what} payload")
    if len(text) > MAX_TEXT_LENGTH:
        raise MalformedPayload("payload too long")
    try:
        return b45decode(text[len(scheme):])
    except ValueError as exc:
        raise MalformedPayload(f"bad base45: {exc}") from None


def parse_payload(text: str) -> ParsedPayload:
    """Parse (not verify) a TG1 payload. Raises MalformedPayload with a short reason."""
    raw = unwrap(text, SCHEME, "ticketgate")
    if len(raw) < _HEAD.size + SIGNATURE_SIZE:
        raise MalformedPayload("payload truncated")
    body, signature = raw[:-SIGNATURE_SIZE], raw[-SIGNATURE_SIZE:]
    version, key_id, flags, event_id, tid, category, nzones = _HEAD.unpack_from(body)
    if version != VERSION:
        raise MalformedPayload(f"unsupported version {version}")
    if flags & ~_KNOWN_FLAGS:
        raise MalformedPayload("unknown flags")
    pos = _HEAD.size
    zones = tuple(body[pos:pos + nzones])
    pos += nzones
    seat = None
    try:
        if flags & FLAG_SEAT:
            n = body[pos]
            seat = body[pos + 1:pos + 1 + n].decode()
            if len(seat.encode()) != n or n == 0:
                raise MalformedPayload("seat truncated")
            pos += 1 + n
        valid = []
        for flag in (FLAG_VALID_FROM, FLAG_VALID_UNTIL):
            if flags & flag:
                if pos + 4 > len(body):
                    raise MalformedPayload("validity truncated")
                valid.append(struct.unpack_from(">I", body, pos)[0])
                pos += 4
            else:
                valid.append(None)
    except IndexError:
        raise MalformedPayload("payload truncated") from None
    except UnicodeDecodeError:
        raise MalformedPayload("seat label is not UTF-8") from None
    if len(zones) != nzones or pos != len(body):
        raise MalformedPayload("payload length does not match its fields")
    ticket = Ticket(key_id=key_id, event_id=event_id, ticket_id=int.from_bytes(tid, "big"), category=category,
                    zones=zones, seat=seat, valid_from=valid[0], valid_until=valid[1], is_pass=bool(flags & FLAG_PASS))
    return ParsedPayload(ticket, SIGNING_DOMAIN + body, signature)


def ticket_qr(payload: str) -> "segno.QRCode":
    """The QR of a ticket payload as every renderer draws it: `QR_ERROR_LEVEL`, never boosted, so one payload gives
    one code (version, size) on every medium."""
    import segno
    return segno.make_qr(payload, error=QR_ERROR_LEVEL.lower(), boost_error=False)
