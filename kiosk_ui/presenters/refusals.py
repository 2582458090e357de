"""A server refusal in the kiosk's language: its reason code (agent.reasons) rendered from the kiosk's
translations, or the server's own (English) text for a code this kiosk does not know."""
from __future__ import annotations

from typing import Any

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.labels import REFUSAL_TEXTS, REVOKED_WORDS


LONGEST_PARAM = 40      # a value echoed in a refusal (a promo code typed or scanned) is cut beyond this


def refusal_text(reason: str, code: str = "", params: dict[str, Any] | None = None) -> str:
    template = REFUSAL_TEXTS.get(code)
    if template is None:
        return reason
    shown = {k: v[:LONGEST_PARAM - 1] + "…" if isinstance(v, str) and len(v) > LONGEST_PARAM else v
             for k, v in (params or {}).items()}
    try:
        return tr(template, **shown)
    except (KeyError, IndexError, ValueError):      # parameters that do not fit: the server's words
        return reason


def answer_problem(answer: Any, default: str = "refused by the server") -> str:
    """What to tell staff about a refused DeskAnswer."""
    return refusal_text(answer.reason or default, getattr(answer, "reason_code", ""),
                        getattr(answer, "reason_params", None))


def revoked_text(why: str) -> str:
    """Why a ticket was taken back ('refunded: Buyer cannot come', 'order cancelled') in the app's language: the
    desk's words and reasons translated, an organiser's own reason as typed."""
    kind, sep, detail = why.partition(": ")
    if sep and kind in REVOKED_WORDS:
        return tr("{what}: {why}", what=tr(kind), why=tr(detail))
    return tr(why) if why in REVOKED_WORDS else why
