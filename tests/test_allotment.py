"""Offline sales allotments (agent/allotment.py): the certificate, TG2 tickets, and the door's verdicts on them
(through the real gate and ledger), against the published vectors in tests/vectors/ticketgate-tg2.json."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.allotment import (Certificate, encode_offline_ticket, parse_offline_ticket, revocation_key,
                             sign_certificate)
from agent.errors import InvalidInput
from agent.gate import Gate
from agent.keyring import Keyring, TrustedKey
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.ticket_format import MalformedPayload, Ticket
from agent.verdicts import Code
from tests.test_core_support import Clock

HERE = Path(__file__).resolve().parent / "vectors"
VEC = json.loads((HERE / "ticketgate-tg2.json").read_text(encoding="utf-8"))


def door(tmp_path: Path) -> Gate:
    """A door that never saw any of these sales: its ledger holds only the event and the revoked allotments."""
    ring = Keyring()
    for k in VEC["keyring"]["keys"]:
        ring.add(TrustedKey.from_json(k))
    ledger = Ledger.open(tmp_path / "door.sqlite")
    ledger.upsert_events([{"event_id": e, "name": f"Night {e}"} for e in (1, 2)])
    ledger.revoke([revocation_key(a) for a in VEC["device"]["revoked_allotments"]], "kiosk stolen")
    return Gate(ledger, ring, DevicePolicy(device_id="door-1", gate="north", events=frozenset(VEC["device"]["events"]),
                                           reread_window=0), clock=Clock(VEC["now"]))


def test_vectors_are_what_the_generator_makes():
    done = subprocess.run([sys.executable, str(HERE / "make_tg2_vectors.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("vector", VEC["vectors"], ids=[v["name"] for v in VEC["vectors"]])
def test_door_verdict_on_each_vector(tmp_path, vector):
    verdict = door(tmp_path).scan(vector["payload"])
    assert verdict.code.value == vector["verdict"], verdict.detail
    assert (verdict.reason.value if verdict.reason else None) == vector["reason"]


def test_an_offline_sale_is_admitted_once(tmp_path):
    gate = door(tmp_path)
    payload = VEC["vectors"][0]["payload"]
    assert gate.scan(payload).accepted
    again = gate.scan(payload)
    assert again.code is Code.ALREADY_USED and again.first_use.gate == "north"


def test_revocation_learnt_later_refuses_the_next_scan(tmp_path):
    gate = door(tmp_path)
    payload = VEC["vectors"][1]["payload"]
    assert gate.scan(payload).accepted
    gate.ledger.revoke([revocation_key(7)], "revoked by the organiser")
    v = gate.scan(payload)
    assert v.code is Code.UNCERTIFIED and v.reason.value == "allotment_revoked" and "revoked by the organiser" in v.detail


def _cert(kiosk: Ed25519PrivateKey, org: Ed25519PrivateKey, **kw) -> Certificate:
    from cryptography.hazmat.primitives import serialization
    raw = kiosk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    base = dict(key_id=1, allotment_id=3, device_id="kiosk-1", public_key=raw, first_id=2**47, last_id=2**47 + 9,
                max_count=10, valid_from=100, valid_until=200, events=(1,), categories=())
    return sign_certificate(Certificate(**{**base, **kw}), org)


def test_certificate_and_ticket_round_trip():
    kiosk, org = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    cert = _cert(kiosk, org)
    assert Certificate.from_text(cert.to_text()) == cert
    t = Ticket(1, 1, 2**47 + 4, category=5, zones=(2,), seat="R3-12", valid_from=100, valid_until=200)
    parsed = parse_offline_ticket(encode_offline_ticket(t, cert, kiosk))
    assert parsed.certificate == cert and parsed.ticket == t and parsed.ticket.key == str(2**47 + 4)


@pytest.mark.parametrize("bad,reason", [
    (dict(first_id=0), "ticket range"), (dict(max_count=11), "max count"), (dict(valid_until=50), "validity"),
    (dict(events=()), "events"), (dict(events=(1, 2, 3, 4, 5)), "events"), (dict(device_id="k" * 33), "device id"),
    (dict(categories=tuple(range(9))), "categories")])
def test_a_bad_certificate_is_refused_by_name(bad, reason):
    kiosk, org = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with pytest.raises(InvalidInput, match=reason):
        _cert(kiosk, org, **bad)


def test_a_kiosk_does_not_sign_outside_its_allotment():
    kiosk, org = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    cert = _cert(kiosk, org)
    with pytest.raises(InvalidInput, match="outside the allotment's range"):
        encode_offline_ticket(Ticket(1, 1, 2**47 + 10), cert, kiosk)


@pytest.mark.parametrize("mutate", [lambda s: s[:-5], lambda s: s[:30], lambda s: s + "AB", lambda s: "TG2:"])
def test_damaged_tg2_is_malformed_at_the_door(tmp_path, mutate):
    gate = door(tmp_path)
    v = gate.scan(mutate(VEC["vectors"][0]["payload"]))
    assert v.code in (Code.MALFORMED, Code.FORGED)
    with pytest.raises(MalformedPayload):
        parse_offline_ticket(mutate(VEC["vectors"][0]["payload"])[:20])


def test_an_organiser_key_scoped_to_other_events_does_not_certify(tmp_path):
    gate = door(tmp_path)
    k = gate.keyring.get(1)
    gate.keyring.add(replace(k, events=frozenset({2})))
    v = gate.scan(VEC["vectors"][0]["payload"])
    assert v.code is Code.UNCERTIFIED and v.reason.value == "allotment_untrusted"
