"""The lines `ticketgate agent scan`, `checkin`, `annul` and `search` print, in the device's language (agent.language:
the app's catalogue, agent/locale/fr.po; the verdict titles from agent.verdict_words). Pure.

English keeps the core's words as they were (the verdict's `detail`, the role and mode codes), but for a ticket for
an event of this device not selected on it: the core knows the event's number only, so English says the app's sentence
naming the event ('Ticket for Nuit 1, not selected on this device'), as French does. French says each part
with the app's words where the app has them, choosing on the verdict's code and `reason` as the app does, never on
the English detail (but for the two constant details the app matches too): what the organiser typed (a revocation's
or a block's reason, the names of events, zones, buyers, their messages) is shown as it is. `--json` has the codes.
"""
from __future__ import annotations

from typing import Any

from agent.event_names import EventNames
from agent.language import translate
from agent.payload import LOWER_CASE, NO_KEYS
from agent.policy import Mode
from agent.safe_text import printable, timestamp
from agent.ticket_state import STATE_WORDS
from agent.verdict_words import LOG_IN_FIRST, ON_DUTY, UNTRUSTED, pick, screen_title
from agent.verdicts import Code, Reason, Verdict

NO_SUCH_TICKET = "no such ticket on this device"        # agent.gate: a manual check-in of a key it does not hold
ROLE_WORDS = {"door": "Door steward", "desk": "Desk", "supervisor": "Supervisor"}    # the app's (its staff screen)

# the app's reasons (kiosk_ui.presenters.verdict), for the refusals whose detail is the core's own English
_APP_REASONS = {
    Code.UNPAID: "Payment pending: send the guest to the ticket desk.",
    Code.UNKNOWN_PRODUCT: "A ticket for a product this device does not admit. Call a supervisor.",
    Code.FORGED: "The signature does not match: this ticket was altered or copied. Call a supervisor.",
    Code.UNCERTIFIED: "Sold offline by a kiosk whose allotment is not valid here. Call a supervisor.",
    Code.UNKNOWN_KEY: "Issued by a key this device does not know. Check the event, or sync the device.",
    Code.MALFORMED: "This code is not a ticket. Scan the ticket's QR code.",
}
LOWER_CASE_SAID = ("A ticket read in lower case: turn off the scanner's Caps Lock or case conversion, then scan "
                   "again.")
_WHEN = "%Y-%m-%d %H:%M:%S UTC"


def human(v: Verdict, mode: Mode = Mode.NORMAL, messages: list[str] | None = None,
          names: EventNames | None = None, lang: str = "en", gate_zones: frozenset[int] | None = None) -> str:
    """A verdict on one line, headed by the title the app shows in this mode (TICKET CANCELLED, ALREADY READ — 2 s
    ago, CANCELLED — BACK ON SALE); zones named as the app names them (`names`: 'zones 1 (Floor)'); `messages`: the
    organiser's for an admission (the app's yellow band, e.g. 'VIP — hand out a wristband'), last. In `lang`;
    `gate_zones`: the zones this gate admits (a wrong zone's French line names them). `--json` has the code."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt)
    parts = [screen_title(v, mode, lang)]
    if v.code in UNTRUSTED:         # a fake, unknown issuer's or unreadable code: nothing it says is vouched for
        detail = v.detail if lang == "en" else _detail(v, mode, names, gate_zones, lang)
        return printable(" | ".join(parts + ([detail] if detail else []) + ([say("(repeat)")] if v.repeat else [])))
    if v.ticket_key:
        parts.append(say("ticket {key}", key=v.ticket_key))
    if v.event_id is not None:      # below 0: a pretix date no event of this device stands for (its number)
        parts.append(say("event {id}", id=v.event_id) if v.event_id >= 0 else
                     say("pretix date {id}", id=-v.event_id))
    if v.zones:
        parts.append(say("zones {list}", list=", ".join(_zone_name(names, v.event_id, z) for z in v.zones)))
    if v.seat:
        parts.append(say("seat {seat}", seat=v.seat))
    if v.first_use:       # a ticket put back on sale carries its cancellation there: it was never used
        fu = v.first_use
        when = timestamp(fu.at, _WHEN)
        what = ("cancelled for resale {when} on {device} at {gate}" if v.code is Code.CANCELLED
                else "first used {when} on {device} at {gate}")
        parts.append(say(what, when=when, device=fu.device_id, gate=fu.gate))
    for key, label in (("valid_from", "valid from {when}"), ("valid_until", "was valid until {when}")):
        if isinstance(v.extra.get(key), (int, float)):       # not_yet_valid / expired: when the guest may come in
            parts.append(say(label, when=timestamp(v.extra[key], _WHEN)))
    detail = v.detail if lang == "en" and not _names_event(v, names) else _detail(v, mode, names, gate_zones, lang)
    if detail:
        parts.append(detail)
    if v.repeat:         # quick cancellation: the app's words for a ticket put back on sale before
        parts.append(say("already cancelled — nothing new recorded") if mode is Mode.QUICK_CANCEL
                     and v.code is Code.CANCELLED else say("(repeat)"))
    parts += messages or []
    return printable(" | ".join(parts))


def _detail(v: Verdict, mode: Mode, names: EventNames | None, gate_zones: frozenset[int] | None, lang: str) -> str:
    """What the English line's detail says, in `lang`: chosen on the code and reason (the app's words where it has
    them); the organiser's own words (a revocation's or block's reason) as they are."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt).rstrip(".")
    c, r = v.code, v.reason
    if r is Reason.REREAD:
        return say("same code read again")
    if c is Code.ACCEPTED:
        return ""
    if c is Code.ALREADY_USED:
        return (say("already inside") if r is Reason.ALREADY_INSIDE else
                say("a used ticket cannot be put back on sale") if r is Reason.USED_NOT_FOR_RESALE else "")
    if c is Code.CANCELLED:
        return say("This ticket can be sold again.") if mode is Mode.QUICK_CANCEL else ""
    if c is Code.WRONG_ZONE:
        here = ", ".join(_zone_name(names, v.event_id, z) for z in sorted(gate_zones or ()))
        return say("Ticket for {zones}. This gate: {here}.",
                   zones=", ".join(_zone_name(names, v.event_id, z) for z in v.zones) or "?", here=here or "?")
    if c is Code.WRONG_EVENT:
        if r is Reason.DATE_NOT_MAPPED:
            return say("A date of the series this device has no mapping for. Call the technician.")
        if r is Reason.PASS_NOT_SELECTED:
            return say("A pass for other events, none of them selected on this device.")
        event = names.event(v.event_id) if names else None
        if event and event.get("name"):
            return say("Ticket for {event}, not selected on this device.", event=event["name"])
        return say("Ticket for another event, not on this device.")
    if c is Code.REVOKED:
        return say("The order was cancelled or refunded: not valid any more.") if r is Reason.ORDER_CANCELLED \
            else v.detail
    if c is Code.BLOCKED:
        return v.detail
    if r is Reason.NO_KEYS:
        return say(NO_KEYS)
    if c is Code.MALFORMED and v.detail in (LOWER_CASE, NO_SUCH_TICKET):
        return say(LOWER_CASE_SAID if v.detail == LOWER_CASE else NO_SUCH_TICKET)
    return say(_APP_REASONS[c]) if c in _APP_REASONS else v.detail


