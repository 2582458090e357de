"""The `replaces` proof every re-enrollment sends: the enrollment this device ends, with `retire_message` signed by
that enrollment's key. The server removes the old broker login once the new one is issued (else one door stayed
listed twice, the old entry offline for ever with a live login).

Two ways a device ends an enrollment: enrolling again over it (the app's Set-up screen: the key still here signs
now), or a technician's wipe (`provision wipe --yes`: the key signs before it goes, kept in the `WIPED_IDENTITY`
mark of the ledger).
"""
from __future__ import annotations

import base64

from agent.home import carried_over
from agent.ledger import Ledger, LedgerError
from provisioning.device import identity
from provisioning.device.state import DeviceState
from provisioning.protocol import retire_message


def sign_retirement(state: DeviceState) -> dict | None:
    """{device, proof} for the enrollment saved in `state`, signed by its key; None when there is none (or its
    credentials or key are unreadable)."""
    try:
        creds = state.load()
        if creds is None or not state.key_path.exists():
            return None
        key = identity.load(state.key_path)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    proof = key.sign(retire_message(creds.org, creds.device_id))
    return {"device": creds.device_id, "proof": base64.b64encode(proof).decode()}


def replaces(state: DeviceState) -> dict | None:
    """What an enrollment of this device sends as `replaces`: the enrollment held now, else the one a technician's
    wipe ended (its signed mark), else None."""
    return sign_retirement(state) or _wiped(state)


def _wiped(state: DeviceState) -> dict | None:
    """The signed mark a technician's wipe left (agent.home.carried_over), when it carries a retire proof."""
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
    return {"device": wiped["device_id"], "proof": wiped["retire_proof"]}
