"""Where the code probably is, and retries on that region only.

When the first pass over the whole frame finds nothing, a retry on the whole 640x480 frame costs 1-6 ms; the same
retry on the region around the code costs a tenth of that, so many more fit in a frame. `candidates()` finds the
regions with dense edges in both directions (a QR code; text and hard edges have them in one direction, a smooth
scene in none) on the quarter-size frame, strongest first. A region retry crops one of them with a margin for the
quiet zone, zooms it to ~400 px (a small code's 1.5-2 px modules become 5-7 px), then applies its filter
(`region_view` does the crop and zoom once per region; the filters share it).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

try:
    import cv2
except ImportError:          # without OpenCV the chain has no region retries (DecoderChain checks `cv2`)
    cv2 = None              # type: ignore[assignment]

ZOOM_TO = 400               # px: the zoomed region's side (a version 6 code and its margin: ~6 px modules)
MAX_ZOOM = 4.0
_K3 = np.ones((3, 3), np.uint8)
_GAUSS = None if cv2 is None else cv2.getGaussianKernel(11, 1.5, cv2.CV_32F)    # sigma 1.5 px (OpenCV's own size)
MIN_SIDE = 40               # px: a smaller region is not a code we can read


class Box(NamedTuple):
    x: int
    y: int
    w: int
    h: int


def candidates(gray: np.ndarray, limit: int = 2) -> list[Box]:
    """Up to `limit` regions of the frame that look like a 2D code, strongest first (full-size coordinates).
    Measured on the quarter-size frame: a 640x480 frame costs ~0.1 ms."""
    f = 4
    if gray.ndim != 2 or min(gray.shape) < MIN_SIDE:       # a thumbnail or a sliver: no region to zoom into
        return []
    small = cv2.resize(gray, (gray.shape[1] // f, gray.shape[0] // f), interpolation=cv2.INTER_AREA)
    dx = cv2.absdiff(small[:-1, 1:], small[:-1, :-1])
    dy = cv2.absdiff(small[1:, :-1], small[:-1, :-1])
    both = cv2.min(cv2.blur(dx, (7, 7)), cv2.blur(dy, (7, 7)))         # uint8: edges across AND along
    _, top, _, _ = cv2.minMaxLoc(both)
    if top < 2:                      # a flat frame (a lens cap, a wall): nothing to look at
        return []
    mask = cv2.threshold(both, top * 0.45, 255, cv2.THRESH_BINARY)[1]
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    out: list[Box] = []
    for _ in range(limit + 4):
        _, peak, _, (px, py) = cv2.minMaxLoc(both)
        label = labels[py, px]
        if peak < top * 0.45 or label == 0 or len(out) == limit:
            break
        x, y, w, h, _ = (int(v) for v in stats[label])
        both[y:y + h, x:x + w] = 0
        if _code_shaped(w, h, both.shape):
            out.append(Box(f * x, f * y, f * w, f * h))
    return out


def _code_shaped(w: int, h: int, frame: tuple[int, ...]) -> bool:
    """Big enough, squarish (a code tilted 60 degrees is still under 2.5:1; a line of text is not), and not the
    whole frame (a code that fills it has modules big enough for the first pass; a textured scene does that)."""
    return (max(w, h) * 4 >= MIN_SIDE and max(w, h) <= 2.5 * min(w, h)
            and max(w / frame[1], h / frame[0]) <= 0.9)


def crop(gray: np.ndarray, box: Box, margin: float = 0.22) -> np.ndarray:
    """The square around `box`, grown by `margin` of its side on each side (the quiet zone, a rotated code)."""
    side = max(box.w, box.h) * (1 + 2 * margin) + 16
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    return gray[y0:int(cy + side / 2), x0:int(cx + side / 2)]


def region_view(gray: np.ndarray, box: Box) -> np.ndarray:
    return zoomed(crop(gray, box))


def zoomed(region: np.ndarray) -> np.ndarray:
    """Cubic. Lanczos (until 2026-12-02, from 2x up) reads a few more small codes with no budget (validation 87
    against 84 of 100 frames) but costs 1.4 ms on a small code's region where cubic costs 0.13: a third of the
    frame's budget, which the ladder's steps read more with (live, validation small 69 -> 78 % one frame)."""
    factor = min(MAX_ZOOM, ZOOM_TO / max(region.shape))
    if factor <= 1.15:
        return region
    return cv2.resize(region, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


# -- region filters: each takes the zoomed region and returns the image the decoder reads -------------------------
def zoom(region: np.ndarray) -> np.ndarray:
    """The zoomed region as it is: small codes at arm's length (1.5-2 px modules become 4-6 px), moire."""
    return region


