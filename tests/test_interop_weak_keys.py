"""Ed25519 edge cases from other implementations' vector sets (RFC 8032 section 5.1.7, the "small order" and
"non-canonical" cases of Wycheproof and of libsodium's blocklist), through `ticketgate agent trust`,
`agent trust-pretix` and `agent scan --json` (subprocesses, a fresh home each), for our TG1 tickets and pretix_sig1
secrets alike. The signatures below are built here by hand from the RFC, not with agent code."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.ed25519_points import public_key_flaw
from agent.keyring import PretixEvent, TrustedKey
from tests.test_qa_foreign_vectors import DOMAIN, SPEC_KEY, SPEC_KEY_ID, b45, body, scan_all, tg

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")
# the 8 points of small order, as libsodium lists them (ed25519_ref10.c, `has_small_order`)
SMALL_ORDER = [bytes(32), IDENTITY,
               bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
               bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
               (P - 1).to_bytes(32, "little")]
SMALL_ORDER += [k[:31] + bytes([k[31] | 0x80]) for k in SMALL_ORDER[2:4]]     # x negated: the other two of order 8
SMALL_ORDER += [bytes(31) + b"\x80"]                                             # (x, 0) negated: order 4
FORGERY = IDENTITY + bytes(32)     # R = identity, S = 0: verifies for every message under the identity key


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def pem_b64(public: bytes) -> str:
    pem = Ed25519PublicKey.from_public_bytes(public).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(pem).decode()


def run(home: Path, *args: str) -> tuple[int, str]:
    import subprocess
    import sys
    from tests.test_qa_foreign_vectors import ROOT, _env
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_env(home), capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr


def test_every_point_of_small_order_and_every_non_canonical_key_is_refused_genuine_keys_are_not():
    assert len(set(SMALL_ORDER)) == 8
    for key in SMALL_ORDER:
        assert "small order" in (public_key_flaw(key) or ""), key.hex()
    for y in range(P, 2**255):                       # the 19 spellings y ≥ p of y = 0..18
        assert "not a canonical" in (public_key_flaw(y.to_bytes(32, "little")) or ""), y - P
    assert "not a canonical" in (public_key_flaw(IDENTITY[:31] + b"\x80") or "")      # x = 0, sign bit set
    assert "not a point" in (public_key_flaw((2).to_bytes(32, "little")) or "")       # y = 2: x² not a square
    for seed in range(64):
        assert public_key_flaw(raw(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))) is None
    for key in SMALL_ORDER[:2]:
        with pytest.raises(ValueError, match="small order"):
            TrustedKey(1, key)
        with pytest.raises(ValueError, match="small order"):
            PretixEvent(1, (raw(SPEC_KEY), key))


def test_attack_a_keyring_naming_a_small_order_key_is_refused_and_forgeries_stay_out(tmp_path):
    """Before: `agent trust` took the identity key (and the all-zero key) as any other; OpenSSL verifies
    cofactorless without looking at the key, so `R = identity, S = 0` then verified for every ticket: a ticket
    made up by anyone was admitted."""
    for weak in (IDENTITY, bytes(32)):
        home = tmp_path / weak.hex()[:4]
        keyring = tmp_path / f"ring-{weak.hex()[:4]}.json"
        keyring.write_text(json.dumps({"keys": [{"key_id": SPEC_KEY_ID, "public_key": base64.b64encode(weak).decode(),
                                                 "organiser": "Weak", "valid_from": None, "valid_until": None,
                                                 "events": None}]}))
        rc, err = run(home, "agent", "trust", str(keyring))
        assert rc == 1 and "small order" in err and "anyone could forge" in err and "nothing trusted" in err, err
        assert not (home / "device" / "keyring.json").exists()
        forged = ["TG1:" + b45(body(n) + FORGERY) for n in range(1, 9)]      # 8 tickets: each 1 in 4 for bytes(32)
        verdicts = scan_all(home, forged)
        assert [v["verdict"] for v in verdicts] == ["unknown_key"] * 8, verdicts


def test_attack_a_pretix_event_publishing_a_small_order_key_is_refused(tmp_path):
    resource = tmp_path / "event.json"
    resource.write_text(json.dumps({"slug": "weak", "valid_keys": {"pretix_sig1": [pem_b64(IDENTITY)]}}))
    rc, err = run(tmp_path, "agent", "trust-pretix", str(resource), "--event-id", "1")
    assert rc == 1 and "small order" in err and "nothing trusted" in err, err
    payload = b"\x0a\x09forged001\x10\x01"
    secret = base64.b64encode(b"\x01" + struct.pack(">HH", len(payload), 64) + payload + FORGERY).decode()[::-1]
    assert scan_all(tmp_path, [secret])[0]["verdict"] == "unknown_key"


# --- signatures that lax verifiers accept (RFC 8032 5.1.7 steps 1-3), against a genuine key --------------------
PRETIX = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))   # a test key of this file only


def pretix_like(payload: bytes, signature: bytes) -> str:
    """pretix's framing (pretix/base/secretgenerators/pretix_sig1.py, `_sign_payload` then reversed base64)."""
    return base64.b64encode(b"\x01" + struct.pack(">H", len(payload)) + struct.pack(">H", len(signature))
                            + payload + signature).decode()[::-1]


