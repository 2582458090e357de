"""Where a slow scan's time goes while a bundle is applied (bench_bundle_apply.py --trace).

In the device process: the ledger's staging steps (stage, flush, swap, drop-old, checkpoint) are timed as phases,
and each scan's time is split into its wait for the write lock (BEGIN IMMEDIATE), its COMMIT (the WAL fsync), its
own CPU time, and the rest: waiting for the GIL (another thread running Python) or for the disk outside a commit.
A probe thread sleeping 1 ms in a loop measures the GIL's wait directly (its overshoot).
"""
from __future__ import annotations

import threading
import time
from typing import Any

import figures  # noqa: F401  (first: puts this checkout on sys.path, before the agent is imported)

import agent.sqlite_file as sqlite_file
from agent.ledger import store
from agent.ledger.store import Ledger

PHASES: list[tuple[float, float, str]] = []      # (start, end, name), wall clock
PROBE: list[tuple[float, float]] = []            # (at, overshoot of a 1 ms sleep)
_local = threading.local()


def _timed(cls: Any, name: str, phase: str) -> None:
    original = getattr(cls, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            PHASES.append((t0, time.time(), phase))
    setattr(cls, name, wrapper)


def install(probe: bool = False) -> None:
    """Phases always (cheap); the scans' split and the GIL probe with `probe`."""
    for name, phase in (("stage_begin", "begin"), ("stage_tickets", "stage-commit"), ("stage_flush", "flush"),
                        ("stage_index", "index"), ("stage_swap", "swap"), ("stage_drop_old", "drop-old"), ("checkpoint", "checkpoint")):
        _timed(Ledger, name, phase)
    _timed(store, "_background_checkpoint", "checkpoint")
    if not probe:
        return
    begin = sqlite_file.begin_immediate

    def timed_begin(conn: Any) -> None:
        t0 = time.perf_counter()
        try:
            begin(conn)
        finally:
            _local.begin = getattr(_local, "begin", 0.0) + time.perf_counter() - t0
    sqlite_file.begin_immediate = timed_begin
    exit_ = sqlite_file.Transaction.__exit__

    def timed_exit(self: Any, *exc: Any) -> None:
        t0 = time.perf_counter()
        try:
            exit_(self, *exc)
        finally:
            if self.outer:
                _local.commit = getattr(_local, "commit", 0.0) + time.perf_counter() - t0
    sqlite_file.Transaction.__exit__ = timed_exit     # type: ignore[method-assign]
    threading.Thread(target=_probe, daemon=True, name="gil-probe").start()


def _probe() -> None:
    while True:
        t0 = time.perf_counter()
        time.sleep(0.001)
        PROBE.append((time.time(), time.perf_counter() - t0 - 0.001))


def scan_start() -> None:
    _local.begin = _local.commit = 0.0
    _local.cpu = time.thread_time()


def scan_split() -> dict[str, float]:
    return {"begin": _local.begin, "commit": _local.commit, "cpu": time.thread_time() - _local.cpu}


def report() -> dict[str, Any]:
    return {"phases": PHASES, "probe": PROBE}


def summarise(scans: list, trace: dict[str, Any], windows: list[tuple[str, tuple[float, float]]],
              slow: float = 0.005) -> None:
    """Print the slow scans' phases and split, and the GIL probe's overshoot per phase."""
    pct = figures.pct
    phases = trace["phases"]
    # stage-commits merged into one "staging" span per window; the others kept as they are
    names = sorted({p[2] for p in phases})
    for name, (a, b) in windows:
        inside = [s for s in scans if a <= s[0] - s[1] <= b]
        slow_ones = [s for s in inside if s[1] > slow]
        print(f"[trace] {name}: {len(slow_ones)} of {len(inside)} scans over {slow * 1000:.0f} ms")
        for s in sorted(slow_ones, key=lambda s: -s[1])[:12]:
            start, took, split = s[0] - s[1], s[1], s[6]
            over = sorted({p[2] for p in phases if p[0] < start + took and p[1] > start})
            rest = took - split["begin"] - split["commit"] - split["cpu"]
            print(f"[trace]   {took * 1000:6.1f} ms: lock wait {split['begin'] * 1000:5.1f}, commit {split['commit'] * 1000:5.1f}"
                  f", cpu {split['cpu'] * 1000:4.1f}, other (GIL/disk) {rest * 1000:5.1f}; during {', '.join(over) or '-'}")
        for key in ("begin", "commit", "cpu"):
            values = [s[6][key] for s in inside]
            if values:
                print(f"[trace]   {key}: p50 {pct(values, 50) * 1000:.2f} ms p99 {pct(values, 99) * 1000:.2f} ms")
        spans: dict[str, list[float]] = {}
        for p0, p1, name_ in phases:
            if a <= p0 <= b:
                spans.setdefault(name_, []).append(p1 - p0)
        if spans:
            print("[trace]   phases: " + ", ".join(f"{k} n={len(v)} total {sum(v):.2f} s max {max(v) * 1000:.0f} ms"
                                                for k, v in sorted(spans.items())))
        probe = [o for at, o in trace["probe"] if a <= at <= b]
        if probe:
            print(f"[trace]   GIL probe (1 ms sleep overshoot): p50 {pct(probe, 50) * 1000:.2f} p99 "
                  f"{pct(probe, 99) * 1000:.2f} max {max(probe) * 1000:.1f} ms")
    for name in names:
        spans = [p[1] - p[0] for p in phases if p[2] == name]
        print(f"[trace] phase {name}: n={len(spans)} total {sum(spans):.2f} s max {max(spans) * 1000:.1f} ms")
