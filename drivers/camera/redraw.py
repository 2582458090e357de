"""Read a code whose finder patterns the decoder cannot locate: find it by its outline, sample it, redraw it clean.

zxing-cpp locates a QR code by its three finder patterns; a crack line through one of them, or a reflection that
washes one out, and the code is not found at all, although nearly every module can still be sampled (on the
door conditions' frames the live chain missed, an ideal sampler reads all but a few codewords: benchmarks/
analyse_door_misses.py). Here, on a zoomed region (`regions.region_view`):

1. outline: the code's dark modules merged into one blob (local threshold, a closing of 2 modules, an opening
   that cuts thin crack lines and background joined to it, a stronger one if no blob is solid; the module width
   estimated from the region itself); the largest solid blob (not the scene texture around the code), its four
   sides fitted as lines -> a first quadrilateral;
2. the code warped square on that quadrilateral; the finder pattern searched near each corner and the alignment
   pattern near where it must be (normalised correlation: a crack over a pattern lowers the score, it does not
   remove it); the corner without a finder is the bottom-right one -> the code's orientation and a homography
   from four pattern centres (`readings`: then the next likeliest registrations, a weakly matched finder put where
   the two others say, the other corner as the missing one), each then refined (`_Fit`: the grid's corners moved
   until the modules every code has, finders, timing and alignment patterns, fit best), the best fit first;
3. every module sampled at its centre, dark or light by a local threshold over 5x5 modules, with its margin (the
   distance to that threshold; nothing where a highlight clips the picture white); a registration whose timing
   patterns are off is skipped;
4. the codewords decoded with erasures (`erasure.corrected`: format information by its BCH code, each Reed-Solomon
   block by errors alone, then with its least reliable codewords erased, a margin of check codewords kept), the
   corrected data and the function patterns redrawn as they must be; the clean picture read with `is_pure`.

No guessing: a block past what it can correct is not corrected (erasure.py), and zxing-cpp checks the corrected
grid again. The live step (`redrawn_code`) tries version 6 only (41 modules, what a ticket is drawn as);
`redrawn` (hard decisions, no erasures) also the versions around it.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from collections.abc import Callable, Iterator

import numpy as np

from drivers.camera import erasure
from drivers.camera import qr_grid as G

try:
    import cv2
except ImportError:          # the chain only builds this step when OpenCV is there
    cv2 = None              # type: ignore[assignment]

TICKET_MODULES = 41         # a ticket's QR: version 6 at error level M (agent.ticket_format.ticket_qr)
SIZES = (TICKET_MODULES, 37, 45)    # modules per side tried by `redrawn`: versions 6, 5 and 7
K = 4                       # px per module of the squared code
CLOSE, CUT = 2.0, 2.0        # modules: the closing that merges a code's modules, the opening that cuts cracks
_FINDER = np.ones((7, 7), bool)
_FINDER[1:6, 1:6] = False
_FINDER[2:5, 2:5] = True
_ALIGN = np.ones((5, 5), bool)
_ALIGN[1:4, 1:4] = False
_ALIGN[2, 2] = True


def _template(pattern: np.ndarray) -> np.ndarray:
    """The pattern with one light module around it, K px per module (dark = 0)."""
    padded = np.pad(pattern, 1)
    return np.kron(np.where(padded, 0, 255), np.ones((K, K))).astype(np.uint8)


_FINDER_T = _template(_FINDER)
_ALIGN_T = _template(_ALIGN)


def outline(view: np.ndarray, halved: bool = True) -> np.ndarray | None:
    """The code's four corners in `view` (clockwise from any), from the blob of its dark modules; None if none.
    Found on the half-size view (a quarter of the work; the sides are fitted to many points, so still sub-pixel);
    `halved=False`: on the view itself (a small code's ~3.5 px modules become 1.8 px on the half-size view, where
    the blob of its modules falls apart: `small_codes.py`)."""
    if halved and max(view.shape) > 250:
        quad = outline(cv2.resize(view, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
        return None if quad is None else quad * 2
    side = max(view.shape)
    module = module_px(view)
    dark = cv2.adaptiveThreshold(view, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                 max(3, int(5 * module) | 1), 5)
    close = max(3, int(CLOSE * module) | 1)
    blob = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    largest = None
    for cut_modules in (CUT, 2 * CUT):
        cut = max(3, int(cut_modules * module) | 1)
        opened = cv2.morphologyEx(blob, cv2.MORPH_OPEN, np.ones((cut, cut), np.uint8))
        contours, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        # only a blob of (side / 5)^2 px or more can be the code: its outline has at least sqrt(2 pi) side / 5
        # points (a closed curve's area is at most its length^2 / 4 pi, a step at most sqrt 2 px); the many small
        # blobs are not measured (6 < 2 pi: a little slack)
        big = [c for c in contours if len(c) ** 2 >= 6 * (side / 5) ** 2]
        for contour in sorted(big, key=cv2.contourArea, reverse=True)[:3]:
            if cv2.contourArea(contour) < (side / 5) ** 2:
                break
            largest = contour if largest is None else largest
            quad = _quadrilateral(contour, module, SOLID)
            if quad is not None:
                return quad
    return None if largest is None else _quadrilateral(largest, module, 0.0)


# A code's blob fills its convex hull; a blob of textured scene, or a code with scene joined by a crack, does not.
# The outline is the largest solid code-sized blob (the largest blob if none: a highlight eats into a code's side,
# 0.79 solid on a glared frame); a stronger opening (4 modules) cuts a crack joining the scene if none is solid.
SOLID = 0.85


def _quadrilateral(contour: np.ndarray, module: float, solid: float) -> np.ndarray | None:
    hull = cv2.convexHull(contour)
    if cv2.contourArea(contour) < solid * cv2.contourArea(hull):
        return None
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.04, 0.06, 0.08):
        rough = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(rough) == 4:
            break
    else:
        return None
    quad = _fit_sides(rough.reshape(4, 2).astype(np.float32), contour.reshape(-1, 2).astype(np.float32))
    return quad if _code_sized(quad, module) else None


def _code_sized(quad: np.ndarray, module: float) -> bool:
    """A ticket's code: sides within 1.6:1 of each other (45 degrees of tilt), 25-65 modules long (the module
    estimate is within ~30 %). Anything else (a blob of the scene) is not worth sampling."""
    sides = np.linalg.norm(quad - np.roll(quad, 1, axis=0), axis=1)
    return bool(sides.max() <= 1.6 * sides.min() and 25 * module <= sides.mean() <= 65 * module)


def module_px(view: np.ndarray) -> float:
    """The module's width in px, from the middle of `view` (the code): dark area over edge length. Half of a random
    module pattern's module sides border a light module, so a dark module brings m*m of area and ~2m of edge; the
    edges counted along rows and columns are longer on a turned code and noise adds some: x2.6, not x2 (on tuning
    frames this gives 0.9-1.1 of the true width; the outline's closing and opening tolerate +-30 %)."""
    h, w = view.shape
    middle = view[h // 4:3 * h // 4, w // 4:3 * w // 4]
    dark = middle < cv2.blur(middle, (15, 15))
    edges = int(np.count_nonzero(dark[:, 1:] != dark[:, :-1]) + np.count_nonzero(dark[1:] != dark[:-1]))
    return 2.6 * int(np.count_nonzero(dark)) / max(edges, 1)


def _fit_sides(rough: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Each side a line fitted to the outline's points along it (corners excluded), the corners their crossings.
    (The four sides' points selected at once and the lines fitted by OpenCV: a tenth of the time in numpy calls.)"""
    d = np.roll(rough, -1, axis=0) - rough
    length = np.hypot(d[:, 0], d[:, 1])[:, None]
    u = d / length
    rx = points[None, :, 0] - rough[:, None, 0]             # 4 sides x points
    ry = points[None, :, 1] - rough[:, None, 1]
    t = rx * u[:, None, 0] + ry * u[:, None, 1]
    off = np.abs(ry * u[:, None, 0] - rx * u[:, None, 1])
    along = (t > 0.15 * length) & (t < 0.85 * length) & (off < 0.06 * length)
    lines = []
    for i in range(4):
        side = points[along[i]]
        if len(side) < 5:
            return _clockwise(rough)
        lines.append(_line(side))
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        det = d2[0] * d1[1] - d1[0] * d2[1]
        if abs(det) < 1e-9:
            return _clockwise(rough)
        dx, dy = p2[0] - p1[0], p2[1] - p1[1]
        s = (d2[0] * dy - d2[1] * dx) / det
        corners.append((p1[0] + s * d1[0], p1[1] + s * d1[1]))
    return _clockwise(np.array(corners, np.float32))


def _line(points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """(point, direction) of the line through `points` (least squares, perpendicular distance), fitted twice: the
    second time without the points that stray from the first (a light module at the code's edge dents its outline)."""
    vx, vy, x0, y0 = cv2.fitLine(points, cv2.DIST_L2, 0, 0.01, 0.01).ravel().tolist()
    off = np.abs((points[:, 0] - x0) * vy - (points[:, 1] - y0) * vx)
    keep = off <= max(1.0, 2 * float(off.mean()))
    kept = int(np.count_nonzero(keep))
    if 5 <= kept < len(keep):
        vx, vy, x0, y0 = cv2.fitLine(points[keep], cv2.DIST_L2, 0, 0.01, 0.01).ravel().tolist()
    return (x0, y0), (vx, vy)


def _clockwise(quad: np.ndarray) -> np.ndarray:
    centre = quad.mean(axis=0)
    return quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]


def _find(square: np.ndarray, template: np.ndarray, centre: np.ndarray, reach: float) -> tuple[float, np.ndarray]:
    """Best normalised correlation of `template` centred within `reach` px of `centre` in `square`: (score, centre)."""
    half = template.shape[0] / 2
    x0, y0 = (int(max(0, c - half - reach)) for c in centre)
    x1, y1 = (int(min(square.shape[1 - i], c + half + reach)) for i, c in enumerate(centre))
    window = square[y0:y1, x0:x1]
    if window.shape[0] < template.shape[0] or window.shape[1] < template.shape[1]:
        return -1.0, centre
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    return float(best), np.array([x0 + bx + half, y0 + by + half])


def grid(view: np.ndarray, quad: np.ndarray, n: int) -> np.ndarray:
    """The code's modules (True = dark, function patterns redrawn), the finder-less corner at the bottom right."""
    return next(readings(view, quad, n)).dark


@dataclass(frozen=True)
class Modules:
    """Every module of the code sampled in its own orientation: the hard decision and how far it can be trusted."""
    dark: np.ndarray        # n x n, True = dark, finder, separator and timing patterns redrawn
    margin: np.ndarray      # n x n: distance of the sample from its local threshold (grey levels)
    timing_wrong: int = 0   # modules of the two timing patterns sampled wrong: a registration's first check
    fit: float = 0.0        # refined registrations: how well the known modules fit (`_Fit`, grey levels)
    corners: np.ndarray | None = None   # refined registrations: the grid's corner modules in the squared picture


Decide = Callable[[np.ndarray, int], "Modules"]     # module centres' grey levels, n -> the modules


def readings(view: np.ndarray, quad: np.ndarray, n: int, decide: Decide | None = None) -> Iterator[Modules]:
    """The code whose outline is `quad` sampled module by module, most likely registration first: the corner
    without a finder pattern is the one whose finder matches worst (then the next worst: a crack or a highlight
    over a finder can lower its score below the missing one's), the perspective from the alignment pattern where it
    is found (then from where it must be). The first as registered, then each registration refined (`_Fit`; one
    refined onto a grid already tried is skipped), the one whose known modules fit best as registered first (the
    worst-matching finder is not always the missing one: a crack or a highlight over a finder, 18 of 44 tuning
    misses turned). Lazy: the caller stops at the first that reads. `decide`: how sampled modules are told dark or
    light (default `_decide`, a local threshold; `small_codes.equalized` for a small code's blurred modules)."""
    decide = _decide if decide is None else decide
    margin = 2                                               # modules around the code in the squared picture
    side = (n + 2 * margin) * K
    target = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32) * K + margin * K
    h = cv2.getPerspectiveTransform(quad, target)
    square = cv2.warpPerspective(view, h, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    smooth = cv2.medianBlur(square, 3)
    at = lambda mx, my: np.array([(mx + margin) * K, (my + margin) * K], float)     # noqa: E731
    found = [_find(square, _FINDER_T, at(mx, my), 2.0 * K)
             for mx, my in ((3.5, 3.5), (n - 3.5, 3.5), (n - 3.5, n - 3.5), (3.5, n - 3.5))]
    nominal = [at(mx, my) for mx, my in ((3.5, 3.5), (n - 3.5, 3.5), (n - 3.5, n - 3.5), (3.5, n - 3.5))]
    candidates = (centres for missing in np.argsort([score for score, _ in found], kind="stable")[:2]
                  for centres in _registrations(square, found, nominal, int(missing), n))
    first = next(candidates)
    yield _sample(smooth, first, n, decide=decide)                 # most codes read as registered: refined only if that fails
    fit = _Fit(smooth, n)
    seen: list[np.ndarray] = []
    for centres in sorted([first, *candidates], key=fit.start, reverse=True):     # the likeliest refined first
        modules = _sample(smooth, centres, n, fit, decide)
        assert modules.corners is not None      # a refined sampling always says where its grid went
        if any(np.abs(modules.corners - c).max() < K / 2 for c in seen):
            continue                            # refined onto a grid already tried
        seen.append(modules.corners)
        yield modules




# Registrations tried, in order; "outline" (the outline alone) is there to measure: on 600 tuning frames each it read
# no cracked or glared frame the two others missed, and costs a sampling and a decoding on every failing region.
ORDER = ("patterns", "predicted")
WEAK = 0.6                  # a finder pattern matched below this is no better than where the others put it


def _registrations(square: np.ndarray, found: list[tuple[float, np.ndarray]], nominal: list[np.ndarray],
                   missing: int, n: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Four points of the code in square px (top-left, top-right, bottom-left finder centres, the alignment
    pattern's centre), the corner `missing` taken as the bottom-right: from the patterns found; with the one finder
    that matched weakly (a crack or a highlight over it moves its match) put where the two others and the outline
    say it is; and from the outline alone (where the patterns must be in the squared picture)."""
    corners = [(missing + k) % 4 for k in (2, 3, 1)]            # top-left, top-right, bottom-left
    scores = [found[c][0] for c in corners]
    weak = int(np.argmin(scores))
    for kind in ORDER:
        if kind == "outline":
            points = [nominal[c] for c in corners]
        else:
            points = [found[c][1] for c in corners]
        if kind == "predicted":
            good = [i for i in range(3) if i != weak]
            if scores[weak] >= WEAK or min(scores[i] for i in good) < WEAK:
                continue
            points[weak] = _similar(*(nominal[corners[i]] for i in good), *(points[i] for i in good))(
                nominal[corners[weak]])
        tl, tr, bl = points
        step_x, step_y = (tr - tl) / (n - 7), (bl - tl) / (n - 7)
        guess = tl + step_x * (n - 10) + step_y * (n - 10)
        if kind != "outline":
            score, align = _find(square, _ALIGN_T, guess, 1.5 * K)
            guess = align if score > 0.3 else guess
        yield tl, tr, bl, guess


def _similar(a: np.ndarray, b: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The similarity (turn, scale, shift) taking points a, b to a2, b2, as a function of a point."""
    za, zb, za2, zb2 = (complex(*p) for p in (a, b, a2, b2))
    k = (zb2 - za2) / (zb - za)

    def apply(p: np.ndarray) -> np.ndarray:
        z = za2 + k * (complex(*p) - za)
        return np.array([z.real, z.imag])
    return apply


def _sample(smooth: np.ndarray, centres: tuple[np.ndarray, ...], n: int, fit: "_Fit | None" = None,
            decide: Decide | None = None) -> Modules:
    """Every module's centre sampled through the homography of the three finders' and the alignment pattern's
    centres (refined by `fit` when given); dark where darker than the mean of the 5 x 5 modules around it."""
    to_square = _homography(centres, n)
    pts = cv2.perspectiveTransform(_centres(n)[None], to_square)[0]
    score = 0.0
    if fit is not None:
        pts, score = fit.refined(pts, to_square)
    values = cv2.remap(smooth, pts[:, 0].reshape(n, n), pts[:, 1].reshape(n, n), cv2.INTER_LINEAR).astype(np.float32)
    modules = (decide or _decide)(values, n)
    if fit is None:
        return modules
    return Modules(modules.dark, modules.margin, modules.timing_wrong, score, pts[[0, n - 1, n * n - n, n * n - 1]])


def _homography(centres: tuple[np.ndarray, ...], n: int) -> np.ndarray:
    """Module units -> square px, from the three finders' and the alignment pattern's centres."""
    src = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5], [n - 6.5, n - 6.5]], np.float32)
    return cv2.getPerspectiveTransform(src, np.array(centres, np.float32))


ROUNDS = 4                          # moves per step size at most
# The finder-less corner moves at most 1 module from where the alignment pattern put it: only that pattern's 25
# modules fit there, and where a highlight or a crack washes it out the search drifted 2-8 modules away for what
# tiny gains its weight brings the three other corners' modules (tuning, the step alone: glare 279 -> 283 of 300)
CORNER_REACH = 1.0
_STEPS = (2.0, 1.0, 0.5, 0.25)      # modules: the refinement's step sizes, coarse to fine
_DIRS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [-1, -1]], np.float32)
_MOVES = np.zeros((32, 4, 2), np.float32)       # one corner of the grid moved in one of 8 directions
for _k in range(4):
    _MOVES[8 * _k:8 * _k + 8, _k] = _DIRS


@lru_cache(maxsize=4)
def _known(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The modules every ticket's code has (finders, separators, timing and alignment patterns, the dark module):
    their centres (module units, 1 x m x 2), +1 light / -1 dark, and their bilinear weights on the grid's four
    corners (m x 4). (The quiet zone around the code counted as known light modules too: 2-3 fewer reads of 600.)"""
    version = (n - 17) // 4
    func = G.function_modules(version).copy()
    for copy in G.format_cells(n):
        for r, c in copy:
            func[r, c] = False
    func[n - 8, 8] = True
    dark = _function_patterns(np.zeros((n, n), bool))
    for cy in G.ALIGN[version]:
        for cx in G.ALIGN[version]:
            if not (cy < 9 and (cx < 9 or cx > n - 9)) and not (cy > n - 9 and cx < 9):
                dark[cy - 2:cy + 3, cx - 2:cx + 3] = _ALIGN
    dark[n - 8, 8] = True
    rows, cols = np.nonzero(func)
    centres = np.stack([cols + 0.5, rows + 0.5], 1).astype(np.float32)[None]
    sign = np.where(dark[rows, cols], -1.0, 1.0).astype(np.float32)
    return centres, sign, _weights(n, centres[0])


@lru_cache(maxsize=4)
def _centres(n: int) -> np.ndarray:
    """n*n x 2: every module's centre in module units, row by row."""
    return np.stack(np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5), -1).reshape(-1, 2).astype(np.float32)


@lru_cache(maxsize=4)
def _all_weights(n: int) -> np.ndarray:
    return _weights(n, _centres(n))


def _weights(n: int, centres: np.ndarray) -> np.ndarray:
    u, v = centres[:, 0] / n, centres[:, 1] / n
    return np.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], 1).astype(np.float32)


