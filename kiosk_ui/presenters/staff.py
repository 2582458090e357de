"""The staff login screen and the on-duty line: who is on duty, who may log in, what a badge scan did. Pure."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.verdict_words import LOG_IN_FIRST, ON_DUTY, pick
from kiosk_ui.i18n import language, tr
from kiosk_ui.presenters.colours import BLUE, ORANGE
from kiosk_ui.presenters.verdict import VerdictView

def role_label(role: str) -> str:
    if role == "door":
        return tr("Door steward")
    if role == "desk":
        return tr("Desk")
    if role == "supervisor":
        return tr("Supervisor")
    return role


def on_duty_line(member: Any | None, deactivated: Any | None = None) -> str:
    """Who is on duty; nobody: how to log in, or that the organiser deactivated the member who was (`deactivated`)."""
    if member is None and deactivated is not None:
        return tr("{name} is deactivated: ask the organiser.", name=deactivated.name)
    if member is None:
        return tr("Nobody on duty: log in with your PIN or scan your staff badge.")
    return tr("On duty: {name} ({role})", name=member.name, role=role_label(member.role))


@dataclass(frozen=True)
class StaffView:
    on_duty: str
    hint: str
    people: tuple[tuple[str, str], ...]       # (staff id, "Name · Role") of the active members
    can_log_out: bool


def staff_view(members: list[Any], current: Any | None, deactivated: Any | None = None) -> StaffView:
    people = tuple((m.staff_id, f"{m.name} · {role_label(m.role)}") for m in members if m.active)
    return StaffView(on_duty_line(current, deactivated), tr("Scan your staff badge, or tap your name and type your PIN."), people,
                     current is not None)


def logged_in_view(member: Any) -> VerdictView:
    """What the scan screen shows after a staff badge was scanned (not a ticket: nothing recorded)."""
    return VerdictView("attention", BLUE, pick(ON_DUTY, language()), on_duty_line(member), (), "", "attention", "staff_login")


def login_needed_view(why: str = "") -> VerdictView:
    """A ticket scanned while nobody (allowed) is on duty: nothing was judged nor recorded."""
    return VerdictView("attention", ORANGE, pick(LOG_IN_FIRST, language()),
                       why or tr("Scan your staff badge or log in from the menu (Staff)."), (), "", "attention",
                       "login_needed")


# The core's staff refusals (agent/staff.py, agent/staff_session.py) are English sentences; each one the app can show
# is matched here and said in the app's language (tr() on each template: tests/test_ui_i18n.py checks the French).
_STAFF_MESSAGES: tuple[tuple[str, Any], ...] = (
    (r"wrong PIN", lambda: tr("Wrong PIN.")),
    (r"too many wrong PINs: wait (?P<s>\d+) s", lambda s: tr("Too many wrong PINs: wait {s} s.", s=s)),
    (r"a PIN is 4 to 8 digits", lambda: tr("A PIN is 4 to 8 digits.")),
    (r"(?P<name>.+) is deactivated", lambda name: tr("{name} is deactivated: ask the organiser.", name=name)),
    (r"unknown staff badge", lambda: tr("Unknown staff badge.")),
    (r"a badge of another organiser", lambda: tr("A badge of another organiser.")),
    (r"this badge of (?P<name>.+) was replaced by a newer one",
     lambda name: tr("This badge of {name} was replaced by a newer one.", name=name)),
    (r"not a staff badge", lambda: tr("Not a staff badge.")),
    (r"forged badge \(not signed by this organiser\)", lambda: tr("Forged badge (not signed by this organiser).")),
    (r"unreadable badge", lambda: tr("Unreadable badge.")),
    (r"this device is not enrolled: it cannot check a badge",
     lambda: tr("This device is not enrolled: it cannot check a badge.")),
    (r"no staff member (?P<who>.+?) on this device: did you mean (?P<close>.+?)\? give the full name.*",
     lambda who, close: tr("No staff member {who} on this device: did you mean {close}?", who=who, close=close)),
    (r"no staff member (?P<who>.+?) on this device(?:: .*)?",
     lambda who: tr("No staff member {who} on this device.", who=who)),
    (r"several staff members are called (?P<who>.+): use the staff id",
     lambda who: tr("Several staff members are called {who}: use the staff id.", who=who)),
    (r"log in first \(PIN or staff badge\)", lambda: tr("Scan your staff badge or log in from the menu (Staff).")),
    (r"not allowed: (?P<name>.+) \(\w+\) cannot .+",
     lambda name: tr("{name} may not do this: call a supervisor.", name=name)),
)


def staff_message(text: str) -> str:
    """A staff refusal from the core (its English words) in the app's language; an unknown one as it is."""
    import re
    for pattern, say in _STAFF_MESSAGES:
        m = re.fullmatch(pattern, text)
        if m:
            return say(**m.groupdict())
    return text
