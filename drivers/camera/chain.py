"""The decoder chain: zxing-cpp first, then other binarizers and pyzbar, then cheap image retries.

    chain = DecoderChain()
    chain.decode(gray)        # still image (screenshot, support): every step until one reads
    chain.decode_live(gray)   # camera frame: first pass, then region retries while the frame budget lasts
    chain.decode_live(gray, combiner)   # the camera loop: the redrawn step also sums the frames before (combine.py)

A retry costs time only when the first pass found nothing. On a camera frame the retries work on the regions that
look like a code (`regions.candidates`), not on the whole frame: cropped, zoomed, filtered for one door condition
each (`region_ladder()`, ordered by what each step recovers on generated door conditions, see
benchmarks/bench_door_conditions.py). A step runs only if its estimated cost (`combine.StageCosts`: recent peak and
median of the thread's CPU time) fits in what is left of `live_budget_ms`, so a frame never costs much more than the
budget, code or no code; the camera loop's combination also checks each of its stages against `live_limit_ms`.

A text read by a retry (any step after the first pass over the plain image: filtered, redrawn, combined) is kept only
if `plausible(text)`: the door's camera passes `agent.payload.plausible` (the shape of a ticket or badge), so a
filtered image misread as another text (a red verdict for a valid ticket) is dropped and the next step runs. The
first pass reports whatever it reads (a foreign QR: "not a ticket"). Default: every text.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterator, Sequence

import numpy as np

from drivers.camera import redraw, sequences, small_codes
from drivers.camera import stills as S
from drivers.camera.combine import NOMINAL_MS, FrameCombiner, PinnedCosts, StageCosts
from drivers.camera import regions as R
from drivers.camera import variants as V
from drivers.camera.decoders import Decoder, ZbarDecoder, ZxingDecoder

Step = tuple[str, Decoder, Callable[[np.ndarray], np.ndarray] | None]
RegionStep = tuple[str, Decoder, R.RegionFilter]
Plausible = Callable[[str], bool]
GLARE_STEPS: tuple[R.RegionFilter, ...] = (R.thresholded,)     # moved ahead on a region with a highlight


def any_text(text: str) -> bool:
    return True


@dataclass(frozen=True)
class DecodeResult:
    texts: tuple[str, ...]
    step: str = ""                  # which step read it ("" when nothing was found)
    ms: float = 0.0
    steps_tried: int = 0
    capped: bool = False            # a still image's steps stopped at the time cap (`stills.CAP_MS`)

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


def region_ladder(local: Decoder, histogram: Decoder | None, pure: Decoder | None = None) -> list[RegionStep]:
    """The region retries in the order they run (live: while the budget lasts). Chosen greedily on the tuning split
    of the door conditions, most frames recovered per millisecond first (benchmarks/bench_door_conditions.py
    prints what each recovers): on a region under 160 px only (`max_side`), a small code sampled with the optics'
    blur subtracted (`small_codes.small_code`, read by `pure`: zxing-cpp in pure mode; 120 of 122 small tuning
    first-pass misses alone); a 3x3 median read with `local` (zxing-cpp's local binarizer, or the only library
    there is), which recovers the most on every condition; the zoomed region as it is (small codes); an unsharp
    mask (small and blurred codes); under 160 px the small code's refined registration, from 160 px the code redrawn
    from its outline (`redraw.redrawn_code`, `min_side`), read by `pure`
    (zxing-cpp in pure mode): a crack or a reflection over a finder pattern, which no filter gets past; an opening
    and closing read with the global-histogram binarizer (cracks); a closing (cracks, fold shading); local contrast
    equalized (glare); the unsharp mask with the other binarizer; a local threshold over ~3 modules (glare: on a
    region with a highlight, `regions.glared`, the live chain runs it right after the median, `GLARE_STEPS`)."""
    steps: list[tuple[Decoder | None, R.RegionFilter]] = [
        (pure, small_codes.small_code), (local, R.despeckled), (local, R.zoom), (local, R.sharpened),
        (pure, small_codes.small_code_refined), (pure, redraw.redrawn_code),
        (histogram, R.opened_closed), (local, R.closed), (local, R.equalized), (histogram, R.sharpened),
        (local, R.thresholded)]
    return [(f"region:{d.name}+{f.__name__}", d, f) for d, f in steps if d is not None]


@dataclass
class DecoderChain:
    primary: Decoder = field(default_factory=ZxingDecoder)
    live_primary: Decoder = field(default_factory=lambda: ZxingDecoder(single=True, try_rotate=False))  # first code
    fallbacks: Sequence[Decoder] = ()
    variants: Sequence[Callable[[np.ndarray], np.ndarray]] = V.DEFAULT_VARIANTS
    retry_decoders: Sequence[Decoder] = ()
    region_steps: Sequence[RegionStep] | None = None    # None: region_ladder() of the live decoder (needs OpenCV)
    live_budget_ms: float = 4.0         # CPU time for a frame, first pass included: p99 <= 5 ms at the door
    live_limit_ms: float = 4.4          # the deadline of the combination's later stages (each checked by its cost)
    regions_per_frame: int = 2
    plausible: Plausible = any_text     # what a retry's text must look like to count
    pinned_costs: dict[str, float] | None = None    # stages admitted by these costs (ms), not by their CPU time
    still_cap_ms: float = S.CAP_MS      # a still image's steps (`decode`), this thread's CPU time: then "no code found"

    def __post_init__(self) -> None:
        if not self.fallbacks:
            self.fallbacks = (ZxingDecoder("GlobalHistogram"), ZbarDecoder())
        if not self.retry_decoders:
            self.retry_decoders = (self.primary, self.fallbacks[-1])
        self.steps: list[Step] = [(d.name, d, None) for d in self.fallbacks]
        for variant in self.variants:
            for d in self.retry_decoders:
                self.steps.append((f"{d.name}+{variant.__name__}", d, variant))
        if self.region_steps is None and R.cv2 is None:
            self.region_steps = []
        elif self.region_steps is None and isinstance(self.live_primary, ZxingDecoder):
            self.region_steps = region_ladder(
                ZxingDecoder(try_harder=False, single=True, name="zxing-cpp"),
                ZxingDecoder("GlobalHistogram", try_harder=False, single=True),
                ZxingDecoder(try_harder=False, single=True, is_pure=True, name="zxing-cpp/pure"))
        elif self.region_steps is None:                 # another library (pyzbar on Android): the same regions
            self.region_steps = region_ladder(self.live_primary, None)
        self.region_steps = list(self.region_steps)
        # every code of a frame, when the first one read is foreign: zxing-cpp's (where it is the live decoder; a
        # build without it, Android's pyzbar, reports the first code)
        self.live_every: Decoder | None = (ZxingDecoder(try_rotate=False, name="zxing-cpp/every code")
                                           if isinstance(self.live_primary, ZxingDecoder) else None)
        # what each region step, and each stage of the camera loop's combination, costs on live frames: a step never
        # run yet is let in only while half the budget is left (its first run is a cold start)
        self.region_costs = StageCosts(cold_ms=self.live_budget_ms / 2, average=True)
        self.combine_costs = StageCosts(cold_ms=self.live_budget_ms / 2, seed=NOMINAL_MS)
        if self.pinned_costs is not None:   # one clock for both: a frame's fate depends on its content only
            self.region_costs = PinnedCosts(self.pinned_costs)
            self.combine_costs = PinnedCosts(self.pinned_costs, self.region_costs.clock)
        # what reads a small code's averaged crops: the ladder's local binarizer (the median's), not pure mode
        self.combine_local = next((d for _, d, f in self.region_steps if f is R.despeckled),
                                  self.region_steps[0][1] if self.region_steps else self.live_primary)

    def decode(self, image: np.ndarray) -> DecodeResult:
        """Every step in order until one reads (still images): whole-image steps, region steps, then the still
        retries (`stills.py`: enlarged with Lanczos, sharpened, deblurred) on the image or, in a big photo, on each
        region that looks like a code; each step while `still_cap_ms` of this thread's CPU time lasts (the first
        always). When the first step reads, a closer look where zxing-cpp located a code it could not read and at
        the regions that look like a code outside those read (several tickets in one photo)."""
        t0 = time.perf_counter()
        deadline = time.thread_time() + self.still_cap_ms / 1000
        gray = to_gray(image)
        if isinstance(self.primary, ZxingDecoder):
            texts, read, unread = self.primary.located(gray)
        else:
            texts, read, unread = self.primary(gray), [], []
        if texts:       # several codes in one photo: a closer look where another may be (with OpenCV)
            places = [] if not self.region_steps else [R.Box(*box) for box in unread] + _elsewhere(
                R.candidates(_blanked(gray, read), limit=3), read + unread)
            closer = min(deadline, time.thread_time() + S.CLOSER_MS / 1000)
            more = [t for box in places for t in self._closer(gray, box, closer) if t not in texts]
            texts = list(dict.fromkeys(texts + more))
            zbar = next((d for d in self.fallbacks if isinstance(d, ZbarDecoder)), None)
            if len(texts) >= 2 and zbar is not None:    # parts of one structured-append code: zbar joins them
                texts = sequences.joined(texts, _decode(zbar, gray))
            return DecodeResult(tuple(texts), self.primary.name, _ms(t0), 1 + len(places))
        n = 1
        for name, decode in self._still_steps(gray):
            if time.thread_time() > deadline:
                return DecodeResult((), "", _ms(t0), n, capped=True)
            n += 1
            texts = self._kept(decode())
            if texts:
                return DecodeResult(tuple(texts), name, _ms(t0), n)
        return DecodeResult((), "", _ms(t0), n)

    def _stills(self) -> list[tuple[Decoder, S.Still]]:
        """The still retries and what reads them: the first step's decoder on each, then the last fallback (pyzbar)
        on the enlarged image only (it reads some dense codes zxing-cpp misses there; on a sharpened one it misread
        a Shift-JIS text of the corpus)."""
        return [(self.primary, still) for still in S.STEPS] + [(self.fallbacks[-1], S.upscaled)]

    def _closer(self, gray: np.ndarray, box: R.Box, deadline: float) -> list[str]:
        """The region and still steps on one place of the image (a code zxing-cpp located and could not read),
        until one reads or the time cap is spent."""
        if not self.region_steps or min(box.w, box.h) < 4:
            return []
        crop = R.crop(gray, box)
        view = R.zoomed(crop)
        calls = [partial(_filtered, decoder, region_filter, view) for _, decoder, region_filter in self.region_steps]
        calls += [partial(_filtered, decoder, still, crop) for decoder, still in self._stills()]
        for call in calls:
            if time.thread_time() > deadline:
                break
            texts = self._kept(call())
            if texts:
                return texts
        return []

    def _still_steps(self, gray: np.ndarray) -> Iterator[tuple[str, Callable[[], list[str]]]]:
        """The steps after the first, in order, each a name and a call (lazily: a step's image is made only if the
        time cap leaves it its turn). On a big photo (`stills.BIG_IMAGE`) the regions first: a whole-image retry of
        a 12 MP photo costs 0.3-1 s, a region's a few ms, and a code far from the lens is a small part of it."""
        cache: dict[object, np.ndarray] = {}
        whole = [(step[0], partial(_run, step, gray, cache)) for step in self.steps]
        if not self.region_steps:
            yield from whole
            return
        big = gray.shape[0] * gray.shape[1] > S.BIG_IMAGE
        if not big:
            yield from whole
        boxes = R.candidates(gray, limit=max(3, S.REGION_LIMIT))
        views = [R.region_view(gray, box) for box in boxes[:3]]
        for name, decoder, region_filter in self.region_steps:
            for view in views:
                yield name, partial(_filtered, decoder, region_filter, view)
        # the still retries: the whole image when it is small, else each region that looks like a code, as it is
        small = max(gray.shape[:2]) * S.MIN_FACTOR <= S.UPSCALE_TO
        crops = [] if S.flat(gray) else [gray] if small else [R.crop(gray, box) for box in boxes]
        for decoder, still in self._stills():
            for crop in crops:
                yield f"{decoder.name}+{still.__name__}", partial(_filtered, decoder, still, crop)
        if big:
            yield from whole

    def decode_live(self, image: np.ndarray, combiner: FrameCombiner | None = None) -> DecodeResult:
        """First pass on the whole frame (with a white margin, `margined`), then region steps in ladder order while
        they fit in the frame budget.
        The budget counts this thread's CPU time: what the decoding costs, whatever else the device is running.
        `combiner` (the camera loop's, one per scanner): the redrawn step decodes this frame's modules summed with
        the frames' before it (`combine.FrameCombiner`); emptied when a text is read."""
        if combiner is not None:
            combiner.next_frame()
        result = self._live(image, combiner)
        if result.texts and combiner is not None:
            combiner.clear()
        return result

    def _ladder(self, combiner: FrameCombiner | None, glared: bool = False) -> list[tuple[int, RegionStep]]:
        """The region steps in the order they run: the ladder's; while the combiner averages a small code's crops, the
        combination (the redrawn step's place) last, on what the ladder left. Ahead of the ladder (on every other frame,
        until 2026-12-02) its alignment took ~3 ms of the 4, its reading then did not fit and neither did the
        single-frame steps that read small codes: small codes per presentation 81 % with combination against 86 %
        without. A code whose modules are summed keeps the redrawn step's place (moved first, it took the budget of the
        steps that read cracked screens)."""
        steps = list(enumerate(self.region_steps or ()))
        if glared:      # a highlight in the region (`regions.glared`): its local threshold right after the median
            moved = [step for step in steps if step[1][2] in GLARE_STEPS]
            rest = [step for step in steps if step[1][2] not in GLARE_STEPS]
            after = next((k + 1 for k, step in enumerate(rest) if step[1][2] is R.despeckled), 1)
            steps = rest[:after] + moved + rest[after:]
        if combiner is not None and combiner.averaging:
            combination = [step for step in steps if step[1][2] is redraw.redrawn_code]
            steps = [step for step in steps if step[1][2] is not redraw.redrawn_code] + combination
        return steps

    def _live(self, image: np.ndarray, combiner: FrameCombiner | None) -> DecodeResult:
        costs = self.region_costs
        t0, c0 = time.perf_counter(), costs.now()
        budget, deadline = c0 + self.live_budget_ms / 1000, c0 + self.live_limit_ms / 1000
        gray = to_gray(image)
        texts = costs.run("first pass", self.live_primary, margined(gray))
        if texts and self.live_every is not None and not self._kept(texts):
            # the first code read is no ticket (a poster's link, an app's QR beside the ticket): every code of the
            # frame, the tickets among them reported; with none, the foreign code is (the door says "not a ticket")
            tickets = self._kept(costs.run("every code", self.live_every, gray))
            if tickets:
                return DecodeResult(tuple(tickets), "every code", _ms(t0), 2)
        if texts or not self.region_steps:
            return DecodeResult(tuple(texts), self.live_primary.name if texts else "", _ms(t0), 1)
        tried = 1
        cheapest = min(costs.estimate(name) for name, _, _ in self.region_steps)
        boxes = costs.run("candidates", R.candidates, gray, self.regions_per_frame)
        for rank, box in enumerate(boxes):  # strongest first, every step on it
            if rank > 0 and (costs.now() - c0) * 1000 + cheapest > self.live_budget_ms:
                break                           # not even the cheapest step would fit: no second region's view
            view = costs.run("view", R.region_view, gray, box)
            glared = costs.run("glare", R.glared, view)
            for index, (name, decoder, region_filter) in self._ladder(combiner if rank == 0 else None, glared):
                combined = combiner is not None and rank == 0 and region_filter is redraw.redrawn_code
                if combined:    # admitted by its first stage's cost: its later stages check the deadline themselves
                    stage = combiner.first_stage(box)                       # type: ignore[union-attr]
                    fits = stage is None or self.combine_costs.fits(stage, budget)
                    # summing modules: only where the redrawn step would run (what the whole step costs, measured
                    # on the combination), else the steps after it lose the budget the ladder alone leaves them
                    fits = fits and (stage != "outline" or self.region_costs.fits(name, budget))
                elif not getattr(region_filter, "min_side", 0) <= max(box.w, box.h) < getattr(
                        region_filter, "max_side", math.inf):       # too small or too big for this step
                    continue
                else:
                    fits = self.region_costs.fits(name, budget)
                if not fits:    # the steps after it may fit in what is left
                    continue
                if combined:    # the camera loop's combination of frames takes the redrawn step's place
                    c1 = time.thread_time()
                    texts = combiner.read(gray, box, view, decoder, self.combine_local,   # type: ignore[union-attr]
                                          deadline, self.combine_costs)
                    if stage == "outline":
                        self.region_costs.note(name, (time.thread_time() - c1) * 1000)
                    name = "region:combined"
                else:
                    texts = self.region_costs.run(name, _filtered, decoder, region_filter, view)
                tried += 1
                texts = self._kept(texts)       # an implausible text: the next step runs, as after a miss
                if texts:
                    return DecodeResult(tuple(texts), name, _ms(t0), tried)
        return DecodeResult((), "", _ms(t0), tried)

    def _kept(self, texts: list[str]) -> list[str]:
        return [text for text in texts if self.plausible(text)]


