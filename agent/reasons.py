"""Reason codes of the server's refusals a device shows to its staff (desk answers, refused uploads in an ack):
the server's text is English; the code and its parameters let the device say it in its own language
(kiosk_ui/presenters/refusals.py), falling back to the server's text for a code it does not know (an older device,
a newer server)."""
from __future__ import annotations

from typing import Any, Mapping, TypeVar

C = TypeVar("C", bound=Exception | str)    # an exception, or a Reason

# code -> the parameters it carries (names and meaning; values are str or int)
REASON_CODES: dict[str, tuple[str, ...]] = {
    "sold_out": ("left", "asked"),              # stock left, tickets asked
    "sales_not_open": (),
    "sales_closed": (),
    "door_only": (),
    "price_changed": (),
    "too_many": ("count", "max"),               # tickets in the order, the per-order limit
    "promo_unknown": ("code",),
    "promo_not_valid": ("code",),
    "promo_used_up": ("code",),
    "no_price": ("category",),
    "already_exchanged": ("ticket",),
    "ticket_used": ("ticket", "at", "where"),
    "exchange_price_differs": ("difference",),   # offline: another category at another price ("10.00 EUR")
    "exchange_needs_prices": ("category",),      # offline: a category change with no price list on the device   # an exchange of a ticket admitted (when, gate/device): reset it first
    "order_closed": ("order",),                 # a desk refund or cancellation of an order refunded or cancelled
    "wrong_amount": ("order", "due", "given"),  # a pending order's payment of another amount than due ("35.00 EUR")
    "parts_total": ("total", "paid"),           # a split payment whose parts do not add up to the total ("35.00 EUR")
    "difference_parts": ("difference", "paid"),  # an exchange's price difference split in parts of another sum
    "no_open_shift": (),
    "allotment_not_due": ("allotment", "left"),  # a new offline allotment asked for while the current one is good
    "allotment_revoked": ("allotment", "at", "amount"),   # an offline sale made after its allotment was revoked
    "shift_open": ("shift",),                   # the shift open already
    "till_currency": ("currency", "given"),     # a kiosk's till request in another currency than the server's
    "expired": ("late",),
    "busy": ("seconds",),                       # over the device's rate: nothing done, try again after                       # a desk request past its deadline (s late): not carried out
    # uploads refused in an ack (server_stub/sync/ingest.py, the store, the device's own uploader)
    "other_device": ("device",),                # an item in another device's name
    "no_staff": (),                             # the organiser keeps staff and the item names no one
    "staff_unknown": ("staff",),
    "staff_inactive": ("name", "staff"),
    "staff_not_allowed": ("name", "role", "permission"),
    "organiser_only": ("kind",),                # a reset from a device
    "event_not_held": ("event",),
    "ticket_other_event": ("ticket", "event"),  # a door action naming a ticket that does not open its event
    "pass_event_taken": ("ticket", "pass", "event", "at"),   # an entry of a pass holder after the event left the pass
    "dated_ahead": ("hours",),                  # stamped further ahead of server time than MAX_AHEAD
    "gate_not_posted": ("gate", "given"),       # a scan at another gate than the organiser gave the device then
    "exit_not_posted": ("mode",),               # an exit from a device the organiser set in another mode than entry/exit
    "cancel_not_posted": ("mode",),             # a quick cancellation from a device set in another mode than quick_cancel
    "annul_no_ref": (),
    "annul_unknown": (),                        # names nothing the server holds
    "annul_not_checkin": (),                    # names an annulment (or a reset), not an entry or cancellation
    "annul_other_device": ("device",),
    "already_annulled": (),
    "annul_other_ticket": ("ticket",),          # names another ticket or event than the check-in it undoes
    "scan_id_taken": ("scan",),                 # an action under a scan id another record holds: never stored
    "kiosk_only": ("message",),
    "unknown_order": ("order",),
    "unknown_ticket": ("ticket",),
    "unknown_target": ("target",),
    "order_not_held": ("order",),
    "ticket_not_held": ("ticket",),
    "target_not_held": ("target",),
    "rate_too_big": ("count", "size"),
    "malformed": ("detail",),
    "too_large": ("size",),
    "not_applied": ("detail",),                 # a kiosk message whose effect is impossible, uncoded cause
}


class Reason(str):
    """A refusal's English text carrying its reason code and parameters; used wherever the text is (a plain str is
    a reason with no code)."""
    code: str
    params: dict[str, Any]

    def __new__(cls, text: str, code: str = "", params: Mapping[str, Any] | None = None) -> "Reason":
        self = super().__new__(cls, text)
        self.code, self.params = code, dict(params or {})
        return self


def reason(reason_code: str, text: str, /, **params: Any) -> Reason:
    """`text` (English) with a reason code of REASON_CODES and exactly its parameters."""
    return coded(Reason(text), reason_code, **params)


def code_of(why: object) -> tuple[str, dict[str, Any]]:
    """(reason code, parameters) of a Reason or of an exception made by `coded`; ("", {}) for anything else."""
    if isinstance(why, Reason):
        return why.code, dict(why.params)
    return str(getattr(why, "reason_code", "") or ""), dict(getattr(why, "reason_params", {}) or {})


def coded(exc: C, reason_code: str, /, **params: Any) -> C:
    """`exc` (its English text unchanged) carrying a reason code and its parameters (a Reason: as its code)."""
    if reason_code not in REASON_CODES or set(params) != set(REASON_CODES[reason_code]):
        raise AssertionError(f"reason {reason_code} takes {REASON_CODES.get(reason_code)}, got {sorted(params)}")
    values = {k: v if isinstance(v, int) and not isinstance(v, bool) else str(v) for k, v in params.items()}
    if isinstance(exc, Reason):
        exc.code, exc.params = reason_code, values
    else:
        setattr(exc, "reason_code", reason_code)
        setattr(exc, "reason_params", values)
    return exc


def reason_fields(exc: BaseException | str) -> dict[str, Any]:
    """reason_code and reason_params of a DeskAnswer or an ack's refusal (empty when it has none)."""
    code, params = code_of(exc)
    return {"reason_code": code, "reason_params": params}


WINDOW_CODES = {"sales not open yet": "sales_not_open", "sales closed": "sales_closed",
                "sold at the door only": "door_only"}     # agent.pricing.Offer.window_refusal -> code
