"""The published vector files (tests/vectors/) are enough for another implementation: a second, minimal verifier of
each format, written from docs/ticket-format.md and docs/pretix.md (nothing of agent.* in the reading), agrees with
every vector's status, and every key of `refused_keys` is refused by ours when trusted."""
from __future__ import annotations

import base64
import binascii
import json
import struct
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from agent.keyring import TrustedKey
from tests.test_qa_paths_k_vectors import ref_read

HERE = Path(__file__).resolve().parent / "vectors"
TG = json.loads((HERE / "ticketgate-v1.json").read_text(encoding="utf-8"))
PX = json.loads((HERE / "pretix-sig1.json").read_text(encoding="utf-8"))


def test_a_tg1_verifier_written_from_the_page_agrees_on_every_published_vector():
    keys = {k["key_id"]: (base64.b64decode(k["public_key"]), k["valid_from"], k["valid_until"],
                          frozenset(k["events"]) if k["events"] is not None else None) for k in TG["keyring"]["keys"]}
    got = [(v["name"], ref_read(v["payload"], keys, TG["now"])[0]) for v in TG["vectors"]]
    assert got == [(v["name"], v["status"]) for v in TG["vectors"]]
    assert sum(v["status"] == "forged" for v in TG["vectors"]) >= 8


def pretix_reference(secret: str, public_keys: list[Ed25519PublicKey]) -> str:
    """docs/pretix.md, "What is verified": reversed base64; version 1; u16 payload and signature lengths that add
    up; Ed25519 over the payload; protobuf `Ticket` with a seed (read with protobuf from pretix's .proto)."""
    from tests.test_pretix_sig1 import PBTicket
    text = secret[::-1]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return "malformed"
    if base64.b64encode(raw).decode() != text or len(raw) < 5 or raw[0] != 1:
        return "malformed"
    n, m = struct.unpack(">HH", raw[1:5])
    if m != 64 or len(raw) != 5 + n + m:
        return "malformed"
    payload, signature = raw[5:5 + n], raw[5 + n:]
    ticket = PBTicket()
    try:
        ticket.ParseFromString(payload)
    except Exception:
        return "malformed"
    if not ticket.seed:
        return "malformed"
    for key in public_keys:
        try:
            key.verify(signature, payload)
            return "ok"
        except InvalidSignature:
            continue
    return "forged"


def test_a_pretix_verifier_written_from_the_page_agrees_on_every_published_vector():
    pytest.importorskip("google.protobuf", reason="protobuf is in the dev extra (test-only cross-check)")
    keys = []
    for item in PX["event_resource"]["valid_keys"]["pretix_sig1"]:
        key = load_pem_public_key(base64.b64decode(item))
        assert isinstance(key, Ed25519PublicKey)
        keys.append(key)
    got = [(v["name"], pretix_reference(v["secret"], keys)) for v in PX["vectors"]]
    assert got == [(v["name"], v["status"]) for v in PX["vectors"]]
    assert sum(v["status"] == "forged" for v in PX["vectors"]) >= 6


@pytest.mark.parametrize("key", TG["refused_keys"], ids=[k["name"] for k in TG["refused_keys"]])
def test_every_published_refused_key_is_refused_when_trusted(key):
    words = {"small order": "small order", "not canonical": "not a canonical", "not on the curve": "not a point"}
    with pytest.raises(ValueError, match=words[key["reason"]]):
        TrustedKey.from_json({"key_id": 1, "public_key": key["public_key"]})
