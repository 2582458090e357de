"""pretix_sig1 interop: our codec against protobuf's (test-only), pretix-style secrets, mapping, loading keys."""
from __future__ import annotations

import base64
import json
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import pretix_sig1
from agent.keyring import Keyring, PretixEvent, PretixItemMapping
from agent.payload import FORGED, MALFORMED, OK, UNKNOWN_KEY, read_payload
from agent.policy import DevicePolicy
from agent.pretix_events import load_pretix_event, parse_item_spec
from agent.pretix_sig1 import PretixTicket, decode_ticket_message, sign_secret
from agent.ticket_format import MalformedPayload
from agent.verdicts import Code
from tests.test_core_support import T0, make_gate, test_key
from tests.vectors.make_vectors import pretix_pem_b64, private

protobuf = pytest.importorskip("google.protobuf", reason="protobuf is in the dev extra (test-only cross-check)")


def _ticket_class():
    """pretix's `pretix_sig1.proto` (seed, item, variation, subevent, optional validity) built as a descriptor."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="tg_test_pretix_sig1.proto", syntax="proto3", package="tgtest")
    msg = fdp.message_type.add(name="Ticket")
    spec = [("seed", F.TYPE_STRING, False), ("item", F.TYPE_INT64, False), ("variation", F.TYPE_INT64, False),
            ("subevent", F.TYPE_INT64, False), ("validFromUnixTime", F.TYPE_INT64, True),
            ("validUntilUnixTime", F.TYPE_INT64, True)]
    for number, (name, ftype, optional) in enumerate(spec, start=1):
        f = msg.field.add(name=name, number=number, type=ftype, label=F.LABEL_OPTIONAL)
        if optional:
            f.proto3_optional = True
            f.oneof_index = len(msg.oneof_decl)
            msg.oneof_decl.add(name=f"_{name}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tgtest.Ticket"))


PBTicket = _ticket_class()
KEY = private("pretix-event")
EVENT = PretixEvent.from_pretix_keys(1, [pretix_pem_b64(KEY)],
                                     items={21: PretixItemMapping(1, (1,)), 22: PretixItemMapping(2, (3,))},
                                     subevents={301: 1, 302: 2})
RING = Keyring(pretix=[EVENT])

int64 = st.integers(-(2**63), 2**63 - 1)
pretix_tickets = st.builds(PretixTicket, seed=st.text(min_size=1, max_size=20), item=int64, variation=int64,
                           subevent=int64, valid_from=st.none() | int64, valid_until=st.none() | int64)


def pb_bytes(t: PretixTicket) -> bytes:
    m = PBTicket(seed=t.seed, item=t.item, variation=t.variation, subevent=t.subevent)
    if t.valid_from is not None:
        m.validFromUnixTime = t.valid_from
    if t.valid_until is not None:
        m.validUntilUnixTime = t.valid_until
    return m.SerializeToString()


def pretix_style_secret(payload: bytes, key=KEY) -> str:
    """Framing exactly as pretix's Sig1TicketSecretGenerator: 0x01, >H payload len, >H sig len, payload, sig;
    base64, reversed."""
    sig = key.sign(payload)
    return base64.b64encode(bytes([1]) + struct.pack(">H", len(payload)) + struct.pack(">H", len(sig)) + payload
                            + sig).decode()[::-1]


@settings(max_examples=300, deadline=None)
@given(pretix_tickets)
def test_our_encoding_is_byte_identical_to_protobuf(t):
    secret = sign_secret(t, KEY)
    payload, _ = pretix_sig1.split_secret(secret)
    assert payload == pb_bytes(t)
    assert secret == pretix_style_secret(pb_bytes(t))


@settings(max_examples=300, deadline=None)
@given(pretix_tickets)
def test_we_decode_what_protobuf_encodes(t):
    """Field for field, with libpretixsync's reading of a validity of 0 or below: no bound (None)."""
    def bound(v: int | None) -> int | None:
        return v if v is not None and v > 0 else None
    assert decode_ticket_message(pb_bytes(t)) == replace(t, valid_from=bound(t.valid_from),
                                                         valid_until=bound(t.valid_until))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_agrees_with_protobuf_or_refuses(data):
    """On arbitrary bytes, either we refuse (MalformedPayload) or we read the same fields protobuf reads."""
    try:
        ours = decode_ticket_message(data)
    except MalformedPayload:
        return
    m = PBTicket()
    try:
        m.ParseFromString(data)
    except Exception:
        return   # protobuf is stricter on some wire shapes (e.g. invalid UTF-8 in proto3 strings)
    assert ours.seed == m.seed
    assert (ours.item, ours.variation, ours.subevent) == (m.item, m.variation, m.subevent)
    frm = m.validFromUnixTime if m.HasField("validFromUnixTime") else 0
    assert ours.valid_from == (frm if frm > 0 else None)