MARGIN = 24     # px: a multiple of zxing-cpp's 8 px binarizer blocks and of its 3-row scan step


def margined(gray: np.ndarray) -> np.ndarray:
    """The frame with a white margin of `MARGIN` px (~0.03 ms more for the first pass): a code held so close that
    it fills the frame, its quiet zone and part of its edge out of it, has finder patterns cut by the frame's edge,
    and zxing-cpp's scan for their 1:1:3:1:1 runs needs light before the first dark run. Photos of such codes
    (drivers/testkit/photo_classes.py, "huge"), the first pass alone: 4 of 24 camera frames read as they are, 13 with
    the margin (pyzbar reads 8). A margin of 8 or 16 px also read them but shifted the frame's blocks or scanned
    rows: a few inverted and tilted codes were lost; 24 loses none (door validation frames: the same 282 of 360)."""
    if V.cv2 is None:
        return np.pad(gray, MARGIN, constant_values=255)
    return V.cv2.copyMakeBorder(gray, MARGIN, MARGIN, MARGIN, MARGIN, V.cv2.BORDER_CONSTANT, value=255)


def _blanked(gray: np.ndarray, codes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """The image with the codes read painted white (a tenth of their side around them): the regions that look like a
    code are then measured against what is left, not against the sharp code already read."""
    out = gray.copy()
    for x, y, w, h in codes:
        out[max(0, y - h // 10):y + h + h // 10, max(0, x - w // 10):x + w + w // 10] = 255
    return out


def _elsewhere(boxes: list[R.Box], codes: list[tuple[int, int, int, int]]) -> list[R.Box]:
    """The regions whose centre lies in none of the codes' boxes (grown by half their side: a code's quiet zone and
    the texture around it)."""
    def inside(box: R.Box, code: tuple[int, int, int, int]) -> bool:
        x, y, w, h = code
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        return x - w / 2 <= cx <= x + 1.5 * w and y - h / 2 <= cy <= y + 1.5 * h
    return [box for box in boxes if not any(inside(box, code) for code in codes)]


def _filtered(decoder: Decoder, region_filter: R.RegionFilter, view: np.ndarray) -> list[str]:
    return _decode(decoder, region_filter(view))


def _decode(decoder: Decoder, image: np.ndarray) -> list[str]:
    try:
        return decoder(image)
    except Exception:  # a library choking on one odd image must not stop the chain
        return []


def _run(step: Step, gray: np.ndarray, cache: dict[object, np.ndarray]) -> list[str]:
    _, decoder, variant = step
    image = gray
    if variant is not None:
        cached = cache.get(variant)
        if cached is None:
            try:
                cached = cache[variant] = variant(gray)
            except Exception:   # OpenCV refuses an odd image (a 1x1 thumbnail halved): this retry reads nothing
                return []
        image = cached
    return _decode(decoder, image)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000

