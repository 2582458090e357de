"""The staff login screen and the on-duty line: who is on duty, who may log in, what a badge scan did. Pure."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk_ui.i18n import tr
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


def on_duty_line(member: Any | None) -> str:
    if member is None:
        return tr("Nobody on duty: log in with your PIN or scan your staff badge.")
    return tr("On duty: {name} ({role})", name=member.name, role=role_label(member.role))


@dataclass(frozen=True)
class StaffView:
    on_duty: str
    hint: str
    people: tuple[tuple[str, str], ...]       # (staff id, "Name · Role") of the active members
    can_log_out: bool


def staff_view(members: list[Any], current: Any | None) -> StaffView:
    people = tuple((m.staff_id, f"{m.name} · {role_label(m.role)}") for m in members if m.active)
    return StaffView(on_duty_line(current), tr("Scan your staff badge, or tap your name and type your PIN."), people,
                     current is not None)


def logged_in_view(member: Any) -> VerdictView:
    """What the scan screen shows after a staff badge was scanned (not a ticket: nothing recorded)."""
    return VerdictView("attention", BLUE, tr("ON DUTY"), on_duty_line(member), (), "", "attention", "staff_login")


def login_needed_view(why: str = "") -> VerdictView:
    """A ticket scanned while nobody (allowed) is on duty: nothing was judged nor recorded."""
    return VerdictView("attention", ORANGE, tr("LOG IN FIRST"),
                       why or tr("Scan your staff badge or log in from the menu (Staff)."), (), "", "attention",
                       "login_needed")
