"""Stock: counters per quota row (`quotas`: target, scope event/category/zone, ref), moved inside the transaction
of what moves them (server_stub/store/sales.py explains the rule). Functions of the open connection `c`."""
from __future__ import annotations

from typing import Any, Iterable

from agent.reasons import coded
from server_stub.store.base import StoreError


class SoldOut(StoreError):
    """Not enough stock left for this sale (the message says which quota and how many are left)."""


def needs(target_id: int, positions: Iterable[tuple[int, int | None, int]]) -> dict[tuple[int, str, int], int]:
    """(category, zone, count) -> count per quota row it moves."""
    out: dict[tuple[int, str, int], int] = {}
    for category, zone, n in positions:
        for key in ((target_id, "event", 0), (target_id, "category", category)) + (
                ((target_id, "zone", zone),) if zone is not None else ()):
            out[key] = out.get(key, 0) + n
    return out


def take(c: Any, moves: dict[tuple[int, str, int], int], check: bool = True, column: str = "sold") -> None:
    """Inside a transaction: add to `sold` (or `held`) of each quota row; `check`: refuse (SoldOut, the whole
    transaction rolls back) when a row would go over its capacity."""
    for (target, scope, ref), n in sorted(moves.items()):
        if not check:
            c.execute(f"UPDATE quotas SET {column} = {column} + ? WHERE target_id=? AND scope=? AND ref=?",
                      (n, target, scope, ref))
            continue
        done = c.execute(f"UPDATE quotas SET {column} = {column} + ? WHERE target_id=? AND scope=? AND ref=? "
                         "AND sold + held + ? <= capacity RETURNING capacity", (n, target, scope, ref, n)).fetchone()
        if done is None:
            left = c.execute("SELECT capacity - sold - held FROM quotas WHERE target_id=? AND scope=? AND ref=?",
                             (target, scope, ref)).fetchone()
            if left is not None:
                what = "" if scope == "event" else f" {scope} {ref}"
                raise coded(SoldOut(f"sold out: {target}{what} has {max(left[0], 0)} left, {n} asked"), "sold_out",
                            left=max(left[0], 0), asked=n)


def give_back(c: Any, moves: dict[tuple[int, str, int], int], column: str = "sold") -> None:
    for (target, scope, ref), n in moves.items():
        c.execute(f"UPDATE quotas SET {column} = {column} - ? WHERE target_id=? AND scope=? AND ref=?",
                  (n, target, scope, ref))


def release_tickets(c: Any, where: str, params: tuple) -> int:
    """Give back the stock of the active tickets `where` selects (not revoked, not already released)."""
    rows = c.execute(f"SELECT t.target_id, t.category, t.zone FROM tickets t LEFT JOIN revocations r "
                     f"ON r.ticket_id = t.ticket_id AND r.active = 1 WHERE {where} AND r.ticket_id IS NULL "
                     f"AND t.released = 0", params).fetchall()
    by_target: dict[int, list[tuple[int, int | None, int]]] = {}
    for target, category, zone in rows:
        by_target.setdefault(target, []).append((category, zone, 1))
    for target, positions in by_target.items():
        give_back(c, needs(target, positions))
    return len(rows)
