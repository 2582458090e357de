"""Who changed a device's settings: a `ConfigChange` queued for the organiser (the ledger names the staff on duty)."""
from __future__ import annotations

import time
from typing import Any

from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.sync.messages import CONFIG_KEYS, ConfigChange


def record_config_change(ledger: Ledger, old: DevicePolicy, new: DevicePolicy) -> dict[str, Any]:
    """Queue who changed which of the device's settings (mode, events, zones, direction, gate) for the organiser;
    the ledger names the staff on duty. Only with someone on duty (the organiser keeps staff): a device without
    staff records its settings as before. -> the changes queued."""
    if not ledger.on_duty:
        return {}
    before, after = old.to_json(), new.to_json()
    changes = {k: [before.get(k), after.get(k)] for k in CONFIG_KEYS if before.get(k) != after.get(k)}
    if changes:
        ledger.enqueue("config_change", ConfigChange(changes, new.device_id, at=time.time()).to_wire())
    return changes
