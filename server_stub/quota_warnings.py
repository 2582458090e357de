"""Which quotas a step sells past their capacity (pure): the organiser's own orders are never refused by a quota
(overbooking on purpose is theirs to decide), but `order add` and `import-orders` (and its --dry-run, before
anything is written) say which quota they push past, how far, and the `quota set` that raises it.

Figures are `{(target, scope, ref): {"capacity", "sold", "held"}}` as `store.quotas` gives them; `held` is what
kiosks' allotments hold for their offline sales."""
from __future__ import annotations

from typing import Iterable

Key = tuple[int, str, int]


def projected(figures: dict[Key, dict], moves: dict[Key, int]) -> dict[Key, dict]:
    """The figures once `moves` (tickets per quota row, `store.stock.needs`) are sold too."""
    return {key: dict(q, sold=q["sold"] + moves.get(key, 0)) for key, q in figures.items()}


def _past(q: dict) -> tuple[int, int]:
    """(sold past capacity, allotments' held seats sold meanwhile): a kiosk selling what it holds then oversells."""
    oversold = max(q["sold"] - q["capacity"], 0)
    return oversold, max(q["sold"] + q["held"] - q["capacity"], 0) - oversold


def pushed_past(before: dict[Key, dict], after: dict[Key, dict]) -> list[dict]:
    """The quotas `after` sells further past their capacity than `before`, or further into what allotments hold:
    {target_id, scope, ref, capacity, sold, held, oversold, held_sold, raise_to} (raise_to: the capacity that covers
    them)."""
    out = []
    for key, q in sorted(after.items()):
        was = before.get(key, {"capacity": q["capacity"], "sold": 0, "held": 0})
        (over, into_held), (was_over, was_into_held) = _past(q), _past(was)
        if over > was_over or (not over and into_held > was_into_held):
            target, scope, ref = key
            out.append({"target_id": target, "scope": scope, "ref": ref, "capacity": q["capacity"], "sold": q["sold"],
                        "held": q["held"], "oversold": over, "held_sold": into_held,
                        "raise_to": q["sold"] + (q["held"] if not over else 0)})
    return out


def warning_lines(pushed: Iterable[dict], label, dry_run: bool = False) -> list[str]:
    """One line per quota pushed past; `label(target_id, scope, ref)` names it (`event 1 zone 2`)."""
    lines = []
    for w in pushed:
        name, option = label(w["target_id"], w["scope"], w["ref"]), "" if w["scope"] == "event" else \
            f" --{w['scope']} {w['ref']}"
        fix = f"ticketgate server quota set {w['target_id']}{option} --capacity {w['raise_to']}"
        if w["oversold"]:
            lines.append(f"warning: {name} {'would be' if dry_run else 'is now'} OVERSOLD by {w['oversold']} "
                         f"({w['sold']} sold, capacity {w['capacity']}): the kiosks sell none of it; if that was "
                         f"not meant, raise it: {fix}")
        else:
            lines.append(f"warning: {name} {'would sell' if dry_run else 'sold'} {w['held_sold']} of the "
                         f"{w['held']} held by kiosks' allotments ({w['sold']} sold, capacity {w['capacity']}): "
                         f"when the kiosks sell them offline it is oversold; if that was not meant, raise it: {fix}")
    return lines
