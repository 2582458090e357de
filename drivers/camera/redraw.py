"""Read a code whose finder patterns the decoder cannot locate: find it by its outline, sample it, redraw it clean.

zxing-cpp locates a QR code by its three finder patterns; a crack line through one of them, or a reflection that
washes one out, and the code is not found at all, although nearly every module can still be sampled (on the
door conditions' frames the live chain missed, an ideal sampler reads all but a few codewords: benchmarks/
analyse_door_misses.py). Here, on a zoomed region (`regions.region_view`):

1. outline: the code's dark modules merged into one blob (local threshold, a closing of 2 modules, an opening
   that cuts thin crack lines and background joined to it; the module width estimated from the region itself); its four sides fitted as lines -> a first quadrilateral;
2. the code warped square on that quadrilateral; the finder pattern searched near each corner and the alignment
   pattern near where it must be (normalised correlation: a crack over a pattern lowers the score, it does not
   remove it); the corner without a finder is the bottom-right one -> the code's orientation and a homography
   from four pattern centres;
3. every module sampled at its centre, dark or light by a local threshold over 5x5 modules; the function
   patterns (finders, separators, timing) redrawn as they must be; the clean picture read with `is_pure`.

Error correction still applies to the data: only a code an ideal sampler could read is read (no guessing: a
wrong grid gives a checksum error, never another text). The live step (`redrawn_code`) tries version 6 only (41
modules, what a ticket is drawn as); `redrawn` also the versions around it.
"""
from __future__ import annotations

import numpy as np

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


def outline(view: np.ndarray) -> np.ndarray | None:
    """The code's four corners in `view` (clockwise from any), from the blob of its dark modules; None if none.
    Found on the half-size view (a quarter of the work; the sides are fitted to many points, so still sub-pixel)."""
    if max(view.shape) > 250:
        quad = outline(cv2.resize(view, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
        return None if quad is None else quad * 2
    side = max(view.shape)
    module = module_px(view)
    dark = cv2.adaptiveThreshold(view, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV,
                                 max(3, int(5 * module) | 1), 5)
    close, cut = max(3, int(CLOSE * module) | 1), max(3, int(CUT * module) | 1)
    blob = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    blob = cv2.morphologyEx(blob, cv2.MORPH_OPEN, np.ones((cut, cut), np.uint8))
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    if cv2.contourArea(contour) < (side / 5) ** 2:
        return None
    hull = cv2.convexHull(contour)
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
    """Each side a line fitted to the outline's points along it (corners excluded), the corners their crossings."""
    lines = []
    for i in range(4):
        a, b = rough[i], rough[(i + 1) % 4]
        length = float(np.linalg.norm(b - a))
        u = (b - a) / length
        rel = points - a
        t, off = rel @ u, np.abs(rel @ np.array([-u[1], u[0]]))
        along = points[(t > 0.15 * length) & (t < 0.85 * length) & (off < 0.06 * length)]
        if len(along) < 5:
            return _clockwise(rough)
        lines.append(_line(along))
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        try:
            s = np.linalg.solve(np.array([d1, -d2]).T, p2 - p1)
        except np.linalg.LinAlgError:
            return _clockwise(rough)
        corners.append(p1 + s[0] * d1)
    return _clockwise(np.array(corners, np.float32))


def _line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point, direction) of the line through `points` (least squares, perpendicular distance), fitted twice: the
    second time without the points that stray from the first (a light module at the code's edge dents its outline)."""
    mean, direction = _principal(points)
    off = np.abs((points - mean) @ np.array([-direction[1], direction[0]]))
    keep = off <= max(1.0, 2 * float(off.mean()))
    return _principal(points[keep]) if keep.sum() >= 5 else (mean, direction)


def _principal(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = points.mean(axis=0)
    x, y = (points - mean).T
    angle = 0.5 * np.arctan2(2 * float(x @ y), float(x @ x - y @ y))
    return mean, np.array([np.cos(angle), np.sin(angle)])


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
    margin = 2                                               # modules around the code in the squared picture
    side = (n + 2 * margin) * K
    target = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32) * K + margin * K
    h = cv2.getPerspectiveTransform(quad, target)
    square = cv2.warpPerspective(view, h, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    at = lambda mx, my: np.array([(mx + margin) * K, (my + margin) * K], float)     # noqa: E731
    found = [_find(square, _FINDER_T, at(mx, my), 2.0 * K)
             for mx, my in ((3.5, 3.5), (n - 3.5, 3.5), (n - 3.5, n - 3.5), (3.5, n - 3.5))]
    missing = int(np.argmin([score for score, _ in found]))    # the bottom-right corner has no finder
    tl, tr, bl = (found[(missing + k) % 4][1] for k in (2, 3, 1))
    # module coordinates in the code's own orientation -> square px: affine from the three finders, then the
    # alignment pattern (6.5 modules in from the bottom-right corner) for the perspective
    step_x, step_y = (tr - tl) / (n - 7), (bl - tl) / (n - 7)
    guess = tl + step_x * (n - 10) + step_y * (n - 10)
    score, align = _find(square, _ALIGN_T, guess, 1.5 * K)
    src = np.array([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5], [n - 6.5, n - 6.5]], np.float32)
    dst = np.array([tl, tr, bl, align if score > 0.3 else guess], np.float32)
    to_square = cv2.getPerspectiveTransform(src, dst)
    centres = np.stack(np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5), -1).reshape(1, -1, 2)
    pts = cv2.perspectiveTransform(centres.astype(np.float32), to_square)[0]
    smooth = cv2.medianBlur(square, 3)
    values = cv2.remap(smooth, pts[:, 0].reshape(n, n), pts[:, 1].reshape(n, n), cv2.INTER_LINEAR).astype(np.float32)
    dark = values < cv2.blur(values, (5, 5), borderType=cv2.BORDER_REFLECT)
    return _function_patterns(dark)


def _function_patterns(dark: np.ndarray) -> np.ndarray:
    n = dark.shape[0]
    dark[:7, :7] = dark[:7, n - 7:] = dark[n - 7:, :7] = _FINDER
    dark[7, :8] = dark[:8, 7] = dark[7, n - 8:] = dark[:8, n - 8] = dark[n - 8, :8] = dark[n - 8:, 7] = False
    dark[6, 8:n - 8] = np.arange(8, n - 8) % 2 == 0
    dark[8:n - 8, 6] = np.arange(8, n - 8) % 2 == 0
    return dark


def picture(dark: np.ndarray) -> np.ndarray:
    """The redrawn code as a clean image: 3 px modules, 2 modules of quiet zone."""
    return np.kron(np.where(np.pad(dark, 2), 0, 255), np.ones((3, 3))).astype(np.uint8)


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


def redrawn_code(view: np.ndarray) -> np.ndarray:
    """A region filter (regions.RegionFilter): the code in `view` redrawn clean at a ticket's size, for a decoder in
    pure mode (a blank image when no code outline is found)."""
    pictures = redrawn(view, (TICKET_MODULES,))
    return pictures[0] if pictures else _NOTHING


# Sampling module centres needs ~2.3 px per module in the frame (below it, the ideal sampler of
# benchmarks/analyse_door_misses.py loses a small code's modules and the other steps read it better): the live chain
# skips this step on a region under 120 px (`regions.candidates` boxes are ~50 modules of a ticket's code).
redrawn_code.min_side = 120     # type: ignore[attr-defined]
