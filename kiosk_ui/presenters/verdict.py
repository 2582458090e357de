"""Verdict -> what the door person sees: colour, a big title, the reason in plain words, details.

The kind (accept / reject / attention) comes from the drivers' `feedback_for` (one mapping, per-device overrides);
what is shown is chosen on the verdict's code and `reason` (`agent.verdicts.Reason`), never on its detail text.
A re-read within the window gets its own blue screen: it must never look like a first entry."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import Callable, Protocol

from agent.payload import LOWER_CASE
from agent.policy import Mode
from agent.safe_text import timestamp
from agent.event_names import organiser_messages
from agent.verdict_words import UNTRUSTED, screen_title
from agent.verdicts import Code, Reason, Verdict
from drivers.feedback.mapping import ATTENTION, FeedbackConfig, feedback_for
from kiosk_ui.i18n import language, tr
from kiosk_ui.presenters.colours import BLUE, GREEN, ORANGE, PURPLE, RED


class Names(Protocol):
    def event(self, event_id: int | None) -> dict | None: ...
    def zone(self, event_id: int | None, zone_id: int) -> dict | None: ...
    def category(self, event_id: int | None, category_id: int | None) -> dict | None: ...
    def ticket(self, ticket_key: str | None) -> dict | None: ...


@dataclass(frozen=True)
class VerdictView:
    tone: str                       # accepted | refused | attention | cancel | repeat
    colour: tuple
    title: str                      # ACCEPTED — IN
    reason: str                     # plain words: why (empty when accepted)
    details: tuple[str, ...]        # category, zone, seat, buyer
    message: str                    # organiser's message for the category / zone
    kind: str                       # the feedback kind: accept | reject | attention
    code: str
    repeat: bool = False


def event_tz(event: dict | None):
    """Times are shown in the event's timezone (where the door is), UTC when unknown."""
    try:
        return ZoneInfo((event or {}).get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def fmt_time(ts: float | None, tz=None) -> str:
    if ts is None:
        return "?"
    return timestamp(ts, "%H:%M", tz or timezone.utc)


def fmt_datetime(ts: float | None, tz=None) -> str:
    if ts is None:
        return "?"
    return timestamp(ts, "%d/%m %H:%M", tz or timezone.utc)


def present(v: Verdict, names: Names, mode: Mode = Mode.NORMAL, gate_zones: frozenset[int] | None = None,
            show_buyer: bool = True, tz=None, feedback: FeedbackConfig = FeedbackConfig()) -> VerdictView:
    zone_names = [_name(names.zone(v.event_id, z), tr("zone {n}", n=z)) for z in v.zones]
    tz = tz or event_tz(names.event(v.event_id))
    kind = feedback_for(v, feedback).kind
    details = _details(v, names, zone_names, show_buyer) if v.code not in UNTRUSTED else ()
    view = lambda tone, colour, title, reason, message="": VerdictView(  # noqa: E731
        tone, colour, title, reason, details, message, kind, v.code.value, v.repeat)
    title = screen_title(v, mode, language())
    if v.reason is Reason.REREAD and v.accepted:
        if v.direction == "out":
            return view("repeat", BLUE, title, tr("Same ticket read again: its exit is already recorded."))
        return view("repeat", BLUE, title,
                    tr("Same ticket read again: nothing new recorded. Another person showing it? Refuse: it was just used."))
    if mode is Mode.QUICK_CANCEL and v.code is Code.CANCELLED:
        reason = tr("This ticket can be sold again.")
        if v.repeat:
            reason += "\n" + tr("(already cancelled — nothing new recorded)")
        return view("cancel", PURPLE, title, reason)
    if v.accepted:
        return view("accepted", GREEN, title, "", _message(v, names))
    tone, colour = ("attention", ORANGE) if kind == ATTENTION else ("refused", RED)
    return view(tone, colour, title, _reason(v, names, zone_names, gate_zones, tz))


def _name(row: dict | None, fallback: str) -> str:
    return row["name"] if row and row.get("name") else fallback


def _reason(v: Verdict, names: Names, zone_names: list[str], gate_zones, tz) -> str:
    c = v.code
    if c is Code.ALREADY_USED:
        if v.reason is Reason.USED_NOT_FOR_RESALE:
            when = fmt_datetime(v.first_use.at, tz) if v.first_use else "?"
            return tr("Used at {when}: a used ticket cannot go back on sale.", when=when)
        if v.reason is Reason.ALREADY_INSIDE:
            when = fmt_time(v.first_use.at, tz) if v.first_use else "?"
            return tr("Already inside since {when} (gate {gate}).", when=when, gate=v.first_use.gate if v.first_use else "?")
        if v.first_use:
            return tr("Used at {when} at gate {gate} ({device}).", when=fmt_datetime(v.first_use.at, tz),
                      gate=v.first_use.gate or "?", device=v.first_use.device_id)
        return tr("This ticket was already used.")
    if c is Code.WRONG_ZONE:
        here = ", ".join(_name(names.zone(v.event_id, z), tr("zone {n}", n=z)) for z in sorted(gate_zones or ()))
        return tr("Ticket for {zones}. This gate: {here}.", zones=", ".join(zone_names) or "?", here=here or "?")
    if c is Code.WRONG_EVENT:
        return _wrong_event(v, names)
    if c is Code.NOT_YET_VALID:
        return tr("Valid from {when}.", when=fmt_datetime(v.extra.get("valid_from"), tz))
    if c is Code.EXPIRED:
        return tr("Was valid until {when}.", when=fmt_datetime(v.extra.get("valid_until"), tz))
    if c is Code.REVOKED:
        if v.reason is Reason.ORDER_CANCELLED:
            return tr("The order was cancelled or refunded: not valid any more.")
        return tr("Cancelled by the organiser: {why}.", why=v.detail or "?")
    if c is Code.BLOCKED:
        return tr("Blocked by the organiser: {why}. Call a supervisor.", why=v.detail or "?")
    if c is Code.UNPAID:
        return tr("Payment pending: send the guest to the ticket desk.")
    if c is Code.CANCELLED:
        when = fmt_datetime(v.first_use.at, tz) if v.first_use else "?"
        return tr("Cancelled for resale on {when}: not valid any more.", when=when)
    if c is Code.UNKNOWN_PRODUCT:
        return tr("A ticket for a product this device does not admit. Call a supervisor.")
    if c is Code.FORGED:
        return tr("The signature does not match: this ticket was altered or copied. Call a supervisor.")
    if c is Code.UNCERTIFIED:
        return tr("Sold offline by a kiosk whose allotment is not valid here. Call a supervisor.")
    if c is Code.UNKNOWN_KEY and v.reason is Reason.NO_KEYS:
        return tr("This device trusts no ticket keys yet: enroll it on the Set-up screen with the organiser's enrollment QR or code, then scan again.")
    if c is Code.UNKNOWN_KEY:
        return tr("Issued by a key this device does not know. Check the event, or sync the device.")
    if v.detail == LOWER_CASE:
        return tr("A ticket read in lower case: turn off the scanner's Caps Lock or case conversion, then scan again.")
    return tr("This code is not a ticket. Scan the ticket's QR code.")


def _wrong_event(v: Verdict, names: Names) -> str:
    if v.reason is Reason.DATE_NOT_MAPPED:
        return tr("A date of the series this device has no mapping for. Call the technician.")
    if v.reason is Reason.PASS_NOT_SELECTED:
        return tr("A pass for other events, none of them selected on this device.")
    event = names.event(v.event_id)
    if not event:
        return tr("Ticket for another event, not on this device.")
    when = fmt_datetime(event.get("starts_at"), event_tz(event)) if event.get("starts_at") else ""
    what = f"{event['name']} ({when})" if when else event["name"]
    return tr("Ticket for {event}, not selected on this device.", event=what)


def _details(v: Verdict, names: Names, zone_names: list[str], show_buyer: bool) -> tuple[str, ...]:
    out = []
    cat = names.category(v.event_id, v.category) if v.category else None
    if cat:
        out.append(tr("Category: {name}", name=cat["name"]))
    if zone_names:
        out.append(tr("Zone: {name}", name=", ".join(zone_names)))
    if v.seat:
        out.append(tr("Seat: {seat}", seat=v.seat))
    ticket = names.ticket(v.ticket_key)
    if show_buyer and ticket and ticket.get("buyer_name"):
        out.append(tr("Name: {name}", name=ticket["buyer_name"]))
    return tuple(out)


def _message(v: Verdict, names: Names) -> str:
    """The organiser's messages for this category and its zones, accepted only (agent.event_names)."""
    return "\n".join(organiser_messages(v, names))


Presenter = Callable[[Verdict], VerdictView]
