"""Applying a bundle against a crash: the trusted keys are written first, the bundle version last, so a crash
between them never leaves the new bundle version with the old keys (issue 9 §4)."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.keyring import Keyring, TrustedKey
from agent.ledger import Ledger
from agent.sync import bundle
from agent.sync.apply import BUNDLE_SETTING, apply_bundle, current_bundle
from agent.sync.signed import Verifier



class Crash(Exception):
    pass


def _pending(version: int, key: TrustedKey):
    sign = Ed25519PrivateKey.generate()
    verifier = Verifier(sign.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    ring = Keyring()
    ring.add(key)
    manifest, chunks = bundle.build(org="o", device="d", version=version, base_version=0, events=[1],
                                    sections=[{"events": []}, bundle.ticket_section([{"ticket_key": "7", "event_id": 1, "order_number": "A1", "buyer_name": "Ann", "email": "", "order_status": "paid"}])],
                                    keyring=ring.to_json(), sign=sign.sign, bundle_id=bytes([version]) * 16)
    asm = bundle.Assembler()
    asm.start(verifier.open(manifest))
    done = None
    for c in chunks:
        done = asm.add(c)
    return done


def _key(key_id: int) -> TrustedKey:
    pub = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return TrustedKey(key_id=key_id, public_key=pub, organiser="o")


def test_crash_between_keyring_and_ledger_never_pairs_new_version_with_old_keys(tmp_path, monkeypatch):
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    path = tmp_path / "keyring.json"
    old, new = _key(1), _key(2)
    keyring = Keyring()
    keyring.add(old)
    keyring.save(path)
    apply_bundle(ledger, _pending(1, old), keyring, path)
    assert current_bundle(ledger)["version"] == 1

    real = ledger.set_setting

    def crash_on_version(key, value):
        if key == BUNDLE_SETTING:
            raise Crash("power cut")
        return real(key, value)
    monkeypatch.setattr(ledger, "set_setting", crash_on_version)
    with pytest.raises(Crash):
        apply_bundle(ledger, _pending(2, new), keyring, path)
    monkeypatch.setattr(ledger, "set_setting", real)

    on_disk = {k["key_id"] for k in json.loads(path.read_text())["keys"]}
    assert current_bundle(ledger)["version"] == 1, "the version rolled back with the event data"
    assert on_disk == {2}, "the keys of the new bundle were written before the version"
    assert set(keyring.keys) == {1}, "the keys in memory change only once the ledger committed"
    # after the restart: the device asks again (version 1) and the same bundle applies
    apply_bundle(ledger, _pending(2, new), Keyring.load(path), path)
    assert current_bundle(ledger)["version"] == 2
    assert {k["key_id"] for k in json.loads(path.read_text())["keys"]} == {2}
    ledger.close()
