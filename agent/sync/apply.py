"""Apply a verified, assembled bundle (or a live update) to the device ledger, in one transaction."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from agent.keyring import Keyring, TrustedKey
from agent.ledger import Ledger
from agent.sync.bundle import Pending, sections
from agent.sync.signed import Rejected

BUNDLE_SETTING = "sync.bundle"   # {"org", "version", "events", "applied_at"}


def current_bundle(ledger: Ledger) -> dict[str, Any]:
    return ledger.get_setting(BUNDLE_SETTING) or {"version": 0, "events": []}


def apply_bundle(ledger: Ledger, p: Pending, keyring: Keyring | None,
                 keyring_path: str | Path | None = None) -> dict[str, Any]:
    """Decode every section first (a bad one rejects the whole bundle), then write all or nothing.

    Order against a crash: the new trusted keys are written to `keyring_path` first, the ledger (event data and
    the bundle version) is committed last. A crash between them leaves the old version with the new keys (the
    device asks for the bundle again); never the new version with the old keys."""
    m = p.manifest
    decoded = list(sections(p))
    new_keys = _keys(m.get("keyring") or {})
    counts = {"tickets": 0, "revocations": 0, "blocks": 0}
    keys = None
    if keyring is not None and new_keys:
        keys = {} if m["base_version"] == 0 else dict(keyring.keys)
        keys.update({k.key_id: k for k in new_keys})
        if keyring_path is not None:
            Keyring(keys, list(keyring.pretix)).save(keyring_path)
    with ledger.transaction():
        if m["base_version"] == 0:    # full bundle: it is the whole truth for this device
            ledger.clear_catalogue()
        for s in decoded:
            if "events" in s:
                ledger.upsert_events(s["events"])
            counts["tickets"] += len(s["tickets"]["rows"]) if "tickets" in s else 0
            counts["revocations"] += apply_live(ledger, s)["revocations"]
            counts["blocks"] += len(s.get("blocks") or ())
        ledger.set_setting(BUNDLE_SETTING, {"org": m["org"], "version": m["version"], "events": m["events"],
                                            "applied_at": time.time()})
    if keyring is not None and keys is not None:
        keyring.keys = keys       # swapped in one assignment once committed: never an empty keyring in between
    return counts


def apply_live(ledger: Ledger, s: dict[str, Any]) -> dict[str, Any]:
    """Revocations, blocks and their reversals (from a bundle section or a live message)."""
    revs = list(_rows(s.get("revocations")))
    with ledger.transaction():
        for key, reason, at in revs:
            ledger.revoke([key], reason, at)
        for key, reason, at in _rows(s.get("blocks")):
            ledger.block([key], reason, at)
        if s.get("unrevoked"):
            ledger.unrevoke([str(k) for k in s["unrevoked"]])
        if s.get("unblocked"):
            ledger.unblock([str(k) for k in s["unblocked"]])
        if s.get("tickets"):
            cols, rows = s["tickets"]["columns"], s["tickets"]["rows"]
            ledger.upsert_tickets(dict(zip(cols, r)) for r in rows)
        if s.get("resets"):
            ledger.merge_remote(s["resets"])
    return {"revocations": len(revs)}


def _rows(items: Iterable[object] | None) -> Iterable[tuple[str, str, float]]:
    for r in items or ():
        if not isinstance(r, dict) or "ticket_key" not in r:
            raise Rejected("malformed revocation/block row")
        yield str(r["ticket_key"]), str(r.get("reason") or ""), float(r.get("at") or time.time())


def _keys(keyring_json: dict[str, Any]) -> list[TrustedKey]:
    try:
        return list(Keyring.from_json(keyring_json).keys.values())
    except (KeyError, ValueError, TypeError) as exc:
        raise Rejected(f"bundle keyring unreadable ({exc})") from None
