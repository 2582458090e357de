"""Door conditions: 640x480 camera frames of real signed tickets, generated (seeded, deterministic) for tests and
benchmarks of the camera decoder. Nothing is stored; the same (condition, split, index) always gives the same frame.

    for frame in frames("glare", "tuning", 50):
        chain.decode_live(frame.image).texts == (frame.payload,)

Every frame: a ticket signed by a real key (`Issuer`), its QR as tickets are drawn (`agent.ticket_format.ticket_qr`),
shown on a phone screen (or printed on paper) held somewhere in a textured scene, turned any way in the plane and
tilted a little; then the camera: optics blur, sensor noise, JPEG. Each condition adds one hardship (CONDITIONS).

Two splits with different seeds and different parameter ranges: `tuning` is what decoder retries may be tuned
on; `validation` (harder or shifted ranges) is only measured, so a figure on it is not a figure tuned to it.
A third, `beyond`, goes past the ranges (a saturated highlight over a finder pattern, a streak of 2 modules...) to
show where reading stops; it is measured, not a goal.

`presentation()` gives the frames that follow one (the guest holds the ticket up for many frames at 30 fps), and
`error=` draws the same frame at another QR error level over the same code width.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

import cv2
import numpy as np

from agent.keyring import Keyring
from agent.signing import SigningKey
from agent.ticket_format import QR_ERROR_LEVEL, Ticket
from drivers.testkit.tickets import Issuer

WIDTH, HEIGHT = 640, 480
FOCAL = 560.0               # pixels: a 640x480 phone/webcam with a ~60 degree field of view
QUIET = 4                   # quiet zone, modules (the e-ticket's)

Range = tuple[float, float]

# What each condition adds (docs/drivers.md lists them for users).
CONDITIONS: dict[str, str] = {
    "low_brightness": "phone screen at low brightness in a dark entrance: low contrast, gamma, more sensor gain noise",
    "glare": "a bright specular reflection over part of the code (ceiling light on the glass)",
    "moire": "a screen photographed by a camera: pixel grid with RGB sub-pixels, resampled (moire)",
    "motion_blur": "the phone or the scanner moving: linear blur of any angle, 0.3-1.5 modules long",
    "tilt": "phone held at an angle: perspective up to 45 degrees out of plane",
    "cracked": "cracked screen: dark and bright crack lines (0.15-0.45 module wide) radiating over the code",
    "crumpled": "a crumpled print-out: smooth displacement of the modules (up to 0.4 module) and folds shading it",
    "small": "a code at arm's length: modules of 1.5-2 px in the 640x480 frame",
    "noise_jpeg": "a cheap camera in poor light: strong sensor noise and heavy JPEG compression",
}

# Common to every frame unless a condition overrides it: (low, high) drawn uniformly.
BASE: dict[str, Range] = {
    "module_px": (2.6, 5.0), "tilt_deg": (0, 15), "optics_sigma": (0.3, 0.8), "noise": (2, 5),
    "jpeg": (60, 90), "black": (10, 45), "white": (175, 240),
}

# Per condition and split: the parameters that differ from BASE. Validation ranges are shifted or wider on purpose.
RANGES: dict[str, dict[str, dict[str, Range]]] = {
    "low_brightness": {
        "tuning": {"white": (40, 90), "black_ratio": (0.1, 0.35), "gamma": (1.2, 2.0), "noise": (3, 7)},
        "validation": {"white": (30, 70), "black_ratio": (0.15, 0.4), "gamma": (1.5, 2.4), "noise": (4, 8)},
        "beyond": {"white": (15, 35), "black_ratio": (0.3, 0.5), "gamma": (2.0, 3.0), "noise": (6, 10)},
    },
    "glare": {      # peak: added brightness at the blob's centre (255 = saturates even a black module)
        "tuning": {"glare_sigma": (0.05, 0.12), "glare_peak": (100, 240)},
        "validation": {"glare_sigma": (0.06, 0.14), "glare_peak": (140, 280)},
        "beyond": {"glare_sigma": (0.1, 0.2), "glare_peak": (250, 400)},
    },
    "moire": {
        "tuning": {"screen_px_per_module": (3, 5), "gap": (0.15, 0.45), "module_px": (2.6, 4.5)},
        "validation": {"screen_px_per_module": (4, 7), "gap": (0.2, 0.5), "module_px": (2.4, 4.0)},
        "beyond": {"screen_px_per_module": (1.5, 3), "gap": (0.4, 0.6), "module_px": (2.2, 3.0)},
    },
    "motion_blur": {    # length of the streak, in modules of the code
        "tuning": {"blur_modules": (0.3, 1.3)},
        "validation": {"blur_modules": (0.5, 1.5)},
        "beyond": {"blur_modules": (1.5, 3.0)},
    },
    "tilt": {
        "tuning": {"tilt_deg": (20, 40)},
        "validation": {"tilt_deg": (35, 45)},
        "beyond": {"tilt_deg": (45, 60)},
    },
    "cracked": {
        "tuning": {"cracks": (3, 7), "crack_modules": (0.15, 0.4), "crack_alpha": (0.5, 0.9)},
        "validation": {"cracks": (5, 9), "crack_modules": (0.2, 0.45), "crack_alpha": (0.6, 1.0)},
        "beyond": {"cracks": (8, 14), "crack_modules": (0.4, 0.7), "crack_alpha": (0.8, 1.0)},
    },
    "crumpled": {
        "tuning": {"warp_modules": (0.1, 0.35), "shade": (0.15, 0.4), "folds": (1, 3)},
        "validation": {"warp_modules": (0.15, 0.4), "shade": (0.2, 0.5), "folds": (2, 4)},
        "beyond": {"warp_modules": (0.4, 0.8), "shade": (0.3, 0.6), "folds": (3, 5)},
    },
    "small": {
        "tuning": {"module_px": (1.7, 2.0), "tilt_deg": (0, 12)},
        "validation": {"module_px": (1.5, 1.8), "tilt_deg": (5, 20)},
        "beyond": {"module_px": (1.2, 1.5), "tilt_deg": (0, 20)},
    },
    "noise_jpeg": {
        "tuning": {"noise": (8, 14), "jpeg": (25, 50)},
        "validation": {"noise": (10, 16), "jpeg": (20, 40)},
        "beyond": {"noise": (16, 24), "jpeg": (10, 25)},
    },
}
SPLITS = ("tuning", "validation")     # the goal (>= 98% per condition) is on these
BEYOND = "beyond"                     # past what a single frame can hold: measured to show where reading stops
_SEED = {"tuning": 1_000, "validation": 9_000_000, BEYOND: 5_000_000}


@dataclass(frozen=True)
class DoorFrame:
    condition: str
    split: str
    index: int
    payload: str
    image: np.ndarray = field(repr=False)     # 480x640 grayscale uint8
    params: dict = field(default_factory=dict)
    corners: tuple[tuple[float, ...], ...] = ()    # the code's corners in the frame (quiet zone excluded)
    moment: int = 0                 # frame number within the presentation (0: the single frame of `frame()`)


VALID_UNTIL = 4_102_444_800        # 2100-01-01: the same payload, hence the same frame, on every run


@lru_cache(maxsize=1)
def issuer() -> Issuer:
    """The issuer of every door frame: a real Ed25519 key, derived from a fixed public phrase so that frames are the
    same on every run and machine. A test key (the phrase is in this file): trusted only by `issuer().keyring`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = SigningKey(9, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"ticketgate door conditions").digest()),
                     organiser="Door conditions (test key)")
    ring = Keyring()
    ring.add(key.trusted())
    return Issuer(key, ring)


