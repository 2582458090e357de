"""What `ticketgate agent status` says about a device wiped and not enrolled again: whose uploads it still holds,
how many of each kind, and what becomes of them (provisioning.device.wipe writes the mark)."""
from __future__ import annotations

from typing import Any

from agent.home import WIPED_IDENTITY
from agent.language import translate
from agent.ledger import Ledger

_KINDS = {"action": "check-in(s) or cancellation(s)", "refusal": "refused scan(s) for the statistics",
          "kiosk": "kiosk record(s)", "cmd_result": "answer(s) to the organiser's commands"}


def wiped_status(ledger: Ledger, enrolled: bool) -> dict[str, Any] | None:
    """None unless wiped and not enrolled since; else {device_id, revoked, reason, uploads_kept, kinds}."""
    mark = ledger.get_setting(WIPED_IDENTITY)
    if enrolled or not isinstance(mark, dict):
        return None
    kinds = ledger.outbox_kinds()
    return {"device_id": mark.get("device_id"), "revoked": not mark.get("carry_over"),
            "reason": str(mark.get("reason") or ""), "uploads_kept": sum(kinds.values()), "kinds": kinds}


def inside_shown(ledger: Ledger, enrolled: bool, events: frozenset[int] | None = None) -> dict[int | None, int]:
    """Who is inside now, as `agent status` and the app's strip say it: nothing on a device wiped and not enrolled
    again. Its scan log stays (uploaded later, or kept as the record), but the event it counted for is gone from it:
    "inside now: event 1: 1" spoke of an event the device no longer holds."""
    if not enrolled and isinstance(ledger.get_setting(WIPED_IDENTITY), dict):
        return {}
    return ledger.inside(events)


_REMOVED = (("ledger", "the orders, names and event data"), ("keyring", "the ticket keys"),
            ("credentials", "the broker login"), ("device_key", "the device key"))


def removed_text(done: dict[str, Any]) -> str:
    """What a wipe removed (provisioning.device.wipe's answer), in words: "removed the orders, names and event data,
    the ticket keys, the broker login and the device key" (it printed the dict)."""
    gone = [words for key, words in _REMOVED if done.get(key)]
    said = ("removed " + (", ".join(gone[:-1]) + " and " + gone[-1] if len(gone) > 1 else gone[0])) if gone \
        else "nothing left to remove"
    unsent = int(done.get("unsent") or 0)
    return said + (f"; {unsent} upload(s) not sent kept on it" if unsent else "")


def describe(w: dict[str, Any], lang: str = "en") -> str:
    """The wipe `wiped_status` found, in `lang` (agent.language)."""
    def say(text: str, **fmt: object) -> str:
        return translate(lang, text, **fmt)
    why = say("revoked by the organiser") if w["revoked"] else say(w["reason"] or "by the technician")
    if not w["uploads_kept"]:
        return say("wiped ({why}): it holds no upload of {device}", why=why, device=w["device_id"])
    what = ", ".join(f"{n} {say(_KINDS.get(k, k))}" for k, n in w["kinds"].items())
    fate = say("kept as its record; the server takes nothing from a revoked device, nor as another enrollment's"
               if w["revoked"] else "uploaded as this device's own when it is enrolled again")
    return say("wiped ({why}): {n} upload(s) of {device} not sent ({what}): {fate}", why=why, n=w["uploads_kept"],
               device=w["device_id"], what=what, fate=fate)
