"""CPU time per phase of a full bundle with actions, server build and device apply, one process, no broker.

    python benchmarks/bench_bundle_phases.py --tickets 1000000 --actions 300000 --save /tmp/b.pickle
    python benchmarks/bench_bundle_phases.py --load /tmp/b.pickle [--profile 30]     # the device part again

The server part: the store's ticket and action reads, JSON, zlib (`bundles.build`), split into its ticket part
and its actions part (the same bundle built without its actions). The device part: the chunks in order, as
`DeviceSync` stages them on arrival (`FullBundleStager.add`: decode, stage tickets, merge actions), then the swap.
CPU time (thread_time) is robust to the other engineers' load; wall time is printed beside it. `--save` keeps the
chunks so the device part can be re-run (A/B of the device's code, `PYTHONPATH=` another worktree) on the very
same bytes. `--profile N`: cProfile of the device part, its N heaviest functions.
"""
from __future__ import annotations

import argparse
import cProfile
import pickle
import pstats
import random
import tempfile
import time
from pathlib import Path

from bench_bundle_apply import add_actions, memory
from bench_sync_common import ORG, make_store

from agent.ledger import Ledger
from agent.sync import bundle
from agent.sync.apply import FullBundleStager, apply_bundle
from agent.sync.bundle import Pending
from server_stub.sync import bundles


class Clock:
    """CPU and wall seconds summed per phase name."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def add(self, name: str, cpu: float, wall: float) -> None:
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu
        self.wall[name] = self.wall.get(name, 0.0) + wall

    def print(self, title: str) -> None:
        print(title)
        for name in self.cpu:
            print(f"  {name:<26} CPU {self.cpu[name]:7.2f} s   wall {self.wall[name]:7.2f} s")
        print(f"  {'in all':<26} CPU {sum(self.cpu.values()):7.2f} s   wall {sum(self.wall.values()):7.2f} s")


def timed(clock: Clock, name: str, fn, *args):
    c0, w0 = time.thread_time(), time.perf_counter()
    try:
        return fn(*args)
    finally:
        clock.add(name, time.thread_time() - c0, time.perf_counter() - w0)


def server_part(tickets: int, actions: int, folder: Path) -> dict:
    t0 = time.perf_counter()
    store, event = make_store(folder / "server", tickets, ["door"])
    rows = store.q("SELECT o.number, t.ticket_id FROM orders o JOIN tickets t USING (order_id)")
    print(f"store of {tickets} tickets in {time.perf_counter() - t0:.0f} s", flush=True)
    clock = Clock()
    timed(clock, "build, tickets only", bundles.build, store, ORG, [event], 0)
    if actions:
        add_actions(store, event, actions, set(), [t for _, t in rows], random.Random(14))
    built = timed(clock, "build, with the actions", bundles.build, store, ORG, [event], 0)
    clock.print("server (bundles.build):")
    return {"version": built.version, "events": built.events, "keyring": built.keyring, "chunks": built.chunks}


def device_part(saved: dict, folder: Path, profile: int) -> None:
    chunks = saved["chunks"]
    pending = Pending({"org": ORG, "device": "door", "bundle_id": "00" * 16, "version": saved["version"],
                       "base_version": 0, "events": saved["events"], "keyring": saved["keyring"],
                       "chunks": ["-"] * len(chunks)})
    ledger = Ledger.open(folder / "ledger.sqlite")
    clock = Clock()
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    c0, w0 = time.thread_time(), time.perf_counter()
    stager = FullBundleStager(ledger)
    for index, chunk in enumerate(chunks):
        s = timed(clock, "decode (zlib + JSON)", bundle.section, chunk, index)
        kind = "stage tickets" if "tickets" in s else "merge actions" if "resets" in s else "other sections"
        timed(clock, kind, stager.add, s)
        pending.chunks[index] = b""
    timed(clock, "swap", apply_bundle, ledger, pending, None, None, False, stager)
    cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
    if prof:
        prof.disable()
    clock.print(f"device ({len(chunks)} chunks, {sum(map(len, chunks)) / 1e6:.1f} MB):")
    print(f"  (whole apply: CPU {cpu:.2f} s, wall {wall:.2f} s; RSS peak {memory()['VmHWM']:.0f} MB)")
    n = ledger.conn.execute("SELECT count(*) FROM checkins").fetchone()[0]
    t = ledger.conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    print(f"  ledger: {t} tickets, {n} actions")
    ledger.close()
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(profile)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--actions", type=int, default=300_000)
    p.add_argument("--save", help="keep the built chunks in this file")
    p.add_argument("--load", help="the device part only, on chunks kept by --save")
    p.add_argument("--profile", type=int, default=0, help="cProfile the device part: its N heaviest functions")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bundle-phases-") as tmp:
        if args.load:
            saved = pickle.loads(Path(args.load).read_bytes())
        else:
            saved = server_part(args.tickets, args.actions, Path(tmp))
            if args.save:
                Path(args.save).write_bytes(pickle.dumps(saved))
        device_part(saved, Path(tmp), args.profile)


if __name__ == "__main__":
    main()
