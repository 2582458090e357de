"""What idle devices cost: D devices online (real DeviceSync, real mosquitto, the server in this process), nothing
happening; CPU per device per second, by thread kind (sync threads, MQTT threads, the server's), `tick` against
`idle_tick` (agent.sync.device.DeviceOptions). A fleet of 200 on one machine pays it 200 times; a handheld pays it in
battery.

    .venv/bin/python benchmarks/bench_device_idle.py [--devices 20] [--seconds 10]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from figures import thread_cpu_seconds  # noqa: E402

from agent.sync.device import DeviceOptions  # noqa: E402
from agent.sync.transport import BrokerConfig, PahoTransport  # noqa: E402
from server_stub.store import SqliteStore  # noqa: E402
from server_stub.sync.broker_process import BrokerProcess  # noqa: E402
from server_stub.sync.server import SyncServer  # noqa: E402
from server_stub.sync.sim_device import SimDevice  # noqa: E402

ORG = "bench"


def thread_cpu() -> Counter[str]:
    """CPU seconds of this process's threads so far, by kind (the thread's name without its number)."""
    out: Counter[str] = Counter()
    for name, cpu in thread_cpu_seconds().values():
        out[re.sub(r"gate-\d+|server-\d+", "#", name)] += cpu
    return out


def run(devices: int, seconds: float, options: DeviceOptions) -> tuple[float, Counter[str]]:
    with tempfile.TemporaryDirectory() as tmp, BrokerProcess(Path(tmp) / "broker") as broker:
        store = SqliteStore.open(Path(tmp) / "server")
        store.create_organiser(ORG, "Idle")
        now = time.time()
        event = store.create_event(ORG, "Idle night", now - 3600, now + 6 * 3600, "Europe/Paris",
                                   zones=[{"zone_id": 1, "name": "Floor"}],
                                   categories=[{"category_id": 1, "name": "Standard"}])
        store.add_order(ORG, event, "Buyer", "b@example.org", positions=[{"category": 1, "zone": 1}])
        names = [f"gate-{i:03d}" for i in range(devices)]
        for name in names:
            store.register_device(ORG, name, gate=name, events=[event])
        server = SyncServer(store, PahoTransport("server-1", BrokerConfig(port=broker.port)), name="server-1",
                            orgs=[ORG]).start()
        doors = [SimDevice(Path(tmp) / name, ORG, name, store.server_public_key(ORG), BrokerConfig(port=broker.port),
                           [event], options=options).go_online() for name in names]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(d.ready(1) and d.sync and not d.sync._timed() for d in doors):
                time.sleep(0.1)
            time.sleep(1.0)
            before, t0 = thread_cpu(), time.perf_counter()
            time.sleep(seconds)
            after, wall = thread_cpu(), time.perf_counter() - t0
        finally:
            for d in doors:
                d.close()
            server.stop()
            store.close()
    return wall, Counter({k: after[k] - before.get(k, 0.0) for k in after})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    base = DeviceOptions()
    for label, options in (("idle_tick (as shipped)", base), ("tick only (before)", replace(base, idle_tick=base.tick))):
        wall, cpu = run(args.devices, args.seconds, options)
        per = {k: v * 1000.0 / wall / args.devices for k, v in cpu.items() if v}     # ms CPU per s per device
        total = sum(cpu.values()) * 1000.0 / wall / args.devices
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
        print(f"{args.devices} idle devices, {label}: {total:.2f} ms CPU per device per second ({parts}); "
              f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
