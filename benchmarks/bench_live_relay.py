"""One device's CPU for a relay of other gates' entries (a signed `checkins` live message), alone on one core: the
sync thread's whole path (`DeviceSync._live_batch`: verify, parse, merge, the relaxed commit, the ack), then its
parts. The fleet (bench_fleet.py) reports the same per message with 20 device stacks to an interpreter.

    .venv/bin/python benchmarks/bench_live_relay.py [--actions 27] [--messages 600]

The device's transport is a null one (nothing published, nothing acknowledged): no broker, so the figure is the
device's own work.
"""
from __future__ import annotations

import argparse
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
from agent.sync.messages import Checkins, RelayedAction  # noqa: E402
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
    def subscribe(self, topic: str, qos: int = 1) -> None: ...
    def publish(self, *args: Any, **kwargs: Any) -> bool: return True
    def delivery(self) -> None: return None
    def ack(self, delivery: Any) -> None: ...


def relay(key: Ed25519PrivateKey, rnd: random.Random, actions: int) -> bytes:
    rows = tuple(RelayedAction(uuid.uuid4().hex, "entry", f"T{rnd.randrange(10**9)}", EVENT, "in", time.time(),
                               f"gate-{rnd.randrange(200):03d}", f"gate-{rnd.randrange(200):03d}",
                               rnd.randrange(10**5), None, "", 0.01, "normal") for _ in range(actions))
    return seal(dict(Checkins(EVENT, rows).to_wire(), org=ORG, id=uuid.uuid4().hex, ts=time.time()), key.sign)


def per_call(label: str, fn: Callable[[int], object], n: int) -> None:
    c0 = time.thread_time()
    for i in range(n):
        fn(i)
    print(f"  {label}: {(time.thread_time() - c0) * 1000 / n:.3f} ms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--actions", type=int, default=27, help="entries per relay (the fleet's average: 27)")
    p.add_argument("--messages", type=int, default=600)
    args = p.parse_args()
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    folder = Path(tempfile.mkdtemp(prefix="bench-live-relay-"))
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
        parsed = [Checkins.from_wire(b) for b in bodies]
        print("its parts (mean of each alone):")
        per_call("verify and read the envelope", lambda i: sync.verifier.open(messages[i]), len(messages))
        per_call("check the entries (Checkins.from_wire)", lambda i: Checkins.from_wire(bodies[i]), len(bodies))
        fresh = [[dict(a.to_wire(), scan_uuid=uuid.uuid4().hex) for a in c.actions] for c in parsed]

        def merge(i: int) -> None:
            with sync._ledger.relaxed_transaction():
                sync._ledger.merge_remote(fresh[i])
        per_call("merge the entries and commit (relaxed)", merge, len(fresh))
    finally:
        sync.stop()


if __name__ == "__main__":
    main()
