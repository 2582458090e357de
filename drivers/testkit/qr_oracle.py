"""Ground truth for a door frame's code: which modules an ideal sampler reads wrong, and whether error level M could
still correct them (analysis only: benchmarks/analyse_door_misses.py).

A door frame knows its payload and the corners of its code, so the true module grid is known. Sampling the frame at
every module's centre through the corners' homography, with a threshold that knows the truth around each module
(the best a sampling decoder can do without moving modules), gives the modules no decoder can get right. Grouping
them into codewords and Reed-Solomon blocks (ISO/IEC 18004 placement) tells whether the frame is readable at all:
a block of version 6-M (4 blocks of 27 data + 16 EC codewords) corrects at most 8 wrong codewords.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from drivers.testkit.door_conditions import QUIET, DoorFrame, _matrix

# Version -> (blocks, EC codewords per block) at level M, for the versions a ticket can take.
EC_M = {5: (2, 24), 6: (4, 16), 7: (4, 18), 8: (4, 22)}
ALIGN = {5: (6, 30), 6: (6, 34), 7: (6, 22, 38), 8: (6, 24, 42)}


@lru_cache(maxsize=8)
def function_modules(version: int) -> np.ndarray:
    """True where a module is a function pattern (finder, separator, timing, alignment, format/version info)."""
    n = 17 + 4 * version
    f = np.zeros((n, n), bool)
    f[:9, :9] = f[:9, n - 8:] = f[n - 8:, :9] = True           # finders, separators, format info
    f[6, :] = f[:, 6] = True                                   # timing
    centres = ALIGN[version]
    for cy in centres:
        for cx in centres:
            if not f[cy, cx]:
                f[cy - 2:cy + 3, cx - 2:cx + 3] = True
    if version >= 7:
        f[:6, n - 11:n - 8] = f[n - 11:n - 8, :6] = True
    return f


@lru_cache(maxsize=8)
def codeword_map(version: int) -> np.ndarray:
    """The codeword index (in the interleaved stream) of every data module, -1 for function and remainder modules."""
    n = 17 + 4 * version
    func = function_modules(version)
    out = np.full((n, n), -1, int)
    bit, upward, x = 0, True, n - 1
    blocks, ec = EC_M[version]
    total = (n * n - int(func.sum())) // 8
    while x > 0:
        if x == 6:
            x -= 1
        for y in (range(n - 1, -1, -1) if upward else range(n)):
            for col in (x, x - 1):
                if not func[y, col]:
                    if bit // 8 < total:
                        out[y, col] = bit // 8
                    bit += 1
        upward = not upward
        x -= 2
    return out


def block_of(codeword: int, version: int) -> int:
    """Interleaving: with equal blocks (the versions above at M), codeword k of the stream belongs to block k mod b."""
    return codeword % EC_M[version][0]


@dataclass(frozen=True)
class Sampled:
    version: int
    wrong_modules: int               # data and function modules read wrong by the ideal sampler
    wrong_per_block: tuple[int, ...]  # wrong codewords per Reed-Solomon block
    capacity: int                    # correctable codewords per block (EC / 2)
    finder_wrong: tuple[int, int, int]  # wrong modules in each 7x7 finder pattern (top-left, top-right, bottom-left)

    @property
    def correctable(self) -> bool:
        return max(self.wrong_per_block) <= self.capacity


def truth(f: DoorFrame) -> np.ndarray:
    """The code's true modules (True = dark), quiet zone excluded."""
    dark = _matrix(f.payload, "m")
    return dark[QUIET:-QUIET, QUIET:-QUIET]


def sample(f: DoorFrame, dark: np.ndarray | None = None) -> np.ndarray:
    """The frame's grey level at every module centre (bilinear), through the homography of the code's corners."""
    dark = truth(f) if dark is None else dark
    n = dark.shape[0]
    grid = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
    h = cv2.getPerspectiveTransform(grid, np.array(f.corners, np.float32))
    centres = np.stack(np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5), -1).reshape(1, -1, 2)
    pts = cv2.perspectiveTransform(centres.astype(np.float32), h)[0]
    xs, ys = pts[:, 0].reshape(n, n) - 0.5, pts[:, 1].reshape(n, n) - 0.5     # pixel i covers [i, i + 1)
    return cv2.remap(f.image.astype(np.float32), xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def oracle_read(values: np.ndarray, dark: np.ndarray, radius: int = 4) -> np.ndarray:
    """Dark/light per module with the best local threshold: midway between the mean of the truly dark and the truly
    light modules within `radius` modules (a sampler that knew the lighting exactly)."""
    k = 2 * radius + 1
    d, light = dark.astype(np.float32), (~dark).astype(np.float32)
    sum_dark = cv2.boxFilter(values * d, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    sum_light = cv2.boxFilter(values * light, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    n_dark = cv2.boxFilter(d, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    n_light = cv2.boxFilter(light, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    threshold = (sum_dark / np.maximum(n_dark, 1) + sum_light / np.maximum(n_light, 1)) / 2
    return np.asarray(values < threshold)


def analyse(f: DoorFrame) -> Sampled:
    dark = truth(f)
    n = dark.shape[0]
    version = (n - 17) // 4
    wrong = oracle_read(sample(f, dark), dark) != dark
    cw = codeword_map(version)
    blocks, ec = EC_M[version]
    bad_codewords = np.unique(cw[wrong & (cw >= 0)])
    per_block = np.bincount([block_of(int(c), version) for c in bad_codewords], minlength=blocks)
    finders = (wrong[:7, :7].sum(), wrong[:7, n - 7:].sum(), wrong[n - 7:, :7].sum())
    return Sampled(version, int(wrong.sum()), tuple(int(b) for b in per_block), ec // 2,
                   tuple(int(x) for x in finders))  # type: ignore[arg-type]
