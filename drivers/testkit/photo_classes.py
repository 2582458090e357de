"""Realistic photos of any QR code, by class of hardship a door or a support desk meets: seeded, deterministic, for
tests and benchmarks that compare `ticketgate decode` and the live chain with the decoder libraries
(benchmarks/bench_photo_classes.py, tests/test_photo_classes.py).

    photo = PHOTO_CLASSES["cylinder"](seed)     # Photo(image=BGR uint8, text=the code to read, others=other codes)

The codes are not ours alone: texts of every length and kind (links, words, digits, binary-looking tokens) made by
segno or by qrcode (python-qrcode) at every error level, so a decoder tuned on our ticket QR gains nothing here.
Each class draws its own parameters from `numpy.random.default_rng([class index, seed])`, so a held-out set is a
range of seeds no tuning looked at.

Every photo is a printed sheet (the code, its quiet zone, the paper or screen around it) placed in a scene by a
camera: a homography (a plane seen from a point) or a cylinder (a bottle, a wristband), then light (vignetting, a
shadow), the lens (Gaussian blur), the sensor (noise) and the phone's JPEG.
"""
from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from drivers.testkit.photo_conditions import busy_scene

FRAME = (960, 1280)         # rows, columns: a phone photo sent by mail, a camera frame
LARGE = (3000, 4000)        # a phone's 12 MP photo
BGR = tuple[float, float, float]
WHITE: BGR = (235.0, 238.0, 240.0)
BLACK: BGR = (25.0, 25.0, 30.0)


@dataclass(frozen=True)
class Photo:
    image: np.ndarray                   # BGR uint8
    text: str                           # what must be read
    others: tuple[str, ...] = ()        # other codes in the photo (may be read too; anything else is a wrong read)

    @property
    def allowed(self) -> set[str]:
        return {self.text, *self.others}


# ---- codes --------------------------------------------------------------------------------------------------------

