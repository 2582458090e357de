"""One device's CPU for a relay of other gates' entries (a signed `checkins` live message), alone on one core: the
sync thread's whole path (`DeviceSync._live_batch`: verify, parse, merge, the relaxed commit, the ack), then its
parts. The fleet (bench_fleet.py) reports the same per message with 20 device stacks to an interpreter.

    .venv/bin/python benchmarks/bench_live_relay.py [--actions 27] [--messages 600]
    .venv/bin/python benchmarks/bench_live_relay.py --devices 20 [--updates 1]   # 20 device stacks in one process

`--devices N`: N devices' sync threads running in this process (as bench_fleet.py's worker processes hold 20),
each relay put in every device's queue at once (the broker's fan-out), one every `--every` s (0.1), `--updates` one-revocation
`update2`s mixed in per relay (the fleet's cancellations and exchanges); process CPU per message and device, and
the wall time until every device applied each. The interpreter lock shared by the N threads makes each SQL
statement and lock hand-over dearer than alone.

The device's transport is a null one (nothing published, nothing acknowledged): no broker, so the figure is the
device's own work.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from figures import ROOT  # noqa: F401  (puts this checkout on sys.path)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from agent.sync import topics  # noqa: E402
from agent.sync.device import DeviceSync  # noqa: E402
from agent.clock import ServerClock  # noqa: E402
from agent.scan_ids import new_scan_id  # noqa: E402
from agent.sync.messages import Checkins, RelayedAction, UpdateV2  # noqa: E402
from agent.sync.signed import seal  # noqa: E402

ORG, EVENT = "bench", 1


class NullTransport:
    """Connected to nothing: the sync's transport seam (agent.sync.transport.Transport)."""
    on_message: Callable[[str, bytes], None]
    on_connect: Callable[[bool], None]
    on_disconnect: Callable[[], None]
    on_refused: Callable[[str], None]
    connected = False

    def start(self) -> None: ...
    def stop(self, status: tuple[str, bytes] | None = None) -> None: ...
    def subscribe(self, topic: str, qos: int = 1, retain_as_published: bool = False) -> None: ...
    def sweep_retained(self, topic: str) -> None: ...
    def publish(self, *args: Any, **kwargs: Any) -> bool: return True
    def delivery(self) -> None: return None
    def retained(self) -> bool: return False
    def published_retained(self) -> bool: return False
    def ack(self, delivery: Any) -> None: ...


def relay(key: Ed25519PrivateKey, rnd: random.Random, actions: int) -> bytes:
    rows = tuple(RelayedAction(new_scan_id(), "entry", f"T{rnd.randrange(10**9)}", EVENT, "in", time.time(),
                               f"gate-{rnd.randrange(200):03d}", f"gate-{rnd.randrange(200):03d}",
                               rnd.randrange(10**5), None, "", 0.01, "normal") for _ in range(actions))
    return seal(dict(Checkins(EVENT, rows).to_wire(), org=ORG, id=uuid.uuid4().hex, ts=time.time()), key.sign)


def update(key: Ed25519PrivateKey, rnd: random.Random) -> bytes:
    """A one-ticket cancellation as the announcer sends it (`update2`)."""
    ticket = str(rnd.randrange(10**9))
    body = UpdateV2(EVENT, revoked=((ticket, "order cancelled", time.time()),), states=((ticket, "cancelled"),))
    return seal(dict(body.to_wire(), org=ORG, id=uuid.uuid4().hex, ts=time.time()), key.sign)