def _payload(ticket_id: int, seat: str | None) -> str:
    key = issuer().key
    return key.issue(Ticket(key.key_id, 1, ticket_id, category=2, zones=(1,), seat=seat, valid_until=VALID_UNTIL))


def frames(condition: str, split: str = "tuning", count: int = 50, start: int = 0, error: str = QR_ERROR_LEVEL
           ) -> list[DoorFrame]:
    return [frame(condition, split, i, error) for i in range(start, start + count)]


def presentation(condition: str, split: str, index: int, count: int = 10, error: str = QR_ERROR_LEVEL
                 ) -> Iterator[DoorFrame]:
    """The frames a door camera takes while a guest holds ticket `index` up, 30 a second (10 = a third of a second):
    frame 0 is `frame(condition, split, index)`; each next one has the same ticket, scene and hardship, with what
    changes from frame to frame at the door (HAND): the hand drifting (shift, turn, scale, tilt), a reflection
    sliding over the code, new sensor noise and a new motion-blur direction. Lazy: stop when the code is read."""
    for moment in range(count):
        yield frame(condition, split, index, error, moment)


def frame(condition: str, split: str, index: int, error: str = QR_ERROR_LEVEL, moment: int = 0) -> DoorFrame:
    """`error`: the QR error-correction level drawn. The code's width in the frame does not depend on it (a ticket
    is printed or shown at one size): `module_px` is the module size at level M, a higher level has more, smaller
    modules over the same width, and every other size (cracks, blur, bumps, screen pixels) stays the same in px.
    `moment`: the frame's number in its `presentation()`."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown door condition {condition!r}; known: {', '.join(CONDITIONS)}")
    if split not in _SEED:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(_SEED)}")
    seed = _SEED[split] + 1_000 * list(CONDITIONS).index(condition) + index
    rng = np.random.default_rng(seed)
    ranges = {**BASE, **RANGES[condition][split]}
    p = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in sorted(ranges.items())}
    payload = _payload(seed, f"R{index % 40 + 1}-{index % 30 + 1}" if index % 3 else None)
    hand = _Hand(seed, moment)
    image, corners = _render(condition, payload, p, rng, error, hand)
    return DoorFrame(condition, split, index, payload, image, p, corners, moment)


# Frame-to-frame changes within a presentation: per 33 ms frame, random-walk steps (standard deviations).
HAND = {"shift_px": 1.5, "turn_deg": 0.6, "scale": 0.006, "tilt_deg": 0.5, "glare_modules": 1.0}


class _Hand:
    """Where the hand has moved the ticket `moment` frames after frame 0: the sum of `moment` random-walk steps, and
    a random generator of its own for what is new in every frame (noise, blur direction). Frame 0 draws nothing
    here: it is exactly the single frame."""

    def __init__(self, seed: int, moment: int):
        self.moment = moment
        walk = np.random.default_rng([seed, 1]).normal(0, 1, (max(moment, 1), 8))[:moment].sum(axis=0)
        self.shift = walk[0:2] * HAND["shift_px"]
        self.turn = math.radians(walk[2] * HAND["turn_deg"])
        self.scale = 1 + walk[3] * HAND["scale"]
        self.tilt = walk[4:6] * math.tan(math.radians(HAND["tilt_deg"])) / FOCAL
        self.glare = walk[6:8] * HAND["glare_modules"]
        self.rng = np.random.default_rng([seed, 2, moment]) if moment else None

    def move(self, h: np.ndarray, n: float) -> np.ndarray:
        """The code-plane -> frame homography after the hand's drift about the code's centre (code of `n` units)."""
        if not self.moment:
            return h
        centre = cv2.perspectiveTransform(np.array([[[n / 2, n / 2]]], np.float32), h)[0, 0].astype(float)
        cos, sin = math.cos(self.turn) * self.scale, math.sin(self.turn) * self.scale
        drift = np.array([[cos, -sin, 0], [sin, cos, 0], [self.tilt[0], self.tilt[1], 1]])
        to, back = np.eye(3), np.eye(3)
        to[:2, 2], back[:2, 2] = -centre, centre + self.shift
        return back @ drift @ to @ h


def no_code_frames(count: int, seed: int = 77) -> list[np.ndarray]:
    """Frames with no code (people, clothes, a blank screen): what the camera sees most of the night."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        img = _scene(rng)
        if i % 3 == 1:      # a lit phone screen with text-like stripes but no code
            x, y = int(rng.integers(50, 400)), int(rng.integers(30, 250))
            img[y:y + 200, x:x + 150] = 220
            for row in range(y + 20, y + 190, 14):
                img[row:row + 5, x + 10:x + 10 + int(rng.integers(40, 130))] = 40
        out.append(_camera(img, {"optics_sigma": 0.6, "noise": 4, "jpeg": 75}, rng))
    return out


