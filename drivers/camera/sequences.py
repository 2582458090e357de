"""Structured append: one text spread over up to 16 QR symbols. zxing-cpp (its Python binding gives no sequence
number) returns each symbol's part as if it were a whole code; libzbar joins a complete sequence into one text. So
when a photo holds several codes, the parts zbar joined are replaced by the joined text (pure function)."""
from __future__ import annotations

from typing import Sequence


def _cover(whole: str, parts: Sequence[str], used: tuple[int, ...]) -> tuple[int, ...] | None:
    """The indexes of distinct `parts` that, concatenated in that order, are `whole`; None if none do."""
    if not whole:
        return used
    for i, part in enumerate(parts):
        if part and i not in used and whole.startswith(part):
            found = _cover(whole[len(part):], parts, used + (i,))
            if found is not None:
                return found
    return None


def joined(texts: Sequence[str], wholes: Sequence[str]) -> list[str]:
    """`texts` with each run of two or more that a text of `wholes` is made of replaced by that text, at the place
    of its first part; every other text kept, in order."""
    out = list(texts)
    for whole in wholes:
        if whole in out or len(out) > 16:
            continue
        used = _cover(whole, out, ())
        if used is not None and len(used) >= 2:
            first = min(used)
            out = [whole if i == first else t for i, t in enumerate(out) if i == first or i not in used]
    return out
