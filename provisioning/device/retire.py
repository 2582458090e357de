"""The `replaces` proof every re-enrollment sends: the enrollment this device ends, with `retire_message` signed by
that enrollment's key over the next enrollment's device key. The server removes the old broker login once the new
one is issued (else one door stayed listed twice, the old entry offline for ever with a live login), and only for
the enrollment whose key the proof names: a proof seen on the wire or copied from a wiped ledger retires nothing.

Two ways a device ends an enrollment: enrolling again over it (the app's Set-up screen: the key still here signs
now, over the key this enrollment just generated), or a technician's wipe (`provision wipe --yes`: the device makes
its next key, `successor_key.pem` (0600), and the old key signs over it before it goes; the proof is kept in the
`WIPED_IDENTITY` mark of the ledger, and the next enrollment uses that key).
"""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.home import carried_over
from agent.ledger import Ledger, LedgerError
from provisioning.device import identity
from provisioning.device.state import DeviceState
from provisioning.protocol import RETIRE_VERSION, retire_message

SUCCESSOR_KEY = "successor_key.pem"


def successor_path(state: DeviceState) -> Path:
    return state.folder / SUCCESSOR_KEY


def sign_retirement(state: DeviceState, successor_key: bytes) -> dict | None:
    """{device, proof, v} for the enrollment saved in `state`, signed by its key for the enrollment of
    `successor_key`; None when there is none (or its credentials or key are unreadable)."""
    try:
        creds = state.load()
        if creds is None or not state.key_path.exists():
            return None
        key = identity.load(state.key_path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    proof = key.sign(retire_message(creds.org, creds.device_id, successor_key))
    return {"device": creds.device_id, "proof": base64.b64encode(proof).decode(), "v": RETIRE_VERSION}


def next_key(state: DeviceState, path: Path) -> Ed25519PrivateKey:
    """The key the next enrollment takes, written at `path`: the one a technician's wipe made and signed for, else a
    new one."""
    try:
        key = identity.load(successor_path(state))
    except (OSError, ValueError):
        return identity.generate(path)
    identity.write(path, key)
    return key


def replaces(state: DeviceState, device_key: bytes) -> dict | None:
    """What an enrollment of this device with `device_key` sends as `replaces`: the enrollment held now (signed
    now), else the one a technician's wipe ended (its signed mark, made for the key `next_key` gives), else None."""
    return sign_retirement(state, device_key) or _wiped(state)


def _wiped(state: DeviceState) -> dict | None:
    """The signed mark a technician's wipe left (agent.home.carried_over), when it carries a retire proof (one made
    before proofs named the next key goes without `v`: the server does not honour it)."""
    if not state.ledger_path.exists():
        return None
    try:
        ledger = Ledger.open(state.ledger_path, create=False)
        try:
            wiped = carried_over(ledger)
        finally:
            ledger.close()
    except (LedgerError, ValueError):
        return None
    if wiped is None or not isinstance(wiped.get("retire_proof"), str) or not wiped["retire_proof"]:
        return None
    return {"device": wiped["device_id"], "proof": wiped["retire_proof"]} | (
        {"v": RETIRE_VERSION} if wiped.get("retire_v") == RETIRE_VERSION else {})
