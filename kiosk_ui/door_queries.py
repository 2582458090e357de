"""Read-only figures for the door screens (counters, stats), from the ledger's read models (agent.read_models)."""
from __future__ import annotations

from agent.ledger import Ledger
from agent.wiped_status import inside_shown


def inside_now(ledger: Ledger, events: frozenset[int] | None = None, enrolled: bool = True) -> int:
    """People inside now (all gates this device knows of; annulments and organiser resets applied): the ledger's
    read model (agent.read_models); none on a device wiped and not enrolled again (agent.wiped_status)."""
    return sum(inside_shown(ledger, enrolled, events).values())


def stats_rows(ledger: Ledger, by: str) -> list[tuple[str, int, int]]:
    """(label, entries in, exits) grouped by event, zone or gate, from effective entries (the ledger's read model)."""
    return ledger.movements(by)


def last_upload(ledger: Ledger) -> float | None:
    """When the server last acknowledged something from this device."""
    return ledger.last_acked()


def conflicts(ledger: Ledger) -> int:
    """Tickets admitted twice for an event (the server's rule, agent.read_models), once other gates' entries arrive."""
    return len(ledger.conflicts())