def twins(signature: bytes) -> list[tuple[str, bytes]]:
    """The signature with S + L (same value mod L), S + 2^253 if it fits, R spelled with y + p where R's y < 19
    (never for a real R: here R is replaced by a non-canonical identity), and over other bytes."""
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    out = [("S + L", r + (s + L).to_bytes(32, "little"))]
    out.append(("S with the top bits set", r + (s | (0x7 << 253)).to_bytes(32, "little")))
    out.append(("R non-canonical (p + 1)", (P + 1).to_bytes(32, "little") + signature[32:]))
    out.append(("R all zero, S = 0", bytes(64)))
    return out


def test_malleable_and_non_canonical_signatures_are_refused_for_both_formats(tmp_path):
    ring = tmp_path / "ring.json"
    ring.write_text(json.dumps({"keys": [{"key_id": SPEC_KEY_ID, "public_key": base64.b64encode(raw(SPEC_KEY)).decode(),
                                          "organiser": "Spec", "valid_from": None, "valid_until": None,
                                          "events": None}]}))
    tg(tmp_path, "agent", "trust", str(ring))
    resource = tmp_path / "event.json"
    resource.write_text(json.dumps({"slug": "x", "valid_keys": {"pretix_sig1": [pem_b64(raw(PRETIX))]}}))
    tg(tmp_path, "agent", "trust-pretix", str(resource), "--event-id", "1")
    cases: list[tuple[str, str]] = []
    for n in range(1, 4):
        b = body(100 + n)
        sig = SPEC_KEY.sign(DOMAIN + b)
        cases.append(("TG1:" + b45(b + sig), "accepted"))
        cases += [("TG1:" + b45(b + twin), "forged") for _, twin in twins(sig)]
        cases.append(("TG1:" + b45(b + SPEC_KEY.sign(b)), "forged"))                  # without the domain
        payload = b"\x0a\x09seed0000" + str(n).encode() + b"\x10\x01"
        psig = PRETIX.sign(payload)
        cases.append((pretix_like(payload, psig), "accepted"))
        cases += [(pretix_like(payload, twin), "forged") for _, twin in twins(psig)]
        cases.append((pretix_like(payload, PRETIX.sign(payload + b"\x18\x05")), "forged"))   # other bytes
        cases.append((pretix_like(payload, Ed25519PrivateKey.generate().sign(payload)), "forged"))   # other key
    verdicts = scan_all(tmp_path, [c for c, _ in cases])
    assert [(c, v["verdict"]) for (c, _), v in zip(cases, verdicts)] == cases
