"""A ticket that was used at the door is not exchanged: the replacement would be a second, unused entry for one
purchase. "Used" is an effective admission (agent.history.fold: an annulled entry does not count, a reset clears
them), an entry `in` even when the holder went out since. The server judges on every gate's entries
(server_stub.store.exchanges), a kiosk offline on what its ledger holds (agent.desk)."""
from __future__ import annotations

from datetime import timezone, tzinfo
from typing import Iterable

from agent.history import Action
from agent.reasons import Reason, reason
from agent.safe_text import timestamp


def first_admission(entries: Iterable[Action]) -> Action | None:
    """The first effective entry that is not an exit, or None: the ticket is unused."""
    return next((a for a in entries if a.direction != "out"), None)


def used_refusal(ticket_key: str, entries: Iterable[Action], tz: tzinfo = timezone.utc) -> Reason | None:
    """Why the ticket is not exchanged (reason `ticket_used`: when and where it was admitted, how to undo it), or
    None when it has no effective admission."""
    first = first_admission(entries)
    if first is None:
        return None
    at = timestamp(first.server_at, "%Y-%m-%d %H:%M %Z", tz)
    where = f"{first.gate} ({first.device_id})" if first.gate else first.device_id
    return reason("ticket_used", f"ticket {ticket_key} was used: admitted {at} at {where}; not exchanged. To "
                  f"exchange it, the organiser first resets its entry (ticketgate server ticket reset {ticket_key} "
                  "--reason ...)", ticket=ticket_key, at=at, where=where)
