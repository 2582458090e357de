"""Signed server commands a device executes (after signature, target and freshness checks in DeviceSync)."""
from __future__ import annotations

import uuid
from typing import Any, Iterable

from agent.sync.enrolled_events import change_events
from agent.event_selection import SelectionRefused
from agent.keyring import PretixEvent
from agent.stored_policy import check_policy_selection, load_policy, save_policy
from agent.ledger import Ledger
from agent.policy import DevicePolicy, reread_seconds
from agent.sync.apply import BUNDLE_SETTING, current_bundle
from agent.sync.signed import Rejected

_CONFIG_FIELDS = ("mode", "events", "zones", "direction", "gate", "reread_window")
POSTING_CODES = ("gate_not_posted", "exit_not_posted", "cancel_not_posted")    # the server's refusals a `config` of gate or mode may lift


def run_command(ledger: Ledger, body: dict[str, Any], pretix: Iterable[PretixEvent] = (),
                enrolled: Iterable[int] = ()) -> dict[str, Any]:
    """`pretix`: the pretix events the device's keyring maps (events a `config` may select besides the bundle's);
    `enrolled`: the events the device holds now (an `events` command changes them: agent.sync.enrolled_events)."""
    name = body.get("cmd")
    if name == "events":
        done = change_events(ledger, body, enrolled)
        if sorted(current_bundle(ledger).get("events") or ()) != done["events"]:
            ledger.set_setting(BUNDLE_SETTING, None)      # a full bundle of the events held now follows the hello
        return done
    if name == "wipe":
        # personal data and event data go; the log of scans stays until the server acknowledged it
        ledger.clear_catalogue()
        ledger.stage_drop_old()      # a bundle being staged, or the index a swap replaced: personal data too
        return {"wiped": True}
    if name == "reset_ticket":
        key = body.get("ticket_key")
        if not isinstance(key, str) or not key:
            raise Rejected("reset_ticket without ticket_key")
        ledger.merge_remote([{"scan_uuid": str(body.get("scan_uuid") or uuid.uuid4()), "kind": "reset",
                              "ticket_key": key, "event_id": body.get("event_id"), "at": float(body["ts"]),
                              "device_id": "server", "reason": str(body.get("reason") or "")}])
        return {"reset": key}
    if name == "config":
        changes = {k: v for k, v in (body.get("config") or {}).items() if k in _CONFIG_FIELDS}
        if "reread_window" in changes:                     # the same rule as `agent configure --reread-window`
            try:
                changes["reread_window"] = reread_seconds(changes["reread_window"])
            except ValueError as exc:
                raise Rejected(f"config refused, nothing changed: {exc}") from None
        current = load_policy(ledger).to_json()
        current.update(changes)
        try:
            policy = DevicePolicy.from_json(current)
        except (ValueError, TypeError) as exc:
            raise Rejected(f"bad config ({exc})") from None
        notice = None
        if "events" in changes or "zones" in changes:      # the same rule as `agent configure` (event_selection)
            try:
                notice = check_policy_selection(ledger, policy, pretix)
            except SelectionRefused as exc:
                raise Rejected(f"config refused, nothing changed: {exc}") from None
        save_policy(ledger, policy)
        # refused as scanned at a gate or in a mode the organiser had not given it: given now, sent again
        resent = ledger.outbox_resend_refused_as(POSTING_CODES) if {"gate", "mode"} & set(changes) else 0
        return ({"config": sorted(changes)} | ({"notice": notice} if notice else {})
                | ({"resent": resent} if resent else {}))
    raise Rejected(f"unknown command {name!r}")
