"""The events a device holds, as the organiser last set them (`ticketgate server device events`, a signed `events`
command): at first those of its enrollment (credentials.json), then the ledger's record of the last change."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from agent.ledger import Ledger
from agent.stored_policy import load_policy, save_policy
from agent.sync.signed import Rejected

ENROLLED_SETTING = "enrolled_events"       # ledger setting: the sorted event ids the server last gave this device
MAX_EVENTS = 10_000


def enrolled_events(ledger: Ledger, at_enrollment: Iterable[int]) -> tuple[int, ...]:
    """The events this device holds: the last `events` command's, else its enrollment's (empty: every event)."""
    stored = ledger.get_setting(ENROLLED_SETTING)
    if isinstance(stored, list) and all(type(e) is int for e in stored):
        return tuple(stored)
    return tuple(sorted(set(at_enrollment)))


def wanted_events(body: dict[str, Any]) -> list[int]:
    """The command's event ids: a non-empty list of positive integers (Rejected naming what is wrong)."""
    events = body.get("events")
    if (not isinstance(events, list) or not events or len(events) > MAX_EVENTS
            or not all(type(e) is int and e > 0 for e in events)):
        raise Rejected(f"events command with bad events {events!r}: a list of event ids expected, nothing changed")
    return sorted(set(events))


def change_events(ledger: Ledger, body: dict[str, Any], enrolled: Iterable[int]) -> dict[str, Any]:
    """Hold `body["events"]` from now on (inside the command's transaction): what the device holds of the events
    taken away is deleted (buyers' names and e-mails among it; its own entries stay and are uploaded); an event
    selection that admitted every event held follows the change, a narrower one keeps what is left of it; selected
    zones only the events taken away had are left out; uploads the server refused as not of its events go again for
    the events added. The caller asks for a full bundle (the events added come with it)."""
    new = wanted_events(body)
    before = set(enrolled)
    held = before | set(ledger.event_ids())
    removed = sorted(held - set(new))
    zones_gone = _zones(ledger, removed) - _zones(ledger, set(ledger.event_ids()) - set(removed))
    forgotten = ledger.forget_events(removed)
    policy = load_policy(ledger)
    if policy.events:
        kept = set(policy.events) & set(new)
        everything = not before or set(policy.events) >= before      # it admitted all it held
        policy = replace(policy, events=frozenset(new if everything or not kept else kept))
    if policy.zones:         # zones only the events taken away had: left out (none left: every zone)
        policy = replace(policy, zones=frozenset(policy.zones - zones_gone) or None)
    save_policy(ledger, policy)
    ledger.set_setting(ENROLLED_SETTING, new)
    added = sorted(set(new) - before)
    return {"events": new, "added": added, "removed": removed, "forgotten_tickets": forgotten,
            "resent": ledger.outbox_resend_refused_events(added)}    # refused before as not its events: sent again


def _zones(ledger: Ledger, events: Iterable[int]) -> set[int]:
    wanted = set(events)
    return {int(z["zone_id"]) for e in ledger.events() if e["event_id"] in wanted for z in e["zones"]}
