"""Cheap image retries for when the first pass finds nothing: each a pure function gray -> gray.

Chosen on the zxing-cpp samples corpus: textured or "artistic" modules (dark erosion, fixed threshold),
codes filmed too close or too far (scaling), low contrast (CLAHE), soft focus (unsharp mask).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

try:
    import cv2
except ImportError:         # an Android build without OpenCV: numpy-only retries (see NUMPY_VARIANTS)
    cv2 = None              # type: ignore[assignment]   # every use is behind `if cv2` (NUMPY_VARIANTS otherwise)

Variant = Callable[[np.ndarray], np.ndarray]
_K3 = np.ones((3, 3), np.uint8)


def scaled(factor: float) -> Variant:
    def run(gray: np.ndarray) -> np.ndarray:
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=interp)
    run.__name__ = f"scaled_{factor}"
    return run


def inverted(gray: np.ndarray) -> np.ndarray:
    return cv2.bitwise_not(gray)


def dark_grown(gray: np.ndarray) -> np.ndarray:
    """3x3 minimum filter: textured dark modules become solid."""
    return cv2.erode(gray, _K3)


def light_threshold(gray: np.ndarray) -> np.ndarray:
    """Anything not near-white is a dark module (photos printed inside modules), then solidified."""
    return cv2.erode(np.where(gray < 200, 0, 255).astype(np.uint8), _K3)


def otsu(gray: np.ndarray) -> np.ndarray:
    return cv2.threshold(cv2.GaussianBlur(gray, (3, 3), 0), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


def adaptive(gray: np.ndarray) -> np.ndarray:
    block = max(15, (min(gray.shape[:2]) // 20) | 1)
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 5)


def clahe(gray: np.ndarray) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(gray)


def sharpened(gray: np.ndarray) -> np.ndarray:
    blur = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 1.8, blur, -0.8, 0)


def padded(gray: np.ndarray) -> np.ndarray:
    """A white quiet zone for codes cropped to their edge (screenshots, stickers)."""
    pad = max(8, min(gray.shape[:2]) // 10)
    return cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


def rotated_45(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 45, 1 / 1.42)
    return cv2.warpAffine(gray, m, (w, h), borderValue=255)


# numpy-only equivalents, for builds without OpenCV
def np_half(gray: np.ndarray) -> np.ndarray:
    h, w = (gray.shape[0] // 2) * 2, (gray.shape[1] // 2) * 2
    g = gray[:h, :w].astype(np.uint16)
    return ((g[0::2, 0::2] + g[1::2, 0::2] + g[0::2, 1::2] + g[1::2, 1::2]) // 4).astype(np.uint8)


def np_dark_grown(gray: np.ndarray) -> np.ndarray:
    p = np.pad(gray, 1, mode="edge")
    h, w = gray.shape
    return np.min([p[y:y + h, x:x + w] for y in range(3) for x in range(3)], axis=0)


def np_light_threshold(gray: np.ndarray) -> np.ndarray:
    return np_dark_grown(np.where(gray < 200, 0, 255).astype(np.uint8))


def np_inverted(gray: np.ndarray) -> np.ndarray:
    return 255 - gray


def np_padded(gray: np.ndarray) -> np.ndarray:
    return np.pad(gray, max(8, min(gray.shape[:2]) // 10), constant_values=255)


NUMPY_VARIANTS: tuple[Variant, ...] = (np_half, np_dark_grown, np_light_threshold, np_inverted, np_padded)

# Order matters: cheapest and most productive first. The live camera loop runs one per frame, round robin.
DEFAULT_VARIANTS: tuple[Variant, ...] = (scaled(0.5), dark_grown, light_threshold, scaled(2.0), otsu, clahe,
                                         sharpened, adaptive, inverted, padded, rotated_45) if cv2 else NUMPY_VARIANTS
