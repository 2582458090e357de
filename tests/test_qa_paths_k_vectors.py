"""Other implementations' vectors and malformed payloads for both ticket formats (QA session K).

1. pretix_sig1 as pretix makes and reads it: the real secrets and keys of pretix's own scanner tests decoded field
   for field, libpretixsync's validity boundaries, protobuf's reading of unusual wire shapes.
2. TG1: a reference decoder written here from docs/ticket-format.md alone (no agent import), differential-tested
   against agent.payload/agent.ticket_format on thousands of valid tickets and mutations.
3. RFC 8032 Ed25519 test vectors through our signing and verifying path, with every key encoding the keyring takes.
"""
from __future__ import annotations

import base64
import datetime
import random
import struct
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent import pretix_sig1
from agent.keyring import Keyring, PretixEvent, PretixItemMapping, TrustedKey
from agent.payload import FORGED, MALFORMED, OK, UNKNOWN_KEY, plausible, read_payload
from agent.policy import DevicePolicy
from agent.pretix_sig1 import PretixTicket, decode_ticket_message, sign_secret, split_secret
from agent.signing import SigningKey
from agent.ticket_format import MalformedPayload, Ticket
from agent.verdicts import Code
from tests.test_core_support import Clock, make_gate
from tests.test_qa_foreign_vectors import FAKE, FROM_2023, PRETIX_KEYS, UNKNOWN_ITEM, UNTIL_2023, VALID


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


# ================================================ 1. pretix_sig1 ================================================
# Secrets: pretix/libpretixsync libpretixsync/src/test/java/eu/pretix/libpretixsync/check/AsyncCheckProviderTest.kt
# (testSignedAndValid, testSignedAndNotYetValid, testSignedAndNotLongerValid, testSignedUnknownProduct,
# testSignedInvalidSignature) and pretix/pretixscan-ios PretixScanTests/DatalessTicketValidatorTests.swift; keys: the
# event resource of those tests (valid_keys.pretix_sig1). Format: pretix/pretix src/pretix/base/secrets.py
# (Sig1TicketSecretGenerator) and src/pretix/base/secretgenerators/pretix_sig1.proto.

def test_real_pretix_secrets_decode_field_for_field():
    """What pretix put in them (the payload hex read by hand against pretix_sig1.proto): seed, item, variation,
    subevent, and validity as pretix writes it (field present, 0 = not set)."""
    expect = {
        VALID: ("0a0943544a714a4f6c31481001200e", PretixTicket("CTJqJOl1H", 1, 0, 14)),
        # pretix >= 2023 writes both validity fields, 0 for "not set": field 6 = 0 here, field 5 = 0 below
        FROM_2023: ("0a0946435444745457517a100128f0a3f69e063000",
                    PretixTicket("FCTDtTWQz", 1, 0, 0, valid_from=int(utc("2023-02-03T23:00:00")))),
        UNTIL_2023: ("0a094547495366306754751001280030b0d2f39e06",
                     PretixTicket("EGISf0gTu", 1, 0, 0, valid_until=int(utc("2023-02-03T11:00:00")))),
        UNKNOWN_ITEM: ("0a096652553249743764561064200e", PretixTicket("fRU2It7dV", 100, 0, 14)),
    }
    for secret, (payload_hex, ticket) in expect.items():
        payload, signature = split_secret(secret)
        assert payload.hex() == payload_hex and len(signature) == 64
        assert decode_ticket_message(payload) == ticket
    event = PretixEvent.from_pretix_keys(1, PRETIX_KEYS)
    assert all(pretix_sig1.find_signer(*split_secret(s), Keyring(pretix=[event])) for s in expect)
    assert pretix_sig1.find_signer(*split_secret(FAKE), Keyring(pretix=[event])) is None


def test_pretix_public_keys_read_as_libpretixsync_reads_them():
    """libpretixsync (crypto/Utils.kt readPubkeyFromPem) takes bytes 12..43 of the PEM's DER: the raw Ed25519 key
    after the fixed 12-byte SubjectPublicKeyInfo header. Our PEM parsing must give exactly those bytes."""
    event = PretixEvent.from_pretix_keys(1, PRETIX_KEYS)
    for b64_pem, raw in zip(PRETIX_KEYS, event.public_keys):
        pem = base64.b64decode(b64_pem).decode()
        der = base64.b64decode("".join(pem.strip().splitlines()[1:-1]))
        assert der[:12] == bytes.fromhex("302a300506032b6570032100") and der[12:44] == raw


def _pretix_gate(tmp_path: Path, now: float):
    gate = make_gate(tmp_path, keys=(), clock=Clock(now), policy=DevicePolicy(reread_window=0))
    gate.keyring.pretix = [PretixEvent.from_pretix_keys(1, PRETIX_KEYS, items={1: PretixItemMapping(1, ())},
                                                        subevents={14: 1})]
    return gate