def _names_event(v: Verdict, names: EventNames | None) -> bool:
    """A wrong event the device holds by name: the app's sentence names it, where the core's says its number."""
    if v.code is not Code.WRONG_EVENT or v.reason is not Reason.EVENT_NOT_SELECTED or v.event_id is None:
        return False
    event = names.event(v.event_id) if names else None
    return bool(event and event.get("name"))


def _zone_name(names: EventNames | None, event_id: int | None, zone_id: int) -> str:
    """'1 (Floor)': the number `--zones` takes and the name the app shows; the number alone when unnamed."""
    row = names.zone(event_id, zone_id) if names else None
    return f"{zone_id} ({row['name']})" if row and row.get("name") else str(zone_id)


def role_word(role: str, lang: str) -> str:
    """A staff member's role: its code in English (as `--json` and the roster say it), the app's word in French."""
    return role if lang == "en" else translate(lang, ROLE_WORDS.get(role, role))


def on_duty_line(name: str, role: str, lang: str) -> str:
    """A staff badge scanned: 'ON DUTY | Sam Okafor (supervisor)'."""
    return printable(f"{pick(ON_DUTY, lang)} | {name} ({role_word(role, lang)})")


def login_needed_line(refusal: str, lang: str) -> str:
    """A ticket scanned with nobody (allowed) on duty: 'LOG IN FIRST | <why>: scan a staff badge, or …; nothing
    recorded'. `refusal`: the core's NotPermitted sentence (agent.staff_session), said in `lang`."""
    why = refusal
    if lang != "en":
        name = refusal.removeprefix("not allowed: ").rpartition(" (")[0] if refusal.startswith("not allowed: ") else ""
        why = (translate(lang, "{name} may not do this: call a supervisor.", name=name).rstrip(".") if name
               else translate(lang, refusal))
    return printable(f"{pick(LOG_IN_FIRST, lang)} | " + translate(
        lang, "{why}: scan a staff badge, or `ticketgate agent login --staff NAME --pin`; nothing recorded", why=why))


def undone_line(result: dict[str, Any], lang: str = "en") -> str:
    """What `agent annul` did, in the app's words for its Undo button: a quick cancellation undone gives the ticket
    back its use (no longer on sale), an entry undone lets its holder in again."""
    key = result["ticket_key"]
    what = ("Ticket {key} is valid again (cancellation undone)." if result.get("kind") == "cancel"
            else "Entry of ticket {key} undone.")
    return printable(translate(lang, what, key=key).rstrip(".") + " | "
                     + translate(lang, "check-in {uuid} annulled", uuid=result["annulled"]))


def search_line(r: dict[str, Any], lang: str = "en") -> str:
    """One ticket `agent search` found: key, order, buyer, e-mail, event, order status, out of use, and what a
    check-in here would say now (the app's list words)."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt)
    out_of_use = say(", out of use: {why}", why=r["revoked_reason"]) if r["revoked"] else ""
    return printable(f"{r['ticket_key']:>14}  {say('order')} {r['order_number']:<12} {r['buyer_name']:<28} "
                     f"{r['email']:<32} {say('event {id}', id=r['event_id'])} {say(str(r['order_status']))}"
                     f"{out_of_use} · {say(STATE_WORDS[r['state']])}")
