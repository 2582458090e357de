"""What every benchmark shares: this checkout on the import path (its code is measured, not an installed copy)
and the percentile helpers that print the figures recorded in docs/performance.md."""
from __future__ import annotations

import os
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0–100) by nearest rank."""
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def percentiles(samples: list[float]) -> str:
    """Seconds in, one line of milliseconds out: n, p50, p95, max, mean."""
    return (f"n={len(samples)} p50={pct(samples, 50) * 1000:.1f} ms p95={pct(samples, 95) * 1000:.1f} ms "
            f"max={max(samples) * 1000:.1f} ms mean={statistics.mean(samples) * 1000:.1f} ms")


def thread_cpu_seconds() -> dict[str, tuple[str, float]]:
    """This process's threads alive now, from /proc: OS thread id -> (thread name, user + system CPU seconds)."""
    names = {str(t.native_id): t.name for t in threading.enumerate()}
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue                                  # the thread ended meanwhile
        fields = stat[stat.rindex(")") + 2:].split()
        out[tid] = (names.get(tid, "other"), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return out
