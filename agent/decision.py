"""The check-in decision: a pure function of (decoded ticket, device policy, history, now) -> verdict.

The checks run in the order of CHECKS, each returning a verdict to stop at or None to go on.
No I/O, no clock, no randomness: the shell (agent.gate) reads history and persists the result.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from agent.history import TicketHistory
from agent.payload import Decoded
from agent.policy import DevicePolicy, Mode
from agent.ticket_format import Ticket
from agent.verdicts import IN, OUT, Code, FirstUse, Reason, Verdict

Check = Callable[["Context"], Optional[Verdict]]


class Context:
    __slots__ = ("decoded", "policy", "history", "now", "event_id")

    def __init__(self, decoded: Decoded, policy: DevicePolicy, history: TicketHistory, now: float):
        self.decoded, self.policy, self.history, self.now = decoded, policy, history, now
        self.event_id: int | None = None

    @property
    def ticket(self) -> Ticket:
        """The decoded ticket: every check after check_payload runs only when there is one."""
        if self.decoded.ticket is None:
            raise AssertionError("a check that reads the ticket ran before check_payload")
        return self.decoded.ticket

    def verdict(self, code: Code, detail: str = "", **kw: Any) -> Verdict:
        t = self.decoded.ticket
        return Verdict(code=code, detail=detail, event_id=self.event_id if self.event_id is not None else (t.event_id if t else None),
                       ticket_key=t.key if t else None, category=t.category if t else None,
                       zones=t.zones if t else (), seat=t.seat if t else None, **kw)


def check_payload(c: Context) -> Verdict | None:
    status = c.decoded.status
    if status == "ok":
        return None
    return c.verdict(Code(status), c.decoded.detail, reason=Reason.NO_KEYS if c.decoded.no_keys else None)


def check_allotment(c: Context) -> Verdict | None:
    """A ticket a kiosk sold offline (TG2) counts only under a certificate an organiser key signed, not revoked,
    valid now, whose range, events and categories cover it."""
    proof = c.decoded.allotment
    if proof is None:
        return None
    cert = proof.certificate
    if not proof.certified:
        return c.verdict(Code.UNCERTIFIED, proof.detail, reason=Reason.ALLOTMENT_UNTRUSTED)
    if c.history.allotment_revoked is not None:
        return c.verdict(Code.UNCERTIFIED, f"allotment {cert.allotment_id} revoked: {c.history.allotment_revoked}",
                         reason=Reason.ALLOTMENT_REVOKED)
    if not cert.active_at(c.now):
        return c.verdict(Code.UNCERTIFIED, f"allotment {cert.allotment_id} is valid {cert.valid_from}..{cert.valid_until}",
                         reason=Reason.ALLOTMENT_EXPIRED)
    outside = cert.covers(c.ticket)
    if outside is not None:
        return c.verdict(Code.UNCERTIFIED, outside, reason=Reason.ALLOTMENT_OUT_OF_RANGE)
    return None


def check_event(c: Context) -> Verdict | None:
    t, p = c.ticket, c.policy
    if t.event_id < 0:   # a pretix date with no mapping on this device (agent.pretix_sig1.event_for)
        return c.verdict(Code.WRONG_EVENT, "this date of the series is not mapped on this device",
                         reason=Reason.DATE_NOT_MAPPED)
    opens = p.pass_events.get(t.event_id, frozenset()) if t.is_pass else frozenset({t.event_id})
    selected = p.events or p.known_events    # no selection: the events this device knows (None: any)
    candidates = sorted(opens & selected) if selected is not None else sorted(opens)
    if not candidates:
        what = f"pass {t.event_id}" if t.is_pass else f"event {t.event_id}"
        held = p.known_events is None or bool(opens & p.known_events)    # else no event data of it here at all
        return c.verdict(Code.WRONG_EVENT, f"{what} is not selected on this device" if held else
                         f"{what} is not on this device (not one of its events, or removed by the organiser)",
                         reason=Reason.PASS_NOT_SELECTED if t.is_pass else Reason.EVENT_NOT_SELECTED)
    c.event_id = candidates[0] if len(candidates) == 1 else nearest_event(candidates, p.event_times, c.now)
    return None


def nearest_event(candidates: list[int], times: dict[int, tuple[float | None, float | None]], now: float) -> int:
    """A pass opening several selected events counts for the one happening now, else the nearest in time
    (events without dates come last; ties: lowest id)."""
    def distance(event_id: int) -> float:
        start, end = times.get(event_id, (None, None))
        if start is None:
            if end is None:
                return float("inf")
            start = end
        if end is None:
            end = start
        return 0.0 if start <= now <= end else min(abs(now - start), abs(now - end))
    return min(candidates, key=lambda e: (distance(e), e))


def check_product(c: Context) -> Verdict | None:
    item = c.ticket.unknown_item
    if item is None:
        return None
    return c.verdict(Code.UNKNOWN_PRODUCT, f"pretix item {item} is not in this device's item mapping")


def check_zone(c: Context) -> Verdict | None:
    allowed = c.policy.zones
    if allowed is None or not c.ticket.zones or set(c.ticket.zones) & allowed:
        return None
    return c.verdict(Code.WRONG_ZONE, f"ticket zones {list(c.ticket.zones)}, this gate takes {sorted(allowed)}")


def check_validity(c: Context) -> Verdict | None:
    t = c.ticket
    valid_from, valid_until = t.valid_from, t.valid_until
    if t.is_pass and c.event_id is not None:
        # a pass carries the window of all its events; counted for one (check_event), it is held to that event's
        # own: a weekend pass at Saturday's gate on Friday is not yet valid there (its Saturday entry not spent)
        start, end = c.policy.event_windows.get(c.event_id, (None, None))
        if t.scheme == "tg1" and c.decoded.allotment is None and start is not None and end is not None:
            # the server drew its QR's window from the pass's events when it issued it; the pass in the signed
            # bundle is the organiser's current one (`server pass edit`): an event it gained since counts by its
            # own window, outside the old one (a season pass given a later date). A TG2 sale (read by the TG1 body
            # parser, so scheme tg1 too) carries an allotment: the window its kiosk signed stays
            valid_from, valid_until = start, end
        valid_from = start if valid_from is None or (start is not None and start > valid_from) else valid_from
        valid_until = end if valid_until is None or (end is not None and end < valid_until) else valid_until
    if valid_from is not None and c.now < valid_from and c.policy.mode is not Mode.QUICK_CANCEL:
        # (the box office puts its unsold pre-printed stock back on sale before the event: not valid yet is no bar;
        # an expired ticket's event is over and stays refused)
        return c.verdict(Code.NOT_YET_VALID, "", extra={"valid_from": valid_from})
    if valid_until is not None and c.now >= valid_until:
        return c.verdict(Code.EXPIRED, "", extra={"valid_until": valid_until})
    return None


def check_revoked(c: Context) -> Verdict | None:
    h = c.history
    if h.revoked is not None:
        return c.verdict(Code.REVOKED, h.revoked)
    if h.order_status in ("cancelled", "refunded") and not (h.order_status == "cancelled" and h.cancelled):
        # (an order cancelled because its tickets were quick-cancelled at a door: check_cancelled says so)
        return c.verdict(Code.REVOKED, f"order {h.order_status}", reason=Reason.ORDER_CANCELLED)
    return None


def check_blocked(c: Context) -> Verdict | None:
    return c.verdict(Code.BLOCKED, c.history.blocked) if c.history.blocked is not None else None


def check_paid(c: Context) -> Verdict | None:
    return c.verdict(Code.UNPAID, "payment pending") if c.history.order_status == "pending" else None


def check_cancelled(c: Context) -> Verdict | None:
    cancel = c.history.cancelled
    if cancel is None:
        return None
    repeat = c.policy.mode is Mode.QUICK_CANCEL   # cancelling again is idempotent: same verdict, nothing new
    return c.verdict(Code.CANCELLED, "ticket was cancelled for resale", repeat=repeat,
                     first_use=FirstUse(cancel.server_at, cancel.device_id, cancel.gate))


def check_reread(c: Context) -> Verdict | None:
    last, window = c.history.last_read, c.policy.reread_window
    if last is None or window <= 0 or c.now - last.at > window or c.now < last.at:
        return None
    if last.code not in (Code.ACCEPTED.value, Code.CANCELLED.value):
        return None   # refusals are recomputed anyway
    return c.verdict(Code(last.code), "same code read again", direction=last.direction, repeat=True,
                     reason=Reason.REREAD, since_read=c.now - last.at)


def check_mode(c: Context) -> Verdict | None:
    p, h = c.policy, c.history
    entries = h.entries_for(c.event_id)
    if p.mode is Mode.QUICK_CANCEL:
        if h.entries:
            first = h.entries[0]
            return c.verdict(Code.ALREADY_USED, "a used ticket cannot be put back on sale",
                             first_use=FirstUse(first.server_at, first.device_id, first.gate), reason=Reason.USED_NOT_FOR_RESALE)
        return c.verdict(Code.CANCELLED, "ticket cancelled, back on sale", record="cancel")
    if p.mode is Mode.MULTIPLE:
        return c.verdict(Code.ACCEPTED, direction=IN, record="entry")
    if p.mode is Mode.ENTRY_EXIT:
        inside = h.inside(c.event_id)
        direction = p.direction or (OUT if inside else IN)
        if direction == IN and inside:
            last = entries[-1]
            return c.verdict(Code.ALREADY_USED, "already inside",
                             first_use=FirstUse(last.server_at, last.device_id, last.gate), reason=Reason.ALREADY_INSIDE)
        return c.verdict(Code.ACCEPTED, direction=direction, record="entry")
    ins = [a for a in entries if a.direction != OUT]
    if ins:
        first = ins[0]
        return c.verdict(Code.ALREADY_USED, first_use=FirstUse(first.server_at, first.device_id, first.gate))
    return c.verdict(Code.ACCEPTED, direction=IN, record="entry")


# The order is the policy: cheapest and most fundamental first; a verdict stops the list.
CHECKS: tuple[Check, ...] = (
    check_payload,     # malformed / unknown_key / forged
    check_allotment,   # uncertified (a kiosk's offline sale: certificate untrusted, revoked, expired, out of range)
    check_event,       # wrong_event (also picks the event a pass counts for)
    check_product,     # unknown_product (a pretix item the device's item mapping does not name)
    check_zone,        # wrong_zone
    check_validity,    # not_yet_valid / expired
    check_revoked,     # revoked (order cancelled or refunded)
    check_blocked,     # blocked
    check_paid,        # unpaid
    check_cancelled,   # cancelled (quick cancellation done)
    check_reread,      # camera read the same code again: repeat the verdict
    check_mode,        # accepted / already_used / cancelled per mode
)


def decide(decoded: Decoded, policy: DevicePolicy, history: TicketHistory, now: float) -> Verdict:
    ctx = Context(decoded, policy, history, now)
    for check in CHECKS:
        verdict = check(ctx)
        if verdict is not None:
            return verdict
    raise AssertionError("check_mode always returns a verdict")