# -- rendering -----------------------------------------------------------------------------------------------------
def _matrix(payload: str, error: str) -> np.ndarray:
    import segno
    qr = segno.make_qr(payload, error=error.lower(), boost_error=False)     # ticket_qr at any level
    dark = np.array([[bool(m) for m in row] for row in qr.matrix], bool)
    return np.pad(dark, QUIET, constant_values=False)


def _scene(rng: np.random.Generator) -> np.ndarray:
    """A textured background: smooth blotches (clothes, faces, the room) and a few hard edges."""
    low = rng.uniform(40, 200, (6, 8)).astype(np.float32)
    fine = rng.normal(0, 18, (60, 80)).astype(np.float32)
    img: np.ndarray = (cv2.resize(low, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
                       + cv2.resize(fine, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR))
    for _ in range(int(rng.integers(2, 6))):
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 200)), y + int(rng.integers(20, 150))),
                      float(rng.uniform(20, 230)), -1)
    return np.clip(img, 0, 255)


def _homography(p: dict, n: float, screen: float, rng: np.random.Generator) -> np.ndarray:
    """Code-plane (module units, origin at the code's top-left) -> frame pixels: in-plane turn, tilt, placement."""
    m = p["module_px"]
    theta = rng.uniform(0, 2 * math.pi)                      # held any way round
    axis = rng.uniform(0, math.pi)
    tilt = math.radians(p["tilt_deg"])
    c, s = math.cos(theta), math.sin(theta)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    k = np.array([math.cos(axis), math.sin(axis), 0.0])      # Rodrigues: rotate about an axis in the code plane
    kx = np.array([[0, 0, k[1]], [0, 0, -k[0]], [-k[1], k[0], 0]])
    rt = np.eye(3) + math.sin(tilt) * kx + (1 - math.cos(tilt)) * kx @ kx
    rot = rt @ rz
    corners = np.array([[-screen, -screen], [n + screen, -screen], [n + screen, n + screen], [-screen, n + screen]])
    pts = np.c_[(corners - n / 2) * m, np.zeros(4)] @ rot.T + [0, 0, FOCAL]
    proj = pts[:, :2] * (FOCAL / pts[:, 2:3])
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    span = hi - lo
    if span[0] > WIDTH - 8 or span[1] > HEIGHT - 8:          # too big to fit: step back
        proj *= min((WIDTH - 8) / span[0], (HEIGHT - 8) / span[1])
        lo, hi = proj.min(axis=0), proj.max(axis=0)
        span = hi - lo
    off = np.array([rng.uniform(4 - lo[0], WIDTH - 4 - hi[0]), rng.uniform(4 - lo[1], HEIGHT - 4 - hi[1])])
    src = (corners).astype(np.float32)
    return cv2.getPerspectiveTransform(src, (proj + off).astype(np.float32))