class _Fit:
    """Registration refinement. A registration from three finder centres and the alignment pattern is often off
    by a module or two in a corner (a crack over a finder moves its match, the alignment pattern is found on a
    look-alike) or by a fraction of a module (a turned or bent code). Every module the code must have (`_known`)
    is sampled on the picture minus its local mean (5 modules); the fit is the mean of that, sign-corrected (light
    modules +, dark -): highest where the known modules are sampled at their centres. The module centres are moved
    by a bilinear field (the grid's four corners shifted) by a greedy search: of the 32 moves (a corner, 8
    directions) the best, while one improves the fit, with steps of 2, 1, 1/2 and 1/4 module. Vectorised: one remap
    per round. (The share of known modules on the right side instead of the mean saturates near 1 within half a
    module of the truth: 3 fewer cracked reads of 100 on validation.)"""

    def __init__(self, smooth: np.ndarray, n: int):
        img = smooth.astype(np.float32)
        self.diff = img - cv2.blur(img, (5 * K + 1, 5 * K + 1), borderType=cv2.BORDER_REPLICATE)
        self.n = n
        self.centres, self.sign, self.w = _known(n)
        self.w_all = _all_weights(n)

    def _scores(self, pts: np.ndarray) -> np.ndarray:
        """pts: c candidates x m known modules x 2 (square px) -> the c fits."""
        c, m, _ = pts.shape
        vals = cv2.remap(self.diff, pts[..., 0].reshape(c, m), pts[..., 1].reshape(c, m), cv2.INTER_LINEAR)
        return (vals * self.sign).mean(axis=1)

    def start(self, centres: tuple[np.ndarray, ...]) -> float:
        """The fit of a registration as found (the four pattern centres, square px), before any refinement."""
        return float(self._scores(cv2.perspectiveTransform(self.centres, _homography(centres, self.n)))[0])

    def refined(self, pts: np.ndarray, to_square: np.ndarray) -> tuple[np.ndarray, float]:
        """`pts` (every module's centre through `to_square`, module units -> square px) moved to fit best, and
        the fit reached."""
        base = cv2.perspectiveTransform(self.centres, to_square)[0]      # m x 2
        offsets = np.zeros((4, 2), np.float32)
        best = float(self._scores(base[None])[0])
        unit = np.matmul(self.w, _MOVES)                        # 32 x m x 2: each corner moved one way
        for step in _STEPS:
            for _ in range(ROUNDS):
                scores = self._scores(base[None] + self.w @ offsets + unit * (step * K))
                scores[np.abs(offsets[3] + _MOVES[:, 3] * (step * K)).max(axis=1) > CORNER_REACH * K + 1e-3] = -np.inf
                j = int(np.argmax(scores))
                if scores[j] <= best + 1e-4:
                    break
                best, offsets = float(scores[j]), offsets + _MOVES[j] * (step * K)
        return (pts + self.w_all @ offsets).astype(np.float32), best


