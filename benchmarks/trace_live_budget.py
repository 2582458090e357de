"""Where a live frame's CPU goes past the budget: the presentations of bench_door_conditions.py replayed with every
step of `DecoderChain._live` and the combination's stages timed (thread CPU time), one core.

    .venv/bin/python benchmarks/trace_live_budget.py [--frames 100] [--presentation 10] [--over 5.0]

Prints, for the frames played in presentations (through `decode_live(frame, combiner)`): CPU p50 / p99 / max; for
those over `--over` ms, the step that ended past it (its name, when it started, its cost estimate, what it spent)
and the combination's stages; and per step the spread of what it spends (p50 / p95 / max), the estimate's error.
Timing wrappers add ~1-2 us per call: figures a few hundredths of a ms above the benchmark's.
"""
from __future__ import annotations

import argparse
import collections
import pickle
import sys
import time
from pathlib import Path
from typing import Any, Callable

from figures import pct  # noqa: E402  (puts this checkout on sys.path)

from bench_door_conditions import live_rates, one_core  # noqa: E402
from drivers.camera import chain as C, combine, erasure, redraw  # noqa: E402
from drivers.camera.combine import FrameCombiner  # noqa: E402
from drivers.testkit.door_conditions import CONDITIONS, SPLITS, frames, presentation  # noqa: E402

Event = tuple[str, float, float]       # (what, start ms from the frame's start, ms spent)
events: list[Event] = []
frame_start = [0.0]


def _now() -> float:
    return (time.thread_time() - frame_start[0]) * 1000


def timed(owner: Any, name: str, label: str) -> None:
    original: Callable = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        s = _now()
        try:
            return original(*args, **kwargs)
        finally:
            events.append((label, s, _now() - s))
    if hasattr(original, "min_side"):
        wrapper.min_side = original.min_side  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def timed_generator(owner: Any, name: str, label: str) -> None:
    original: Callable = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        it = original(*args, **kwargs)
        k = 0
        while True:
            s = _now()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                events.append((f"{label}[{k}]", s, _now() - s))
            k += 1
            yield item
    setattr(owner, name, wrapper)


