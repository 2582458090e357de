"""Verdict codes: a stable interface (apps, logs, the sync protocol and the server read them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Code(str, Enum):
    ACCEPTED = "accepted"
    ALREADY_USED = "already_used"
    WRONG_EVENT = "wrong_event"
    WRONG_ZONE = "wrong_zone"
    UNKNOWN_PRODUCT = "unknown_product"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    BLOCKED = "blocked"
    UNPAID = "unpaid"
    CANCELLED = "cancelled"
    UNCERTIFIED = "uncertified"        # sold offline under an allotment that is not trusted, current and covering it
    FORGED = "forged"
    UNKNOWN_KEY = "unknown_key"
    MALFORMED = "malformed"

    def __str__(self) -> str:
        return self.value


class Reason(str, Enum):
    """Why, finer than the code: screens and logs match on this, never on the free-text `detail`."""
    REREAD = "reread"                          # the same code read again within the re-read window: nothing recorded
    ALREADY_INSIDE = "already_inside"          # entry/exit mode: its last movement was `in`
    USED_NOT_FOR_RESALE = "used_not_for_resale"  # quick cancellation of a ticket already used
    EVENT_NOT_SELECTED = "event_not_selected"  # wrong_event: a ticket for an event not selected here
    PASS_NOT_SELECTED = "pass_not_selected"    # wrong_event: a pass opening none of the selected events
    DATE_NOT_MAPPED = "date_not_mapped"        # wrong_event: a pretix date this device has no mapping for
    ORDER_CANCELLED = "order_cancelled"        # revoked: the whole order was cancelled or refunded
    ALLOTMENT_UNTRUSTED = "allotment_untrusted"  # uncertified: no trusted organiser key signed the kiosk's certificate
    ALLOTMENT_EXPIRED = "allotment_expired"    # uncertified: sold outside the certificate's validity window
    ALLOTMENT_REVOKED = "allotment_revoked"    # uncertified: the organiser revoked the kiosk's allotment
    ALLOTMENT_OUT_OF_RANGE = "allotment_out_of_range"  # uncertified: ticket id, event or category not in the allotment
    NO_KEYS = "no_keys"                        # unknown_key: the device trusts no key at all yet (never enrolled)

    def __str__(self) -> str:
        return self.value


IN, OUT = "in", "out"


@dataclass(frozen=True)
class FirstUse:
    at: float                   # server time (device time + its offset) of that first use
    device_id: str
    gate: str


@dataclass(frozen=True)
class Verdict:
    code: Code
    direction: str | None = None        # in / out, for accepted
    event_id: int | None = None         # the event the scan counts for
    ticket_key: str | None = None
    category: int | None = None
    zones: tuple[int, ...] = ()
    seat: str | None = None
    first_use: FirstUse | None = None   # for already_used
    detail: str = ""
    repeat: bool = False                # same code re-read within the re-read window: nothing recorded
    reason: Reason | None = None        # why, when the code alone does not say it
    since_read: float | None = None     # repeat: seconds since this device first read the code
    record: str | None = None           # what the shell must persist: "entry" | "cancel" | None
    scan_uuid: str | None = None        # filled by the shell once persisted
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def accepted(self) -> bool:
        return self.code is Code.ACCEPTED

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"verdict": self.code.value, "accepted": self.accepted, "direction": self.direction,
             "event_id": self.event_id, "ticket": self.ticket_key, "category": self.category,
             "zones": list(self.zones), "seat": self.seat, "detail": self.detail, "repeat": self.repeat,
             "reason": self.reason.value if self.reason else None, "scan_uuid": self.scan_uuid}
        if self.since_read is not None:
            d["since_read"] = round(self.since_read, 1)
        if self.first_use:
            d["first_use"] = {"at": self.first_use.at, "device": self.first_use.device_id, "gate": self.first_use.gate}
        d.update(self.extra)
        return d
