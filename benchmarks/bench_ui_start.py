"""How long from launching `ticketgate kiosk` to its first screen drawn (target: <= 3 s on a handheld).

    /work/venv/bin/python benchmarks/bench_ui_start.py [--runs 5] [--home DIR]

Each run is a fresh process (cold Python, Kivy import, GL window, first frame): the real app with
`--smoke`, which prints the wall-clock time of its first drawn frame and quits. Offscreen SDL here.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import ROOT  # noqa: E402  (puts this checkout on sys.path)



def one_run(home: Path) -> tuple[float, float]:
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1",
               KIVY_HOME=tempfile.mkdtemp(prefix="kivy-home-"))
    env.pop("DISPLAY", None)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "kiosk", "--home", str(home), "--smoke"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    t_end = time.time()
    line = next((x for x in proc.stdout.splitlines() if x.startswith("first-screen ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"the app did not start: rc={proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return float(line.split()[2]) - t0, t_end - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--home", type=Path, help="agent folder to open (default: a fresh demo device)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home
        if home is None:
            from kiosk_ui.demo_data import seed
            home = Path(tmp)
            seed(home).door.close()
        runs = [one_run(home) for _ in range(args.runs)]
    first = [r[0] for r in runs]
    print(f"kiosk start to first screen, {args.runs} cold runs: median {statistics.median(first):.2f} s, "
          f"max {max(first):.2f} s (process total incl. exit: median {statistics.median(r[1] for r in runs):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
