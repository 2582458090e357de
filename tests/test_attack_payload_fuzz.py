"""Hostile QR payloads: the published vectors (TG1, TG2 sold offline, pretix_sig1) mutated at random, in their text
and in the bytes under it, lengths and counts rewritten. Every parser answers with its typed refusal
(`MalformedPayload`) or a parsed ticket, never another exception; the door's reader (`read_payload`) never reaches
its catch-all ('unreadable payload (…)', a logged traceback) and never accepts what is not the signed ticket."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from agent import pretix_sig1
from agent.allotment import parse_offline_ticket
from agent.base45 import b45decode, b45encode
from agent.keyring import Keyring, PretixEvent, TrustedKey
from agent.payload import OK, plausible, read_payload
from agent.ticket_format import MalformedPayload, parse_payload

HERE = Path(__file__).resolve().parent / "vectors"
TG1 = json.loads((HERE / "ticketgate-v1.json").read_text(encoding="utf-8"))
TG2 = json.loads((HERE / "ticketgate-tg2.json").read_text(encoding="utf-8"))
PX = json.loads((HERE / "pretix-sig1.json").read_text(encoding="utf-8"))
FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ring() -> Keyring:
    ring = Keyring()
    for k in TG1["keyring"]["keys"] + TG2["keyring"]["keys"]:
        if ring.get(k["key_id"]) is None:
            ring.add(TrustedKey.from_json(k))
    m = PX["mapping"]
    mapped = PretixEvent.from_json({"event_id": m["event_id"], "public_keys": [], "items": m["items"],
                                    "subevents": m["subevents"]})
    ring.pretix = [PretixEvent.from_pretix_keys(m["event_id"], PX["event_resource"]["valid_keys"]["pretix_sig1"],
                                                items=mapped.items, subevents=mapped.subevents)]
    return ring


RING = _ring()
NOW = TG2["now"]
TG1_OK = sorted({v["payload"].strip() for v in TG1["vectors"] if v["status"] == "ok"})
TG2_OK = [v["payload"] for v in TG2["vectors"] if v["verdict"] == "accepted"]
PX_OK = [v["secret"] for v in PX["vectors"] if v["status"] == "ok"]
assert TG1_OK and TG2_OK and PX_OK


def _tg_bytes(text: str) -> bytes:
    return b45decode(text[4:])


def _px_bytes(secret: str) -> bytes:
    return base64.b64decode(secret[::-1])


def _px_text(raw: bytes) -> str:
    return base64.b64encode(raw).decode()[::-1]


byte_ops = st.lists(st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1000), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 1000), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 1000), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.integers(0, 1000), st.just(0)),
    st.tuples(st.just("u16"), st.integers(0, 1000), st.integers(0, 0xFFFF)),     # a length or a count rewritten
), min_size=1, max_size=5)


def _mutate(raw: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(raw)
    for op, pos, value in ops:
        pos %= len(out) + 1
        if op == "flip" and pos < len(out):
            out[pos] ^= value
        elif op == "set" and pos < len(out):
            out[pos] = value
        elif op == "insert":
            out[pos:pos] = bytes([value])
        elif op == "delete":
            del out[pos:pos + value]
        elif op == "truncate":
            del out[pos:]
        elif op == "u16":
            out[pos:pos + 2] = struct.pack(">H", value)
    return bytes(out)


def _refused_or_parsed(parser, text: str) -> None:
    try:
        parser(text)
    except MalformedPayload:
        pass                                    # the typed refusal; any other exception fails the test


def _judged(text: str | bytes, original: str) -> None:
    decoded = read_payload(text, RING, NOW)
    assert not decoded.detail.startswith("unreadable payload"), (text, decoded)    # the reader's catch-all
    same = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).strip("\r\n\t\x00 ") == original
    assert decoded.status != OK or same, (text, decoded)
    plausible(text)


@FUZZ
@given(st.sampled_from(TG2_OK), byte_ops)
def test_attack_tg2_bytes_mutated(payload, ops):
    raw = _tg_bytes(payload)
    mutated = _mutate(raw, ops)
    text = "TG2:" + b45encode(mutated)
    _refused_or_parsed(parse_offline_ticket, text)
    if mutated != raw:
        _judged(text, payload)


@FUZZ
@given(st.sampled_from(TG1_OK), byte_ops)
def test_attack_tg1_bytes_mutated(payload, ops):
    raw = _tg_bytes(payload)
    mutated = _mutate(raw, ops)
    text = "TG1:" + b45encode(mutated)
    _refused_or_parsed(parse_payload, text)
    if mutated != raw:
        _judged(text, payload)


def _pretix_parse(text: str) -> None:
    payload, _ = pretix_sig1.split_secret(text)
    pretix_sig1.decode_ticket_message(payload)


@FUZZ
@given(st.sampled_from(PX_OK), byte_ops)
def test_attack_pretix_bytes_mutated(secret, ops):
    raw = _px_bytes(secret)
    mutated = _mutate(raw, ops)
    text = _px_text(mutated)
    _refused_or_parsed(_pretix_parse, text)
    if mutated != raw:
        _judged(text, _px_text(raw))


text_ops = st.lists(st.tuples(st.sampled_from(["replace", "insert", "delete", "truncate"]), st.integers(0, 1000),
                              st.characters()), min_size=1, max_size=4)


@FUZZ
@given(st.sampled_from(TG1_OK + TG2_OK + PX_OK), text_ops, st.booleans())
def test_attack_any_payload_text_mutated(payload, ops, as_bytes):
    text = payload
    for op, pos, ch in ops:
        pos %= len(text) + 1
        if op == "replace":
            text = text[:pos] + ch + text[pos + 1:]
        elif op == "insert":
            text = text[:pos] + ch + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1:]
        else:
            text = text[:pos]
    for parser in (parse_payload, parse_offline_ticket, _pretix_parse):
        _refused_or_parsed(parser, text)
    if text.strip("\r\n\t\x00 ") != payload:
        _judged(text.encode("utf-8", "surrogatepass") if as_bytes else text, payload)