def contended(args: argparse.Namespace, key: Ed25519PrivateKey, public: bytes, folder: Path) -> None:
    """`args.devices` sync threads in this process, each message put in every device's queue at once."""
    syncs = []
    for i in range(args.devices):
        (folder / f"d{i}").mkdir()
        sync = DeviceSync(folder / f"d{i}" / "ledger.sqlite", ORG, f"gate-{i:03d}", public, NullTransport(),
                          events=[EVENT]).start()
        sync._ledger.set_clock_estimate(ServerClock().measured(time.time()))    # as after its first hello
        syncs.append(sync)
    rnd = random.Random(1)
    groups = [[relay(key, rnd, args.actions)] + [update(key, rnd) for _ in range(args.updates)]
              for _ in range(args.messages)]
    topic = topics.live(ORG, EVENT)
    total = len(groups) * len(groups[0]) * len(syncs)
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        for i, group in enumerate(groups):
            for sync in syncs:
                for m in group:
                    sync._received(topic, m)
            time.sleep(max(0.0, t0 + (i + 1) * args.every - time.perf_counter()))
        fed = time.perf_counter() - t0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(s.stats["live"] + len(s.rejections) for s in syncs) < total:
            time.sleep(0.01)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        done = sum(s.stats["live"] for s in syncs)
        commits = sum(s.stats["live_commits"] for s in syncs)
        print(f"{args.devices} devices in one process, {len(groups)} relays of {args.actions} entries + "
              f"{args.updates} update2 each, every {args.every * 1000:.0f} ms: process CPU {cpu * 1e6 / total:.0f} us per message and "
              f"device ({done} applied of {total}, {done / max(commits, 1):.2f} per commit); fed in {fed:.1f} s, "
              f"all applied {wall - fed:.2f} s after; refused {sum(len(s.rejections) for s in syncs)}; load "
              f"{os.getloadavg()[0]:.1f}")
    finally:
        for sync in syncs:
            sync.stop()


def per_call(label: str, fn: Callable[[int], object], n: int) -> None:
    c0 = time.thread_time()
    for i in range(n):
        fn(i)
    print(f"  {label}: {(time.thread_time() - c0) * 1000 / n:.3f} ms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--actions", type=int, default=27, help="entries per relay (the fleet's average: 27)")
    p.add_argument("--messages", type=int, default=600)
    p.add_argument("--devices", type=int, default=0, help="device sync threads in this process (0: one, alone)")
    p.add_argument("--updates", type=int, default=1, help="--devices: one-ticket update2s per relay")
    p.add_argument("--every", type=float, default=0.1, help="--devices: seconds between two relays")
    args = p.parse_args()
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    folder = Path(tempfile.mkdtemp(prefix="bench-live-relay-"))
    if args.devices:
        return contended(args, key, public, folder)
    sync = DeviceSync(folder / "ledger.sqlite", ORG, "gate-001", public, NullTransport(), events=[EVENT])
    sync.start()
    rnd = random.Random(1)
    messages = [relay(key, rnd, args.actions) for _ in range(args.messages)]
    warm = args.messages // 6
    cpu = []
    try:
        for m in messages:
            c0 = time.thread_time()
            sync._live_batch(("msg", topics.live(ORG, EVENT), m, None))
            cpu.append((time.thread_time() - c0) * 1000)
        cpu = sorted(cpu[warm:])
        print(f"a relay of {args.actions} entries ({len(messages[0])} bytes) on one device, CPU: p50 "
              f"{cpu[len(cpu) // 2]:.3f} ms, mean {statistics.mean(cpu):.3f}, p95 {cpu[int(len(cpu) * 0.95)]:.3f} "
              f"({len(cpu)} relays, {sync.stats['merged']} entries merged)")
        bodies = [sync.verifier.open(m) for m in messages]
        print("its parts (mean of each alone):")
        per_call("verify and read the envelope", lambda i: sync.verifier.open(messages[i]), len(messages))
        per_call("check the entries, as merged (Checkins.rows_from_wire)", lambda i: Checkins.rows_from_wire(bodies[i]),
                 len(bodies))
        per_call("the same as typed actions (Checkins.from_wire, what a gate ran before)",
                 lambda i: [a.row() for a in Checkins.from_wire(bodies[i]).actions], len(bodies))
        fresh = [[(new_scan_id(), *r[1:]) for r in Checkins.rows_from_wire(b)[1]] for b in bodies]

        def merge(i: int) -> None:
            with sync._ledger.relaxed_transaction():
                sync._ledger.merge_rows(fresh[i])
        per_call("merge the entries and commit (relaxed)", merge, len(fresh))
    finally:
        sync.stop()


if __name__ == "__main__":
    main()
