"""Frame combination: a code that no single frame reads, read from what consecutive frames show of it.

The guest holds the ticket up for many frames (30 a second). A frame that shows the code without reading it still
says a lot: the redrawn step's sampling (`redraw.readings`) gives every module's dark/light decision and its margin
in the code's own grid, whatever the frame's position, turn or tilt, so frames need no aligning beyond that
registration. `FrameCombiner` keeps the last frames' soft module values (the margin signed, + dark / - light, in
units of the frame's median margin, clipped at `CLIP`), and decodes their sum with erasures (`erasure.corrected`):
sensor noise averages out, and a module a highlight clips white in one frame (margin 0: no vote) is seen in the next
as the reflection slides (~1 module a frame).

It stands in for the ladder's redrawn step (`redraw.redrawn_code`) when the camera loop passes it to
`DecoderChain.decode_live`: the same outline, registrations and erasure decoding, each registration decoded with the
frames before it added, so one frame alone reads what the redrawn step reads, at the same cost (budget, position).

No mixing: a frame whose confident data modules do not agree with the sum (another ticket held up) empties the state
first. The state also empties when a code is read, and keeps only the votes of the last `depth` frames (a code that
left the view is forgotten; bounded memory: `depth` x 41 x 41 floats). A sum decodes only through Reed-Solomon with
check codewords to spare (`erasure.MARGIN`) and zxing-cpp's pure-mode reading, so a wrong grid gives no text.
"""
from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from drivers.camera import erasure, redraw
from drivers.camera import qr_grid as G
from drivers.camera import regions as R
from drivers.camera.decoders import Decoder

cv2 = redraw.cv2
T = TypeVar("T")

N = redraw.TICKET_MODULES
_DATA = ~G.function_modules(6)          # a ticket's code: version 6 (41 modules)
CLIP = 2.0                  # a module's vote from one frame: at most this many of the frame's mean margins
SAME = 0.75                 # share of the confident data modules on which a frame must agree with the sum
CONFIDENT = 0.5             # the share of data modules (most confident in both) agreement is measured on
_BLANK = np.full((8, 8), 255, np.uint8)
SCALE = 2.0                 # the averaged crop's px per frame px (finer than the frames: they are sub-pixel apart)
ALIGNED = 0.6               # ECC correlation under which a frame is not the code averaged (moved away, another code)
MOVED = 0.25                # the code's box moved by more than this share of the window: another code or place
SAMPLED_FROM = 120          # px: a region whose modules are sampled and summed (smaller: its crops averaged)
AVERAGE_UP_TO = 160         # px: a region this small whose modules cannot be sampled has its crops averaged