class Traced(C.DecoderChain):
    """The chain with each frame's start recorded (the events' time origin)."""

    def _live(self, image, combiner):  # type: ignore[no-untyped-def]
        frame_start[0] = time.thread_time()
        return super()._live(image, combiner)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--presentation", type=int, default=10)
    p.add_argument("--over", type=float, default=5.0)
    p.add_argument("--limit-ms", type=float, default=None, help="the chain's live_limit_ms (default: its own)")
    args = p.parse_args()
    print(one_core())
    chain = Traced()
    if args.limit_ms is not None:
        chain.live_limit_ms = args.limit_ms
    warm = frames("small", "tuning", 3, start=10_000)
    for f in warm * 3:
        chain.decode_live(f.image)
        chain.decode_live(f.image, FrameCombiner())
    played_frames = _presentations(chain, args)

    # the steps: the first pass, the candidates, each region step's decoder + filter, the combination's stages
    primary = chain.live_primary
    chain.live_primary = _Named(primary)      # type: ignore[assignment]
    timed(C.R, "candidates", "candidates")
    timed(C.R, "region_view", "region view")
    steps = []
    for name, decoder, flt in chain.region_steps:
        if flt is redraw.redrawn_code:
            steps.append((name, decoder, flt))
            continue
        label = name.removeprefix("region:")
        wrapped = _wrap_filter(flt, label)
        steps.append((name, decoder, wrapped))
    chain.region_steps = steps
    timed(C, "_decode", "decode")
    timed(redraw, "outline", "outline")
    timed_generator(redraw, "readings", "reading")
    timed(erasure, "corrected", "corrected")
    timed(combine, "decoded", "sum decoded")
    timed(combine, "_texts", "combined read")
    timed(FrameCombiner, "averaged", "averaged")
    timed(FrameCombiner, "read", "combination")
    timed(redraw, "redrawn_code", "redrawn_code")
    # the chain checks `region_filter is redraw.redrawn_code`: keep the identity with the wrapped one
    chain.region_steps = [(n, d, redraw.redrawn_code if f.__name__ == "redrawn_code" else f) for n, d, f in steps]

    played: list[float] = []
    over: list[tuple[float, str, list[Event]]] = []
    spent: dict[str, list[float]] = collections.defaultdict(list)
    combiner = FrameCombiner()
    read: dict[tuple[str, str], int] = collections.Counter()
    for condition, split, index, shown in played_frames:
            for f in shown:
                events.clear()
                estimates = ([round(c, 2) for c in chain.region_cost_ms] if hasattr(chain, "region_cost_ms") else
                             {k.removeprefix("region:"): round(chain.region_costs.estimate(k), 2)
                              for k in chain.region_costs.peak},
                             {k: round(chain.combine_costs.estimate(k), 2) for k in chain.combine_costs.peak}
                             if hasattr(chain, "combine_costs") else None, combiner.averaging, combiner.frame % 2 == 1)
                c0 = time.thread_time()
                texts = chain.decode_live(f.image, combiner).texts
                ms = (time.thread_time() - c0) * 1000
                played.append(ms)
                for what, _, d in events:
                    spent[what].append(d)
                if ms > args.over:
                    over.append((ms, f"{condition}/{split}#{index}@{f.moment} estimates (ladder, combination's"
                                 f" stages, averaging, combination first) {estimates}", list(events)))
                if texts == (f.payload,):
                    read[condition, split] += 1
                    break
    print(f"frames played in presentations ({len(played)}): CPU p50 {pct(played, 50):.2f}, p99 {pct(played, 99):.2f}, "
          f"max {max(played):.2f} ms; over {args.over} ms: {len(over)}")
    tried = collections.Counter((c, s) for c, s, _, _ in played_frames)
    print("presentations read / played (those whose frame 0 main's chain missed): " + ", ".join(
        f"{c}/{s} {read[c, s]}/{n}" for (c, s), n in sorted(tried.items())) + f"; total {sum(read.values())}")
    for ms, where, evs in sorted(over, reverse=True):
        print(f"\n{ms:.2f} ms  {where}")
        for what, s, d in sorted(evs, key=lambda e: e[1]):
            print(f"   {s:6.2f} +{d:5.2f}  {what}")
    print("\nper stage: n, p50 / p95 / p99 / max ms")
    for what, ds in sorted(spent.items()):
        print(f"  {what:32s} {len(ds):5d}  {pct(ds, 50):.2f} / {pct(ds, 95):.2f} / {pct(ds, 99):.2f} / {max(ds):.2f}")
    return 0


class _Named:
    def __init__(self, decoder: Any):
        self.decoder, self.name = decoder, decoder.name

    def __call__(self, image: Any) -> Any:
        s = _now()
        try:
            return self.decoder(image)
        finally:
            events.append(("first pass", s, _now() - s))


def _presentations(chain: C.DecoderChain, args: argparse.Namespace) -> list:
    """The presentations the benchmark plays (those whose frame 0 the live chain misses), cached in /tmp: making the
    frames takes minutes on a loaded machine."""
    path = Path(f"/tmp/trace_live_budget-{args.frames}-{args.presentation}.pkl")
    if path.exists():
        return pickle.loads(path.read_bytes())
    data = {(c, s): frames(c, s, args.frames) for s in SPLITS for c in CONDITIONS}
    rows = live_rates(chain, data)
    out = [(condition, split, index, list(presentation(condition, split, index, args.presentation)))
           for (condition, split), (_, _, _, _, _, missed, _) in rows.items() for index in missed]
    path.write_bytes(pickle.dumps(out))
    return out


def _wrap_filter(flt: Callable, label: str) -> Callable:
    def wrapper(view: Any) -> Any:
        s = _now()
        try:
            return flt(view)
        finally:
            events.append((f"filter {label}", s, _now() - s))
    wrapper.__name__ = flt.__name__
    if hasattr(flt, "min_side"):
        wrapper.min_side = flt.min_side  # type: ignore[attr-defined]
    return wrapper


if __name__ == "__main__":
    sys.exit(main())