SATURATED = 253             # grey level: a highlight clipped white, where dark and light modules look alike


def _decide(values: np.ndarray, n: int) -> Modules:
    """Dark or light by a local threshold: midway between the mean dark and the mean light level of the 5 x 5
    modules around (the classes first split at their plain mean). The margin is the distance to it: nothing for a
    module clipped white by a highlight (dark and light alike there), shrunk next to one (a highlight's edge
    lightens dark modules without clipping them). Chosen on the tuning split: against the plain 5 x 5 mean, the same
    reads on cracked screens +1 and glare +4 of 600 frames; leaving clipped modules out of the levels, glare -2 (a
    highlight lifts dark modules to 240-250, still darker than 255)."""
    first = values < cv2.blur(values, (5, 5), borderType=cv2.BORDER_REFLECT)
    levels = []
    for cls in (first, ~first):
        weight = cls.astype(np.float32)
        total = cv2.boxFilter(values * weight, -1, (5, 5), normalize=False, borderType=cv2.BORDER_REFLECT)
        count = cv2.boxFilter(weight, -1, (5, 5), normalize=False, borderType=cv2.BORDER_REFLECT)
        levels.append(total / np.maximum(count, 1))
    threshold = (levels[0] + levels[1]) / 2
    dark = values < threshold
    clipped = (values >= SATURATED).astype(np.float32)
    near = cv2.blur(clipped, (3, 3), borderType=cv2.BORDER_REFLECT)
    margin = np.abs(values - threshold) * (1 - near) * (1 - clipped)
    timing = np.arange(8, n - 8) % 2 == 0
    off = int(np.count_nonzero(dark[6, 8:n - 8] != timing) + np.count_nonzero(dark[8:n - 8, 6] != timing))
    return Modules(_function_patterns(dark), margin, off)


