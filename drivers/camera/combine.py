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

from collections import deque

import numpy as np

from drivers.camera import erasure, redraw
from drivers.camera import qr_grid as G

N = redraw.TICKET_MODULES
_DATA = ~G.function_modules(6)          # a ticket's code: version 6 (41 modules)
CLIP = 2.0                  # a module's vote from one frame: at most this many of the frame's mean margins
SAME = 0.75                 # share of the confident data modules on which a frame must agree with the sum
CONFIDENT = 0.5             # the share of data modules (most confident in both) agreement is measured on
_BLANK = np.full((8, 8), 255, np.uint8)


class FrameCombiner:
    """Soft module values of one code over the last `depth` frames, all in the first frame's orientation."""

    def __init__(self, depth: int = 8):
        self.depth = depth
        self.frame = 0                                      # frames seen (`next_frame`)
        self._votes: deque[tuple[int, np.ndarray]] = deque(maxlen=depth)
        self.resets = 0                                     # times another code emptied the state

    @property
    def held(self) -> int:
        """Frames whose votes are summed now."""
        return sum(1 for seen, _ in self._votes if seen > self.frame - self.depth)

    def next_frame(self) -> None:
        """A new camera frame: votes older than `depth` frames are dropped."""
        self.frame += 1
        while self._votes and self._votes[0][0] <= self.frame - self.depth:
            self._votes.popleft()

    def clear(self) -> None:
        self._votes.clear()

    def soft(self) -> np.ndarray:
        """The sum of the votes held: > 0 dark, < 0 light, its size how sure."""
        total = np.zeros((N, N), np.float32)
        for _, vote in self._votes:
            total += vote
        return total

    def redrawn(self, view: np.ndarray) -> np.ndarray:
        """A region filter (like `redraw.redrawn_code`, whose place it takes): the code in `view` redrawn clean from
        this frame's modules and the frames' before it, for a decoder in pure mode; a blank image when the sum
        cannot be decoded. Keeps this frame's vote (the registration that decoded, else the first plausible one)."""
        quad = redraw.outline(view)
        if quad is None:
            return _BLANK
        total = self.soft()
        first = agreeing = None
        for reading in redraw.readings(view, quad, N):
            if reading.timing_wrong > redraw.TIMING_WRONG:
                continue
            vote = _vote(reading)
            first = vote if first is None else first
            turned = oriented(total, vote) if self._votes else vote
            if turned is None:              # not the code held (another ticket, or a wrong registration): alone
                picture = decoded(vote)
                if picture is not None:
                    self._start(vote)
                    return picture
                continue
            agreeing = turned if agreeing is None else agreeing
            picture = decoded(total + turned)
            if picture is None and self._votes:         # the frames before can also hurt (a registration off)
                picture = decoded(turned)
            if picture is not None:
                self._votes.append((self.frame, turned))
                return picture
        if agreeing is not None:
            self._votes.append((self.frame, agreeing))
        elif first is not None:
            self._start(first)
        return _BLANK

    def _start(self, vote: np.ndarray) -> None:
        """Another code in view: the votes of the one before are dropped."""
        if self._votes:
            self._votes.clear()
            self.resets += 1
        self._votes.append((self.frame, vote))


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
