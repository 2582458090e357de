"""The ingestion worker's inbox: what the transport delivered and ingestion has not finished with, bounded per device
and in all (a flood from one device, or a stolen credential, must not grow the server's memory nor starve the others).

Past a cap a message is not taken: it is counted (`not_taken`, for `server refusals` and the stats) and never
acknowledged, so the device, which keeps every upload until the server's ack (agent/sync/uploader.py), sends it again
later. A device's presences (status topic) are exempt: they collapse to the device's latest one, held once, so its
state (its Last Will `offline` too) always gets through. Thread-safe: the transport thread puts, ingestion gets.

The caps, from a real door's uploads: a window of 8 batches of at most 500 rows (UploadOptions), 185 KB a batch of
plain entries, 336 KB with 300-character reasons; sent again whole after a reconnection while the first copies may
still wait here: 16 batches, 5.4 MB, plus a hello or a kiosk's desk request. So a device holds at most 32 messages
and 8 MiB (twice the largest message: one always fits). In all, 4,096 messages (200 gates' windows, twice) and
128 MiB (a flood from up to 16 devices at once, or 48 doors sending full windows after a restart; more than that
waits at the devices).
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from agent.sync import topics
from agent.sync.messages import MAX_MESSAGE

Item = tuple[str, bytes]
Key = tuple[str, str]      # (org, device) as the topic names them; ("", "") for a topic that names none


@dataclass(frozen=True)
class Caps:
    device_messages: int = 32
    device_bytes: int = 2 * MAX_MESSAGE
    total_messages: int = 4096
    total_bytes: int = 128 << 20


UNBOUNDED = Caps(1 << 62, 1 << 62, 1 << 62, 1 << 62)    # capacity benchmarks publishing everything at once

DEVICE_FULL = "not taken: the device's share of the server's queue was full (it sends it again)"
ALL_FULL = "not taken: the server's queue was full (the device sends it again)"


class Inbox:
    def __init__(self, caps: Caps = Caps()):
        self.caps = caps
        self._queue: queue.Queue[tuple[str, bytes | None]] = queue.Queue()   # payload None: the key's presence
        self._lock = threading.Lock()
        self._held: dict[Key, list[int]] = {}          # key -> [messages, bytes] queued or being ingested
        self._presences: dict[Key, Item] = {}          # key -> its latest presence, not taken off the queue yet
        self._messages = self._bytes = 0
        self._not_taken: dict[tuple[str, str, str], int] = {}   # (org, device, why) -> messages, since last asked
        self.peak_messages = self.peak_bytes = self.collapsed = 0

    @staticmethod
    def key(topic: str) -> tuple[Key, bool]:
        """The device a topic speaks for, and whether it is a presence."""
        parsed = topics.parse(topic)
        if parsed is None or parsed.device is None:
            return ("", ""), False
        return (parsed.org, parsed.device), parsed.kind == "status"

    def put(self, topic: str, payload: bytes) -> bool:
        """Queue a delivered message; False: not taken (counted), past a cap."""
        key, presence = self.key(topic)
        size = len(payload)
        with self._lock:
            if presence:
                if key in self._presences:
                    self.collapsed += 1
                else:
                    self._queue.put((topic, None))
                self._presences[key] = (topic, payload)
                return True
            held = self._held.get(key) or [0, 0]
            why = (DEVICE_FULL if held[0] >= self.caps.device_messages or held[1] + size > self.caps.device_bytes
                   else ALL_FULL if self._messages >= self.caps.total_messages or
                   self._bytes + size > self.caps.total_bytes else None)
            if why is not None:
                k = (*key, why)
                self._not_taken[k] = self._not_taken.get(k, 0) + 1
                return False
            held[0] += 1
            held[1] += size
            self._held[key] = held
            self._messages += 1
            self._bytes += size
            self.peak_messages = max(self.peak_messages, self._messages)
            self.peak_bytes = max(self.peak_bytes, self._bytes)
        self._queue.put((topic, payload))
        return True

    def get(self, timeout: float | None = None) -> Item:
        """The next message (raises queue.Empty after `timeout`, or at once with timeout 0); held until `done`."""
        topic, payload = self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
        if payload is not None:
            return topic, payload
        with self._lock:
            return self._presences.pop(self.key(topic)[0])

    def done(self, items: list[Item]) -> None:
        """These messages are ingested (or refused): their share is free again."""
        with self._lock:
            for topic, payload in items:
                key, presence = self.key(topic)
                held = self._held.get(key)
                if presence or held is None:
                    continue
                held[0] -= 1
                held[1] -= len(payload)
                self._messages -= 1
                self._bytes -= len(payload)
                if held[0] <= 0:
                    del self._held[key]

    def not_taken(self) -> dict[tuple[str, str, str], int]:
        """(org, device, why) -> messages not taken since the last call."""
        with self._lock:
            out, self._not_taken = self._not_taken, {}
        return out

    def held(self) -> tuple[int, int]:
        """Messages and bytes held now (queued or being ingested), presences apart."""
        with self._lock:
            return self._messages, self._bytes

    def qsize(self) -> int:
        return self._queue.qsize()
