"""A ticket's history as the decision sees it, folded from the append-only action log.

Actions (rows of the ledger's `checkins` table, local or received from other gates):
`entry` (with direction), `cancel` (quick cancellation), `annul` (undoes one action by
scan uuid), `reset` (organiser clears every earlier action of the ticket).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Action:
    scan_uuid: str
    kind: str                  # entry | cancel | annul | reset
    at: float
    device_id: str = ""
    gate: str = ""
    event_id: int | None = None
    direction: str | None = None
    ref_uuid: str | None = None
    seq: int = 0               # ledger order; ties broken by it
    clock_offset: float = 0.0  # server time - device time when stamped (agent.clock): server time = at + offset
    mode: str | None = None    # the gate's mode (normal | entry_exit | multiple | quick_cancel), when known

    @property
    def server_at(self) -> float:
        return self.at + (self.clock_offset or 0.0)


@dataclass(frozen=True)
class LastRead:
    """This device's previous verdict for the very same code (kept in memory by the shell)."""
    at: float
    code: str
    direction: str | None
    event_id: int | None


@dataclass(frozen=True)
class TicketHistory:
    entries: tuple[Action, ...] = ()          # effective entries, oldest first
    cancelled: Action | None = None           # effective quick cancellation
    revoked: str | None = None                # reason, when revoked (order cancelled or refunded)
    blocked: str | None = None                # reason, when blocked by the organiser
    order_status: str | None = None           # paid | pending | cancelled | refunded | None (unknown)
    last_read: LastRead | None = None
    allotment_revoked: str | None = None      # reason, when the allotment a TG2 ticket was sold under is revoked

    def entries_for(self, event_id: int | None) -> tuple[Action, ...]:
        return tuple(a for a in self.entries if a.event_id == event_id)

    def inside(self, event_id: int | None) -> bool:
        """Entry/exit: inside this event now (`is_inside`, the rule of the read models)."""
        return is_inside(self.entries_for(event_id))


def is_inside(moves: Sequence[Action]) -> bool:
    """Who is inside, the one rule (the decision and agent.read_models): a ticket's effective entries for one event,
    the last one not an exit (an entry uploaded with no direction is an admission, as everywhere)."""
    return bool(moves) and moves[-1].direction != "out"


# a device's mark that the server refused one of its annulments (agent.ledger.Ledger.outbox_refuse): its `ref_uuid`
# names the annulment, which then undoes nothing, here as on the server. Never uploaded.
UNDO_REFUSED = "annul_refused"


def fold(actions: Iterable[Action]) -> tuple[tuple[Action, ...], Action | None]:
    """-> (effective entries, effective cancellation). Ordered on server time (device time + the offset the device
    had learned), then ledger order: gates with wrong clocks and the organiser's resets land on one time line."""
    ordered = sorted(actions, key=lambda a: (a.server_at, a.seq))
    refused = {a.ref_uuid for a in ordered if a.kind == UNDO_REFUSED}     # the server refused these annulments
    annulled = {a.ref_uuid for a in ordered if a.kind == "annul" and a.scan_uuid not in refused}
    live: list[Action] = []
    for a in ordered:
        if a.kind == "reset":
            live.clear()
        elif a.kind in ("entry", "cancel") and a.scan_uuid not in annulled:
            live.append(a)
    entries = tuple(a for a in live if a.kind == "entry")
    cancels = [a for a in live if a.kind == "cancel"]
    return entries, (cancels[-1] if cancels else None)
