"""A ticket's validity window, one definition for the server (printed into the signed QR) and the device (a
check-in by ticket key, which has no QR: the window is computed from the event's dates and the server's margin,
both carried by the event bundle)."""
from __future__ import annotations

DEFAULT_VALIDITY_MARGIN_H = 6.0      # a ticket opens N hours before the event, closes N after
U32_MAX = 2**32 - 1                  # the ticket's validity fields are u32 unix seconds


def validity_window(starts: list[float], ends: list[float], margin_hours: float) -> tuple[int | None, int | None]:
    """Ticket validity from the event (or every event of a pass): start - margin .. end + margin, unix seconds."""
    margin = margin_hours * 3600
    valid_from = int(min(starts) - margin) if starts else None
    valid_until = int(max(ends) + margin + 0.999) if ends else None
    return (max(valid_from, 0) if valid_from is not None else None,
            min(valid_until, U32_MAX) if valid_until is not None else None)
