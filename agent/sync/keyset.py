"""Compact sets of ticket keys for live updates (`update2`, docs/sync-protocol.md "Update v2").

    {"ids": [first, gap, gap, …], "keys": ["other", …]}

Decimal keys (the store's ticket ids: "0" or digits without a leading zero, up to 18) travel as numbers, sorted,
each after the first as its gap to the one before (1,000 keys among 1M: ~4.5 bytes each instead of ~10); any other
key travels as its string. Either part may be absent. `unpack` refuses (Rejected, naming the field) anything that is
not exactly that: a gap that is not a positive integer (so no key twice), a key over MAX_ID characters, more than
`limit` keys.
"""
from __future__ import annotations

from itertools import accumulate
from typing import Any, Iterable

from agent.sync.signed import Rejected

MAX_KEY = 64                 # = messages.MAX_ID
MAX_DECIMAL = 10 ** 18 - 1   # 18 digits: a ticket id the store can hold, exact in JSON and in Python
MAX_KEYS = 1_000_000         # one set; a message stays under MAX_MESSAGE by splitting long before this


def is_decimal(key: str) -> bool:
    """A key that travels as a number: its decimal form is the key itself (no sign, no leading zero)."""
    return 0 < len(key) <= 18 and key.isascii() and key.isdigit() and (key[0] != "0" or key == "0")


def pack(keys: Iterable[str]) -> dict[str, list[Any]]:
    ids: list[int] = []
    other: list[str] = []
    for k in keys:
        if is_decimal(k):
            ids.append(int(k))
        else:
            other.append(k)
    out: dict[str, list[Any]] = {}
    if ids:
        ids.sort()
        out["ids"] = [ids[0], *(b - a for a, b in zip(ids, ids[1:]))]
    if other:
        out["keys"] = sorted(other)
    return out


def unpack(d: Any, name: str, limit: int = MAX_KEYS) -> list[str]:
    """The keys of a packed set, decimal ones first (ascending)."""
    if not isinstance(d, dict):
        raise Rejected(f"bad {name}: not a key set")
    gaps = d.get("ids", [])
    other = d.get("keys", [])
    if not isinstance(gaps, list) or not isinstance(other, list) or len(gaps) + len(other) > limit:
        raise Rejected(f"bad {name}: not a key set")
    if gaps and not (type(gaps[0]) is int and 0 <= gaps[0] and all(type(g) is int and g > 0 for g in gaps[1:])):
        raise Rejected(f"bad {name}.ids: each after the first must be a positive gap")
    ids = list(accumulate(gaps))
    if ids and ids[-1] > MAX_DECIMAL:
        raise Rejected(f"bad {name}.ids: over 18 digits")
    if not all(type(k) is str and 0 < len(k) <= MAX_KEY for k in other):
        raise Rejected(f"bad {name}.keys")
    return [*map(str, ids), *other]
