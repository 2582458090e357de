"""Why the live chain misses a door frame: not found, or found but past what error level M corrects.

    .venv/bin/python benchmarks/analyse_door_misses.py [--frames 100] [--conditions cracked glare small ...]

For every frame (tuning and validation splits), the ground truth (drivers/testkit/qr_oracle.py): the frame sampled at
every module centre through its true corners with the best local threshold; the wrong modules grouped into codewords
and Reed-Solomon blocks. A frame whose worst block has more wrong codewords than M corrects (8 of 43 in version 6)
cannot be read by any decoder that samples module centres: the share of the others is the upper bound of one frame
(per presentation: any of its --presentation frames). Where modules move within the code (crumpled paper) or are
under ~2 px (small codes), sampling at the centres through one homography is not the best a decoder can do: there
the figure is no bound (the live chain reads more).
The same ideal sampler with erasures (the erasure decoder of drivers/camera/erasure.py, its modules' reliability
their distance to the ideal threshold) is the bound for a decoder that knows which modules it cannot trust.
Each frame the live chain misses is then put in one class:
  - beyond M: even the ideal sampler gets too many codewords wrong, erasures included;
  - within erasures: past M for errors alone, within it for the erasure decoder (the live chain's reliability
    estimate falls short of the ideal one there);
  - located, checksum error: zxing-cpp finds the code (whole frame or a region of the ladder) but decodes wrong
    modules although an ideal sampler would not;
  - not located: zxing-cpp finds no QR code there; with the finder patterns the crack/glare touches (modules of
    each 7x7 finder the ideal sampler reads wrong).
"""
from __future__ import annotations

import argparse
import sys
import time

from figures import ROOT  # noqa: F401  (puts this checkout on sys.path)

import zxingcpp  # noqa: E402

from agent.payload import plausible  # noqa: E402
from drivers.camera import regions as R  # noqa: E402
from drivers.camera.chain import DecoderChain  # noqa: E402
from drivers.testkit.door_conditions import CONDITIONS, SPLITS, frames, presentation  # noqa: E402
from drivers.testkit.qr_oracle import analyse  # noqa: E402
from kiosk_ui.adapters.camera import decoder_chain  # noqa: E402

QR = zxingcpp.BarcodeFormat.QRCode


def located(image) -> bool:
    """zxing-cpp finds a QR code of the ticket's size, readable or not (a false Micro QR does not count)."""
    found = zxingcpp.read_barcodes(image, formats=QR, try_rotate=False, return_errors=True)
    return any(b.format == QR for b in found)


def live_chain(budget_ms: float) -> DecoderChain:
    """The app's chain (kiosk_ui.adapters.camera.decoder_chain) with the scan screen's retry rule: a retry step's text
    counts only with a ticket's or badge's shape (agent.payload.plausible), as at the door."""
    return decoder_chain(plausible, live_budget_ms=budget_ms)


def classify(chain: DecoderChain, f) -> tuple[str, object]:
    truth = analyse(f)
    if not truth.with_erasures:
        return "beyond M", truth
    if not truth.correctable:
        return "within erasures", truth
    views = [R.region_view(f.image, b) for b in R.candidates(f.image, chain.regions_per_frame)]
    if located(f.image) or any(located(v) for v in views):
        return "located, checksum error", truth
    return "not located", truth


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--conditions", nargs="*", default=list(CONDITIONS))
    p.add_argument("--budget-ms", type=float, default=4.0)
    p.add_argument("--presentation", type=int, default=10, help="frames per presentation for its upper bound")
    args = p.parse_args()
    chain = live_chain(args.budget_ms)
    for f in frames("small", "tuning", 3, start=10_000) * 3:      # warm the step costs
        chain.decode_live(f.image)
    print("| condition | split | live chain | ideal sampler at M, errors alone, one frame / per presentation | "
          "ideal sampler with erasures, one frame / per presentation | "
          "missed: beyond M even with erasures / within erasures only / located, checksum error / not located | "
          "finders broken (>= 3 wrong modules) in the not located |")
    print("|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    for condition in args.conditions:
        for split in SPLITS:
            fs = frames(condition, split, args.frames)
            read = bound = held = erased = erased_held = 0
            classes = {"beyond M": 0, "within erasures": 0, "located, checksum error": 0, "not located": 0}
            broken: list[int] = []
            for f in fs:
                ok = chain.decode_live(f.image).texts == (f.payload,)
                truth = analyse(f)
                read += ok
                bound += truth.correctable
                later = [analyse(g) for g in presentation(condition, split, f.index, args.presentation) if g.moment]
                held += truth.correctable or any(g.correctable for g in later)
                erased += truth.with_erasures
                erased_held += truth.with_erasures or any(g.with_erasures for g in later)
                if not ok:
                    kind, truth = classify(chain, f)
                    classes[kind] += 1
                    if kind == "not located":
                        broken.append(sum(w >= 3 for w in truth.finder_wrong))
            n = len(fs)
            finders = ", ".join(f"{k}: {broken.count(k)}" for k in range(4) if broken.count(k)) or "—"
            print(f"| {condition} | {split} | {100 * read / n:.0f}% | {100 * bound / n:.0f}% / {100 * held / n:.0f}% | "
                  f"{100 * erased / n:.0f}% / {100 * erased_held / n:.0f}% | "
                  f"{classes['beyond M']} / {classes['within erasures']} / {classes['located, checksum error']} / "
                  f"{classes['not located']} | {finders} |", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
