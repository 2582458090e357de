"""Does the decoder chain read photos it was not tuned on? The QR corpus (82 photos) read again after transformations
that change every image the same way, per library alone and for our chain (`DecoderChain.decode`, as
`ticketgate decode` reads a photo):

    .venv/bin/python benchmarks/bench_corpus_variants.py [--corpus DIR] [--variants blur "half size" ...]
        [--save FILE] [--compare FILE]

Variants: rotated 90°; JPEG quality 30; dark (35 % of the light); sensor noise (sigma 18); then the photo
conditions of `drivers/testkit/photo_conditions.py` (half size, Gaussian blur sigma 1.6, turned 17°, perspective
35° and 45°, low contrast, inverted, mirrored, on a busy background, at its size in a 4000 x 3000 photo); and
"two codes": the image beside the next one, read only if both texts are reported. A chain tuned to named files would
read the originals and lose the variants; `lost` counts images a library alone reads and the chain misses (it should
be 0: the chain starts with those libraries); `wrong` counts images where the chain reports a text that no library
reads on the original image (a misread). ms: the chain's time per image, p50 / p95 / max.
--save FILE writes which images each variant reads; --compare FILE prints the images read there and not now (and
the reverse): "an image read before is still read". Corpus: --corpus, $TICKETGATE_QR_CORPUS or ../shared/corpus/qr.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Iterator

from figures import ROOT, pct

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import zxingcpp  # noqa: E402
from pyzbar import pyzbar  # noqa: E402

from drivers.camera.chain import DecoderChain  # noqa: E402
from drivers.camera.corpus import corpus_dir, load_gray, samples  # noqa: E402
from drivers.testkit.photo_conditions import photo_variants, two_codes  # noqa: E402


def variants(gray: np.ndarray, seed: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    yield "original", gray
    yield "rotated 90", cv2.rotate(gray, cv2.ROTATE_90_CLOCKWISE)
    _, jpeg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 30])
    yield "jpeg 30", cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
    yield "dark", (gray.astype(np.float32) * 0.35 + 10).astype(np.uint8)
    noise = np.random.default_rng(1).normal(0, 18, gray.shape)
    yield "noise", np.clip(gray.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    yield from photo_variants(gray, seed)


def library_texts(image: np.ndarray) -> tuple[set[str], set[str]]:
    zx = {r.text for r in zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)}
    zb = {d.data.decode("utf-8", "replace") for d in pyzbar.decode(image)}
    return zx, zb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", type=Path, help="folder of images beside their expected .txt")
    p.add_argument("--variants", nargs="*", help="only these variants")
    p.add_argument("--save", type=Path, help="write the images each variant reads (JSON)")
    p.add_argument("--compare", type=Path, help="a --save file: print the images read there and not now")
    args = p.parse_args()
    root = args.corpus or corpus_dir(ROOT.parent / "shared" / "corpus" / "qr")
    chain, table = DecoderChain(), {}
    found = samples(root)
    if not found:
        raise SystemExit(f"no corpus images under {root}")
    grays = [load_gray(s.path) for s in found]
    known = [set.union({s.expected}, *library_texts(g)) for s, g in zip(found, grays)]   # what the image holds
    read: dict[str, list[str]] = {}
    times: dict[str, list[float]] = {}
    for n, (sample, gray) in enumerate(zip(found, grays)):
        other = (n + 1) % len(found)
        tests = list(variants(gray, seed=n))
        tests.append(("two codes", two_codes(gray, grays[other])))
        for name, image in tests:
            if args.variants and name not in args.variants:
                continue
            expected = {sample.expected} | ({found[other].expected} if name == "two codes" else set())
            holds = known[n] | (known[other] if name == "two codes" else set())
            zx, zb = library_texts(image)
            t0 = time.perf_counter()
            texts = set(chain.decode(image).texts)
            times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
            ours = expected <= texts
            zx_hit, zb_hit = expected <= zx, expected <= zb
            row = table.setdefault(name, [0] * 6)
            for i, hit in enumerate((zx_hit, zb_hit, zx_hit or zb_hit, ours, (zx_hit or zb_hit) and not ours,
                                     bool(texts - holds))):
                row[i] += hit
            if ours:
                read.setdefault(name, []).append(str(sample.path.relative_to(root)))
    print(f"{len(found)} images from {root}; read per variant:")
    print("| variant | zxing-cpp | pyzbar | either | our chain | lost | wrong | ms p50 / p95 / max |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (zx, zb, either, ours, lost, wrong) in table.items():
        t = times[name]
        print(f"| {name} | {zx} | {zb} | {either} | **{ours}** | {lost} | {wrong} | "
              f"{pct(t, 50):.1f} / {pct(t, 95):.1f} / {max(t):.1f} |")
    if args.save:
        args.save.write_text(json.dumps(read, indent=1))
    if args.compare:
        before = json.loads(args.compare.read_text())
        for name in table:
            was, now = set(before.get(name, [])), set(read.get(name, []))
            print(f"{name}: lost since {args.compare.name}: {sorted(was - now) or 'none'}; "
                  f"gained: {len(now - was)}")


if __name__ == "__main__":
    main()
