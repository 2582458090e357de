"""The device sync's inbox: FIFO, except that a live update (a cancellation, exchange, ticket change) is taken before
the check-in relays queued ahead of it, and acknowledgements leave in the order the messages were received.

Why the update may jump the relays: an update writes the catalogue (tickets, revocations, blocks, order statuses)
and a relay only inserts check-ins by scan id (`Ledger.merge_remote`, a duplicate skipped): the two commute, so the
ledger is the same in either order (docs/sync-protocol.md "Priority lane"). It jumps relays only: never another
update, a bundle, a command or a connection event. The lane is told from the payload's "type" before the signature
is checked; a forged message is refused when handled, so where it queued changes nothing.

MQTT 3.1.1 §4.6 wants PUBACKs in the order the PUBLISHes arrived: `handled` returns the items whose acks may go now,
an item handled early waiting for those received before it. One not to be acknowledged (its ledger write failed:
the broker sends it again after a reconnection) releases the ones behind it.
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any

UPDATE, RELAY, OTHER = "update", "relay", "other"
# the signed body is JSON text inside the envelope's JSON (agent.sync.signed): its keys' quotes travel as \", a quote
# inside one of its strings as \\\" -- so these bytes match a key "type" of the body, never text in a value
_TYPE = b'\\"type\\":\\"'
_RELAY = b'\\"type\\":\\"checkins\\"'
_UPDATES = (b'\\"type\\":\\"update2\\"', b'\\"type\\":\\"update\\"')


def lane(kind: str | None, payload: bytes) -> str:
    """UPDATE or RELAY for a live message (topic kind "live") by its signed body's type, OTHER for anything else.
    Read from the bytes, not parsed (a 50-action relay: 12 us CPU, not 140; bench_inbox_lane.py): only a body with
    one key "type", which is then its own; one with another nested is OTHER and keeps its place."""
    if kind != "live" or payload.count(_TYPE) != 1:
        return OTHER
    if _RELAY in payload:
        return RELAY
    return UPDATE if any(u in payload for u in _UPDATES) else OTHER


class Inbox:
    """Filled by the transport thread (`put`), emptied by the sync thread (`get_nowait`, `handled`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[tuple[tuple[Any, ...], str]] = deque()
        self._updates = 0                                   # UPDATE items queued
        self._owed: deque[list[Any]] = deque()              # [item, None | ack or not], in the order received
        self._by_item: dict[int, list[Any]] = {}

    def put(self, item: tuple[Any, ...], lane_: str = OTHER, acked: bool = False) -> None:
        """`acked`: the item waits for an acknowledgement to the broker, given in receive order (`handled`)."""
        with self._lock:
            self._items.append((item, lane_))
            self._updates += lane_ == UPDATE
            if acked:
                rec = [item, None]
                self._owed.append(rec)
                self._by_item[id(item)] = rec

    def get_nowait(self) -> tuple[Any, ...]:
        """The next item: an update queued behind nothing but relays comes first; else the oldest. queue.Empty."""
        with self._lock:
            if not self._items:
                raise queue.Empty
            if self._updates:
                for i, (item, kind) in enumerate(self._items):
                    if kind == UPDATE:
                        del self._items[i]
                        self._updates -= 1
                        return item
                    if kind != RELAY:
                        break
            item, kind = self._items.popleft()
            self._updates -= kind == UPDATE
            return item

    def handled(self, item: tuple[Any, ...], ack: bool) -> list[tuple[Any, ...]]:
        """`item` is done (`ack`: to be acknowledged); -> the items to acknowledge now, in receive order."""
        with self._lock:
            rec = self._by_item.pop(id(item), None)
            if rec is None:
                return []
            rec[1] = ack
            out = []
            while self._owed and self._owed[0][1] is not None:
                done, ok = self._owed.popleft()
                if ok:
                    out.append(done)
            return out

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items
