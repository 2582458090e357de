"""From a scanned code to the verdict drawn on screen (offscreen GL, 720x1280 handheld): Gate.scan, view-model,
widget update, layout and the frames until the new colour is on screen.

    /work/venv/bin/python benchmarks/bench_ui_verdict.py [--scans 100]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import figures  # noqa: E402,F401  (puts this checkout on sys.path)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--scans", type=int, default=100)
    args = p.parse_args()
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env()
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    from kiosk_ui.offscreen import Harness
    with tempfile.TemporaryDirectory() as tmp:
        demo = seed(tmp)
        ctl = Controller(demo.door, build_services(demo.door, Path(tmp)))
        h = Harness(ctl, "scan")
        scan = h.screen("scan")
        scan.verdict_timeout = 0
        from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels
        w, hgt = h.window.size
        payloads = [demo.ticket(1001 + (i % 2) * 10, zones=(1,) if i % 2 == 0 else (3,), category=1) for i in range(args.scans)]
        times, frames = [], []
        for i, payload in enumerate(payloads):
            t0 = time.perf_counter()
            view = scan.scan(payload)
            want = tuple(round(c * 255) for c in view.colour[:3])
            n = 0
            while n < 10:
                h.loop.idle()
                n += 1
                pixel = tuple(glReadPixels(5, hgt // 3, 1, 1, GL_RGBA, GL_UNSIGNED_BYTE)[:3])
                if all(abs(a - b) <= 3 for a, b in zip(pixel, want)) and n >= 2:
                    break
            times.append((time.perf_counter() - t0) * 1000)
            frames.append(n)
        print(f"{args.scans} scans, verdict colour on screen after: median {statistics.median(times):.1f} ms, "
              f"p95 {sorted(times)[int(len(times) * 0.95)]:.1f} ms, median {statistics.median(frames)} frame(s) "
              f"(each frame here is one EventLoop.idle: layout + draw, no vsync)")
        demo.door.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
