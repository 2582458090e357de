"""The decoder chain: zxing-cpp first, then other binarizers and pyzbar, then cheap image retries.

    chain = DecoderChain()
    chain.decode(gray)        # still image (screenshot, support): every step until one reads
    chain.decode_live(gray)   # camera frame: first pass + one retry step, round robin over frames

A retry costs time only when the first pass found nothing; the live mode bounds that cost per frame so the
loop keeps up with the camera while still sweeping all retries over a few frames of a steady code.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from drivers.camera import variants as V
from drivers.camera.decoders import Decoder, ZbarDecoder, ZxingDecoder

Step = tuple[str, Decoder, Callable[[np.ndarray], np.ndarray] | None]


@dataclass(frozen=True)
class DecodeResult:
    texts: tuple[str, ...]
    step: str = ""                  # which step read it ("" when nothing was found)
    ms: float = 0.0
    steps_tried: int = 0

    @property
    def found(self) -> bool:
        return bool(self.texts)


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    import cv2
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


@dataclass
class DecoderChain:
    primary: Decoder = field(default_factory=ZxingDecoder)
    fallbacks: Sequence[Decoder] = ()
    variants: Sequence[Callable[[np.ndarray], np.ndarray]] = V.DEFAULT_VARIANTS
    retry_decoders: Sequence[Decoder] = ()
    _next_live: int = 0

    def __post_init__(self) -> None:
        if not self.fallbacks:
            self.fallbacks = (ZxingDecoder("GlobalHistogram"), ZbarDecoder())
        if not self.retry_decoders:
            self.retry_decoders = (self.primary, self.fallbacks[-1])
        self.steps: list[Step] = [(d.name, d, None) for d in self.fallbacks]
        for variant in self.variants:
            for d in self.retry_decoders:
                self.steps.append((f"{d.name}+{variant.__name__}", d, variant))

    def decode(self, image: np.ndarray) -> DecodeResult:
        """Every step in order until one reads (still images)."""
        t0 = time.perf_counter()
        gray = to_gray(image)
        texts = self.primary(gray)
        if texts:
            return DecodeResult(tuple(texts), self.primary.name, _ms(t0), 1)
        cache: dict[object, np.ndarray] = {}
        for n, step in enumerate(self.steps, start=2):
            texts = _run(step, gray, cache)
            if texts:
                return DecodeResult(tuple(texts), step[0], _ms(t0), n)
        return DecodeResult((), "", _ms(t0), len(self.steps) + 1)

    def decode_live(self, image: np.ndarray) -> DecodeResult:
        """First pass, then at most one retry step per frame (the next one each time)."""
        t0 = time.perf_counter()
        gray = to_gray(image)
        texts = self.primary(gray)
        if texts:
            return DecodeResult(tuple(texts), self.primary.name, _ms(t0), 1)
        step = self.steps[self._next_live % len(self.steps)]
        self._next_live += 1
        texts = _run(step, gray, {})
        return DecodeResult(tuple(texts), step[0] if texts else "", _ms(t0), 2)


def _run(step: Step, gray: np.ndarray, cache: dict) -> list[str]:
    _, decoder, variant = step
    if variant is None:
        image = gray
    else:
        image = cache.get(variant)
        if image is None:
            image = cache[variant] = variant(gray)
    try:
        return decoder(image)
    except Exception:  # a library choking on one odd image must not stop the chain
        return []


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