class StageCosts:
    """What each stage of the combination costs (ms of this thread's CPU time): the outline, a registration, a
    decoding with erasures, a sum, an alignment, a reading. A stage runs only if its estimate fits before the
    frame's deadline, so a combination whose work varies from 0.5 to 5 ms (no outline found, or two registrations
    decoded deep into the erasures) stops between stages instead of overrunning the frame. The estimate is the
    higher of its recent peak (the last cost, or 90 % of the peak before) and, once it ran `SURE` times, the median
    of its last `RECENT` costs. The peak decays by 10 % each time the stage is skipped, so one slow run (a cold start)
    does not exclude it for good; the median does not: a stage that keeps being skipped is not let in below what it
    usually costs. One per chain (`DecoderChain.combine_costs`: what the device spends), passed to `read`. The
    chain's region steps (`DecoderChain.region_costs`) use a moving average in place of the peak (`average`): a
    step that overruns costs the frame only its own overrun, not the stages after it."""

    DECAY = 0.9
    RECENT = 5
    SURE = 3

    def __init__(self, cold_ms: float = 0.0, average: bool = False, seed: dict[str, float] | None = None) -> None:
        self.cold_ms = cold_ms          # the estimate of a stage that never ran (its first run is a cold start)
        self.average = average          # a moving average (80 / 20) in place of the recent peak
        self.peak: dict[str, float] = {}
        # `seed`: typical costs (`NOMINAL_MS`) counted as `SURE` runs each, so a stage is never let in below its
        # typical cost before it has run often enough at less (a peak decayed while skipped let the small codes'
        # alignment in at ~1 ms; it costs ~3.5)
        self.recent: dict[str, deque[float]] = {
            stage: deque([ms] * self.SURE, maxlen=self.RECENT) for stage, ms in (seed or {}).items()}

    def estimate(self, stage: str) -> float:
        recent = sorted(self.recent.get(stage, ()))
        if not recent and stage not in self.peak:
            return self.cold_ms
        return max(self.peak.get(stage, 0.0), recent[len(recent) // 2] if len(recent) >= self.SURE else 0.0)

    def now(self) -> float:
        """The clock stages are admitted by (s): this thread's CPU time."""
        return time.thread_time()

    def fits(self, stage: str, until: float) -> bool:
        """`stage` fits before `until` (`now()`); if not, its peak decays."""
        cost = self.estimate(stage)
        if self.now() + cost / 1000 <= until:
            return True
        self.peak[stage] = max(self.peak.get(stage, 0.0), cost if stage not in self.recent else 0.0) * self.DECAY
        return False

    def run(self, stage: str, work: Callable[..., T], *args: Any) -> T:
        c0 = time.thread_time()
        try:
            return work(*args)
        finally:
            self.note(stage, (time.thread_time() - c0) * 1000)

    def note(self, stage: str, spent: float) -> None:
        """`stage` took `spent` ms (its work timed elsewhere: the combination in the redrawn step's place)."""
        before = self.peak.get(stage)
        if self.average:
            self.peak[stage] = spent if not before else 0.8 * before + 0.2 * spent
        else:
            self.peak[stage] = max(spent, self.DECAY * (before or 0.0))
        self.recent.setdefault(stage, deque(maxlen=self.RECENT)).append(spent)


class PinnedCosts(StageCosts):
    """Stage costs pinned to a table (ms; `NOMINAL_MS`): a stage's estimate is its table cost whatever it spent, and
    running it moves a clock of its own (`now`, shared by the chain's two cost tables) by that cost, not by the CPU
    time it took. A frame's fate then depends neither on the machine's load nor on the frames before it: the same
    frames give the same reads on every run (`DecoderChain(pinned_costs=...)`, benchmarks and tests; the door learns
    its costs). What the stages really spent is kept in `recent` (the last `RECENT`) and `spent` (all, for
    calibrating the table: `bench_door_conditions.py --pinned` prints their medians)."""

    def __init__(self, table: dict[str, float], clock: list[float] | None = None, default_ms: float = 0.5) -> None:
        super().__init__()
        self.table = table
        self.default_ms = default_ms        # a stage the table lacks
        self.clock = [0.0] if clock is None else clock
        self.spent: dict[str, list[float]] = {}

    def now(self) -> float:
        return self.clock[0]

    def estimate(self, stage: str) -> float:
        return self.table.get(stage, self.default_ms)

    def fits(self, stage: str, until: float) -> bool:
        return self.now() + self.estimate(stage) / 1000 <= until

    def run(self, stage: str, work: Callable[..., T], *args: Any) -> T:
        c0 = time.thread_time()
        try:
            return work(*args)
        finally:
            self.clock[0] += self.estimate(stage) / 1000
            self.note(stage, (time.thread_time() - c0) * 1000)

    def note(self, stage: str, spent: float) -> None:
        """Kept for calibration only: the clock moves by the stages run (a combination's, by its own stages)."""
        self.spent.setdefault(stage, []).append(spent)
        self.recent.setdefault(stage, deque(maxlen=self.RECENT)).append(spent)


# Typical CPU cost of each stage (ms) on the reference machine (Debian 12 VM, one core, load ~2, 2026-12-02: the
# medians of each stage's runs over door frames and presentations, rounded; `bench_door_conditions.py --pinned` prints
# them beside these): the chain's own work, its region steps on a zoomed region, the combination's stages. The small
# code step: its stages' sum measured alone (outline 0.8, registration 0.7, erasures 0.3, reading 0.15); in the
# benchmark at load 8-9 it measured 2.3-2.5 (docs/performance.md, "Small codes: the blur subtracted").
NOMINAL_MS: dict[str, float] = {
    "first pass": 0.8, "candidates": 0.45, "view": 0.3, "glare": 0.1,
    "region:zxing-cpp+despeckled": 0.45, "region:zxing-cpp+zoom": 0.35, "region:zxing-cpp+sharpened": 0.65,
    "region:zxing-cpp/pure+redrawn_code": 2.5, "region:zxing-cpp/pure+small_code": 1.9,
    "region:zxing-cpp/pure+small_code_refined": 1.5, "region:zxing-cpp/GlobalHistogram+opened_closed": 0.3,
    "region:zxing-cpp+closed": 0.35, "region:zxing-cpp+equalized": 1.0,
    "region:zxing-cpp/GlobalHistogram+sharpened": 0.45, "region:zxing-cpp+thresholded": 0.7,
    "outline": 1.2, "reading 0": 0.85, "reading 1": 1.8, "corrected": 0.6, "decoded": 0.75, "pure": 0.15,
    "first crop": 0.2, "align": 3.5, "local": 0.35,
}


@dataclass
class _Average:
    """Crops of a small code, each aligned to the first (affine, ECC) and summed at SCALE."""
    x: int                  # the crop in the frame (the same for every frame averaged)
    y: int
    side: int
    centre: tuple[float, float]     # the first box's centre in the frame
    first: np.ndarray       # the first frame's crop (float32): what the others are aligned to
    box_at: tuple[int, int]     # the code's box in the first crop: top-left corner, and size
    box_size: tuple[int, int]
    total: np.ndarray
    count: int
    seen: int               # frame number of the last crop added


class FrameCombiner:
    """Soft module values of one code over the last `depth` frames, all in the first frame's orientation."""

    def __init__(self, depth: int = 8):
        self.depth = depth
        self.frame = 0                                      # frames seen (`next_frame`)
        self._votes: deque[tuple[int, np.ndarray]] = deque(maxlen=depth)
        self._average: _Average | None = None
        self._voted = -1                                    # the frame whose vote was kept last
        self.resets = 0                                     # times another code emptied the state

    @property
    def held(self) -> int:
        """Frames combined now: votes summed (a code of 120 px and more) or crops averaged (a smaller one)."""
        return len(self._votes) + (self._average.count if self._average is not None else 0)

    @property
    def averaging(self) -> bool:
        """Crops of a small code are held (the next one is aligned and averaged; the first is only kept)."""
        return self._average is not None

    @property
    def nbytes(self) -> int:
        """Memory held: at most `depth` votes of 41 x 41 floats and one averaged crop of a region of 160 px at most
        (`AVERAGE_UP_TO`, at SCALE): under 1.5 MB."""
        held = self._average
        crops = 0 if held is None else held.first.nbytes + held.total.nbytes
        return sum(vote.nbytes for _, vote in self._votes) + crops

    def next_frame(self) -> None:
        """A new camera frame: votes older than `depth` frames are dropped."""
        self.frame += 1
        while self._votes and self._votes[0][0] <= self.frame - self.depth:
            self._votes.popleft()
        if self._average is not None and self._average.seen <= self.frame - self.depth:
            self._average = None

    def clear(self) -> None:
        self._votes.clear()
        self._average = None

    def soft(self) -> np.ndarray:
        """The sum of the votes held: > 0 dark, < 0 light, its size how sure."""
        total = np.zeros((N, N), np.float32)
        for _, vote in self._votes:
            total += vote
        return total

    def read(self, gray: np.ndarray, box: R.Box, view: np.ndarray, pure: Decoder, local: Decoder,
             until: float = math.inf, costs: StageCosts | None = None) -> list[str]:
        """This frame's region (`box` in `gray`, zoomed as `view`) combined with the frames before: its modules summed
        (`redrawn`, read by `pure`), or, for a code too small to sample module by module, its crops averaged
        (`averaged`, read by `local`). `until`: the frame's deadline (`time.thread_time()`): a stage runs only if its
        cost (`costs`, estimated from its runs before) fits before it; what a frame cut short added stays for the next
        frames."""
        costs = StageCosts() if costs is None else costs
        side = max(box.w, box.h)
        # a code whose modules could not be sampled in the frames before is averaged, not sampled again
        if side >= SAMPLED_FROM and not self._averages(box):
            picture = self.redrawn(view, until, costs)
            if picture is not _BLANK:
                return costs.run("pure", _texts, pure, picture)
            if self._voted == self.frame or side > AVERAGE_UP_TO or costs.now() > until:
                return []
        picture = self.averaged(gray, box, until, costs)
        if picture is _BLANK or not costs.fits("local", until):
            return []
        return costs.run("local", _texts, local, picture)

    def first_stage(self, box: R.Box) -> str | None:
        """The stage `read` starts with on `box` (what the chain admits the combination by: the later stages check
        the deadline themselves); None: only a small code's first crop is kept (~0.1 ms)."""
        if max(box.w, box.h) >= SAMPLED_FROM and not self._averages(box):
            return "outline"
        held = self._average
        return None if held is None or not _same_place(held, box) or held.count >= self.depth else "align"

    def _averages(self, box: R.Box) -> bool:
        return self._average is not None and not self._votes and _same_place(self._average, box)

    def redrawn(self, view: np.ndarray, until: float = math.inf, costs: StageCosts | None = None) -> np.ndarray:
        """A region filter (like `redraw.redrawn_code`, whose place it takes): the code in `view` redrawn clean from
        this frame's modules and the frames' before it, for a decoder in pure mode; a blank image when the sum
        cannot be decoded. Keeps this frame's vote (the registration that decoded, else the first plausible one).
        A stage that does not fit before `until` (a registration, a decoding) is not run: the frame keeps the vote
        of what it sampled, and the raw picture is not read when its reading does not fit."""
        costs = StageCosts() if costs is None else costs
        quad = costs.run("outline", redraw.outline, view)
        if quad is None:
            return _BLANK
        total = self.soft()
        first = agreeing = None
        hard: np.ndarray | None = None
        registrations = redraw.readings(view, quad, N)
        for k in range(redraw.READINGS):
            stage = f"reading {k}"
            if not costs.fits(stage, until):
                break
            reading = costs.run(stage, next, registrations, None)
            if reading is None:
                break
            hard = reading.dark if hard is None else hard
            if reading.timing_wrong > redraw.TIMING_WRONG:
                continue
            vote = _vote(reading)
            first = vote if first is None else first
            turned = oriented(total, vote) if self._votes else vote
            fixed = None                                            # this frame alone, as the redrawn step
            if costs.fits("corrected", until):
                fixed = costs.run("corrected", erasure.corrected, reading.dark, reading.margin)
            if fixed is not None:
                if turned is None:
                    self._start(vote)
                else:
                    self._vote_for(turned)
                return redraw.picture(fixed.dark)
            if turned is None:              # not the code held (another ticket, or a wrong registration)
                continue
            agreeing = turned if agreeing is None else agreeing
            if self._votes and costs.fits("decoded", until):
                picture = costs.run("decoded", decoded, total + turned)       # with the frames before
                if picture is not None:
                    self._vote_for(turned)
                    return picture
        if agreeing is not None:
            self._vote_for(agreeing)
        elif first is not None:
            self._start(first)
        # as the redrawn step: the first registration as sampled, for zxing-cpp's own error correction
        return _BLANK if hard is None or not costs.fits("pure", until) else redraw.picture(hard)

    def _start(self, vote: np.ndarray) -> None:
        """Another code in view: the votes of the one before are dropped."""
        if self._votes:
            self._votes.clear()
            self.resets += 1
        self._vote_for(vote)

    def _vote_for(self, vote: np.ndarray) -> None:
        self._votes.append((self.frame, vote))
        self._voted = self.frame

    def averaged(self, gray: np.ndarray, box: R.Box, until: float = math.inf,
                 costs: StageCosts | None = None) -> np.ndarray:
        """A small code (under `SAMPLED_FROM`, too small to sample module by module): this frame's
        crop around `box` aligned to the first frame's (phase correlation, then an affine ECC of the code's box)
        and averaged with the crops before it at SCALE, sharpened, for zxing-cpp's local binarizer: sensor noise
        down by the square root of the frames, and the frames' sub-pixel offsets sample the modules more finely.
        A blank image on the first frame of a code (the ladder has tried it alone), and when the alignment does not fit
        before `until` (this frame's crop is then left out: the average stays as it was)."""
        costs = StageCosts() if costs is None else costs
        held = self._average
        if held is None or not _same_place(held, box) or held.count >= self.depth:
            self._average = costs.run("first crop", _first_crop, gray, box, self.frame)
            if held is not None and held.count > 1 and not _same_place(held, box):
                self.resets += 1
            return _BLANK
        crop = gray[held.y:held.y + held.side, held.x:held.x + held.side].astype(np.float32)
        if crop.shape != held.first.shape:
            self._average = costs.run("first crop", _first_crop, gray, box, self.frame)
            return _BLANK
        if not costs.fits("align", until):
            return _BLANK
        return costs.run("align", self._add, gray, box, held, crop)

    def _add(self, gray: np.ndarray, box: R.Box, held: _Average, crop: np.ndarray) -> np.ndarray:
        """`crop` aligned to the first crop's code and added to the average; the average sharpened (blank if the crop
        is not the code averaged: the average restarts from it)."""
        (dx, dy), _ = cv2.phaseCorrelate(held.first, crop)
        bx, by = held.box_at
        code = held.first[by:by + held.box_size[1], bx:bx + held.box_size[0]]
        warp = np.array([[1, 0, dx + bx], [0, 1, dy + by]], np.float32)
        try:        # the code's box of the first crop found in this crop: the background does not move with it
            score, warp = cv2.findTransformECC(  # type: ignore[call-overload]  # (no mask: the stubs want one)
                code, crop, warp, cv2.MOTION_AFFINE, _ECC_STOP, None, 5)
        except cv2.error:               # no convergence: not the code averaged
            score = 0.0
        warp[:, 2] -= warp[:, :2] @ np.array([bx, by], np.float32)     # from the first crop's corner
        if score < ALIGNED:
            self._average = _first_crop(gray, box, self.frame)
            self.resets += 1
            return _BLANK
        to_crop = np.vstack([warp, [0, 0, 1]]) @ np.diag([1 / SCALE, 1 / SCALE, 1])
        held.total += cv2.warpAffine(crop, to_crop[:2].astype(np.float32), held.total.shape[::-1],
                                     flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        held.count += 1
        held.seen = self.frame
        mean = np.clip(held.total / held.count, 0, 255).astype(np.uint8)
        return R.sharpened(R.zoomed(mean))


def _texts(decoder: Decoder, image: np.ndarray) -> list[str]:
    if image is _BLANK:
        return []
    try:
        return decoder(image)
    except Exception:   # a library choking on one odd image must not stop the loop
        return []


_ECC_STOP = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-3) if cv2 is not None else None


def _first_crop(gray: np.ndarray, box: R.Box, frame: int) -> _Average | None:
    side = int(max(box.w, box.h) * 1.3 + 16)
    x, y = int(max(0, box.x + box.w / 2 - side / 2)), int(max(0, box.y + box.h / 2 - side / 2))
    crop = gray[y:y + side, x:x + side].astype(np.float32)
    if min(crop.shape) < 16:
        return None
    bx, by = max(box.x - x, 0), max(box.y - y, 0)
    bw, bh = min(box.w, crop.shape[1] - bx), min(box.h, crop.shape[0] - by)
    total = cv2.resize(crop, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    centre = (box.x + box.w / 2, box.y + box.h / 2)
    return _Average(x, y, side, centre, crop, (bx, by), (bw, bh), total, 1, frame)


def _same_place(held: _Average, box: R.Box) -> bool:
    """The box is where the averaged code is (the hand drifts a few px a frame)."""
    moved = max(abs(box.x + box.w / 2 - held.centre[0]), abs(box.y + box.h / 2 - held.centre[1]))
    return moved <= MOVED * held.side


def decoded(total: np.ndarray) -> np.ndarray | None:
    """The grid whose summed votes are `total`, decoded with erasures and redrawn clean; None past their reach."""
    dark = redraw._function_patterns(total > 0)
    fixed = erasure.corrected(dark, np.abs(total))
    return None if fixed is None else redraw.picture(fixed.dark)


def _vote(reading: redraw.Modules) -> np.ndarray:
    """One frame's modules as signed soft values in units of its mean data-module margin (frames of any contrast
    count alike; a module clipped white has margin 0: no vote)."""
    margin = reading.margin.astype(np.float32)
    sampled = margin[_DATA]
    positive = sampled[sampled > 0]
    typical = float(positive.mean()) if positive.size else 1.0
    return np.where(reading.dark, 1.0, -1.0).astype(np.float32) * np.minimum(margin / max(typical, 1e-3), CLIP)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the data modules most confident in both (the top `CONFIDENT`) where `a` and `b` have the same sign.
    The same code: ~0.9 and more; two different codes: ~0.5 (their data modules are independent)."""
    weight = np.minimum(np.abs(a), np.abs(b))[_DATA]
    if not weight.any():
        return 0.0
    cut = int(weight.size * (1 - CONFIDENT))
    keep = weight >= np.partition(weight, cut)[cut]
    return float(np.mean((a[_DATA] > 0)[keep] == (b[_DATA] > 0)[keep]))


def oriented(total: np.ndarray, vote: np.ndarray) -> np.ndarray | None:
    """`vote` turned the way `total` is (quarter turns: a registration may take another corner as the finder-less
    one), or None when no turn agrees on `SAME` of the confident data modules: another code."""
    best, turned = 0.0, vote
    for k in range(4):
        candidate = np.rot90(vote, k)
        score = agreement(total, candidate)
        if score > best:
            best, turned = score, candidate
    return turned if best >= SAME else None
