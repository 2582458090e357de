"""Does the decoder chain read photos it was not tuned on? The QR corpus (82 photos) read again after transformations
that change every image the same way, per library alone and for our chain (`DecoderChain`, no frame budget):

    .venv/bin/python benchmarks/bench_corpus_variants.py [--corpus DIR]

Variants: rotated 90°; half size; JPEG quality 30; dark (35 % of the light); Gaussian blur (sigma 1.6); turned 17°
(on a canvas padded so nothing is cut off); sensor noise (sigma 18). A chain tuned to named files would read the
originals and lose the variants; `lost` counts images a library alone reads and the chain misses (it should be 0:
the chain starts with those libraries). Corpus: --corpus, $TICKETGATE_QR_CORPUS or ../shared/corpus/qr.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

from figures import ROOT

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import zxingcpp  # noqa: E402
from pyzbar import pyzbar  # noqa: E402

from drivers.camera.chain import DecoderChain  # noqa: E402
from drivers.camera.corpus import corpus_dir, load_gray, samples  # noqa: E402


def variants(gray: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    h, w = gray.shape
    yield "original", gray
    yield "rotated 90", cv2.rotate(gray, cv2.ROTATE_90_CLOCKWISE)
    yield "half size", cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    _, jpeg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 30])
    yield "jpeg 30", cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    yield "dark", (gray.astype(np.float32) * 0.35 + 10).astype(np.uint8)
    yield "blur", cv2.GaussianBlur(gray, (5, 5), 1.6)
    padded = cv2.copyMakeBorder(gray, h // 3, h // 3, w // 3, w // 3, cv2.BORDER_REPLICATE)
    ph, pw = padded.shape
    turn = cv2.getRotationMatrix2D((pw / 2, ph / 2), 17, 1.0)
    yield "turned 17", cv2.warpAffine(padded, turn, (pw, ph), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    noise = np.random.default_rng(1).normal(0, 18, gray.shape)
    yield "noise", np.clip(gray.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", type=Path, help="folder of images beside their expected .txt")
    args = p.parse_args()
    root = args.corpus or corpus_dir(ROOT.parent / "shared" / "corpus" / "qr")
    chain, table = DecoderChain(), {}
    found = samples(root)
    if not found:
        raise SystemExit(f"no corpus images under {root}")
    for sample in found:
        for name, image in variants(load_gray(sample.path)):
            zx = any(r.text == sample.expected for r in zxingcpp.read_barcodes(image))
            zb = any(d.data.decode("utf-8", "replace") == sample.expected for d in pyzbar.decode(image))
            ours = sample.expected in chain.decode(image).texts
            row = table.setdefault(name, [0, 0, 0, 0, 0])
            for i, hit in enumerate((zx, zb, zx or zb, ours, (zx or zb) and not ours)):
                row[i] += hit
    print(f"{len(found)} images from {root}; read per variant:")
    print("| variant | zxing-cpp | pyzbar | either | our chain | lost |\n|---|---|---|---|---|---|")
    for name, (zx, zb, either, ours, lost) in table.items():
        print(f"| {name} | {zx} | {zb} | {either} | **{ours}** | {lost} |")


if __name__ == "__main__":
    main()
