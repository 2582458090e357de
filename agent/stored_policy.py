"""The device's policy as the ledger stores it: the staff's settings, completed on load with what the ledger
knows (passes, events). Read by the gate, the CLI, signed config commands and the device home."""
from __future__ import annotations

from dataclasses import replace

from agent.ledger import Ledger
from agent.policy import DevicePolicy


def load_policy(ledger: Ledger) -> DevicePolicy:
    """The stored settings, completed with what the ledger knows (passes, events)."""
    stored = ledger.get_setting("policy")
    policy = DevicePolicy.from_json(stored) if stored else DevicePolicy()
    return replace(policy, pass_events=ledger.pass_events(), known_events=ledger.event_ids() or None,
                   event_times=ledger.event_times())


def save_policy(ledger: Ledger, policy: DevicePolicy) -> None:
    """Store the staff's settings only; passes and known events always come from the ledger."""
    ledger.set_setting("policy", replace(policy, pass_events={}, known_events=None, event_times={}).to_json())
