"""Reason codes of the server's refusals a kiosk shows to its staff (desk answers): the server's text is English;
the code and its parameters let the kiosk say it in its own language (kiosk_ui/presenters/refusals.py), falling
back to the server's text for a code it does not know (an older kiosk, a newer server)."""
from __future__ import annotations

from typing import Any, TypeVar

E = TypeVar("E", bound=Exception)

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
    "no_open_shift": (),
    "shift_open": (),
}


def coded(exc: E, reason_code: str, /, **params: Any) -> E:
    """`exc` (its English text unchanged) carrying a reason code and its parameters."""
    if reason_code not in REASON_CODES or set(params) != set(REASON_CODES[reason_code]):
        raise AssertionError(f"reason {reason_code} takes {REASON_CODES.get(reason_code)}, got {sorted(params)}")
    setattr(exc, "reason_code", reason_code)
    setattr(exc, "reason_params", {k: v if isinstance(v, int) else str(v) for k, v in params.items()})
    return exc


def reason_fields(exc: BaseException) -> dict[str, Any]:
    """reason_code and reason_params of a DeskAnswer for this refusal (empty when it has none)."""
    return {"reason_code": getattr(exc, "reason_code", ""), "reason_params": dict(getattr(exc, "reason_params", {}))}


WINDOW_CODES = {"sales not open yet": "sales_not_open", "sales closed": "sales_closed",
                "sold at the door only": "door_only"}     # agent.pricing.Offer.window_refusal -> code
