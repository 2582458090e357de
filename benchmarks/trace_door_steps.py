"""Where the live chain's budget goes on the frames of a few door conditions, and what the redrawn step reads alone.

    .venv/bin/python benchmarks/trace_door_steps.py [--conditions cracked glare] [--split tuning] [--frames 100]
        [--budget-ms 4] [--misses] [--any-text]

A fast check while tuning the region ladder (seconds per condition, not the minutes of bench_door_conditions.py):
per condition, the live chain's one-frame read rate and CPU p99, what the redrawn step reads on its own (budget
lifted, the strongest region), and for the frames the chain misses (--misses: one line each) the steps that ran, the
CPU time spent when each step's turn came, and whether an outline was found. --order tries another ladder order.
The CPU figures move with the machine's load (the budget is CPU time, but a busy core makes every step dearer):
compare orders in runs side by side. The chain is the door's (a retry step's text counts only if
`agent.payload.plausible`); --any-text takes every text. "wrong": frames read as another text than their ticket's.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from figures import pct  # noqa: F401  (puts this checkout on sys.path)

from agent.payload import plausible  # noqa: E402
from drivers.camera import redraw  # noqa: E402
from drivers.camera import regions as R  # noqa: E402
from drivers.camera.chain import DecoderChain, _decode  # noqa: E402
from drivers.testkit.door_conditions import frames  # noqa: E402


MIN_SIDE: int = getattr(redraw.redrawn_code, "min_side")


class Traced:
    """A region filter that records when it ran (CPU ms since the frame began)."""

    def __init__(self, flt, log: list, c0: list):
        self.flt, self.log, self.c0 = flt, log, c0
        self.__name__ = flt.__name__
        for attr in ("min_side",):
            if hasattr(flt, attr):
                setattr(self, attr, getattr(flt, attr))

    def __call__(self, view):
        self.log.append((self.__name__, (time.thread_time() - self.c0[0]) * 1000, view.shape[0]))
        return self.flt(view)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--conditions", nargs="*", default=["cracked", "glare", "small", "crumpled", "low_brightness"])
    p.add_argument("--split", default="tuning")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--budget-ms", type=float, default=4.0)
    p.add_argument("--misses", action="store_true", help="one line per frame the live chain misses")
    p.add_argument("--order", default="", help="the ladder's steps by index, e.g. 0,3,1,2,4,5,6,7 (default: as is)")
    p.add_argument("--any-text", action="store_true", help="retry steps' texts taken whatever their shape")
    args = p.parse_args()
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})   # the benchmark takes the last
        R.cv2.setNumThreads(1)
    except (AttributeError, OSError):
        pass
    chain = DecoderChain(live_budget_ms=args.budget_ms, **({} if args.any_text else {"plausible": plausible}))
    log: list = []
    c0 = [0.0]
    chain.region_steps = [(n, d, Traced(f, log, c0)) for n, d, f in chain.region_steps]
    if args.order:
        chain.region_steps = [chain.region_steps[int(i)] for i in args.order.split(",")]
    pure = next(d for n, d, f in chain.region_steps if f.flt is redraw.redrawn_code)
    for f in frames("small", "tuning", 3, start=10_000) * 3:      # warm the step costs
        chain.decode_live(f.image)
    for condition in args.conditions:
        fs = frames(condition, args.split, args.frames, start=args.start)
        read = wrong = alone = 0
        cpu: list[float] = []
        lines = []
        for f in fs:
            log.clear()
            c0[0] = time.thread_time()
            texts = chain.decode_live(f.image).texts
            cpu.append((time.thread_time() - c0[0]) * 1000)
            ok = texts == (f.payload,)
            read += ok
            wrong += bool(texts) and not ok
            boxes = R.candidates(f.image, chain.regions_per_frame)
            views = [R.region_view(f.image, b) for b in boxes]
            quad = redraw.outline(views[0]) if views else None
            big = bool(views) and max(boxes[0].w, boxes[0].h) >= MIN_SIDE
            solo = big and f.payload in _decode(pure, redraw.redrawn_code(views[0]))
            alone += solo
            if not ok and args.misses:
                turn = [f"{name}@{ms:.1f}" for name, ms, _ in log]
                sides = ",".join(str(max(b.w, b.h)) for b in boxes)
                lines.append(f"  {f.index:3d} boxes {sides or '-'} outline {'yes' if quad is not None else 'NO'} "
                             f"redrawn alone {'reads' if solo else '-'}; ran: {' '.join(turn)}; "
                             f"cpu {cpu[-1]:.1f}")
        print(f"{condition} {args.split}: live {read}/{len(fs)} (wrong {wrong}), redrawn step alone {alone}, "
              f"CPU p50 {pct(cpu, 50):.2f} p99 {pct(cpu, 99):.2f} ms", flush=True)
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
