"""A door enrolled for every event says hello: how long after the server's clock reply its event data is applied.

    .venv/bin/python benchmarks/bench_until_idle.py [--tickets 100000]

`agent sync --until-idle` took 1.5 s without messages after the clock reply for caught up; the server builds the
bundle after that reply, so a gap longer than that returned before the data (docs/sync-protocol.md, hello). The
device runs in this process (same 2 cores as server and broker): wall-clock figures, say the load.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_sync_common import ORG, wait, world

from agent.sync.device import DeviceOptions
from agent.sync_cli import QUIET
from server_stub.sync.sim_device import SimDevice


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tickets", type=int, default=100_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-until-idle-") as tmp, \
            world(Path(tmp), args.tickets, ["bench-dev"], device_events=False) as (store, event, config, servers):
        device = SimDevice(Path(tmp) / "dev", ORG, "bench-dev", store.server_public_key(ORG), config, [],
                           options=DeviceOptions(bundle_timeout=120))
        t0 = time.perf_counter()
        device.go_online()
        sync = device.online_sync
        if wait(lambda: sync.server_answered, 60) is None:
            raise SystemExit(f"the server never answered: {list(sync.rejections)}")
        answered = time.perf_counter() - t0
        if wait(lambda: sync.caught_up and sync.bundle_version > 0, 180, step=0.01) is None:
            raise SystemExit(f"no event data: {list(sync.rejections)}")
        applied = time.perf_counter() - t0
        gap = applied - answered
        print(f"tickets {args.tickets}, load {os.getloadavg()[0]:.1f}; announced v{sync.owed_version}, "
              f"applied v{sync.bundle_version}")
        print(f"clock reply after {answered:.2f} s; event data applied after {applied:.2f} s: gap {gap:.2f} s "
              f"({'longer' if gap > QUIET else 'shorter'} than the {QUIET} s quiet window)")
        device.close()


if __name__ == "__main__":
    main()
