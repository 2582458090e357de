"""Decode benchmark: corpus read rate and median time per library and for our chain; frame -> durable verdict
latency through the real Gate on a real ledger (640x480, code present); frames per second on one core.

    python benchmarks/bench_decode.py [--frames 300] [--repeat 3]
Corpus: $TICKETGATE_QR_CORPUS or ../shared/corpus/qr beside the repository.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from figures import ROOT, pct  # noqa: E402  (puts this checkout on sys.path)

import numpy as np  # noqa: E402

from drivers.camera.chain import DecoderChain  # noqa: E402
from drivers.camera.corpus import corpus_dir, samples  # noqa: E402
from drivers.camera.measure import measure  # noqa: E402
from drivers.camera.scanner import CameraScanner  # noqa: E402
from drivers.testkit.tickets import Issuer, qr_gray  # noqa: E402




def corpus_table(repeat: int) -> None:
    root = corpus_dir(ROOT.parent / "shared/corpus/qr")
    found = samples(root) if root.is_dir() else []
    if not found:
        print(f"corpus: not found at {root} (set TICKETGATE_QR_CORPUS); skipped")
        return
    print(f"corpus {root}: {len(found)} images, best of {repeat} runs per image")
    print(f"  {'decoder':<18} {'read':>8} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    for r in measure(found, repeat):
        tail = f"{r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} {r['max_ms']:>8.2f}" if "median_ms" in r else ""
        print(f"  {r['decoder']:<18} {r['read']:>3}/{r['total']:<4} {tail}")


def camera_like(frame: np.ndarray, rng) -> np.ndarray:
    """Optics blur, lower contrast, sensor noise: a code filmed at the door rather than a perfect bitmap."""
    import cv2
    soft = cv2.GaussianBlur(frame, (0, 0), 0.8).astype(np.float32) * 0.75 + 30
    return np.clip(soft + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)


def frame_to_verdict(n: int) -> None:
    issuer = Issuer.create()
    rng = np.random.default_rng(1)
    frames = []
    for i in range(n):
        x, y = int(rng.integers(20, 300)), int(rng.integers(10, 120))
        frame = qr_gray(issuer.payload(ticket_id=100_000 + i), scale=3, canvas=(640, 480), at=(x, y))
        frames.append(camera_like(frame, rng))
    with tempfile.TemporaryDirectory() as tmp:
        gate = issuer.gate(Path(tmp))
        verdicts, scan_ms = [], []

        def on_text(read):
            t0 = time.perf_counter()
            verdicts.append(gate.scan(read.text))
            scan_ms.append((time.perf_counter() - t0) * 1000)
        scanner = CameraScanner(on_text=on_text, same_text_pause=0)
        scanner.process(frames[0])                                          # warm-up (imports, first ledger write)
        verdicts.clear(), scan_ms.clear()
        times, decode_times = [], []
        for frame in frames[1:]:
            t0 = time.perf_counter()
            reads = scanner.process(frame)
            times.append((time.perf_counter() - t0) * 1000)
            decode_times.append(reads[0].result.ms if reads else float("nan"))
        accepted = sum(v.accepted for v in verdicts)
        gate.ledger.close()
    print(f"frame -> durable verdict (640x480, code present, real Gate + ledger WAL synchronous=FULL), {len(times)} frames:")
    print(f"  accepted {accepted}/{len(times)}; total p50 {pct(times, 50):.2f} ms, p99 {pct(times, 99):.2f} ms, "
          f"max {max(times):.2f} ms")
    print(f"  of which decode p50 {statistics.median(decode_times):.2f} / p99 {pct(decode_times, 99):.2f} ms, "
          f"Gate.scan (verify + decide + fsync) p50 {statistics.median(scan_ms):.2f} / p99 {pct(scan_ms, 99):.2f} ms")


def threaded_frame_to_verdict(n: int) -> None:
    """The real loop: a frame put in the slot (as the camera thread does) -> decode thread -> Gate -> verdict."""
    import threading
    issuer = Issuer.create()
    rng = np.random.default_rng(3)
    frames = [camera_like(qr_gray(issuer.payload(ticket_id=200_000 + i), scale=3, canvas=(640, 480),
                                  at=(int(rng.integers(20, 300)), int(rng.integers(10, 120)))), rng) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        gate = issuer.gate(Path(tmp))
        done = threading.Event()
        latencies, put_at = [], [0.0]

        def on_text(read):
            verdict = gate.scan(read.text)
            latencies.append((time.perf_counter() - put_at[0]) * 1000)
            if verdict.accepted:
                done.set()
        scanner = CameraScanner(on_text=on_text, same_text_pause=0)
        scanner.start()
        for frame in frames:
            done.clear()
            put_at[0] = time.perf_counter()
            scanner.slot.put(frame)
            done.wait(2.0)
        scanner.stop()
        gate.ledger.close()
    latencies = latencies[1:]
    print(f"  threaded loop (slot -> decode thread -> Gate), {len(latencies)} frames: p50 {pct(latencies, 50):.2f} ms, "
          f"p99 {pct(latencies, 99):.2f} ms, max {max(latencies):.2f} ms")


def fps_one_core(seconds: float) -> None:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        pinned = "pinned to one core"
    except (AttributeError, OSError):
        pinned = "not pinned"
    issuer = Issuer.create()
    import cv2
    rng = np.random.default_rng(2)
    with_code = camera_like(qr_gray(issuer.payload(), scale=3, canvas=(640, 480), at=(200, 100)), rng)
    noise = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    scene = camera_like(cv2.GaussianBlur(noise, (0, 0), 4) * 3, rng)       # textured scene: clothes, faces
    for label, frame in (("code present", with_code), ("no code, textured scene", scene),
                         ("no code, pure noise (worst case)", noise)):
        chain = DecoderChain()
        chain.decode_live(frame)
        count, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            chain.decode_live(frame)
            count += 1
        fps = count / (time.perf_counter() - t0)
        print(f"  decode_live, {label}: {fps:.0f} frames/s ({1000 / fps:.2f} ms/frame) {pinned}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    args = p.parse_args()
    corpus_table(args.repeat)
    frame_to_verdict(args.frames)
    threaded_frame_to_verdict(args.frames)
    print("decoder throughput, one thread:")
    fps_one_core(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