@pytest.mark.parametrize("secret,now,code", [
    # libpretixsync testSignedAndNotYetValid / testSignedAndNotLongerValid, same clock readings
    (FROM_2023, "2023-02-03T22:59:59", Code.NOT_YET_VALID),
    (FROM_2023, "2023-02-03T23:01:01", Code.ACCEPTED),
    (UNTIL_2023, "2023-02-03T11:01:01", Code.EXPIRED),
    (UNTIL_2023, "2023-02-03T10:59:59", Code.ACCEPTED),
    # the bounds themselves: from is inclusive (libpretixsync: invalid when validFrom.isAfter(now)); libpretixsync's
    # until is inclusive to the millisecond (invalid when validUntil.isBefore(now)), ours exclusive: the readers
    # differ at that one instant only, so the millisecond either side is checked
    (FROM_2023, "2023-02-03T23:00:00", Code.ACCEPTED),
    (UNTIL_2023, "2023-02-03T10:59:59.999", Code.ACCEPTED),
    (UNTIL_2023, "2023-02-03T11:00:00.001", Code.EXPIRED),
])
def test_pretix_validity_bounds_as_libpretixsync(tmp_path, secret, now, code):
    assert _pretix_gate(tmp_path, utc(now)).scan(secret).code is code


KEY = Ed25519PrivateKey.from_private_bytes(b"qa-k-pretix-test-key-not-secret!")   # a TEST key of this file
RING = Keyring(pretix=[PretixEvent(1, (KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),))])


def frame(payload: bytes, key: Ed25519PrivateKey = KEY) -> str:
    sig = key.sign(payload)
    return base64.b64encode(b"\x01" + struct.pack(">HH", len(payload), len(sig)) + payload + sig).decode()[::-1]


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v > 0x7F:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    return bytes(out + bytes([v]))


def test_negative_validity_is_no_bound_as_libpretixsync_reads_it():
    """libpretixsync (AsyncCheckProvider.kt decodePretixSig1) keeps a validity only when `> 0`: 0 and negative values
    are "no bound". We kept a negative valid_until as a bound (every scan `expired`) where pretix's reader admits."""
    payload = b"\x0a\x09negvalid1" + b"\x10\x01" + b"\x28" + varint(-5) + b"\x30" + varint(-1)
    d = read_payload(frame(payload), RING, 1_800_000_000)
    assert d.status == OK and (d.ticket.valid_from, d.ticket.valid_until) == (None, None)


def _pb_class():
    pytest.importorskip("google.protobuf", reason="protobuf is in the dev extra (test-only cross-check)")
    from tests.test_pretix_sig1 import PBTicket
    return PBTicket


def _random_field(rng: random.Random) -> bytes:
    number = rng.choice([1, 1, 2, 3, 4, 5, 6, 7, 19, 0, 2**29 - 1, 2**29])
    wire = rng.choice([0, 0, 2, 2, 1, 5])
    tag = varint(number << 3 | wire)
    if wire == 0:
        value = rng.choice([0, 1, 127, 128, 2**31, 2**63 - 1, -1, -(2**63), rng.getrandbits(64)])
        raw = varint(value)
        if rng.random() < 0.2:      # over-long (non-minimal) varint: protobuf accepts up to 10 bytes
            raw = bytes(b | 0x80 for b in raw) + b"\x00"
        return tag + raw
    if wire == 2:
        data = rng.choice([b"", b"abcdefghi", "Zürich🎫".encode(), b"\xff\xfe", rng.randbytes(5)])
        return tag + varint(len(data)) + data
    return tag + bytes(8 if wire == 1 else 4)


def test_protobuf_wire_shapes_read_as_protobuf_reads_them():
    """Fields in any order, repeated, unknown numbers, another wire type for a known number, over-long varints,
    field number 0 or above 2^29-1. Whatever we accept, protobuf (pretix's and libpretixsync's reader) accepts with
    the same values; where protobuf refuses the message, so do we. Before: `item` sent as a varint then again as
    bytes read as item 0 (protobuf: 5, the bytes are an unknown field); field number 0 was accepted."""
    PB = _pb_class()
    rng = random.Random(8032)
    agreed = 0
    for _ in range(4000):
        payload = b"\x0a\x03abc" * rng.randint(0, 1) + b"".join(_random_field(rng) for _ in range(rng.randint(1, 6)))
        try:
            ours = decode_ticket_message(payload)
        except MalformedPayload:
            continue
        m = PB()
        m.ParseFromString(payload)      # raises if protobuf refuses what we accepted
        assert (ours.seed, ours.item, ours.variation, ours.subevent) == (m.seed, m.item, m.variation, m.subevent)
        frm = m.validFromUnixTime if m.HasField("validFromUnixTime") else 0
        until = m.validUntilUnixTime if m.HasField("validUntilUnixTime") else 0
        assert (ours.valid_from, ours.valid_until) == (frm if frm > 0 else None, until if until > 0 else None)
        agreed += 1
    assert agreed > 500
    for bad in (b"\x02\x00\x0a\x01a", b"\x0a\x01a\x80\x80\x80\x80\x10\x00"):   # field 0; field 2^29
        with pytest.raises(MalformedPayload):
            decode_ticket_message(bad)
    assert decode_ticket_message(b"\x0a\x01a\x10\x05\x12\x01x").item == 5


