"""Ticket format v1: encoding, decoding, base45, and every kind of bad input (a verdict, never an exception)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.base45 import b45decode, b45encode
from agent.keyring import Keyring
from agent.payload import FORGED, MALFORMED, OK, UNKNOWN_KEY, read_payload
from agent.ticket_format import (MAX_TEXT_LENGTH, SCHEME, SIGNING_DOMAIN, MalformedPayload, Ticket, encode_ticket,
                                 parse_payload)
from tests.test_core_support import T0, test_key

KEY = test_key()
RING = Keyring()
RING.add(KEY.trusted())


# -- base45 (RFC 9285 section 4.3 examples) --------------------------------------------------------------------
@pytest.mark.parametrize("raw,text", [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
                                      (b"ietf!", "QED8WEX0"), (b"", "")])
def test_base45_rfc9285_examples(raw, text):
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize("bad", ["GGW", "A", "ABCD", "aB8", "BB8#", "ZZ", "::"])
def test_base45_rejects_invalid(bad):
    with pytest.raises(ValueError):
        b45decode(bad)


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_base45_round_trip(data):
    text = b45encode(data)
    assert b45decode(text) == data
    assert not text.endswith(" ")     # scanners' trailing-whitespace stripping can never eat a real character


# -- encode / parse ----------------------------------------------------------------------------------------------
def test_round_trip_all_fields():
    t = Ticket(1, 42, 2**48 - 1, category=7, zones=(1, 3), seat="Row 12 · Seat 4", valid_from=T0, valid_until=T0 + 3600,
               is_pass=True)
    text = KEY.issue(t)
    assert text.startswith(SCHEME) and len(text) <= MAX_TEXT_LENGTH
    parsed = parse_payload(text)
    assert parsed.ticket == t
    assert parsed.signed.startswith(SIGNING_DOMAIN)
    assert read_payload(text, RING, T0).status == OK


def test_empty_seat_is_no_seat():
    assert Ticket(1, 1, 1, seat="") == Ticket(1, 1, 1)
    assert parse_payload(KEY.issue(Ticket(1, 1, 1, seat=""))).ticket.seat is None


@pytest.mark.parametrize("kw", [dict(ticket_id=2**48), dict(ticket_id=-1), dict(event_id=2**32), dict(key_id=2**16),
                                dict(category=70000), dict(valid_from=-5), dict(valid_until=2**32), dict(zones=(256,)),
                                dict(zones=tuple(range(256))), dict(seat="x" * 256)])
def test_encoder_refuses_out_of_range_fields(kw):
    fields = dict(key_id=1, event_id=1, ticket_id=1) | kw
    with pytest.raises(ValueError):
        encode_ticket(Ticket(**fields), KEY.private_key)


def test_signature_covers_the_domain_separator():
    """A signature over the bare body (no domain) does not verify: tickets cannot be replayed from other messages."""
    t = Ticket(1, 1, 5)
    good = KEY.issue(t)
    raw = b45decode(good[len(SCHEME):])
    body = raw[:-64]
    bare = SCHEME + b45encode(body + KEY.sign(body))
    assert read_payload(bare, RING, T0).status == FORGED


def _resigned(body: bytes) -> str:
    return SCHEME + b45encode(body + KEY.sign(SIGNING_DOMAIN + body))


# -- bad input: every one a verdict ------------------------------------------------------------------------------
GOOD = KEY.issue(Ticket(1, 1, 77, zones=(2,), seat="A1", valid_until=T0 + 10))
GOOD_RAW = b45decode(GOOD[len(SCHEME):])
BAD_INPUTS = {
    "empty": "",
    "whitespace": "   \r\n",
    "scheme only": SCHEME,
    "lowercase scheme text": "tg1:abc",
    "not base45": SCHEME + "abc",
    "bad base45 length": SCHEME + "A",
    "base45 triplet overflow": SCHEME + "GGW",
    "truncated one char": GOOD[:-1],
    "truncated half": GOOD[: len(GOOD) // 2],
    "truncated to header": SCHEME + b45encode(GOOD_RAW[:10]),
    "oversized": GOOD + "0" * 600,
    "huge": "A" * 100_000,
    "non-utf8 bytes": b"TG1:\xff\xfe\x80",
    "binary junk": bytes(range(256)),
    "nul bytes": "TG1:\x00\x00",
    "emoji": "TG1:🎫🎫",
    "unknown version": _resigned(bytes([2]) + GOOD_RAW[1:-64]),
    "unknown flag": _resigned(GOOD_RAW[:3] + bytes([GOOD_RAW[3] | 0x80]) + GOOD_RAW[4:-64]),
    "trailing byte": _resigned(GOOD_RAW[:-64] + b"\x00"),
    "seat length past end": _resigned(GOOD_RAW[:18] + bytes([200]) + GOOD_RAW[19:-64]),
    "seat not utf8": _resigned(GOOD_RAW[:18] + bytes([1, 0xFF]) + GOOD_RAW[-64 - 4:-64]),
    "zone count past end": _resigned(GOOD_RAW[:16] + bytes([250]) + GOOD_RAW[17:-64]),
    "pretix-like junk": "==AAAA",
    "url": "https://example.org/t/123",
    "None": None,
    "int": 12345,
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_malformed_not_an_exception(name):
    d = read_payload(BAD_INPUTS[name], RING, T0)
    assert d.status == MALFORMED, (name, d)
    assert d.detail


def test_parse_payload_raises_only_malformed():
    for name, value in BAD_INPUTS.items():
        if isinstance(value, str) and value.startswith(SCHEME):
            with pytest.raises(MalformedPayload):
                parse_payload(value)


def test_scanner_suffixes_are_tolerated():
    assert read_payload(GOOD + "\r\n", RING, T0).status == OK
    assert read_payload((GOOD + "\n").encode(), RING, T0).status == OK


def test_tampered_fields_are_forged():
    for pos in range(len(GOOD_RAW) - 64):
        raw = bytearray(GOOD_RAW)
        raw[pos] ^= 0x01
        d = read_payload(SCHEME + b45encode(bytes(raw)), RING, T0)
        assert d.status in (FORGED, MALFORMED, UNKNOWN_KEY), pos   # key id byte flips give unknown_key


# -- property-based ---------------------------------------------------------------------------------------------
tickets = st.builds(
    Ticket, key_id=st.just(1), event_id=st.integers(0, 2**32 - 1), ticket_id=st.integers(0, 2**48 - 1),
    category=st.integers(0, 2**16 - 1), zones=st.lists(st.integers(0, 255), max_size=12).map(tuple),
    seat=st.none() | st.text(min_size=1, max_size=40).filter(lambda s: len(s.encode()) <= 255),
    valid_from=st.none() | st.integers(0, 2**32 - 1), valid_until=st.none() | st.integers(0, 2**32 - 1),
    is_pass=st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets)
def test_property_round_trip(ticket):
    text = KEY.issue(ticket)
    assert set(text[len(SCHEME):]) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert parse_payload(text).ticket == ticket
    d = read_payload(text, RING, 0)
    assert d.status == OK and d.ticket == ticket


mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, 10_000), st.characters()),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.characters()),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.none()),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.none()),
    st.tuples(st.just("append"), st.integers(0, 0), st.text(min_size=1, max_size=5)),
)


def _mutate(text: str, ops) -> str:
    for op, pos, ch in ops:
        pos = pos % (len(text) + 1)
        if op == "replace" and pos < len(text):
            text = text[:pos] + ch + text[pos + 1:]
        elif op == "insert":
            text = text[:pos] + ch + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1:]
        elif op == "truncate":
            text = text[:pos]
        elif op == "append":
            text += ch
    return text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets, st.lists(mutations, min_size=1, max_size=4), st.booleans())
def test_property_any_mutation_is_never_ok(ticket, ops, as_bytes):
    text = KEY.issue(ticket)
    mutated = _mutate(text, ops)
    strip = "\r\n\t\x00 "
    if mutated.strip(strip) == text:
        return   # scanner padding only: the same payload
    raw = mutated.encode("utf-8", "surrogatepass") if as_bytes else mutated
    d = read_payload(raw, RING, T0)
    assert d.status != OK


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_property_random_bytes_never_ok_never_raise(data):
    assert read_payload(data, RING, T0).status != OK
    assert read_payload(SCHEME.encode() + data, RING, T0).status != OK
    assert read_payload(SCHEME + b45encode(data), RING, T0).status != OK
