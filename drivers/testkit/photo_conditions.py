"""Photo conditions: what a buyer's photo or screenshot of a QR code goes through, applied to any grayscale image
(a corpus photo, a generated code), seeded and deterministic, for tests and benchmarks of `DecoderChain.decode`.

    for name, image in photo_variants(gray, seed=3):
        chain.decode(image)

Each condition is one hardship, applied the same way to every image, so a decoder that reads more of them reads
photos it was not tuned on. `two_codes(a, b)` puts two images side by side (both codes must be reported).
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import cv2
import numpy as np

Condition = Callable[[np.ndarray, np.random.Generator], np.ndarray]
LARGE = (3000, 4000)        # rows, columns: a phone's 12 MP photo


def half_size(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = gray.shape
    return cv2.resize(gray, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)


def blurred(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(gray, (5, 5), 1.6)


def _padded(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    return cv2.copyMakeBorder(gray, h // 3, h // 3, w // 3, w // 3, cv2.BORDER_REPLICATE)


def turned(degrees: float) -> Condition:
    def run(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        padded = _padded(gray)
        ph, pw = padded.shape
        turn = cv2.getRotationMatrix2D((pw / 2, ph / 2), degrees, 1.0)
        return cv2.warpAffine(padded, turn, (pw, ph), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    run.__name__ = f"turned_{degrees:g}"
    return run


def perspective(degrees: float) -> Condition:
    """The paper tilted `degrees` away from the camera around a horizontal axis (the far edge shorter, the code
    foreshortened), seen from a distance of twice the image's width."""
    def run(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        padded = _padded(gray)
        ph, pw = padded.shape
        t, distance = math.radians(degrees), 2.0 * pw
        corners = []
        for x, y in ((0, 0), (pw, 0), (pw, ph), (0, ph)):
            dx, dy = x - pw / 2, y - ph / 2
            depth = distance - dy * math.sin(t)          # the top edge (dy < 0) farther away
            scale = distance / depth
            corners.append((pw / 2 + dx * scale, ph / 2 + dy * math.cos(t) * scale))
        src = np.array([(0, 0), (pw, 0), (pw, ph), (0, ph)], np.float32)
        m = cv2.getPerspectiveTransform(src, np.array(corners, np.float32))
        return cv2.warpPerspective(padded, m, (pw, ph), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    run.__name__ = f"perspective_{degrees:g}"
    return run


def low_contrast(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A faded print or a dim screen under room light: the darkest module and the paper 50 grey levels apart."""
    return (gray.astype(np.float32) * (50 / 255) + 120).astype(np.uint8)


def inverted(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light modules on a dark background (a dark-mode wallet, a code printed in negative)."""
    return 255 - gray


def mirrored(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seen in a mirror or through the back of a transparent sticker (a selfie camera's preview)."""
    return np.ascontiguousarray(gray[:, ::-1])


def busy_scene(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A cluttered scene: rectangles, lines, circles and text-like strokes in every grey, softly focused."""
    h, w = shape
    scene = np.full((h, w), int(rng.integers(90, 200)), np.uint8)
    for _ in range(max(40, h * w // 4000)):
        kind, colour = int(rng.integers(0, 4)), int(rng.integers(0, 256))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.integers(4, max(8, min(h, w) // 4)))
        if kind == 0:
            cv2.rectangle(scene, (x, y), (x + size, y + size // 2), colour, -1)
        elif kind == 1:
            cv2.line(scene, (x, y), (x + size, y + int(rng.integers(-size, size))), colour, int(rng.integers(1, 4)))
        elif kind == 2:
            cv2.circle(scene, (x, y), size // 2, colour, int(rng.integers(-1, 3)))
        else:
            cv2.putText(scene, "TICKET 0123", (x, y), cv2.FONT_HERSHEY_SIMPLEX, size / 40, colour, 1)
    return cv2.GaussianBlur(scene, (3, 3), 0.8)


def _pasted(scene: np.ndarray, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = gray.shape
    y, x = int(rng.integers(0, scene.shape[0] - h + 1)), int(rng.integers(0, scene.shape[1] - w + 1))
    scene[y:y + h, x:x + w] = gray
    return scene


def on_busy_background(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image (code and its margin) somewhere in a cluttered scene three times its size."""
    h, w = gray.shape
    return _pasted(busy_scene((3 * h, 3 * w), rng), gray, rng)


def in_large_photo(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image at its own size somewhere in a 4000 x 3000 photo of a cluttered scene (a code far from the lens)."""
    scene = cv2.resize(busy_scene((LARGE[0] // 4, LARGE[1] // 4), rng), LARGE[::-1], interpolation=cv2.INTER_LINEAR)
    noise = rng.normal(0, 4, LARGE).astype(np.float32)
    scene = np.clip(scene + noise, 0, 255).astype(np.uint8)
    return _pasted(scene, gray, rng)


def two_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two images side by side on white, the second 40 px to the right of the first (two tickets in one photo)."""
    h = max(a.shape[0], b.shape[0])
    out = np.full((h + 40, a.shape[1] + b.shape[1] + 80), 255, np.uint8)
    out[20:20 + a.shape[0], 20:20 + a.shape[1]] = a
    out[20:20 + b.shape[0], 60 + a.shape[1]:60 + a.shape[1] + b.shape[1]] = b
    return out


CONDITIONS: dict[str, Condition] = {
    "half size": half_size, "blur": blurred, "turned 17": turned(17), "perspective 35": perspective(35),
    "perspective 45": perspective(45), "low contrast": low_contrast, "inverted": inverted, "mirrored": mirrored,
    "busy background": on_busy_background, "large photo": in_large_photo}


def photo_variants(gray: np.ndarray, seed: int, names: tuple[str, ...] | None = None
                   ) -> Iterator[tuple[str, np.ndarray]]:
    """Each condition (or those `names`) applied to `gray`, with a generator seeded by `seed` and the condition."""
    for index, (name, condition) in enumerate(CONDITIONS.items()):
        if names is None or name in names:
            yield name, condition(gray, np.random.default_rng([seed, index]))


def code_photo(text: str, module_px: float, blur_px: float, rng: np.random.Generator,
               scene: tuple[int, int] | None = None) -> np.ndarray:
    """A photo of the QR of `text` (a ticket's, `agent.ticket_format.ticket_qr`) with `module_px` px per module (any
    fraction: drawn at 8 px and shrunk), its quiet zone, out of focus by a Gaussian of `blur_px`, with sensor noise
    (sigma 3); pasted in a cluttered scene of `scene` (rows, columns) when given."""
    from drivers.testkit.tickets import qr_gray
    sharp = qr_gray(text, scale=8, border=4)
    side = max(8, round(sharp.shape[0] * module_px / 8))
    code = cv2.resize(sharp, (side, side), interpolation=cv2.INTER_AREA)
    if scene is not None:
        big = cv2.resize(busy_scene((scene[0] // 4, scene[1] // 4), rng), scene[::-1], interpolation=cv2.INTER_LINEAR)
        code = _pasted(big, code, rng)
    if blur_px > 0:
        code = cv2.GaussianBlur(code, (0, 0), blur_px)
    noisy = code.astype(np.float32) + np.asarray(rng.normal(0, 3, code.shape), np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)