def test_pretix_base64_variants():
    """Padding as pretix writes it (at the start once reversed) is read; a secret whose padding was lost is refused
    as pretix's own parser (Python b64decode) refuses it; non-zero spare bits of the last base64 character give the
    same bytes under another text, which pretix never writes (it encodes canonically): an altered secret, refused
    as malformed (pretix's lenient parser would take it; it would be the same ticket, `pretix:<seed>`, either way)."""
    payload = b"\x0a\x09padded001\x10\x01"          # 5 + 13 + 64 = 82 bytes: two '=' of padding
    secret = frame(payload)
    assert secret.startswith("==")
    assert read_payload(secret, RING, 0).ticket.key == "pretix:padded001"
    assert read_payload(secret[2:], RING, 0).status == MALFORMED
    last = secret[2]                                  # the base64 character holding spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = "==" + alphabet[alphabet.index(last) | 1] + secret[3:]
    assert twin != secret and base64.b64decode(twin[::-1]) == base64.b64decode(secret[::-1])
    assert read_payload(twin, RING, 0).status == MALFORMED
    assert read_payload("==" + secret, RING, 0).status == MALFORMED


def test_pretix_framing_details():
    """Version byte 1; big-endian lengths (libpretixsync computes `b[1] shl 2 + b[2]`, equal for every length pretix
    makes: payloads are under 256 bytes); the signature is over the protobuf payload alone, no prefix."""
    payload = b"\x0a\x09framing01\x10\x02\x18\x03\x20\x04"
    sig = KEY.sign(payload)
    raw = b"\x01" + struct.pack(">HH", len(payload), 64) + payload + sig

    def secret(b: bytes) -> str:
        return base64.b64encode(b).decode()[::-1]
    d = read_payload(secret(raw), RING, 0)
    assert d.status == OK and d.ticket.key == "pretix:framing01"
    assert decode_ticket_message(payload) == PretixTicket("framing01", 2, 3, 4)
    assert read_payload(secret(b"\x02" + raw[1:]), RING, 0).status == MALFORMED
    longer = raw[:1] + struct.pack(">HH", len(payload) + 1, 64) + raw[5:]
    assert read_payload(secret(longer), RING, 0).status == MALFORMED
    assert read_payload(secret(raw[:1] + struct.pack(">HH", len(payload), 63) + raw[5:-1]), RING, 0).status == MALFORMED
    other = b"\x01" + struct.pack(">HH", len(payload), 64) + payload + KEY.sign(b"\x01" + payload)
    assert read_payload(secret(other), RING, 0).status == FORGED


# ============================================ 2. TG1 reference decoder ==========================================
# Written from docs/ticket-format.md's text alone: nothing below imports agent code.
REF_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
REF_DOMAIN = b"ticketgate-ticket-v1\x00"


class Refused(Exception):
    pass


def ref_b45decode(text: str) -> bytes:
    if any(c not in REF_ALPHABET for c in text) or len(text) % 3 == 1:
        raise Refused("base45")
    out = b""
    for i in range(0, len(text), 3):
        digits = [REF_ALPHABET.index(c) for c in text[i:i + 3]]
        n = sum(d * 45 ** k for k, d in enumerate(digits))
        if n > (0xFFFF if len(digits) == 3 else 0xFF):
            raise Refused("base45 value")
        out += n.to_bytes(2 if len(digits) == 3 else 1, "big")
    return out


def ref_unwrap(scanned: str) -> str:
    text = scanned.strip("\r\n\t\x00 ")
    if text.startswith("]Q") and len(text) >= 3 and text[2] in "0123456":
        text = text[3:]
    while text.startswith("\\") and len(text) >= 7 and text[1:7].isdigit() and text[1:7].isascii():
        text = text[7:]
    if len(text) > 512 or not text.startswith("TG1:"):
        raise Refused("shape")
    return text[4:]


