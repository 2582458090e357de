"""The lines `ticketgate agent status` prints, in the device's language (agent.language; `--json` has the codes). Pure.

English keeps its codes (mode normal, counters by their JSON names); French says them with the app's words."""
from __future__ import annotations

from typing import Any, Callable

from agent.cli_words import role_word
from agent.language import translate, translate_in
from agent.policy import MODE_WORDS, Mode
from agent.safe_text import printable

COUNT_WORDS = ("events", "tickets", "checkins", "revocations", "blocked", "outbox_pending", "outbox_refused")


def status_lines(status: dict[str, Any], lang: str, *, policy_stored: bool, staff_kept: bool, trusted: int,
                 pretix: int, describe: Callable[[str, Any], str]) -> list[str]:
    """`status`: what `agent status --json` prints. `policy_stored`: settings were stored (else the defaults name no
    device); `staff_kept`: the organiser keeps staff (nobody on duty is said); `describe(part, value)`: the line
    of a part said elsewhere (wiped, broker_login, refused) in `lang`."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt)
    identity, pol = status["identity"], status["policy"]
    lines = [printable(say("enrolled: organiser {org}, {role} {device}", org=identity["org"],
                           role=say(identity["role"]), device=identity["device_id"])) if identity
             else say("not enrolled (no sync): see `ticketgate provision enroll`")]
    lines.append(settings_line(pol, lang, policy_stored))
    # the counters' words agree with a number ('bloqués 2'), not with a ticket ('bloqué', the same English word)
    lines.append("  " + ", ".join(f"{translate_in(lang, 'count', k)} {v}" for k, v in status["counts"].items()))
    if status.get("wiped") is not None:
        lines.append(printable("  " + describe("wiped", status["wiped"])))
    if status["on_duty"]:
        duty = status["on_duty"]
        lines.append(printable("  " + say("on duty: {name} ({role})", name=duty["name"],
                                          role=role_word(duty["role"], lang))))
    elif staff_kept:
        lines.append("  " + say("on duty: nobody (log in: `ticketgate agent login`)"))
    if status["inside"]:
        lines.append("  " + say("inside now: {list}", list=", ".join(say("event {id}: {n}", id=k, n=v)
                                                                   for k, v in status["inside"].items())))
    lines.append("  " + say("{keys} trusted key(s), {pretix} pretix event(s)", keys=trusted, pretix=pretix))
    if identity:
        lines.append("  " + say("broker login: {state}", state=describe("broker_login", status["broker_login"])))
    for r in status["refused_uploads"]:
        lines.append(printable("  " + describe("refused", r)))
    if "integrity" in status:
        lines.append("  " + say("integrity: {result}", result=say(str(status["integrity"]))))
    return lines


def settings_line(pol: dict[str, Any], lang: str, policy_stored: bool = True) -> str:
    """The device's settings (`DevicePolicy.to_json()`) on one line: 'device tab-4 at west: mode entry_exit, events
    [2], zones [1, 3]'. `policy_stored`: settings were stored (else the defaults name no device)."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt)
    # no settings stored (new, or wiped): the defaults' "device device at gate" named nothing
    where = (say("device {device} at {gate}", device=pol["device_id"], gate=pol["gate"]) if policy_stored else
             say("no device id or gate set (`agent configure --device-id ID --gate G`, or enroll)"))
    mode = pol["mode"] if lang == "en" else say(MODE_WORDS[Mode(pol["mode"])])
    return printable(say("{where}: mode {mode}, events {events}, zones {zones}", where=where, mode=mode,
                         events=pol["events"] or translate_in(lang, "events", "all"),
                         zones=pol["zones"] or translate_in(lang, "zones", "all")))


_DIRECTIONS = {"in": "entries only", "out": "exits only", None: "in and out in turn"}


def configured_lines(pol: dict[str, Any], lang: str) -> list[str]:
    """What `agent configure` saved, as `agent status` says the settings (its --json prints the settings' JSON)."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt)
    window = pol["reread_window"]
    lines = [say("settings saved: {settings}", settings=settings_line(pol, lang))]
    if pol["mode"] == Mode.ENTRY_EXIT.value:
        lines.append("  " + say("direction: {direction}", direction=say(_DIRECTIONS.get(pol["direction"], "?"))))
    lines.append("  " + (say("the same code read again within {n} s repeats its verdict (nothing recorded)",
                             n=f"{window:g}") if window else say("a code read again is judged again")))
    return lines