def despeckled(region: np.ndarray) -> np.ndarray:
    """A 3x3 median at the zoomed scale: thin crack lines of either colour, a screen's pixel grid and sensor noise
    wiped, module edges kept (the step that recovers the most, on every condition)."""
    return cv2.medianBlur(region, 3)


def closed(region: np.ndarray) -> np.ndarray:
    """Dark cracks and pixel-grid gaps filled by a 3x3 closing (max then min)."""
    return cv2.morphologyEx(region, cv2.MORPH_CLOSE, _K3)


def opened_closed(region: np.ndarray) -> np.ndarray:
    """Bright crack lines removed by a 3x3 opening, then dark ones filled by a closing."""
    return cv2.morphologyEx(cv2.morphologyEx(region, cv2.MORPH_OPEN, _K3), cv2.MORPH_CLOSE, _K3)


def sharpened(region: np.ndarray) -> np.ndarray:
    """Small codes, motion blur, soft focus: unsharp mask (sigma 1.5 px, amount 1.5) at the zoomed scale. The blur
    by a separable float kernel rounded to 8 bits: 0.2 ms on a 400 px region where OpenCV's bit-exact 8-bit Gaussian
    costs 0.37 ms (within 2 grey levels of it; on 245 tuning regions the same reads, 133 / 91 against 134 / 90)."""
    blur = cv2.sepFilter2D(region, cv2.CV_8U, _GAUSS, _GAUSS, borderType=cv2.BORDER_REFLECT_101)
    return cv2.addWeighted(region, 2.5, blur, -1.5, 0)


def equalized(region: np.ndarray) -> np.ndarray:
    """Glare: local contrast restored tile by tile (CLAHE, 4x4 tiles), so modules under a bright blob separate again."""
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(region)


GLARE_LEVEL, GLARE_PATCH, GLARE_SHARE = 240, 7, 1e-4      # grey level, px, share of the region's pixels
_PATCH = np.ones((GLARE_PATCH, GLARE_PATCH), np.uint8)


def glared(region: np.ndarray) -> bool:
    """A highlight in the zoomed region: some 7 x 7 px patches (about a module) bright all over (240 of 255 and up;
    a share of 1e-4, 16 px of a 400 px view). A code's paper or screen white with sensor noise has a darker pixel in
    every such patch; thin bright crack lines and a screen's sub-pixel stripes are narrower (on the door conditions'
    first-pass misses: all 17 glared validation frames, 7 of 10 tuning ones, 3 of 266 frames of other
    conditions; 2 of 214 regions of frames without a code). The live chain then runs `thresholded` second."""
    bright = cv2.threshold(cv2.erode(region, _PATCH), GLARE_LEVEL - 1, 255, cv2.THRESH_BINARY)[1]
    return cv2.countNonZero(bright) >= GLARE_SHARE * region.size


def thresholded(region: np.ndarray) -> np.ndarray:
    """Glare: each pixel against the mean of the ~3 modules around it (two 17 px box blurs, close to a Gaussian of
    sigma 7 px; ~0.25 ms where OpenCV's Gaussian adaptive threshold costs 0.75 ms and reads the same), so modules in
    a highlight's bright but unclipped ring, whose contrast falls below the decoder's own binarizer's floor, separate
    again."""
    background = cv2.blur(cv2.blur(region, (17, 17)), (17, 17))
    lowered = cv2.subtract(background, 2)       # type: ignore[call-overload]  # (a scalar: the stubs want an array)
    return cv2.compare(region, lowered, cv2.CMP_GT)


RegionFilter = Callable[[np.ndarray], np.ndarray]
REGION_FILTERS: tuple[RegionFilter, ...] = (zoom, despeckled, closed, opened_closed, sharpened, equalized)