def _render(condition: str, payload: str, p: dict, rng: np.random.Generator, error: str, hand: _Hand
            ) -> tuple[np.ndarray, tuple[tuple[float, ...], ...]]:
    dark = _matrix(payload, error)
    n = _matrix(payload, "m").shape[0]       # the code plane's unit: a module at level M, whatever level is drawn
    per_unit = dark.shape[0] / n             # modules drawn per unit
    screen = float(rng.uniform(0.5, 3.0))                    # screen or paper margin beyond the quiet zone, modules
    h = hand.move(_homography(p, n, screen, rng), n)
    img = _scene(rng)
    if condition == "low_brightness":
        img *= rng.uniform(0.3, 0.6)                          # the room is dark too; the screen is the light
    white = p["white"]
    black = white * p["black_ratio"] if "black_ratio" in p else p["black"]

    ss = 3                                                   # supersampling: each frame pixel from 3x3 samples
    quad = cv2.perspectiveTransform(np.array([[[-screen, -screen], [n + screen, -screen], [n + screen, n + screen],
                                                [-screen, n + screen]]], np.float32), h)[0]
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, WIDTH), min(y1, HEIGHT)
    ys, xs = np.mgrid[0:(y1 - y0) * ss, 0:(x1 - x0) * ss].astype(np.float64)
    xs, ys = x0 + (xs + 0.5) / ss, y0 + (ys + 0.5) / ss
    hi = np.linalg.inv(h)
    w = hi[2, 0] * xs + hi[2, 1] * ys + hi[2, 2]
    u = (hi[0, 0] * xs + hi[0, 1] * ys + hi[0, 2]) / w        # code-plane coordinates, modules
    v = (hi[1, 0] * xs + hi[1, 1] * ys + hi[1, 2]) / w
    shade = np.ones_like(u)
    if condition == "crumpled":
        u, v, shade = _crumple(u, v, n, p, rng)
    inside = (u >= -screen) & (u < n + screen) & (v >= -screen) & (v < n + screen)
    iu, iv = np.floor(u * per_unit).astype(int), np.floor(v * per_unit).astype(int)
    in_code = (iu >= 0) & (iu < dark.shape[0]) & (iv >= 0) & (iv < dark.shape[0])
    is_dark = np.zeros_like(inside)
    is_dark[in_code] = dark[iv[in_code], iu[in_code]]
    value = np.where(is_dark, black, white) * shade
    if condition == "moire":
        value = value * _pixel_grid(u, v, p)
    if condition == "low_brightness":
        value = white * (value / white) ** p["gamma"]         # the display's gamma at low backlight
    patch = img[y0:y1, x0:x1]
    sampled = np.where(inside, value, np.repeat(np.repeat(patch, ss, 0), ss, 1))
    img[y0:y1, x0:x1] = sampled.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))

    if condition == "glare":
        _glare(img, h, n, p, rng, hand.glare)
    if condition == "cracked":
        _cracks(img, h, n, screen, p, rng)
    q = QUIET / per_unit
    code = np.array([[[q, q], [n - q, q], [n - q, n - q], [q, n - q]]], np.float32)
    corners = tuple(tuple(round(float(c), 1) for c in xy) for xy in cv2.perspectiveTransform(code, h)[0])
    return _camera(img, p, hand.rng or rng), corners


