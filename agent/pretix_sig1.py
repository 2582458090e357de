"""Offline verification of pretix signed ticket secrets (`pretix_sig1`).

Secret = reversed base64 of: u8 version (1), u16 payload length, u16 signature length,
protobuf `Ticket {string seed = 1; int64 item = 2; int64 variation = 3; int64 subevent = 4;
optional int64 validFromUnixTime = 5; optional int64 validUntilUnixTime = 6}`, Ed25519 signature.
The protobuf subset is decoded here (varints and length-delimited fields): no protobuf dependency.
"""
from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.keyring import Keyring, PretixEvent
from agent.ticket_format import MalformedPayload, Ticket

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MAX_SECRET_LENGTH = 512
KEY_PREFIX = "pretix:"


@dataclass(frozen=True)
class PretixTicket:
    seed: str
    item: int = 0
    variation: int = 0
    subevent: int = 0
    valid_from: int | None = None
    valid_until: int | None = None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise MalformedPayload("bad protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


# pretix_sig1.proto: field number -> its wire type (1: string seed, 2..6: int64 item, variation, subevent, validity)
_SCHEMA = {1: 2, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0}


def decode_ticket_message(buf: bytes) -> PretixTicket:
    """As protobuf (pretix's and libpretixsync's reader) decodes it: any order, the last occurrence wins, a field
    number outside the schema or a known number with another wire type is an unknown field (skipped); what protobuf
    refuses (field number 0 or above 2^29-1, a seed not UTF-8, a truncated field, wire types 6 and 7) is malformed,
    and so are groups (wire types 3 and 4, deprecated, never in pretix's schema)."""
    fields: dict[int, int | str] = {}
    pos = 0
    value: int | bytes
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if not 0 < number < 1 << 29:
            raise MalformedPayload("bad protobuf field number")
        if wire == 0:
            value, pos = _varint(buf, pos)
            value &= (1 << 64) - 1                       # int64 semantics, as protobuf decodes it
            value = value - (1 << 64) if value >= 1 << 63 else value
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise MalformedPayload("protobuf field truncated")
            value, pos = bytes(buf[pos:pos + n]), pos + n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise MalformedPayload("protobuf field truncated")
            pos += size
            continue   # fixed-width fields are not in the pretix schema: skipped, as protobuf keeps them unknown
        else:
            raise MalformedPayload(f"unsupported protobuf wire type {wire}")
        if _SCHEMA.get(number) != wire:
            continue
        if isinstance(value, bytes):
            try:
                fields[number] = value.decode()
            except UnicodeDecodeError:
                raise MalformedPayload("pretix seed is not UTF-8") from None
        else:
            fields[number] = value
    seed = fields.get(1, "")
    if not isinstance(seed, str) or not seed:
        raise MalformedPayload("pretix ticket without seed")
    ints = {n: v for n, v in fields.items() if isinstance(v, int)}
    # as libpretixsync reads it: a validity of 0 or below is no bound (pretix writes 0 for "not set"), never 1970
    valid = [v if v > 0 else None for v in (ints.get(5, 0), ints.get(6, 0))]
    return PretixTicket(seed, ints.get(2, 0), ints.get(3, 0), ints.get(4, 0), valid[0], valid[1])


def split_secret(secret: str) -> tuple[bytes, bytes]:
    """-> (payload, signature). Raises MalformedPayload when the secret is not pretix_sig1-shaped."""
    if len(secret) > MAX_SECRET_LENGTH:
        raise MalformedPayload("secret too long")
    try:
        raw = base64.b64decode(secret[::-1], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedPayload("not a pretix_sig1 secret") from None
    if base64.b64encode(raw).decode() != secret[::-1]:
        # the last character's unused bits set (…Bw== read as …B0==): the same signed bytes under another text. pretix
        # writes none; one scanned is an altered secret, refused rather than admitted under a text nobody issued
        raise MalformedPayload("not a pretix_sig1 secret (non-canonical base64)")
    if len(raw) < 5 or raw[0] != 1:
        raise MalformedPayload("not a pretix_sig1 secret")
    payload_len, sig_len = struct.unpack(">HH", raw[1:5])
    if sig_len != 64 or len(raw) != 5 + payload_len + sig_len:
        raise MalformedPayload("pretix_sig1 lengths do not match")
    return raw[5:5 + payload_len], raw[5 + payload_len:]


def sign_secret(ticket: PretixTicket, private_key: Ed25519PrivateKey) -> str:
    """Produce a secret the way pretix does (used by our tests and vectors, not at the door)."""
    def field_varint(n: int, v: int) -> bytes:
        return _enc_varint(n << 3) + _enc_varint(v & ((1 << 64) - 1))
    seed = ticket.seed.encode()
    payload = _enc_varint(1 << 3 | 2) + _enc_varint(len(seed)) + seed
    for number, value in ((2, ticket.item), (3, ticket.variation), (4, ticket.subevent)):
        if value:
            payload += field_varint(number, value)
    for number, when in ((5, ticket.valid_from), (6, ticket.valid_until)):
        if when is not None:
            payload += field_varint(number, when)
    signature = private_key.sign(payload)
    raw = bytes([1]) + struct.pack(">HH", len(payload), len(signature)) + payload + signature
    return base64.b64encode(raw).decode()[::-1]


def _enc_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def event_for(pt: PretixTicket, event: PretixEvent) -> int:
    """Our event id for a pretix secret. With a date mapping, an unmapped date (subevent) gets -subevent: an id
    no device ever selects, so a ticket for another date of the series is `wrong_event`, never admitted."""
    if pt.subevent and event.subevents:
        return event.subevents.get(pt.subevent, -abs(pt.subevent))
    return event.event_id


def to_ticket(pt: PretixTicket, event: PretixEvent) -> Ticket:
    """With an item mapping on the device, an item it does not name is marked `unknown_item` (decision:
    `unknown_product`, never admitted); without any mapping every item counts, category 0 and every zone."""
    mapping = event.items.get(pt.item)
    return Ticket(key_id=0, event_id=event_for(pt, event), ticket_id=0,
                  category=mapping.category if mapping else 0, zones=mapping.zones if mapping else (),
                  valid_from=pt.valid_from, valid_until=pt.valid_until, scheme="pretix_sig1",
                  key=KEY_PREFIX + pt.seed, unknown_item=pt.item if event.items and mapping is None else None)


def find_signer(payload: bytes, signature: bytes, keyring: Keyring) -> PretixEvent | None:
    for event in keyring.pretix:
        if event.verifies(signature, payload):
            return event
    return None