def _function_patterns(dark: np.ndarray) -> np.ndarray:
    n = dark.shape[0]
    dark[:7, :7] = dark[:7, n - 7:] = dark[n - 7:, :7] = _FINDER
    dark[7, :8] = dark[:8, 7] = dark[7, n - 8:] = dark[:8, n - 8] = dark[n - 8, :8] = dark[n - 8:, 7] = False
    dark[6, 8:n - 8] = np.arange(8, n - 8) % 2 == 0
    dark[8:n - 8, 6] = np.arange(8, n - 8) % 2 == 0
    return dark


def picture(dark: np.ndarray) -> np.ndarray:
    """The redrawn code as a clean image: 3 px modules, 2 modules of quiet zone."""
    return np.where(np.pad(dark, 2), 0, 255).astype(np.uint8).repeat(3, axis=0).repeat(3, axis=1)


def redrawn(view: np.ndarray, sizes: tuple[int, ...] = SIZES) -> list[np.ndarray]:
    """Clean pictures of the code in `view` (one per size tried), for a decoder in pure mode; [] if no outline."""
    quad = outline(view)
    if quad is None:
        return []
    out = []
    for n in sizes:
        out.append(picture(grid(view, quad, n)))
    return out


_NOTHING = np.full((8, 8), 255, np.uint8)
# A registration with more of its 2 x 25 timing modules wrong is not decoded (on the tuning split: 99.7 % of the
# registrations that decode have at most 8 wrong, 89 % of those that do not have more)
TIMING_WRONG = 8


