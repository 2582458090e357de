"""The `replaces` proof every re-enrollment sends: the enrollment this device ends, with `retire_message` signed by
that enrollment's key. The server removes the old broker login once the new one is issued (else one door stayed
listed twice, the old entry offline for ever with a live login).

Two ways a device ends an enrollment: enrolling again over it (the app's Set-up screen: the key still here signs
now), or a technician's wipe (`provision wipe --yes`: the key signs before it goes, kept in the `WIPED_IDENTITY`
mark of the ledger).
"""
from __future__ import annotations

import base64
import json
import sqlite3

from agent.home import WIPED_IDENTITY
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
    if not state.ledger_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"{state.ledger_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT value FROM settings WHERE key=?", (WIPED_IDENTITY,)).fetchone()
        finally:
            conn.close()
        wiped = json.loads(row[0]) if row else None
    except (sqlite3.DatabaseError, ValueError):
        return None
    if not isinstance(wiped, dict) or not wiped.get("carry_over") or not wiped.get("retire_proof"):
        return None
    return {"device": str(wiped.get("device_id")), "proof": str(wiped["retire_proof"])}
