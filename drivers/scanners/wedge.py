"""Keyboard-wedge assembly: characters until Enter, with an inter-key timeout. Pure (the caller passes the time).

A scanner types a whole code in a burst (a few ms per key); a person types 100+ ms apart. A character arriving
more than `inter_key_timeout` after the previous one starts a new buffer, so typing never forms a read; a burst
without its Enter (half a code: cable pulled, scanner too slow to finish) is dropped by `poll()` with a reason.
"""
from __future__ import annotations

from drivers.scanners.reads import IgnoredRead, Read, clean_scan

TERMINATORS = "\r\n"


class WedgeAssembler:
    def __init__(self, inter_key_timeout: float = 0.06, min_length: int = 4, source: str = "keyboard"):
        self.timeout, self.min_length, self.source = inter_key_timeout, min_length, source
        self._buf: list[str] = []
        self._last: float | None = None
        self._typed = 0          # keys dropped as too slow since the last Enter

    @property
    def pending(self) -> str:
        return "".join(self._buf)

    def feed(self, char: str, at: float) -> Read | None:
        """One character (or a terminator) at time `at` (seconds). Returns a read when a code is complete,
        an ignored read when a slow sequence ends or a stale burst is dropped, else None."""
        dropped = self._expire(at)
        if char in TERMINATORS:
            typed, self._typed = self._typed, 0
            if not self._buf:
                self._last = None
                if dropped is None and typed:
                    return IgnoredRead(f"typed, not scanned ({typed} keys too slow for a scanner)", self.source)
                return dropped
            text, self._buf, self._last = self.pending, [], None
            if len(text) < self.min_length:
                return IgnoredRead(f"too short for a scan ({len(text)} characters): typed, not scanned", self.source,
                                   text.encode())
            return clean_scan(text, self.source)
        self._buf.append(char)
        self._last = at
        return dropped

    def poll(self, now: float) -> IgnoredRead | None:
        """Call periodically: drops a burst that stopped without Enter."""
        return self._expire(now)

    def _expire(self, now: float) -> IgnoredRead | None:
        if self._last is None or now - self._last <= self.timeout:
            return None
        text, self._buf, self._last = self.pending, [], None
        if len(text) >= self.min_length:
            return IgnoredRead(f"incomplete code ({len(text)} characters, no Enter): ignored", self.source, text.encode())
        self._typed += len(text)
        return None   # a slow key: someone typing, not a scanner
