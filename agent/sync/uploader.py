"""Durable upload of the ledger outbox: batches, a window of batches in flight, retry with backoff.

A row leaves the outbox only when the server's signed ack names it; paho's in-memory QoS 1 state is
never trusted. Not thread-safe: driven by the device sync's single worker thread.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from agent.ledger import Ledger


@dataclass
class UploadOptions:
    batch_size: int = 500
    window: int = 8                  # batches sent and not yet acknowledged
    ack_timeout: float = 2.0         # first retry after this; doubles up to max_backoff
    max_backoff: float = 30.0


class Uploader:
    def __init__(self, ledger: Ledger, org: str, device: str, publish: Callable[[bytes], bool],
                 options: UploadOptions | None = None, clock: Callable[[], float] = time.monotonic):
        self.ledger, self.org, self.device, self.publish = ledger, org, device, publish
        self.o = options or UploadOptions()
        self.clock = clock
        self.inflight: dict[str, tuple[list[int], float, bytes]] = {}   # batch id -> (ids, sent at, message)
        self.sent_upto = 0
        self.timeout = self.o.ack_timeout
        self.sent_batches = self.acked_rows = self.retries = 0

    def restart(self) -> None:
        """After a (re)connection: everything not acknowledged is sent again (the server dedupes)."""
        self.inflight.clear()
        self.sent_upto = 0

    def tick(self) -> int:
        """Send what fits in the window; returns the number of rows sent."""
        now = self.clock()
        sent = 0
        if self.inflight:
            oldest = min(self.inflight, key=lambda b: self.inflight[b][1])
            ids, at, message = self.inflight[oldest]
            if at + self.timeout < now and self.publish(message):   # no ack in time: send that batch again
                self.inflight[oldest] = (ids, now, message)
                self.retries += 1
                self.timeout = min(self.timeout * 2, self.o.max_backoff)
                sent += len(ids)
        while len(self.inflight) < self.o.window:
            rows = self.ledger.outbox_after(self.sent_upto, self.o.batch_size)
            if not rows:
                break
            batch_id = uuid.uuid4().hex
            items = ",".join(f'{{"id":{i},"kind":{json.dumps(k)},"body":{b}}}' for i, k, b in rows)
            head = json.dumps({"type": "batch", "org": self.org, "device": self.device, "batch": batch_id,
                               "sent": time.time()}, separators=(",", ":"))
            message = (head[:-1] + f',"items":[{items}]}}').encode()
            if not self.publish(message):
                break
            ids = [r[0] for r in rows]
            self.inflight[batch_id] = (ids, now, message)
            self.sent_upto = ids[-1]
            self.sent_batches += 1
            sent += len(ids)
        return sent

    def acked(self, batch_id: str, ids: list[int]) -> None:
        self.ledger.outbox_ack(ids)
        self.acked_rows += len(ids)
        if self.inflight.pop(batch_id, None) is not None:
            self.timeout = self.o.ack_timeout