def random_text(rng: np.random.Generator) -> str:
    """A text of any kind and length a QR carries: a link, words, digits, a token."""
    kind = int(rng.integers(0, 4))
    n = int(rng.integers(6, 90))
    if kind == 0:
        token = "".join(rng.choice(list(string.ascii_letters + string.digits), size=n))
        return f"https://example.org/{token[:n]}"
    if kind == 1:
        words = ["gate", "river", "Opéra", "north", "seat", "zone", "émile", "club", "late", "yellow", "ÅRHUS"]
        return " ".join(str(rng.choice(words)) for _ in range(max(1, n // 6)))
    if kind == 2:
        return "".join(rng.choice(list(string.digits), size=n))
    return "".join(rng.choice(list(string.ascii_uppercase + string.digits + "$%*+-./:"), size=n))


def code_matrix(text: str, rng: np.random.Generator) -> np.ndarray:
    """The modules of `text` (True: dark) by segno or qrcode, at a random error level, no quiet zone."""
    level = int(rng.integers(0, 4))
    if rng.random() < 0.5:
        import segno
        return np.array(segno.make(text, error="lmqh"[level], micro=False, boost_error=False).matrix, bool)
    import qrcode  # type: ignore[import-untyped]
    qr = qrcode.QRCode(error_correction=(qrcode.constants.ERROR_CORRECT_L, qrcode.constants.ERROR_CORRECT_M,
                                         qrcode.constants.ERROR_CORRECT_Q, qrcode.constants.ERROR_CORRECT_H)[level],
                       border=0)
    qr.add_data(text)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), bool)


def sheet(matrix: np.ndarray, module: int, ink: BGR = BLACK, paper: BGR = WHITE, quiet: int = 4) -> np.ndarray:
    """The code printed: `module` px a module, `quiet` modules of paper around it (float32 BGR)."""
    padded = np.pad(matrix, quiet, constant_values=False)
    big = np.kron(padded, np.ones((module, module), bool))
    out = np.empty(big.shape + (3,), np.float32)
    out[:] = paper
    out[big] = ink
    return out


# ---- scenes -------------------------------------------------------------------------------------------------------

def scene(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A cluttered, coloured scene (float32 BGR)."""
    small = busy_scene((max(8, shape[0] // 4), max(8, shape[1] // 4)), rng).astype(np.float32)
    tint = rng.uniform(0.6, 1.2, 3).astype(np.float32)
    big = cv2.resize(small, shape[::-1], interpolation=cv2.INTER_LINEAR)
    return np.clip(big[:, :, None] * tint, 0, 255)


def texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A textured surface, 0.45-1.0 (float32): wood grain, a woven fabric or rough cardboard."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = int(rng.integers(0, 3))
    blurred = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), float(rng.uniform(2, 8)))
    noise = blurred / float(blurred.std() + 1e-6)
    if kind == 0:       # wood: stretched rings
        period = float(rng.uniform(8, 30))
        t = 0.5 + 0.5 * np.sin((x + 6 * noise) * 2 * np.pi / period)
    elif kind == 1:     # fabric: a weave
        period = float(rng.uniform(3, 9))
        t = 0.5 + 0.25 * (np.sin(x * 2 * np.pi / period) + np.sin(y * 2 * np.pi / period))
    else:               # cardboard: blotches and fibres
        t = np.clip(0.5 + 0.2 * noise + 0.2 * rng.normal(0, 1, shape).astype(np.float32), 0, 1)
    return (0.45 + 0.55 * t).astype(np.float32)


def _warp(sheet_img: np.ndarray, background: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = background.shape[:2]
    warped = cv2.warpPerspective(sheet_img, m, (w, h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones(sheet_img.shape[:2], np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
    return background * (1 - mask[:, :, None]) + warped * mask[:, :, None]


def tilted(sheet_shape: tuple[int, int], out_shape: tuple[int, int], side_px: float, tilt_deg: float,
           axis_deg: float, turn_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """The homography putting a sheet (rows, cols) into the photo: its centre at `centre` (x, y), `side_px` wide
    if it faced the camera, tilted `tilt_deg` out of plane around an axis at `axis_deg`, turned `turn_deg` in plane;
    a camera of focal length one photo width."""
    sh, sw = sheet_shape
    f = float(out_shape[1])
    scale = side_px / sw
    depth = f / 1.0
    a, t, r = math.radians(axis_deg), math.radians(tilt_deg), math.radians(turn_deg)
    axis = np.array([math.cos(a), math.sin(a), 0.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * k @ k
    turn = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    corners = []
    for x, y in ((0, 0), (sw, 0), (sw, sh), (0, sh)):
        p = rot @ turn @ np.array([(x - sw / 2) * scale, (y - sh / 2) * scale, 0.0])
        z = depth + p[2]
        corners.append((centre[0] + f * p[0] / z, centre[1] + f * p[1] / z))
    src = np.array([(0, 0), (sw, 0), (sw, sh), (0, sh)], np.float32)
    return cv2.getPerspectiveTransform(src, np.array(corners, np.float32))


def on_cylinder(sheet_img: np.ndarray, background: np.ndarray, side_px: float, half_angle: float, turn_deg: float,
                centre: tuple[float, float]) -> np.ndarray:
    """The sheet wrapped round a cylinder (a bottle, a wristband) whose axis is turned `turn_deg` from vertical, the
    code spanning ±`half_angle` radians of it, seen from afar (the code's edges foreshortened and shaded)."""
    h, w = background.shape[:2]
    sh, sw = sheet_img.shape[:2]
    scale = sw / side_px                            # sheet px per photo px (along the arc)
    radius = side_px / 2 / half_angle               # photo px
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = math.radians(turn_deg)
    dx, dy = x - centre[0], y - centre[1]
    across = dx * math.cos(r) + dy * math.sin(r)
    along = -dx * math.sin(r) + dy * math.cos(r)
    inside = np.abs(across) < radius * 0.999
    angle = np.arcsin(np.clip(across / radius, -0.999, 0.999))
    map_x = (angle * radius * scale + sw / 2).astype(np.float32)
    map_y = (along * scale + sh / 2).astype(np.float32)
    warped = cv2.remap(sheet_img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1)
    mask = inside & (warped[:, :, 0] >= 0) & (map_x >= 0) & (map_x < sw) & (map_y >= 0) & (map_y < sh)
    shade = (0.55 + 0.45 * np.cos(angle))[:, :, None]
    out = background.copy()
    out[mask] = (np.clip(warped, 0, 255) * shade)[mask]
    return out


# ---- light, lens, sensor ------------------------------------------------------------------------------------------

def vignetted(image: np.ndarray, strength: float) -> np.ndarray:
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((x - w / 2) / (w / 2)) ** 2 + ((y - h / 2) / (h / 2)) ** 2
    return image * (1 - strength * np.clip(d2 / 2, 0, 1))[:, :, None]


def shadowed(image: np.ndarray, rng: np.random.Generator, through: tuple[float, float], depth: float) -> np.ndarray:
    """A shadow over half the photo, its soft edge a line through `through` (a hand, a phone, a door frame)."""
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    d = (x - through[0]) * math.cos(a) + (y - through[1]) * math.sin(a)
    soft = float(rng.uniform(2, 25))
    dark = 1 / (1 + np.exp(np.clip(-d / soft, -60, 60)))
    return image * (1 - depth * dark)[:, :, None]


def camera(image: np.ndarray, rng: np.random.Generator, blur: float, noise: float, quality: int) -> np.ndarray:
    """The lens's blur, the sensor's noise, the phone's JPEG (quality `quality`): BGR uint8."""
    out = image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    h, w = out.shape[:2]
    tile = np.round(noise * rng.standard_normal((min(h, 509), min(w, 511), 3), dtype=np.float32)).astype(np.int16)
    reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]), 1)     # a noise tile repeated (12 MP of noise: 10 s)
    out = np.clip(out.astype(np.int16) + np.tile(tile, reps)[:h, :w], 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    return out if decoded is None else np.asarray(decoded, np.uint8)


# ---- the classes --------------------------------------------------------------------------------------------------

def _placed(rng: np.random.Generator, matrix: np.ndarray, shape: tuple[int, int], module_px: float,
            tilt: float, ink: BGR = BLACK, paper: BGR = WHITE, background: np.ndarray | None = None,
            quiet: int = 4) -> np.ndarray:
    """The code, `module_px` px a module where it faces the camera, tilted up to `tilt` degrees, somewhere in a
    scene of `shape` (float32 BGR)."""
    m = 6
    sheet_img = sheet(matrix, m, ink, paper, quiet)
    side = sheet_img.shape[1] / m * module_px
    h, w = shape
    margin = side * 0.75
    centre = (float(rng.uniform(min(margin, w / 2), max(w - margin, w / 2))),
              float(rng.uniform(min(margin, h / 2), max(h - margin, h / 2))))
    back = scene(shape, rng) if background is None else background
    m_ = tilted(sheet_img.shape[:2], shape, side, float(rng.uniform(0, tilt)), float(rng.uniform(0, 180)),
                float(rng.uniform(-180, 180)), centre)
    return _warp(sheet_img, back, m_)


def perspective(rng: np.random.Generator) -> Photo:
    """A code on a plane tilted 35-60° from facing the camera, any axis and turn."""
    text = random_text(rng)
    matrix = code_matrix(text, rng)
    h, w = FRAME
    m = 6
    sheet_img = sheet(matrix, m)
    module_px = float(rng.uniform(4, 8))
    side = sheet_img.shape[1] / m * module_px
    m_ = tilted(sheet_img.shape[:2], FRAME, side, float(rng.uniform(35, 60)), float(rng.uniform(0, 180)),
                float(rng.uniform(-180, 180)), (w / 2 + float(rng.uniform(-100, 100)), h / 2 + float(rng.uniform(-80, 80))))
    image = _warp(sheet_img, scene(FRAME, rng), m_)
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


def cylinder(rng: np.random.Generator) -> Photo:
    """A code on a bottle or a wristband: wrapped round a cylinder over ±25-50° of its circumference."""
    text = random_text(rng)
    matrix = code_matrix(text, rng)
    h, w = FRAME
    m = 6
    sheet_img = sheet(matrix, m)
    module_px = float(rng.uniform(5, 9))
    side = sheet_img.shape[1] / m * module_px
    image = on_cylinder(sheet_img, scene(FRAME, rng), side, math.radians(float(rng.uniform(25, 50))),
                        float(rng.uniform(-30, 30)) + 90 * int(rng.integers(0, 2)),
                        (w / 2 + float(rng.uniform(-100, 100)), h / 2 + float(rng.uniform(-80, 80))))
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


COLOURS: tuple[tuple[BGR, BGR], ...] = (
    ((170.0, 70.0, 20.0), WHITE),           # blue on white
    ((40.0, 35.0, 190.0), WHITE),           # red on white
    ((235.0, 235.0, 235.0), (95.0, 35.0, 10.0)),    # white on dark blue
    ((60.0, 130.0, 30.0), (200.0, 240.0, 250.0)),   # green on cream
)


def colour(rng: np.random.Generator) -> Photo:
    """Blue or red on white, white on dark blue, green on cream."""
    text = random_text(rng)
    ink, paper = COLOURS[int(rng.integers(0, len(COLOURS)))]
    image = _placed(rng, code_matrix(text, rng), FRAME, float(rng.uniform(3.5, 7)), 25, ink, paper)
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


def uneven_light(rng: np.random.Generator) -> Photo:
    """Vignetting (corners 30-60 % darker) and a shadow across half the code (40-70 % darker)."""
    text = random_text(rng)
    h, w = FRAME
    image = _placed(rng, code_matrix(text, rng), FRAME, float(rng.uniform(4, 8)), 25)
    image = vignetted(image, float(rng.uniform(0.3, 0.6)))
    # the shadow's edge through the photo's code-rich middle third
    image = shadowed(image, rng, (float(rng.uniform(w / 3, 2 * w / 3)), float(rng.uniform(h / 3, 2 * h / 3))),
                     float(rng.uniform(0.4, 0.7)))
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


def low_jpeg(rng: np.random.Generator) -> Photo:
    """JPEG at quality 8-25 (a photo sent through a messenger, twice), modules 3-6 px."""
    text = random_text(rng)
    image = _placed(rng, code_matrix(text, rng), FRAME, float(rng.uniform(3, 6)), 20)
    return Photo(camera(image, rng, float(rng.uniform(0.3, 0.8)), 4, int(rng.integers(8, 26))), text)


def tiny(rng: np.random.Generator) -> Photo:
    """A code far from the lens in a 12 MP photo: 2-4 px a module, a little out of focus."""
    text = random_text(rng)
    matrix = code_matrix(text, rng)
    module_px = float(rng.uniform(2.0, 4.0))
    side = int((matrix.shape[0] + 8) * module_px * 1.6) + 8        # the code's patch, drawn alone (cheap)
    patch = _placed(rng, matrix, (side, side), module_px, 20)
    h, w = LARGE
    small = scene((h // 4, w // 4), rng).astype(np.uint8)
    image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    y, x = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
    image[y:y + side, x:x + side] = np.clip(patch, 0, 255).astype(np.uint8)
    return Photo(camera(image, rng, float(rng.uniform(0.5, 1.0)), 3, 88), text)


def huge(rng: np.random.Generator) -> Photo:
    """A code held too close: it fills the frame, its quiet zone (and up to a third of a module at the edges) out
    of the frame, big soft modules."""
    text = random_text(rng)
    matrix = code_matrix(text, rng)
    h, w = FRAME
    m = 6
    sheet_img = sheet(matrix, m)
    n = matrix.shape[0]
    over = float(rng.uniform(-0.05, 0.3))           # modules of the code's edge outside the frame
    module_px = h / (n - 2 * over)
    side = sheet_img.shape[1] / m * module_px
    m_ = tilted(sheet_img.shape[:2], FRAME, side, float(rng.uniform(0, 12)), float(rng.uniform(0, 180)),
                float(rng.uniform(-4, 4)) + 90 * int(rng.integers(0, 4)),
                (w / 2 + float(rng.uniform(-0.3, 0.3)) * (w - h), h / 2))
    image = _warp(sheet_img, scene(FRAME, rng), m_)
    return Photo(camera(image, rng, float(rng.uniform(1.0, 3.0)), 3, 85), text)


def inverted(rng: np.random.Generator) -> Photo:
    """Light modules on dark (a dark-mode wallet, a code printed in negative)."""
    text = random_text(rng)
    image = _placed(rng, code_matrix(text, rng), FRAME, float(rng.uniform(3.5, 7)), 30, ink=WHITE, paper=BLACK)
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


def mirrored(rng: np.random.Generator) -> Photo:
    """The code seen mirrored (a selfie camera's preview, through the back of a sticker)."""
    text = random_text(rng)
    matrix = code_matrix(text, rng)[:, ::-1]
    image = _placed(rng, matrix, FRAME, float(rng.uniform(3.5, 7)), 30)
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


def textured(rng: np.random.Generator) -> Photo:
    """A code printed straight on a textured surface (wood, fabric, cardboard), its quiet zone that surface too."""
    text = random_text(rng)
    surface = texture(FRAME, rng)
    tint = np.array(rng.uniform(150, 250, 3), np.float32)
    back = surface[:, :, None] * tint
    paper = (1.0, 1.0, 1.0)
    ink = (0.0, 0.0, 0.0)
    coverage = np.clip(_placed(rng, code_matrix(text, rng), FRAME, float(rng.uniform(4, 8)), 25, ink, paper,
                               np.full(FRAME + (3,), 1.0, np.float32)), 0, 1)
    darkness = float(rng.uniform(0.12, 0.3))        # the ink lets this much of the surface through
    image = back * (darkness + (1 - darkness) * coverage)
    return Photo(camera(image, rng, float(rng.uniform(0.4, 1.0)), 3, 85), text)


def several(rng: np.random.Generator) -> Photo:
    """Two to four other codes (a poster, a flyer, an app's code) around one ticket; the ticket must be read."""
    from drivers.testkit.door_conditions import _payload
    ticket = _payload(int(rng.integers(10_000, 99_999)), None)
    others = tuple(random_text(rng) for _ in range(int(rng.integers(2, 5))))
    h, w = FRAME
    cols = len(others) + 1
    order = [ticket, *others]
    rng.shuffle(order)
    image = scene(FRAME, rng)
    cell = w / cols
    for k, text in enumerate(order):
        matrix = (np.array(__import__("segno").make(text, error="m", micro=False, boost_error=False).matrix, bool)
                  if text == ticket else code_matrix(text, rng))
        module_px = min(float(rng.uniform(2.5, 5)), cell * 0.8 / (matrix.shape[0] + 8))
        sheet_img = sheet(matrix, 6)
        side = sheet_img.shape[1] / 6 * module_px
        centre = (cell * (k + 0.5), float(rng.uniform(side / 2 + 5, max(side / 2 + 6, h - side / 2 - 5))))
        m_ = tilted(sheet_img.shape[:2], FRAME, side, float(rng.uniform(0, 25)), float(rng.uniform(0, 180)),
                    float(rng.uniform(-30, 30)), centre)
        image = _warp(sheet_img, image, m_)
    return Photo(camera(image, rng, float(rng.uniform(0.4, 0.9)), 3, 85), ticket, others)


PHOTO_CLASSES: dict[str, Callable[[np.random.Generator], Photo]] = {
    "perspective 35-60°": perspective, "cylinder": cylinder, "colour": colour, "uneven light": uneven_light,
    "JPEG q8-25": low_jpeg, "tiny in 12 MP": tiny, "huge, past the edges": huge, "inverted": inverted,
    "mirrored": mirrored, "textured background": textured, "several codes, one ticket": several}


def photo(name: str, seed: int) -> Photo:
    """The photo of class `name` drawn with `seed` (the same on every run and machine)."""
    index = list(PHOTO_CLASSES).index(name)
    return PHOTO_CLASSES[name](np.random.default_rng([31, index, seed]))


# ---- reading them -------------------------------------------------------------------------------------------------

def gray(photo: Photo) -> np.ndarray:
    """What a decoder reads: luma as Pillow's "L" (ITU-R 601), as `drivers.image_file.read_gray` gives it."""
    return cv2.cvtColor(photo.image, cv2.COLOR_BGR2GRAY)


def camera_frame(image: np.ndarray, long_side: int = 640) -> np.ndarray:
    """The scene as the door's camera delivers it: at most `long_side` px (`frames.VideoCaptureSource`'s 640 x 480;
    a code of 4-8 px a module in the photo has 2-4 there)."""
    factor = long_side / max(image.shape[:2])
    if factor >= 1:
        return image
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def libraries() -> dict[str, Callable[[np.ndarray], list[str]]]:
    """The decoder libraries installed here, each at its own best (every code, its default "try harder")."""
    out: dict[str, Callable[[np.ndarray], list[str]]] = {}
    try:
        from drivers.camera.decoders import ZxingDecoder
        out["zxing-cpp"] = ZxingDecoder()       # every code, inverted, rotated, downscaled; the bytes as encoded
    except ImportError:
        pass
    try:
        from drivers.camera.decoders import ZbarDecoder
        out["pyzbar"] = ZbarDecoder()
    except ImportError:
        pass
    from drivers.camera.decoders import OpenCvDecoder
    out["opencv"] = OpenCvDecoder()
    return out


def judged(photo: Photo, texts: list[str] | tuple[str, ...]) -> tuple[bool, int]:
    """(the code was read, how many texts read are in no code of the photo)."""
    return photo.text in texts, sum(1 for t in texts if t not in photo.allowed)