def _crumple(u, v, n, p, rng):
    """Smooth random displacement (paper bumps) and folds: lines where the paper bends and its shade changes."""
    amp = p["warp_modules"]
    du, dv, shade = np.zeros_like(u), np.zeros_like(v), np.ones_like(u)
    waves = 3
    for _ in range(waves):
        f = 2 * math.pi / rng.uniform(14, 36, 2)            # bumps 14-36 modules across
        ph = rng.uniform(0, 2 * math.pi, 4)
        a = amp * rng.uniform(0.5, 1.0) / math.sqrt(waves)
        bump = np.sin(f[0] * u + ph[0]) * np.sin(f[1] * v + ph[1])
        du += a * bump
        dv += a * np.sin(f[0] * u + ph[2]) * np.sin(f[1] * v + ph[3])
        shade -= p["shade"] * 0.3 * (1 + bump) / 2
    for _ in range(int(round(p["folds"]))):
        ang = rng.uniform(0, math.pi)
        nx, ny = math.cos(ang), math.sin(ang)
        d = (u - n / 2) * nx + (v - n / 2) * ny - rng.uniform(-n / 3, n / 3)
        side = np.tanh(d / 0.5)                              # the crease: a sharp change of slope and of light
        shade *= 1 - p["shade"] * 0.4 * (1 + side) / 2 * rng.uniform(0.5, 1.0)
        push = amp * 0.4 * np.tanh(d / 2)                     # the paper on each side pulled towards the crease
        du -= push * nx
        dv -= push * ny
    return u + du, v + dv, np.clip(shade, 0.35, 1.0)


def _pixel_grid(u, v, p):
    """The screen's pixels seen by the camera: R, G, B stripes of different luminance and dark gaps between rows."""
    k = p["screen_px_per_module"]
    gx = (u * k * 3) % 3                                  # which sub-pixel along a row
    sub = np.choose(np.clip(gx.astype(int), 0, 2), [0.75, 1.25, 0.6])
    gy = (v * k) % 1
    gap = np.where(gy > 1 - p["gap"], 0.25, 1.0)
    return sub * gap / (1 - 0.75 * p["gap"])