READINGS = 2        # registrations tried at most (the first as found, then refined): a bounded step for the budget
# (on 900 tuning frames of cracked, glare and crumpled: 795 read with the first, 42 the second, 6 the third, 16 later)


def redrawn_code(view: np.ndarray) -> np.ndarray:
    """A region filter (regions.RegionFilter): the code in `view` redrawn clean at a ticket's size, for a decoder in
    pure mode; its data corrected with erasures (`erasure.corrected`) under the first registration that decodes,
    else the first registration as sampled (a blank image when no code outline is found)."""
    quad = outline(view)
    if quad is None:
        return _NOTHING
    first = None
    for reading in itertools.islice(readings(view, quad, TICKET_MODULES), READINGS):
        first = first or reading
        if reading.timing_wrong > TIMING_WRONG:
            continue
        fixed = erasure.corrected(reading.dark, reading.margin)
        if fixed is not None:
            return picture(fixed.dark)
    return picture(first.dark) if first is not None else _NOTHING


# Sampling module centres against a local threshold needs ~2.3 px per module in the frame (below it, the ideal
# sampler of benchmarks/analyse_door_misses.py loses a small code's modules): the live chain runs this step on
# regions of 160 px and more (`regions.candidates` boxes are ~50 modules of a ticket's code); under that the small
# code step (`small_codes.small_code`: the blur subtracted) reads where it read (small tuning first-pass misses
# under 160 px: 120 of 122 against 38).
redrawn_code.min_side = 160     # type: ignore[attr-defined]