def ref_parse(scanned: str) -> tuple[dict, bytes, bytes]:
    raw = ref_b45decode(ref_unwrap(scanned))
    if len(raw) < 17 + 64:
        raise Refused("short")
    body, signature = raw[:-64], raw[-64:]
    version, key_id, flags, event = struct.unpack(">BHBI", body[:8])
    if version != 1 or flags & 0xF0:
        raise Refused("version/flags")
    ticket_id = int.from_bytes(body[8:14], "big")
    category, n = struct.unpack(">HB", body[14:17])
    pos = 17 + n
    if pos > len(body):
        raise Refused("zones")
    fields = {"key_id": key_id, "event_id": event, "ticket_id": ticket_id, "category": category,
              "zones": tuple(body[17:pos]), "seat": None, "valid_from": None, "valid_until": None,
              "is_pass": bool(flags & 1)}
    if flags & 2:
        if pos >= len(body) or body[pos] == 0 or pos + 1 + body[pos] > len(body):
            raise Refused("seat")
        try:
            fields["seat"] = body[pos + 1:pos + 1 + body[pos]].decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("seat utf-8") from None
        pos += 1 + body[pos]
    for flag, name in ((4, "valid_from"), (8, "valid_until")):
        if flags & flag:
            if pos + 4 > len(body):
                raise Refused("validity")
            fields[name] = int.from_bytes(body[pos:pos + 4], "big")
            pos += 4
    if pos != len(body):
        raise Refused("trailing")
    return fields, body, signature


def ref_read(scanned: str, keys: dict[int, tuple[bytes, int | None, int | None, frozenset | None]], now: float):
    """-> (status, fields or None), the checks in the order the page gives."""
    try:
        fields, body, signature = ref_parse(scanned)
    except Refused:
        return "malformed", None
    if fields["key_id"] not in keys:
        return "unknown_key", fields
    public, frm, until, events = keys[fields["key_id"]]
    if (frm is not None and now < frm) or (until is not None and now >= until):
        return "unknown_key", fields
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, REF_DOMAIN + body)
    except InvalidSignature:
        return "forged", fields
    if events is not None and fields["event_id"] not in events:
        return "forged", fields
    return "ok", fields


