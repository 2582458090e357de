"""What a manual check-in of a ticket would say now, named for a list: the app's search and order lists
(kiosk_ui.door) and `ticketgate agent search`. One definition of the states and their English words (the app
and `agent search --lang fr` translate them: agent/locale/fr.po)."""
from __future__ import annotations

from dataclasses import replace

from agent.gate import Gate
from agent.policy import Mode
from agent.verdicts import Code, Reason, Verdict

STATE_WORDS = {"valid": "valid", "inside": "inside now", "used": "used", "cancelled": "cancelled for resale",
               "revoked": "cancelled / refunded", "blocked": "blocked", "unpaid": "payment pending",
               "other_event": "other event", "other_zone": "other zone", "not_yet_valid": "not valid yet",
               "expired": "expired", "invalid": "not valid"}
_STATE_OF = {Code.ALREADY_USED: "used", Code.REVOKED: "revoked", Code.BLOCKED: "blocked", Code.UNPAID: "unpaid",
             Code.CANCELLED: "cancelled", Code.WRONG_EVENT: "other_event", Code.WRONG_ZONE: "other_zone",
             Code.NOT_YET_VALID: "not_yet_valid", Code.EXPIRED: "expired"}


def list_state(v: Verdict) -> str:
    if v.accepted:
        return "inside" if v.direction == "out" else "valid"       # entry/exit: a check-in now would be an exit
    if v.reason is Reason.ALREADY_INSIDE:
        return "inside"
    return _STATE_OF.get(v.code, "invalid")


def ticket_state(gate: Gate, ticket_key: str, at_this_gate: bool = True) -> str:
    """The core's decision for this ticket now, nothing recorded (Gate.judge_by_key: the checks in their one order),
    named for a list: valid / inside / used / revoked / blocked / unpaid / cancelled / other_event / other_zone /
    not_yet_valid / expired (at this gate only: the desk's view of an order holds at any time). Quick cancellation
    is never what a list asks about."""
    policy = gate.policy
    mode = Mode.NORMAL if policy.mode is Mode.QUICK_CANCEL else policy.mode
    policy = replace(policy, mode=mode) if at_this_gate else replace(policy, mode=mode, events=frozenset(), zones=None)
    return list_state(gate.judge_by_key(ticket_key, policy, window=at_this_gate))
