"""Ground truth for a door frame's code: which modules an ideal sampler reads wrong, and whether error level M could
still correct them (analysis only: benchmarks/analyse_door_misses.py).

A door frame knows its payload and the corners of its code, so the true module grid is known. Sampling the frame at
every module's centre through the corners' homography, with a threshold that knows the truth around each module
(the best a sampling decoder can do without moving modules), gives the modules no decoder can get right. Grouping
them into codewords and Reed-Solomon blocks (ISO/IEC 18004 placement) tells whether the frame is readable at all:
a block of version 6-M (4 blocks of 27 data + 16 EC codewords) corrects at most 8 wrong codewords. With erasures
(drivers/camera/erasure.py) it corrects more when the wrong codewords are the least reliable ones: `with_erasures`
says whether the erasure decoder would read the ideal sampler's grid, its modules' reliability being their distance
to the ideal threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drivers.camera.erasure import ERASED, MARGIN
from drivers.camera.qr_grid import EC_M, block_of, block_positions, codeword_map
from drivers.testkit.door_conditions import QUIET, DoorFrame, _matrix


@dataclass(frozen=True)
class Sampled:
    version: int
    wrong_modules: int               # data and function modules read wrong by the ideal sampler
    wrong_per_block: tuple[int, ...]  # wrong codewords per Reed-Solomon block
    capacity: int                    # correctable codewords per block (EC / 2)
    finder_wrong: tuple[int, int, int]  # wrong modules in each 7x7 finder pattern (top-left, top-right, bottom-left)
    with_erasures: bool = False      # every block corrected by the erasure decoder, unreliable codewords erased

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
    return np.asarray(values < oracle_threshold(values, dark, radius))


def oracle_threshold(values: np.ndarray, dark: np.ndarray, radius: int = 4) -> np.ndarray:
    k = 2 * radius + 1
    d, light = dark.astype(np.float32), (~dark).astype(np.float32)
    sum_dark = cv2.boxFilter(values * d, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    sum_light = cv2.boxFilter(values * light, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    n_dark = cv2.boxFilter(d, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    n_light = cv2.boxFilter(light, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    return np.asarray((sum_dark / np.maximum(n_dark, 1) + sum_light / np.maximum(n_light, 1)) / 2)


def analyse(f: DoorFrame) -> Sampled:
    dark = truth(f)
    n = dark.shape[0]
    version = (n - 17) // 4
    values = sample(f, dark)
    threshold = oracle_threshold(values, dark)
    wrong = (values < threshold) != dark
    cw = codeword_map(version)
    blocks, ec = EC_M[version]
    bad_codewords = np.unique(cw[wrong & (cw >= 0)])
    per_block = np.bincount([block_of(int(c), version) for c in bad_codewords], minlength=blocks)
    finders = (wrong[:7, :7].sum(), wrong[:7, n - 7:].sum(), wrong[n - 7:, :7].sum())
    return Sampled(version, int(wrong.sum()), tuple(int(b) for b in per_block), ec // 2,
                   tuple(int(x) for x in finders),  # type: ignore[arg-type]
                   _erasures_decode(wrong, np.abs(values - threshold), version))


def _erasures_decode(wrong: np.ndarray, margin: np.ndarray, version: int) -> bool:
    """Whether the erasure decoder (drivers/camera/erasure.py: errors alone, then the k least reliable codewords of
    a block erased, MARGIN check codewords to spare) corrects every block, the modules' margin being the ideal
    sampler's distance to its threshold."""
    cw = codeword_map(version)
    data = cw >= 0
    count = int(cw.max()) + 1
    bad = np.zeros(count, bool)
    np.logical_or.at(bad, cw[data], wrong[data])
    reliability = np.full(count, np.inf)
    np.minimum.at(reliability, cw[data], margin[data])
    _, ec = EC_M[version]
    for positions in block_positions(version):
        ranked = bad[positions][np.argsort(reliability[positions], kind="stable")]
        if not any((2 * int(ranked[k:].sum()) <= ec) if k == 0 else (2 * int(ranked[k:].sum()) + k <= ec - MARGIN)
                   for k in (0, *ERASED)):
            return False
    return True
