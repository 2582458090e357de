"""A tiny progress bar for long work (imports, pushes, exports) on stderr; silent when stderr is not a terminal
(unless TICKETGATE_PROGRESS=1), so scripts and `--json` output stay clean."""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int | None, label: str, stream: TextIO | None = None, enabled: bool | None = None,
                 interval: float = 0.1):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = os.environ.get("TICKETGATE_PROGRESS") == "1" or bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled, self.interval = enabled, interval
        self.started = time.monotonic()
        self._last_draw = 0.0
        self.done = 0

    def __call__(self, done: int) -> None:
        self.update(done)

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * WIDTH) + "." * (WIDTH - int(frac * WIDTH))
            return f"{self.label} [{bar}] {frac:4.0%} {self.done:,}/{self.total:,} {rate:,.0f}/s"
        return f"{self.label} {self.done:,} {rate:,.0f}/s"

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