def test_secret_made_like_pretix_verifies_and_maps():
    t = PretixTicket("Jz9mPq3sA", item=22, variation=3, subevent=302)
    d = read_payload(pretix_style_secret(pb_bytes(t)), RING, T0)
    assert d.status == OK
    tk = d.ticket
    assert (tk.key, tk.event_id, tk.category, tk.zones, tk.scheme) == ("pretix:Jz9mPq3sA", 2, 2, (3,), "pretix_sig1")
    unmapped = read_payload(sign_secret(PretixTicket("abcdefghi", item=99), KEY), RING, T0).ticket
    assert (unmapped.event_id, unmapped.category, unmapped.zones) == (1, 0, ())


def test_unmapped_date_of_a_series_is_wrong_event(tmp_gate):
    other_date = sign_secret(PretixTicket("date00001", item=21, subevent=399), KEY)
    v = tmp_gate.scan(other_date)
    assert v.code is Code.WRONG_EVENT and v.event_id == -399
    no_date = sign_secret(PretixTicket("date00002", item=21), KEY)
    assert tmp_gate.scan(no_date).accepted                               # no subevent: the mapped event


def test_pretix_validity_window():
    gate = make_gate_with_pretix()
    ok = sign_secret(PretixTicket("win000001", item=21, subevent=301, valid_from=T0 - 5, valid_until=T0 + 5), KEY)
    early = sign_secret(PretixTicket("win000002", item=21, subevent=301, valid_from=T0 + 5), KEY)
    late = sign_secret(PretixTicket("win000003", item=21, subevent=301, valid_until=T0), KEY)
    assert [gate.scan(s).code for s in (ok, early, late)] == [Code.ACCEPTED, Code.NOT_YET_VALID, Code.EXPIRED]


@pytest.fixture
def tmp_gate(tmp_path):
    return make_gate_with_pretix(tmp_path)


def make_gate_with_pretix(tmp_path=None):
    import tempfile
    from pathlib import Path
    folder = Path(tmp_path or tempfile.mkdtemp(prefix="tg-pretix-"))
    gate = make_gate(folder, keys=(test_key(),), policy=DevicePolicy(zones=frozenset({1}), reread_window=0))
    gate.keyring.pretix = [EVENT]
    return gate


def test_pretix_ticket_at_the_gate(tmp_gate):
    s = sign_secret(PretixTicket("gate00001", item=21, subevent=301), KEY)
    assert tmp_gate.scan(s).accepted
    v = tmp_gate.scan(s)
    assert v.code is Code.ALREADY_USED and v.ticket_key == "pretix:gate00001"
    assert tmp_gate.scan(sign_secret(PretixTicket("gate00002", item=22, subevent=301), KEY)).code is Code.WRONG_ZONE
    tmp_gate.ledger.revoke(["pretix:gate00003"], "secret revoked in pretix")
    assert tmp_gate.scan(sign_secret(PretixTicket("gate00003", item=21), KEY)).code is Code.REVOKED


