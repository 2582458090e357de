"""Corpus measurement: read rate and median time per image for each library alone and for our chain.

"zxing-cpp" is the library with its defaults (HRI text: GS1 brackets, `<SOH>`-style escapes, so a few codes read
but do not match their text); "zxing-cpp plain" is the same reader in the Plain text mode our chain uses."""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

from drivers.camera.chain import DecoderChain
from drivers.camera.corpus import Sample, load_gray, samples
from drivers.camera.decoders import OpenCvDecoder, ZbarDecoder, ZxingDecoder


def measure(corpus: list[Sample], repeat: int = 1) -> list[dict]:
    images = [(s, load_gray(s.path)) for s in corpus]
    chain = DecoderChain()
    runners: list[tuple[str, Callable[[np.ndarray], list[str]]]] = [("zxing-cpp", ZxingDecoder(text_mode="HRI")), ("zxing-cpp plain", ZxingDecoder()), ("pyzbar", ZbarDecoder()), ("opencv", OpenCvDecoder()),
               ("chain (ours)", lambda g: list(chain.decode(g).texts))]
    rows, union = [], set()
    for name, run in runners:
        read, times = set(), []
        for sample, gray in images:
            best = float("inf")
            for _ in range(max(repeat, 1)):
                t0 = time.perf_counter()
                texts = run(gray)
                best = min(best, (time.perf_counter() - t0) * 1000)
            times.append(best)
            if sample.expected in texts:
                read.add(sample.path)
        if name in ("zxing-cpp", "pyzbar", "opencv"):
            union |= read
        rows.append({"decoder": name, "read": len(read), "total": len(images), "median_ms": statistics.median(times),
                     "p90_ms": statistics.quantiles(times, n=10)[-1], "max_ms": max(times)})
    rows.insert(4, {"decoder": "any of the three", "read": len(union), "total": len(images)})
    return rows


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ticketgate decode --corpus")
    p.add_argument("corpus", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    found = samples(args.corpus)
    if not found:
        print(f"no images with expected .txt under {args.corpus}")
        return 2
    rows = measure(found, args.repeat)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'decoder':<18} {'read':>8} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
    for r in rows:
        if "median_ms" in r:
            print(f"{r['decoder']:<18} {r['read']:>3}/{r['total']:<4} {r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} {r['max_ms']:>8.2f}")
        else:
            print(f"{r['decoder']:<18} {r['read']:>3}/{r['total']:<4}")
    return 0