def ref_b45encode(data: bytes) -> str:
    out = ""
    for i in range(0, len(data) - 1, 2):
        n = data[i] << 8 | data[i + 1]
        out += REF_ALPHABET[n % 45] + REF_ALPHABET[n // 45 % 45] + REF_ALPHABET[n // 2025]
    if len(data) % 2:
        out += REF_ALPHABET[data[-1] % 45] + REF_ALPHABET[data[-1] // 45]
    return out


# --- the keys and tickets of the differential run ------------------------------------------------------------------
NOW = 1_800_000_000
SIGNERS = {kid: SigningKey(kid, Ed25519PrivateKey.from_private_bytes(bytes([kid % 251 + 1]) * 32))
           for kid in (0, 1, 65535)}
WINDOWED = SigningKey(2, Ed25519PrivateKey.from_private_bytes(b"\x02" * 32), valid_from=NOW - 10, valid_until=NOW)
SCOPED = SigningKey(3, Ed25519PrivateKey.from_private_bytes(b"\x03" * 32), events=frozenset({7}))
UNTRUSTED = SigningKey(9, Ed25519PrivateKey.from_private_bytes(b"\x09" * 32))
ALL_SIGNERS = [*SIGNERS.values(), WINDOWED, SCOPED, UNTRUSTED]
TRUSTED = [*SIGNERS.values(), WINDOWED, SCOPED]
REF_KEYS = {k.key_id: (k.public_raw, k.valid_from, k.valid_until, k.events) for k in TRUSTED}
SEATS = ["A-1", "B-12-7", "Rang É-12 🎫", "北京-3", "ע-5", "e\u0301", "\x00", "x" * 40, "🎫" * 20, " lead",
         "$%*"]


def _ring() -> Keyring:
    ring = Keyring()
    for k in TRUSTED:
        ring.add(k.trusted())
    return ring


def random_ticket(rng: random.Random, signer: SigningKey) -> Ticket:
    def pick(top: int) -> int:
        return rng.choice([0, 1, top, top - 1, rng.randint(0, top)])
    zones = tuple(rng.randint(0, 255) for _ in range(rng.choice([0, 0, 1, 2, 3, 16, rng.randint(0, 255)])))
    seat = rng.choice([None, None, rng.choice(SEATS), "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(5))])
    return Ticket(signer.key_id, pick(2**32 - 1) if signer is not SCOPED else rng.choice([7, 8]), pick(2**48 - 1),
                  category=pick(0xFFFF), zones=zones, seat=seat,
                  valid_from=rng.choice([None, 0, NOW, 2**32 - 1]),
                  valid_until=rng.choice([None, 0, NOW + 1, 2**32 - 1]),
                  is_pass=rng.random() < 0.3)


def _as_ref_fields(t: Ticket) -> dict:
    return {"key_id": t.key_id, "event_id": t.event_id, "ticket_id": t.ticket_id, "category": t.category,
            "zones": t.zones, "seat": t.seat, "valid_from": t.valid_from, "valid_until": t.valid_until,
            "is_pass": t.is_pass}


def mutations(rng: random.Random, text: str, signer: SigningKey) -> list[tuple[str, bool]]:
    """(text, resigned): texts damaged as scanners and forgers damage them. `resigned`: the body was changed and
    signed again with the key (a key holder's odd encoding: only the field parsing can refuse it)."""
    raw = ref_b45decode(text[4:])
    body = raw[:-64]

    def signed(b: bytes) -> str:
        return "TG1:" + ref_b45encode(b + signer.sign(REF_DOMAIN + b))
    cut = rng.randint(0, len(text) - 1)
    flip = bytearray(raw)
    flip[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    body_flip = bytearray(body)
    body_flip[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
    pos = rng.randrange(len(body) + 1)
    grown = bytearray(body)
    grown[16] = (grown[16] + 1) % 256                                   # zone count one more than present
    out = [
        (text[:cut], False),                                            # truncated anywhere
        (text + rng.choice(REF_ALPHABET), False),                       # one character more
        ("TG1:" + ref_b45encode(bytes(flip)), False),                   # a bit flipped anywhere
        (text[:cut] + rng.choice(REF_ALPHABET + "a\u00c9\u200b]\\") + text[cut + 1:], False),
        (rng.choice(["", " ", "\r\n", "]Q1", "]Q7", "]Q2\\000026", "\\000026"]) + text
         + rng.choice(["", "\r", "\n", "\t\x00", " x"]), False),        # what scanners add (and a stray letter)
        (text.lower() if rng.random() < 0.1 else text.replace("TG1:", "TG2:"), False),
        (signed(bytes(body_flip)), True),                               # any field changed, signed again
        (signed(body[:pos] + bytes([rng.randrange(256)]) + body[pos:]), True),   # a byte inserted
        (signed(body[:pos] + body[pos + 1:]), True),                    # a byte removed
        (signed(bytes(grown)), True),
        (signed(body + bytes(rng.randint(1, 4))), True),                # trailing bytes (extended length)
        (signed(bytes([body[0], body[1], body[2], body[3] | 0x02]) + body[4:17 + body[16]] + b"\x00"
                + body[17 + body[16]:]), True),                         # SEAT flag with an empty seat
    ]
    if body[3] & 0x02:                                                  # seat length one more / one less
        at = 17 + body[16]
        for delta in (1, -1):
            b = bytearray(body)
            b[at] = (b[at] + delta) % 256
            out.append((signed(bytes(b)), True))
    return out


def test_tg1_reference_decoder_agrees_with_ours():
    """A few thousand valid tickets (every field at its bounds, zone lists empty to long, unicode seats, passes,
    windows, every key: trusted, windowed, scoped, unknown) and a dozen mutations of each: the reference decoder
    and agent.payload give the same status and, when a ticket is read, the same fields; `plausible` (the camera's
    filter) keeps exactly the texts that are not malformed."""
    rng = random.Random(9285)
    ring = _ring()
    n_texts = n_ok = 0
    seen: dict[str, int] = {}
    for i in range(1500):
        signer = ALL_SIGNERS[i % len(ALL_SIGNERS)]
        ticket = random_ticket(rng, signer)
        try:
            text = signer.issue(ticket)
        except ValueError:        # over 255 bytes of seat, or a ticket over 512 characters: refused by the encoder
            continue
        status, fields = ref_read(text, REF_KEYS, NOW)
        assert status != "malformed", (ticket, text)                   # everything our encoder makes parses
        assert fields == _as_ref_fields(ticket)
        for candidate, resigned in [(text, False), *mutations(rng, text, signer)]:
            ours = read_payload(candidate, ring, NOW)
            ref_status, ref_fields = ref_read(candidate, REF_KEYS, NOW)
            assert ours.status == ref_status, (candidate, ours, ref_status)
            assert plausible(candidate) == (ours.status != MALFORMED), candidate   # the camera keeps what is read
            if ours.ticket is not None and ref_fields is not None:
                assert _as_ref_fields(ours.ticket) == ref_fields, candidate
            if ours.status == OK:
                n_ok += 1
                if not resigned:    # malleability: only the issued ticket ever verifies from its signature
                    assert ours.ticket == ticket and ours.ticket.key == str(ticket.ticket_id), candidate
            seen[ref_status] = seen.get(ref_status, 0) + 1
            n_texts += 1
    assert n_texts > 15000 and n_ok > 1000
    assert all(seen.get(s, 0) > 100 for s in ("ok", "malformed", "forged", "unknown_key")), seen


def test_tg1_texts_at_the_length_limit():
    """512 characters once stripped of scanner padding and prefixes are read, 513 refused, by both readers; a ticket
    our encoder would make longer than that is refused by the encoder (before: it issued it, and every door refused
    it as `malformed`, "payload too long": a 247..255-byte seat with one zone and a validity window does that)."""
    signer = SIGNERS[1]
    for length in range(490, 520):
        zones = bytes(range(1, 200))
        body = struct.pack(">BHBI", 1, 1, 2, 1) + (5).to_bytes(6, "big") + struct.pack(">HB", 0, len(zones)) + zones
        seat_len = 1
        while True:       # find the seat length that makes `length` characters (or the next one up)
            b = body + bytes([seat_len]) + b"S" * seat_len
            text = "TG1:" + ref_b45encode(b + signer.sign(REF_DOMAIN + b))
            if len(text) >= length or seat_len == 255:
                break
            seat_len += 1
        want = "ok" if len(text) <= 512 else "malformed"
        for scanned in (text, "]Q1\\000026" + text + "\r\n"):
            assert ref_read(scanned, REF_KEYS, NOW)[0] == want
            assert read_payload(scanned, _ring(), NOW).status == want, len(text)
    too_long = Ticket(1, 1, 5, zones=(1,), seat="S" * 250, valid_from=0, valid_until=1)
    with pytest.raises(ValueError, match="at most 512"):
        signer.issue(too_long)
    fits = Ticket(1, 1, 5, zones=(1,), seat="S" * 240, valid_from=0, valid_until=1)
    assert read_payload(signer.issue(fits), _ring(), NOW).status == OK
    every_zone = signer.issue(Ticket(1, 1, 5, zones=tuple(range(255))))          # the longest zone list: 508 characters
    assert len(every_zone) == 508 and read_payload(every_zone, _ring(), NOW).status == OK
    assert ref_read(every_zone, REF_KEYS, NOW)[1]["zones"] == tuple(range(255))
    with pytest.raises(ValueError, match="at most 512"):
        signer.issue(Ticket(1, 1, 5, zones=tuple(range(255)), valid_from=0))


def test_tg1_signature_malleability_refused():
    """Ed25519 signatures with S + L (the group order) verify in lax implementations: the same ticket under a second
    payload. RFC 8032 requires S < L; the door must refuse it."""
    L = 2**252 + 27742317777372353535851937790883648493
    signer = SIGNERS[1]
    text = signer.issue(Ticket(1, 1, 42))
    raw = ref_b45decode(text[4:])
    s = int.from_bytes(raw[-32:], "little") + L
    twin = "TG1:" + ref_b45encode(raw[:-32] + s.to_bytes(32, "little"))
    assert read_payload(text, _ring(), NOW).status == OK
    assert read_payload(twin, _ring(), NOW).status == FORGED
    assert ref_read(twin, REF_KEYS, NOW)[0] == "forged"


# ============================================ 3. RFC 8032 Ed25519 ===============================================
# RFC 8032 section 7.1, TEST 1, 2, 3 and SHA(abc): (secret key, public key, message, signature), hex.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


@pytest.mark.parametrize("secret,public,message,signature", RFC8032)
def test_rfc8032_vectors_through_our_keys(tmp_path, secret, public, message, signature):
    """Signing: a SigningKey from the RFC's secret, saved as our 0600 PKCS#8 PEM and loaded back, makes the RFC's
    signature. Verifying: the public key as the keyring file carries it (base64 raw, `TrustedKey.from_json`) and as
    pretix publishes it (base64 PEM, `PretixEvent.from_pretix_keys`) accepts it, and refuses it one bit off."""
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    key = SigningKey(5, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret)))
    key.save_private(tmp_path / "k.pem")
    loaded = SigningKey.load_private(tmp_path / "k.pem", 5)
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    assert loaded.public_raw == pub and loaded.sign(msg) == sig
    trusted = TrustedKey.from_json({"key_id": 5, "public_key": base64.b64encode(pub).decode()})
    pem = Ed25519PublicKey.from_public_bytes(pub).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    pretix = PretixEvent.from_pretix_keys(1, [base64.b64encode(pem).decode()])
    bad_sig = bytes([sig[0] ^ 1]) + sig[1:]
    bad_msg = msg + b"\x00"
    for verifier in (trusted, pretix):
        assert verifier.verifies(sig, msg)
        assert not verifier.verifies(bad_sig, msg) and not verifier.verifies(sig, bad_msg)
    # and a ticket signed with the RFC key reads through the door's path with that keyring entry
    ring = Keyring()
    ring.add(trusted)
    d = read_payload(loaded.issue(Ticket(5, 1, 8032)), ring, NOW)
    assert d.status == OK and d.ticket.ticket_id == 8032
    assert read_payload(loaded.issue(Ticket(5, 1, 8032)), Keyring(), NOW).status == UNKNOWN_KEY


def test_keyring_refuses_a_public_key_that_is_not_32_bytes():
    pub = bytes.fromhex(RFC8032[0][1])
    for wrong in (pub[:31], pub + b"\x00", b""):
        with pytest.raises(ValueError):
            TrustedKey.from_json({"key_id": 5, "public_key": base64.b64encode(wrong).decode()})


def test_server_seat_limit_keeps_every_ticket_readable():
    """The server took seat labels up to 255 bytes (the format's field), but with its one zone and validity window a
    seat over 247 bytes made a ticket over 512 characters: refused at the door. Now refused when the order is made."""
    from server_stub.model import Position
    from agent.errors import InvalidInput
    with pytest.raises(InvalidInput, match="247"):
        Position(zone=255, seat="é" * 124)                                     # 248 bytes
    longest = Position(zone=255, seat="S" * 247)
    signer = SIGNERS[65535]
    text = signer.issue(Ticket(65535, 2**32 - 1, 2**48 - 1, category=65535, zones=(longest.zone,), seat=longest.seat,
                               valid_from=2**32 - 2, valid_until=2**32 - 1, is_pass=True))
    assert len(text) <= 512 and read_payload(text, _ring(), NOW).status == OK


# ============================================ TG2 reference decoder =============================================
# From docs/ticket-format.md "Offline sales" alone, on the TG1 reference parser for the ticket body.
REF_CERT_DOMAIN = b"ticketgate-allotment-v1\x00"
REF_TG2_DOMAIN = b"ticketgate-ticket-v2\x00"


def ref_certificate(c: bytes) -> dict:
    try:
        version, key_id, allotment = struct.unpack_from(">BHI", c)
        pos = 7
        device_bytes = c[pos + 1:pos + 1 + c[pos]]
        if version != 1 or len(device_bytes) != c[pos] or not 1 <= c[pos] <= 32:
            raise Refused("certificate head")
        device = device_bytes.decode("utf-8")
        pos += 1 + c[pos]
        public = c[pos:pos + 32]
        first, last = int.from_bytes(c[pos + 32:pos + 38], "big"), int.from_bytes(c[pos + 38:pos + 44], "big")
        count, frm, until = struct.unpack_from(">III", c, pos + 44)
        pos += 56
        events = struct.unpack_from(f">{c[pos]}I", c, pos + 1)
        pos += 1 + 4 * c[pos]
        categories = struct.unpack_from(f">{c[pos]}H", c, pos + 1)
        pos += 1 + 2 * c[pos]
    except (struct.error, IndexError, UnicodeDecodeError):
        raise Refused("certificate truncated") from None
    if len(c) != pos + 64:
        raise Refused("certificate length")
    if not (1 <= len(events) <= 4 and len(categories) <= 8 and 1 <= first <= last and 1 <= count <= last - first + 1
            and frm < until):
        raise Refused("certificate bounds")
    return {"key_id": key_id, "allotment_id": allotment, "device_id": device, "public_key": public, "first_id": first,
            "last_id": last, "max_count": count, "valid_from": frm, "valid_until": until, "events": events,
            "categories": categories, "signed": c[:-64], "signature": c[-64:]}


def ref_read_tg2(scanned: str, keys: dict, now: float):
    """-> (status, certified or None, ticket fields or None)."""
    try:
        text = scanned.strip("\r\n\t\x00 ")
        if len(text) > 512 or not text.startswith("TG2:"):
            raise Refused("shape")
        raw = ref_b45decode(text[4:])
        if len(raw) < 2:
            raise Refused("short")
        n = int.from_bytes(raw[:2], "big")
        cert = ref_certificate(raw[2:2 + n])
        rest = raw[2 + n:]
        if not rest or rest[0] != 2:
            raise Refused("body version")
        fields, _, _ = ref_parse("TG1:" + ref_b45encode(b"\x01" + rest[1:]))
    except Refused:
        return "malformed", None, None
    try:
        Ed25519PublicKey.from_public_bytes(cert["public_key"]).verify(rest[-64:], REF_TG2_DOMAIN + raw[2:2 + n]
                                                                      + rest[:-64])
    except (InvalidSignature, ValueError):
        return "forged", None, fields
    key = keys.get(cert["key_id"])
    certified = False
    if key is not None:
        public, frm, until, events = key
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(cert["signature"], REF_CERT_DOMAIN + cert["signed"])
            certified = ((frm is None or now >= frm) and (until is None or now < until)
                         and (events is None or set(cert["events"]) <= events))
        except InvalidSignature:
            pass
    return "ok", certified, fields


def test_tg2_reference_decoder_agrees_with_ours():
    """Random certificates (signed by trusted, windowed, scoped and unknown keys) and kiosk tickets under them, then
    mutations, re-signed by the kiosk (the kiosk key is anyone's: only parsing and the certificate check stand) or
    not: same status, same certification, same fields. Before: a certificate outside the encoder's bounds (5 events,
    first id 0, from >= until, a 33-byte device id...) raised inside the reader: logged as a reader failure with a
    traceback at every scan, `unreadable payload (InvalidInput)`."""
    from agent.allotment import Certificate, sign_certificate
    from agent.base45 import b45encode
    rng = random.Random(2026)
    ring = _ring()
    seen: dict[tuple, int] = {}
    for i in range(300):
        organiser = ALL_SIGNERS[i % len(ALL_SIGNERS)]
        kiosk = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        first = rng.choice([1, 2**47, 2**48 - 10])
        events = tuple(rng.choice([7, 8, rng.getrandbits(32)]) for _ in range(rng.randint(1, 4)))
        cert = sign_certificate(Certificate(
            organiser.key_id, rng.getrandbits(32), rng.choice(["k", "kiosk-1", "Kasse Süd 🎫", "x" * 32]),
            kiosk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), first, first + 9, rng.randint(1, 10),
            NOW - 5, NOW + 5, events, tuple(rng.randint(0, 65535) for _ in range(rng.randint(0, 8)))),
            organiser.private_key)
        cert_bytes = cert.to_bytes()
        body = b"\x02" + ref_b45decode(organiser.issue(Ticket(
            organiser.key_id, events[0], first + rng.randint(0, 9), zones=(1,) * rng.randint(0, 3),
            seat=rng.choice([None, "B-1"])))[4:])[1:-64]

        def tg2(c: bytes, b: bytes, resign: bool = True, length: int | None = None) -> str:
            sig = kiosk.sign(REF_TG2_DOMAIN + c + b) if resign else bytes(64)
            return "TG2:" + b45encode(struct.pack(">H", len(c) if length is None else length) + c + b + sig)

        def at(buf: bytes, pos: int, value: bytes) -> bytes:
            return buf[:pos] + value + buf[pos + len(value):]
        head = 7 + 1 + len(cert.device_id.encode()) + 32                 # offset of the first ticket id
        tail = head + 24                                                # offset of the event count
        cases = [tg2(cert_bytes, body), tg2(cert_bytes, body)[:-rng.randint(1, 30)], tg2(cert_bytes, body, False),
                 tg2(cert_bytes, body, length=len(cert_bytes) + rng.choice([-1, 1])),
                 tg2(cert_bytes, b"\x01" + body[1:]), tg2(cert_bytes + b"\x00", body),
                 tg2(at(cert_bytes, tail, b"\x05"), body),                  # 5 events announced
                 tg2(at(cert_bytes, head, bytes(6)), body),                 # first ticket id 0
                 tg2(at(cert_bytes, head + 12, bytes(4)), body),            # max count 0
                 tg2(at(cert_bytes, head + 16, struct.pack(">II", NOW + 5, NOW - 5)), body),  # from > until
                 tg2(at(cert_bytes, 7, b"\x21") + b"x" * 33, body)]         # device id 33 bytes
        flip = bytearray(cert_bytes)
        flip[rng.randrange(len(flip))] ^= 1 << rng.randrange(8)
        cases.append(tg2(bytes(flip), body))                               # certificate changed, kiosk re-signs
        flip = bytearray(body)
        flip[rng.randrange(len(flip))] ^= 1 << rng.randrange(8)
        cases.append(tg2(cert_bytes, bytes(flip)))
        for text in cases:
            ours = read_payload(text, ring, NOW)
            status, certified, fields = ref_read_tg2(text, REF_KEYS, NOW)
            assert ours.status == status, (text, ours, status)
            assert plausible(text) == (status != MALFORMED), text
            if status == "ok":
                assert ours.allotment is not None and ours.allotment.certified == certified, (text, ours)
                assert _as_ref_fields(ours.ticket) == fields
            assert "unreadable" not in ours.detail, ours
            seen[status, certified] = seen.get((status, certified), 0) + 1
    assert all(seen.get(k, 0) > 50 for k in (("ok", True), ("ok", False), ("malformed", None), ("forged", None))), seen