def test_bad_pretix_secrets():
    good = sign_secret(PretixTicket("Jz9mPq3sA", item=21), KEY)
    other = sign_secret(PretixTicket("Jz9mPq3sA", item=21), private("pretix-other-event"))
    raw = base64.b64decode(good[::-1])
    cases = {
        other: FORGED,
        base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()[::-1]: FORGED,
        base64.b64encode(raw[:8] + b"X" + raw[9:]).decode()[::-1]: FORGED,                 # seed tampered
        good[3:]: MALFORMED,
        good + "A": MALFORMED,
        good[::-1]: MALFORMED,
        base64.b64encode(bytes([1]) + struct.pack(">HH", 5, 64) + b"\x08\x01\x10\x02\x18" + bytes(64)).decode()[::-1]:
            MALFORMED,                                                                    # no seed
        base64.b64encode(bytes([1]) + struct.pack(">HH", 2, 64) + b"\x0a\x09" + bytes(64)).decode()[::-1]: MALFORMED,
        base64.b64encode(bytes([1]) + struct.pack(">HH", 3, 32) + b"\x0a\x01a" + bytes(32)).decode()[::-1]: MALFORMED,
        "=" * 600: MALFORMED,
    }
    for secret, status in cases.items():
        assert read_payload(secret, RING, T0).status == status, secret
    assert read_payload(good, Keyring(), T0).status == UNKNOWN_KEY     # no pretix keys loaded at all


def test_a_secret_whose_base64_padding_bits_are_set_is_refused():
    """base64 leaves the last character's low bits unused: '...Bw==' and '...B0==' decode to the same signed bytes.
    Before: the altered text verified and admitted (found by tests/test_attack_payload_fuzz.py); pretix writes
    canonical base64 only, so another spelling of a secret is an altered one: malformed, never admitted."""
    good = sign_secret(PretixTicket("vw1234567", item=21), KEY)
    text = good[::-1]
    tail = text.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    unused = 4 if text.endswith("==") else 2 if text.endswith("=") else 0
    assert unused, "this secret's length leaves no unused bits: pick another seed"
    spelled = [(tail[:-1] + alphabet[alphabet.index(tail[-1]) | bit] + text[len(tail):])[::-1]
               for bit in range(1, 1 << unused)]
    assert all(base64.b64decode(x[::-1]) == base64.b64decode(text) for x in spelled)   # the same bytes, other texts
    assert read_payload(good, RING, T0).status == OK
    assert {read_payload(x, RING, T0).status for x in spelled} == {MALFORMED}


@settings(max_examples=300, deadline=None)
@given(pretix_tickets, st.integers(0, 400), st.integers(1, 255))
def test_property_mutated_pretix_secret_never_ok(t, pos, xor):
    raw = bytearray(base64.b64decode(sign_secret(t, KEY)[::-1]))
    raw[pos % len(raw)] ^= xor
    assert read_payload(base64.b64encode(bytes(raw)).decode()[::-1], RING, T0).status != OK


# -- loading a pretix event's keys ----------------------------------------------------------------------------------
def test_load_pretix_event_resource(tmp_path):
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"slug": "conf", "valid_keys": {"pretix_sig1": [pretix_pem_b64(KEY)]}}))
    ev = load_pretix_event(path, 7, ["21=1:1,2", "22=2"], ["301=7", "302=8"])
    assert ev.items == {21: PretixItemMapping(1, (1, 2)), 22: PretixItemMapping(2, ())}
    assert ev.subevents == {301: 7, 302: 8}
    assert ev.public_keys == EVENT.public_keys
    assert PretixEvent.from_json(ev.to_json()) == ev


@pytest.mark.parametrize("content,match", [
    ("{not json", "not JSON"),
    ("[]", "not a pretix event resource"),
    ('{"valid_keys": null}', "no valid_keys"),
    ('{"valid_keys": {"pretix_sig1": ["!!!"]}}', "not a base64 PEM"),
    ('{"valid_keys": {"pretix_sig1": ["' + base64.b64encode(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
     .decode() + '"]}}', "not a base64 PEM"),
])
def test_load_pretix_event_errors(tmp_path, content, match):
    path = tmp_path / "event.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_pretix_event(path, 1)


@pytest.mark.parametrize("spec", ["21", "x=1", "21=a", "21=1:z"])
def test_bad_item_spec(spec):
    with pytest.raises(ValueError):
        parse_item_spec(spec)


def test_non_ed25519_pretix_key_is_refused():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="Ed25519"):
        PretixEvent.from_pretix_keys(1, [base64.b64encode(pem).decode()])