def _glare(img, h, n, p, rng, drift=(0.0, 0.0)):
    """A reflection of a light on the glass: where it falls on the code moves as the hand tilts the phone (`drift`,
    modules)."""
    cx, cy = rng.uniform(0.15 * n, 0.85 * n, 2) + drift
    centre = cv2.perspectiveTransform(np.array([[[cx, cy]]], np.float32), h)[0, 0]
    side = np.linalg.norm(cv2.perspectiveTransform(np.array([[[0, 0], [n, 0]]], np.float32), h)[0] @ [1, -1])
    sx, sy = p["glare_sigma"] * side * rng.uniform(0.7, 1.4, 2)
    ang = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    dx, dy = xs - centre[0], ys - centre[1]
    a = (dx * math.cos(ang) + dy * math.sin(ang)) / sx
    b = (-dx * math.sin(ang) + dy * math.cos(ang)) / sy
    img += p["glare_peak"] * np.exp(-0.5 * (a * a + b * b))
    np.clip(img, 0, 255, out=img)


def _cracks(img, h, n, screen, p, rng):
    """Cracks radiate from an impact point near the code, with a few bends and side branches."""
    start = rng.uniform(0.1 * n, 0.9 * n, 2)
    lines: list[np.ndarray] = []
    for i in range(int(round(p["cracks"]))):
        ang, pt = rng.uniform(0, 2 * math.pi), start.copy()
        pts: list[np.ndarray] = [pt.copy()]
        for _ in range(int(rng.integers(4, 9))):
            ang += rng.normal(0, 0.3)
            pt = pt + rng.uniform(4, 12) * np.array([math.cos(ang), math.sin(ang)])
            pts.append(pt.copy())
            if rng.random() < 0.25:                          # a side branch
                b = rng.uniform(4, 10) * np.array([math.cos(ang + 1.0), math.sin(ang + 1.0)])
                lines.append(np.array([pt, pt + b]))
        lines.append(np.array(pts))
    layer, ink = np.zeros_like(img), np.zeros_like(img)
    for line in lines:
        px = cv2.perspectiveTransform(line[None].astype(np.float32), h)[0]
        colour = float(rng.choice([rng.uniform(0, 50), rng.uniform(210, 255)]))   # dark or catching the light
        width = max(1, int(round(p["crack_modules"] * p["module_px"] * rng.uniform(0.7, 1.3))))
        path = [np.round(px * 16).astype(np.int32)]
        cv2.polylines(layer, path, False, colour, width, cv2.LINE_AA, shift=4)
        cv2.polylines(ink, path, False, 1.0, width, cv2.LINE_AA, shift=4)
    alpha = ink * p["crack_alpha"]
    img *= 1 - alpha
    img += alpha * layer / np.maximum(ink, 1e-3)


def _camera(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    out: np.ndarray = cv2.GaussianBlur(img.astype(np.float32), (0, 0), p["optics_sigma"])
    if "blur_modules" in p:
        length = p["blur_modules"] * p["module_px"]
        out = cv2.filter2D(out, -1, _motion_kernel(length, rng.uniform(0, 180)), borderType=cv2.BORDER_REPLICATE)
    noise = rng.normal(0, 1, out.shape).astype(np.float32) * (p["noise"] * np.sqrt(np.maximum(out, 8) / 128))
    sensor = np.clip(out + noise, 0, 255).astype(np.uint8)
    _, jpg = cv2.imencode(".jpg", sensor, [cv2.IMWRITE_JPEG_QUALITY, int(p["jpeg"])])
    return np.asarray(cv2.imdecode(jpg, cv2.IMREAD_GRAYSCALE))


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    size = int(math.ceil(length)) | 1
    fine = np.zeros((size * 4, size * 4), np.float32)
    c = size * 2
    dx, dy = math.cos(math.radians(angle_deg)) * length * 2, math.sin(math.radians(angle_deg)) * length * 2
    cv2.line(fine, (int(c - dx), int(c - dy)), (int(c + dx), int(c + dy)), 1.0, 1, cv2.LINE_AA)
    k = np.asarray(cv2.resize(fine, (size, size), interpolation=cv2.INTER_AREA))
    return k / k.sum()
