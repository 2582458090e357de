"""Our implementation against the published vectors in tests/vectors/ (and the vectors against their generator)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.decision import decide
from agent.history import TicketHistory
from agent.keyring import Keyring, PretixEvent, TrustedKey
from agent.payload import OK, read_payload
from agent.policy import DevicePolicy

HERE = Path(__file__).resolve().parent / "vectors"
TG = json.loads((HERE / "ticketgate-v1.json").read_text(encoding="utf-8"))
PX = json.loads((HERE / "pretix-sig1.json").read_text(encoding="utf-8"))


def tg_ring() -> Keyring:
    ring = Keyring()
    for k in TG["keyring"]["keys"]:
        ring.add(TrustedKey.from_json(k))
    return ring


def test_vectors_are_what_the_generator_makes():
    done = subprocess.run([sys.executable, str(HERE / "make_vectors.py"), "--check"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_published_seeds_match_published_public_keys():
    for k in TG["keyring"]["keys"]:
        assert "TEST KEY" in TG["keyring"]["warning"]
        priv = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(k["test_private_seed_hex"]))
        raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert TrustedKey.from_json(k).public_key == raw


def test_every_verdict_kind_is_covered():
    assert {v["verdict"] for v in TG["vectors"]} >= {"accepted", "wrong_event", "wrong_zone", "not_yet_valid",
                                                      "expired", "forged", "unknown_key", "malformed"}


@pytest.mark.parametrize("vector", TG["vectors"], ids=[v["name"] for v in TG["vectors"]])
def test_ticketgate_vector(vector):
    ring, now = tg_ring(), TG["now"]
    decoded = read_payload(vector["payload"], ring, now)
    assert decoded.status == vector["status"], decoded.detail
    if "fields" in vector:
        t, f = decoded.ticket, vector["fields"]
        assert (t.key_id, t.event_id, t.is_pass, t.ticket_id, t.category, list(t.zones), t.seat, t.valid_from,
                t.valid_until) == (f["key_id"], f["event_id"], f["is_pass"], f["ticket_id"], f["category"], f["zones"],
                                   f["seat"], f["valid_from"], f["valid_until"])
    verdict = decide(decoded, DevicePolicy.from_json(TG["device"]), TicketHistory(), now)
    assert verdict.code.value == vector["verdict"]
    assert verdict.direction == vector.get("direction")


def px_event() -> PretixEvent:
    m = PX["mapping"]
    mapped = PretixEvent.from_json({"event_id": m["event_id"], "public_keys": [], "items": m["items"],
                                    "subevents": m["subevents"]})
    return PretixEvent.from_pretix_keys(m["event_id"], PX["event_resource"]["valid_keys"]["pretix_sig1"],
                                        items=mapped.items, subevents=mapped.subevents)


@pytest.mark.parametrize("vector", PX["vectors"], ids=[v["name"] for v in PX["vectors"]])
def test_pretix_vector(vector):
    from agent import pretix_sig1
    ring = Keyring(pretix=[px_event()])
    decoded = read_payload(vector["secret"], ring, PX["now"])
    assert decoded.status == vector["status"], decoded.detail
    if decoded.status == OK:
        payload, _ = pretix_sig1.split_secret(vector["secret"])
        msg = pretix_sig1.decode_ticket_message(payload)
        assert msg.__dict__ == vector["fields"]
        assert decoded.ticket.key == vector["ticket_key"]
        assert decoded.ticket.scheme == "pretix_sig1"


def test_documented_layout_read_independently():
    """Read every `ok` vector following docs/ticket-format.md alone (struct + cryptography, not our parser)."""
    import base64
    import struct

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.base45 import b45decode
    keys = {k["key_id"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(k["public_key"]))
            for k in TG["keyring"]["keys"]}
    for v in (v for v in TG["vectors"] if v["status"] == "ok"):
        raw = b45decode(v["payload"].strip()[4:])
        body, sig = raw[:-64], raw[-64:]
        version, key_id, flags, event, tid, category, nzones = struct.unpack(">BHBI6sHB", body[:17])
        pos = 17 + nzones
        zones = list(body[17:pos])
        seat = None
        if flags & 0x02:
            seat = body[pos + 1:pos + 1 + body[pos]].decode()
            pos += 1 + body[pos]
        valid = []
        for bit in (0x04, 0x08):
            valid.append(struct.unpack(">I", body[pos:pos + 4])[0] if flags & bit else None)
            pos += 4 if flags & bit else 0
        assert pos == len(body) and version == 1 and not flags & 0xF0
        keys[key_id].verify(sig, b"ticketgate-ticket-v1\x00" + body)       # raises if the doc were wrong
        f = v["fields"]
        assert (key_id, event, bool(flags & 1), int.from_bytes(tid, "big"), category, zones, seat, *valid) == (
            f["key_id"], f["event_id"], f["is_pass"], f["ticket_id"], f["category"], f["zones"], f["seat"],
            f["valid_from"], f["valid_until"])
