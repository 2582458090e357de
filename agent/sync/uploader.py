"""Durable upload of the ledger outbox: batches, a window of batches in flight, sent again when they may be lost.

A row leaves the outbox only when the server's signed ack names it; paho's in-memory QoS 1 state is
never trusted. A batch the broker took (PUBACK) waits there for the server, even while the server is down: sending it
again on the same connection only piles copies up in the server's queue. So an unacknowledged batch is sent again
after a reconnection (everything), when the server announces a (re)start (what it has not acknowledged `back_wait`
seconds later: published while no server session held it, or taken by a worker that died), or after a long
`ack_timeout` (doubling) while the server is not known to be offline (a batch the broker queued for a dead worker's
session, or a server too busy to answer). Not thread-safe: driven by the device sync's
single worker thread.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

from agent.clock import UNMEASURED
from agent.ledger import Ledger
from agent.reasons import reason
from agent.sync.messages import MAX_MESSAGE, Ack, Batch


@dataclass
class UploadOptions:
    batch_size: int = 500
    window: int = 8                  # batches sent and not yet acknowledged
    ack_timeout: float = 10.0        # same connection, server not known offline: sent again after this, doubling
    max_backoff: float = 60.0        # ... up to this; also the longest rate-limit pause
    back_wait: float = 2.0           # the server announced itself back: what it has not acknowledged then goes again

_MARK = f'"{UNMEASURED}"'


class Uploader:
    def __init__(self, ledger: Ledger, org: str, device: str, publish: Callable[[bytes], bool],
                 options: UploadOptions | None = None, clock: Callable[[], float] = time.monotonic):
        self.ledger, self.org, self.device, self.publish = ledger, org, device, publish
        self.o = options or UploadOptions()
        self.clock = clock
        self.inflight: dict[str, tuple[list[int], float, bytes]] = {}   # batch id -> (ids, sent at, message)
        self.sent_upto = 0
        self.timeout = self.o.ack_timeout
        # acked_rows / refused_rows: distinct rows the server answered (its ack of a copy counts none);
        # sent_rows: rows published, copies sent again included (retries: batches sent again)
        self.sent_batches = self.acked_rows = self.retries = self.refused_rows = self.deferred_rows = 0
        self.sent_rows = 0
        self.paused_until = 0.0      # the server asked us to wait (rate limit)
        self.server_down = False     # its presence says offline: nothing is sent again on a timer
        self.back_at: float | None = None    # when the server announced itself back (a check is due back_wait later)
        self.max_message = MAX_MESSAGE - 1024

    def restart(self) -> None:
        """After a (re)connection: everything not acknowledged is sent again (the server dedupes)."""
        self.inflight.clear()
        self.sent_upto = 0
        self.server_down, self.back_at = False, None

    def server_gone(self) -> None:
        """The server's presence says offline: what is in flight waits at the broker for it."""
        self.server_down = True

    def server_back(self) -> None:
        """The server announced a (re)start: what it has not acknowledged `back_wait` seconds from now is sent again
        once (the broker may not have held it for the server)."""
        self.server_down, self.timeout = False, self.o.ack_timeout
        if self.inflight:
            self.back_at = self.clock()

    @property
    def waiting(self) -> bool:
        """Batches wait for the server's ack (sent again on a timer), or sending is paused (the rate limit)."""
        return bool(self.inflight) or self.back_at is not None or self.clock() < self.paused_until

    def tick(self) -> int:
        """Send what fits in the window; returns the number of rows sent."""
        now = self.clock()
        sent = 0
        if now < self.paused_until:
            return 0
        if self.back_at is not None:       # the server is back: it answers what the broker held for it first
            if now >= self.back_at + self.o.back_wait:
                sent += self._resend([b for b, (_, at, _) in self.inflight.items() if at <= self.back_at], now)
                self.back_at = None
        elif self.inflight and not self.server_down:
            oldest = min(self.inflight, key=lambda b: self.inflight[b][1])
            if self.inflight[oldest][1] + self.timeout < now:       # no ack for long: that batch again
                sent += self._resend([oldest], now)
                self.timeout = min(self.timeout * 2, self.o.max_backoff)
        while len(self.inflight) < self.o.window:
            rows = self._dated(self.ledger.outbox_after(self.sent_upto, self.o.batch_size))
            if not rows:
                break
            batch_id = uuid.uuid4().hex
            message = Batch.encode(self.org, self.device, batch_id, time.time(), rows)
            while len(message) > self.max_message and len(rows) > 1:    # the broker refuses bigger: fewer rows
                rows = rows[:len(rows) // 2]
                message = Batch.encode(self.org, self.device, batch_id, time.time(), rows)
            if len(message) > self.max_message:       # one row alone is too big: kept, marked, never blocks the rest
                self.ledger.outbox_refuse({rows[0][0]: reason("too_large", f"too large to upload ({len(message)} bytes)",
                                                              size=len(message))})
                self.refused_rows += 1
                continue
            if not self.publish(message):
                break
            ids = [r[0] for r in rows]
            self.inflight[batch_id] = (ids, now, message)
            self.sent_upto = ids[-1]
            self.sent_batches += 1
            sent += len(ids)
        self.sent_rows += sent
        return sent

    def _resend(self, batches: list[str], now: float) -> int:
        """Send these batches in flight again (oldest first); the rows sent."""
        sent = 0
        for batch_id in sorted(batches, key=lambda b: self.inflight[b][1]):
            ids, _, message = self.inflight[batch_id]
            if not self.publish(message):
                break
            self.inflight[batch_id] = (ids, now, message)
            self.retries += 1
            sent += len(ids)
        return sent

    def _dated(self, rows: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        """The rows up to the first one stamped before the server's time was known (agent.clock.UNMEASURED): dated
        first if the server's time is known now, else it waits for it (the server refuses a clock days off), and the
        rows after it too (uploads go in order)."""
        held = next((n for n, r in enumerate(rows) if _MARK in r[2]), None)
        if held is not None and self.ledger.redate_unmeasured():
            rows = self.ledger.outbox_after(self.sent_upto, self.o.batch_size)
            held = next((n for n, r in enumerate(rows) if _MARK in r[2]), None)
        return rows if held is None else rows[:held]

    def acked(self, ack: Ack) -> None:
        """The server answered a batch: stored rows leave the queue; refused rows leave it too but stay in the ledger
        marked with the reason (`ticketgate agent status`, the Sync screen); deferred rows are sent again after
        `retry_after` (the server's rate limit)."""
        self.acked_rows += self.ledger.outbox_ack(ack.ids)
        if ack.refused:
            self.refused_rows += self.ledger.outbox_refuse({r.id: r.why() for r in ack.refused})
        if self.inflight.pop(ack.batch, None) is not None:
            self.timeout = self.o.ack_timeout
        if ack.deferred:
            self.deferred_rows += len(ack.deferred)
            # from there again after the pause, and from any batch in flight sent before it: the server may not have
            # taken that one (its queue full: no ack, ever), and clearing it here would leave its rows until restart
            self.sent_upto = min([self.sent_upto, min(ack.deferred) - 1] +
                                 [min(ids) - 1 for ids, _, _ in self.inflight.values() if ids])
            self.inflight.clear()
            self.paused_until = self.clock() + min(max(ack.retry_after, 0.1), self.o.max_backoff)
