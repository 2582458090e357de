"""The decoder chain: zxing-cpp first, then other binarizers and pyzbar, then cheap image retries.

    chain = DecoderChain()
    chain.decode(gray)        # still image (screenshot, support): every step until one reads
    chain.decode_live(gray)   # camera frame: first pass + at most one retry step that fits the frame budget

A retry costs time only when the first pass found nothing. The live mode bounds that cost per frame so the loop
keeps up with the camera: it takes the next retry step (round robin) whose measured cost (moving average) fits
in what is left of `live_budget_ms`; a step found too slow is skipped, and re-measured now and then. Over a few
frames of a steady code every affordable retry has been tried.
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
    if V.cv2 is None:          # channel order barely matters for a black-and-white code
        return (image[:, :, :3].astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)
    code = V.cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else V.cv2.COLOR_BGR2GRAY
    return V.cv2.cvtColor(image, code)


@dataclass
class DecoderChain:
    primary: Decoder = field(default_factory=ZxingDecoder)
    live_primary: Decoder = field(default_factory=lambda: ZxingDecoder(single=True))   # first code only: 2x faster
    fallbacks: Sequence[Decoder] = ()
    variants: Sequence[Callable[[np.ndarray], np.ndarray]] = V.DEFAULT_VARIANTS
    retry_decoders: Sequence[Decoder] = ()
    live_budget_ms: float = 15.0        # 30 fps is 33 ms per frame: leave room for capture, the Gate and the UI
    reprobe_every: int = 40             # a step skipped as too slow is measured again after this many skips
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
        self.step_cost_ms = [0.0] * len(self.steps)     # moving average of each step's cost on live frames
        self._skips = [0] * len(self.steps)

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
        """First pass, then at most one retry step that fits in the rest of the frame budget."""
        t0 = time.perf_counter()
        gray = to_gray(image)
        texts = self.live_primary(gray)
        if texts:
            return DecodeResult(tuple(texts), self.live_primary.name, _ms(t0), 1)
        index = self._pick(self.live_budget_ms - _ms(t0))
        if index is None:
            return DecodeResult((), "", _ms(t0), 1)
        step = self.steps[index]
        t1 = time.perf_counter()
        texts = _run(step, gray, {})
        cost = _ms(t1)
        old = self.step_cost_ms[index]
        self.step_cost_ms[index] = cost if old == 0 else 0.7 * old + 0.3 * cost
        return DecodeResult(tuple(texts), step[0] if texts else "", _ms(t0), 2)

    def _pick(self, left_ms: float) -> int | None:
        n = len(self.steps)
        for _ in range(n):
            index = self._next_live % n
            self._next_live += 1
            if self.step_cost_ms[index] <= left_ms or self._skips[index] >= self.reprobe_every:
                self._skips[index] = 0
                return index
            self._skips[index] += 1
        return None


def _run(step: Step, gray: np.ndarray, cache: dict[object, np.ndarray]) -> list[str]:
    _, decoder, variant = step
    image = gray
    if variant is not None:
        cached = cache.get(variant)
        if cached is None:
            cached = cache[variant] = variant(gray)
        image = cached
    try:
        return decoder(image)
    except Exception:  # a library choking on one odd image must not stop the chain
        return []


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
