"""Read a small code (a ticket at arm's length, 1.5-2 px per module) by sampling its modules and undoing the blur.

At 1.5-2 px per module the optics' blur spreads each module over its neighbours: a light module between dark ones
samples as dark as a dark module between light ones, so no threshold, local or not, tells them apart, and
zxing-cpp's sampler misses them whatever filter goes before it (with no budget the region ladder reads 1 of the 17
small validation frames it misses). Here the blur is measured on the code itself and subtracted:

1. the code is found by its outline and registered by its finder and alignment patterns as the redrawn step does
   (`redraw.readings`), the outline on the zoomed view itself, not its half (a small code's modules are ~3.5 px
   there, 1.8 px on the half-size view, where the blob of its modules falls apart);
2. each module's sample is modelled as a + b * itself + c * its 4 side neighbours + d * its 4 diagonal ones (dark
   = 1, the quiet zone light), after removing the local mean (lighting); a, b, c, d are fitted by least squares on
   the modules every ticket's code has (finders, separators, timing and alignment patterns: 268 of 1,681), whose
   values are known, with the data modules around them as first decided by the local threshold (`redraw._decide`);
3. each data module is then decided on its sample minus what its neighbours, as decided, add (c, d), against
   half its own weight (b), its margin the distance to that; three rounds, each with the neighbours of the round
   before;
4. the codewords decoded with erasures and the code redrawn clean for zxing-cpp in pure mode (`erasure.corrected`):
   no guessing, a wrong sampling gives no text.

Through the codes' true corners this decision reads 11 of the 11 tuning and 14 of the 16 validation frames the
ladder cannot read, the local threshold 1 of each (`docs/drivers.md`, "Small codes").
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from drivers.camera import erasure
from drivers.camera import redraw

try:
    import cv2
except ImportError:          # the chain only builds this step when OpenCV is there
    cv2 = None              # type: ignore[assignment]

ROUNDS = 2                  # decisions with the neighbours of the round before (3: the same reads)
LIGHTING = 7                # modules: the local mean removed before the fit (uneven light over the code)
SMALL_UP_TO = 160           # px: the region's side under which this step runs (`redraw.redrawn_code`'s from there)


@lru_cache(maxsize=4)
def _known(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n x n: where a module is one every ticket's code has, and whether it is dark there (`redraw._known`)."""
    centres, sign, _ = redraw._known(n)
    cols, rows = (centres[0] - 0.5).round().astype(int).T
    known, dark = np.zeros((n, n), bool), np.zeros((n, n), bool)
    known[rows, cols] = True
    dark[rows, cols] = sign < 0
    known.flags.writeable = dark.flags.writeable = False
    return known, dark


_SIDES = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
_CORNERS = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], np.float32)


def _neighbours(dark: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dark modules (1.0) among each module's 4 side and 4 diagonal neighbours; the quiet zone around is light."""
    return (cv2.filter2D(dark, -1, _SIDES, borderType=cv2.BORDER_CONSTANT),
            cv2.filter2D(dark, -1, _CORNERS, borderType=cv2.BORDER_CONSTANT))


def equalized(values: np.ndarray, n: int) -> redraw.Modules:
    """A `redraw.Decide`: dark or light with the neighbours' blur subtracted (the module docstring), the margin the
    distance to half a module's own weight; the local threshold's decision if the fit makes no sense (dark not
    darker)."""
    first = redraw._decide(values, n)
    known, known_dark = _known(n)
    v = values - cv2.blur(values, (LIGHTING, LIGHTING), borderType=cv2.BORDER_REFLECT)
    dark = np.where(known, known_dark, first.dark).astype(np.float32)
    y = v[known]
    for _ in range(ROUNDS):
        sides, corners = _neighbours(dark)
        x = np.stack([np.ones(len(y), np.float32), dark[known], sides[known], corners[known]], 1)
        try:
            a, b, c, d = np.linalg.solve(x.T @ x, x.T @ y)     # least squares by the normal equations (4 x 4)
        except np.linalg.LinAlgError:
            return first
        if b >= 0:
            return first
        rest = v - (a + c * sides + d * corners)
        decided = rest < b / 2
        dark = np.where(known, known_dark, decided).astype(np.float32)
    timing = np.arange(8, n - 8) % 2 == 0
    off = int(np.count_nonzero(decided[6, 8:n - 8] != timing) + np.count_nonzero(decided[8:n - 8, 6] != timing))
    return redraw.Modules(dark.astype(bool), np.abs(rest - b / 2), off)


def small_code(view: np.ndarray) -> np.ndarray:
    """A region filter (regions.RegionFilter) for regions under SMALL_UP_TO px: the code in `view` sampled with the
    blur subtracted (`equalized`) under its registration as found, corrected with erasures and redrawn clean for a
    decoder in pure mode; a blank image if it does not decode (nothing to read: the chain's next step runs). Its
    other registrations are kept for `small_code_refined` on the same view."""
    quad = redraw.outline(view, halved=False)
    if quad is None:
        return redraw._NOTHING
    rest = redraw.readings(view, quad, redraw.TICKET_MODULES, equalized)
    held = getattr(_held, "views", [])
    _held.views = [*held[-(HELD - 1):], (view, rest)]
    return _picture(next(rest))


def small_code_refined(view: np.ndarray) -> np.ndarray:
    """A region filter: the likeliest refined registration (`redraw.readings`) of the code `small_code` found in the
    same view, read the same way; a blank image if `small_code` found none there. A step of its own, so that the
    chain admits it by its own cost (~1.5 ms, where the first reading failed)."""
    held = getattr(_held, "views", [])
    rest = next((rest for seen, rest in held if seen is view), None)
    reading = None if rest is None else next(rest, None)
    return redraw._NOTHING if reading is None else _picture(reading)


def _picture(reading: redraw.Modules) -> np.ndarray:
    if reading.timing_wrong > redraw.TIMING_WRONG:
        return redraw._NOTHING
    fixed = erasure.corrected(reading.dark, reading.margin)
    return redraw._NOTHING if fixed is None else redraw.picture(fixed.dark)


HELD = 4                        # views whose registrations are kept (the still images' chain: 3 regions)
_held = threading.local()       # [(view, its registrations not tried yet)], one list per decoding thread
small_code.max_side = small_code_refined.max_side = SMALL_UP_TO     # type: ignore[attr-defined]
