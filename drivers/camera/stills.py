"""Still images (a buyer's photo, a screenshot, a PDF page: `DecoderChain.decode`, `ticketgate decode`): the retries
that come after the chain's whole-image and region steps, and the time cap over all of them.

A photo may take 50-150 ms where a camera frame has 4: these steps are too dear for the door's live loop
(`decode_live` never runs them). What they recover, on the QR corpus transformed
(benchmarks/bench_corpus_variants.py): codes whose modules are 1-2 px (a photo halved, a code far from the lens)
and blurred codes, which zxing-cpp's sampler misses at their own scale:

- `upscaled`: the image (or, in a big photo, each region that looks like a code) enlarged with Lanczos so the code
  is ~1200 px (x2-x4): Lanczos keeps a module's edge where cubic smears it over the next module;
- `upscaled_sharpened`: the same, then an unsharp mask at the enlarged scale (sigma one source pixel): blur undone
  enough for the sampler to find the module edges again;
- `deblurred`: a Wiener filter undoing a Gaussian blur of 1.5 px at the image's own scale, then enlarged;
- the enlarged image read by pyzbar too (`DecoderChain._stills`): a dense code zxing-cpp misses there.

Every step starts only while the time cap (`CAP_MS` of the decoding thread's CPU time from the start of `decode`,
so a loaded machine does not cut it short) is not spent; the chain then says it stopped there
(`DecodeResult.capped`) rather than run for 20 s on a 12 MP photo with no code. The step running at the cap
finishes (a whole-image retry of a 12 MP photo: up to ~1 s).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

try:
    import cv2
except ImportError:          # the chain builds these steps only with OpenCV
    cv2 = None              # type: ignore[assignment]

CAP_MS = 300.0              # ms of CPU for a still image's ladder: a photo read in 50-150 ms has room to spare
UPSCALE_TO = 1200           # px: the enlarged image's longer side
MAX_FACTOR = 4.0
MIN_FACTOR = 1.5            # an image already that big gains nothing (its modules are big enough or it is a scene)
CLOSER_MS = 100.0           # ms of CPU for the closer look at other places once a code is read (several codes)
BIG_IMAGE = 2_000_000       # px: a photo this big tries its regions before the whole-image retries
FLAT = 24                   # grey levels: a code printed faded or filmed dim still spans more
REGION_LIMIT = 4            # regions of a big photo enlarged one by one

Still = Callable[[np.ndarray], np.ndarray]


def flat(gray: np.ndarray) -> bool:
    """Under `FLAT` grey levels from darkest to lightest (a blank page, a lens cap): nothing to enlarge."""
    return gray.size == 0 or int(gray.max()) - int(gray.min()) < FLAT


def _factor(gray: np.ndarray) -> float:
    return min(MAX_FACTOR, UPSCALE_TO / max(gray.shape[:2]))


def upscaled(gray: np.ndarray) -> np.ndarray:
    """Lanczos x2-x4 to ~1200 px: 1-2 px modules become 3-8 px with their edges kept."""
    factor = _factor(gray)
    if factor < MIN_FACTOR:
        return gray
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_LANCZOS4)


def upscaled_sharpened(gray: np.ndarray) -> np.ndarray:
    """Enlarged, then an unsharp mask (sigma: one source pixel at the enlarged scale, amount 1.5): a blurred code's
    module edges steep again."""
    factor = _factor(gray)
    if factor < MIN_FACTOR:
        return gray
    big = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_LANCZOS4)
    blur = cv2.GaussianBlur(big, (0, 0), factor)
    return cv2.addWeighted(big, 2.5, blur, -1.5, 0)


def deblurred(gray: np.ndarray) -> np.ndarray:
    """Soft focus undone, then enlarged: a Wiener filter for a Gaussian blur of `DEBLUR_SIGMA` px (a phone's
    focus missed by a little), in the frequency domain on the image mirrored at its edges (no wrap-around ringing),
    `DEBLUR_NOISE` the noise-to-signal ratio that keeps sensor noise from being amplified."""
    h, w = gray.shape[:2]
    mirrored = cv2.copyMakeBorder(gray, 0, h, 0, w, cv2.BORDER_REFLECT).astype(np.float32)
    fy = np.fft.fftfreq(2 * h)[:, None]
    fx = np.fft.rfftfreq(2 * w)[None, :]
    blur = np.exp(-2 * (np.pi * DEBLUR_SIGMA) ** 2 * (fx ** 2 + fy ** 2))
    sharp = np.fft.irfft2(np.fft.rfft2(mirrored) * blur / (blur * blur + DEBLUR_NOISE), s=mirrored.shape)
    return upscaled(np.clip(sharp[:h, :w], 0, 255).astype(np.uint8))


DEBLUR_SIGMA = 1.5          # px: the blur undone (a sharper code barely changes, a blurrier one is helped part way)
DEBLUR_NOISE = 0.003
STEPS: tuple[Still, ...] = (upscaled, upscaled_sharpened, deblurred)
