"""The device's policy as the ledger stores it: the staff's settings, completed on load with what the ledger
knows (passes, events). Read by the gate, the CLI, signed config commands and the device home."""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from agent.event_selection import KnownEvent, check_selection
from agent.keyring import PretixEvent
from agent.ledger import Ledger
from agent.policy import DevicePolicy


def load_policy(ledger: Ledger) -> DevicePolicy:
    """The stored settings, completed with what the ledger knows (passes, events)."""
    stored = ledger.get_setting("policy")
    policy = DevicePolicy.from_json(stored) if stored else DevicePolicy()
    times = ledger.event_times()
    known = ledger.event_ids() or (frozenset() if ledger.bundle_of_no_event() else None)
    return replace(policy, pass_events=ledger.pass_events(), known_events=known,
                   event_times=times, event_windows={e: ledger.validity_of([e]) for e in times})


def save_policy(ledger: Ledger, policy: DevicePolicy) -> None:
    """Store the staff's settings only; passes and known events always come from the ledger."""
    ledger.set_setting("policy", replace(policy, pass_events={}, known_events=None, event_times={},
                                         event_windows={}).to_json())


def known_events(ledger: Ledger, pretix: Iterable[PretixEvent] = ()) -> list[KnownEvent]:
    """The events and zones this device's event data holds: the bundle's, and the pretix events its keyring maps
    (their event ids, dates and the zones of their items)."""
    known = {e["event_id"]: KnownEvent(e["event_id"], e["name"] or "", {z["zone_id"]: z["name"] for z in e["zones"]})
             for e in ledger.events()}
    for p in pretix:
        zones = {z for item in p.items.values() for z in item.zones}
        for event_id in {p.event_id, *p.subevents.values()}:
            had = known.get(event_id, KnownEvent(event_id, "pretix"))
            known[event_id] = replace(had, zones={**{z: "" for z in zones}, **had.zones})
    return list(known.values())


def check_policy_selection(ledger: Ledger, policy: DevicePolicy, pretix: Iterable[PretixEvent] = ()) -> str | None:
    """The selection rule (agent.event_selection) for this device's events and zones: raises SelectionRefused;
    -> a notice when the device holds no event data to check against yet."""
    return check_selection(policy.events, policy.zones, known_events(ledger, pretix))
