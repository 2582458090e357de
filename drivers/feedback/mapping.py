"""Which feedback a verdict gets. Pure: (verdict, config) -> Feedback.

Three kinds, so door staff learn them by ear: accept (let in), reject (stop, and the screen says why: already used,
wrong zone, revoked, forged…), attention (someone must act: unpaid — send to the box office; unknown key — the
device lacks this organiser's keys, call the technician; not a ticket — rescan or check the code).
The one mapping for the app and every other shell; `FeedbackConfig.overrides` changes it per device."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from agent.verdicts import Code, Verdict

ACCEPT, REJECT, ATTENTION = "accept", "reject", "attention"

KIND_BY_CODE: dict[Code, str] = {
    Code.ACCEPTED: ACCEPT,
    Code.UNPAID: ATTENTION, Code.UNKNOWN_KEY: ATTENTION, Code.MALFORMED: ATTENTION,
    Code.ALREADY_USED: REJECT, Code.WRONG_ZONE: REJECT, Code.UNKNOWN_PRODUCT: REJECT, Code.NOT_YET_VALID: REJECT, Code.WRONG_EVENT: REJECT,
    Code.EXPIRED: REJECT, Code.REVOKED: REJECT, Code.BLOCKED: REJECT, Code.CANCELLED: REJECT, Code.FORGED: REJECT,
    Code.UNCERTIFIED: REJECT,
}


@dataclass(frozen=True)
class FeedbackConfig:
    sound: bool = True
    volume: float = 0.8
    vibrate: bool = True
    colours: dict[str, str] = field(default_factory=lambda: {ACCEPT: "#1e9e4a", REJECT: "#d32f2f", ATTENTION: "#f5a300",
                                                             "exit": "#1565c0"})
    vibration_ms: dict[str, tuple[int, ...]] = field(default_factory=lambda: {ACCEPT: (60,), REJECT: (400,),
                                                                              ATTENTION: (120, 80, 120)})
    overrides: dict[str, str] = field(default_factory=dict)   # verdict code -> kind, e.g. {"wrong_zone": "reject"}
    silent_repeats: bool = True        # a code held in front of the camera again: colour only, no sound

    @classmethod
    def from_json(cls, d: dict | None) -> "FeedbackConfig":
        d = dict(d or {})
        base = cls()
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "colours" in known:
            known["colours"] = {**base.colours, **known["colours"]}
        if "vibration_ms" in known:
            known["vibration_ms"] = {**base.vibration_ms, **{k: tuple(v) for k, v in known["vibration_ms"].items()}}
        return replace(base, **known)


@dataclass(frozen=True)
class Feedback:
    kind: str                   # accept | reject | attention
    colour: str                 # "#rrggbb" for the full-screen flash
    sound: str | None           # accept | reject | attention, or None (muted / repeat)
    vibration_ms: tuple[int, ...]   # on, off, on… (empty: none)
    volume: float = 0.8


def feedback_for(verdict: Verdict, config: FeedbackConfig = FeedbackConfig()) -> Feedback:
    kind = config.overrides.get(verdict.code.value) or KIND_BY_CODE.get(verdict.code, REJECT)
    if kind not in (ACCEPT, REJECT, ATTENTION):
        kind = REJECT
    if kind == ACCEPT and not verdict.accepted:
        kind = ATTENTION              # an override never makes a refusal sound (or look) like a welcome
    colour = config.colours.get("exit" if kind == ACCEPT and verdict.direction == "out" else kind, "#000000")
    quiet = verdict.repeat and config.silent_repeats
    sound = kind if config.sound and not quiet else None
    vibration = tuple(config.vibration_ms.get(kind, ())) if config.vibrate and not quiet else ()
    return Feedback(kind, colour, sound, vibration, config.volume)
