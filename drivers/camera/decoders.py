"""One QR decoder library each, behind the same tiny interface: grayscale image in, texts out.

Grayscale uint8 numpy arrays (H x W) everywhere: every library takes them without a copy.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


Box = tuple[int, int, int, int]     # x, y, width, height


class Decoder(Protocol):
    name: str

    def __call__(self, gray: np.ndarray) -> list[str]: ...


def _text(raw: bytes) -> str:
    """A QR code's bytes as text, guessed as zxing-cpp and ZXing guess them (`StringUtils.guessEncoding`): UTF-8 when
    valid; Shift-JIS when it decodes and has a word of 3 double-byte characters or of 3 half-width katakana (or,
    where ISO-8859-1 would do too, when a tenth of the bytes are ISO-8859-1 symbols); else ISO-8859-1, the byte
    mode's own encoding. libzbar's own guess took the ISO-8859-1 bytes of "Opéra" (é, r: a valid Shift-JIS pair)
    for Shift-JIS: "Op廨a", a wrong text."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    iso = not any(0x80 <= b < 0xA0 for b in raw)
    if _shift_jis_likely(raw, iso):
        return raw.decode("shift_jis")
    return raw.decode("latin-1")


def _shift_jis_likely(raw: bytes, iso: bool) -> bool:
    try:
        raw.decode("shift_jis")
    except UnicodeDecodeError:
        return False
    katakana = double = katakana_run = double_run = katakana_chars = 0
    i = 0
    while i < len(raw):
        b = raw[i]
        if 0xA1 <= b <= 0xDF:                       # a half-width katakana (one byte)
            katakana_chars += 1
            katakana_run, double_run = katakana_run + 1, 0
            i += 1
        elif b >= 0x81:                             # a double-byte character
            double_run, katakana_run = double_run + 1, 0
            i += 2
        else:
            katakana_run = double_run = 0
            i += 1
        katakana, double = max(katakana, katakana_run), max(double, double_run)
    if katakana >= 3 or double >= 3:
        return True
    if not iso:
        return True
    symbols = sum(1 for b in raw if 0xA0 <= b < 0xC0 or b in (0xD7, 0xF7))
    return (katakana == 2 and katakana_chars == 2) or symbols * 10 >= len(raw)


class ZxingDecoder:
    """zxing-cpp: the fastest and the one that reads the most. Plain text mode: the bytes as encoded (no `<GS>`
    escapes, no GS1 brackets), which is what a ticket payload or a support screenshot needs."""

    def __init__(self, binarizer: str = "LocalAverage", try_harder: bool = True, name: str | None = None,
                 text_mode: str = "Plain", single: bool = False, try_rotate: bool | None = None,
                 try_downscale: bool | None = None, is_pure: bool = False):
        """`try_harder`: also the inverted image (dark-mode screens), rotations and downscales (big codes close to
        the lens). A QR code reads at any angle without `try_rotate` (it is for 1D codes): the camera turns it off,
        a zoomed region also needs no downscale. `is_pure`: the image is nothing but a clean, upright code (a code
        redrawn by `redraw.redrawn_code`): read without looking for finder patterns."""
        import zxingcpp
        self._single = single     # stop at the first code: half the time on a camera frame (one ticket in view)
        self._zx = zxingcpp
        self._text_mode = getattr(zxingcpp.TextMode, text_mode)
        self._binarizer = getattr(zxingcpp.Binarizer, binarizer)
        self._try = try_harder
        self._rotate = try_harder if try_rotate is None else try_rotate
        self._downscale = try_harder if try_downscale is None else try_downscale
        self._pure = is_pure
        self.name = name or ("zxing-cpp" if binarizer == "LocalAverage" else f"zxing-cpp/{binarizer}")

    def __call__(self, gray: np.ndarray) -> list[str]:
        zx = self._zx
        read = zx.read_barcode if self._single else zx.read_barcodes
        found = read(gray, formats=zx.BarcodeFormat.QRCode, text_mode=self._text_mode,
                     binarizer=self._binarizer, try_rotate=self._rotate, try_downscale=self._downscale,
                     try_invert=self._try, is_pure=self._pure)
        if self._single:
            return [found.text] if found is not None and found.valid else []
        return [b.text for b in found if b.valid]


    def located(self, gray: np.ndarray) -> tuple[list[str], list[Box], list[Box]]:
        """Every code read (as `__call__`), where each is, and where zxing-cpp found a code it could not read (its
        finder patterns located, its codewords not corrected): (x, y, w, h) boxes, for a closer look there."""
        zx = self._zx
        found = zx.read_barcodes(gray, formats=zx.BarcodeFormat.QRCode, text_mode=self._text_mode,
                                 binarizer=self._binarizer, try_rotate=self._rotate, try_downscale=self._downscale,
                                 try_invert=self._try, is_pure=self._pure, return_errors=True)
        texts: list[str] = []
        read: list[Box] = []
        unread: list[Box] = []
        for code in found:
            p = code.position
            xs = [p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x]
            ys = [p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y]
            box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            if code.valid:
                texts.append(code.text)
            (read if code.valid else unread).append(box)
        return texts, read, unread


CFG_BINARY = 4      # libzbar 0.23's ZBAR_CFG_BINARY (pyzbar 0.1.9's enum predates it: its 4 is the older CFG_NUM)


def _zbar_version() -> tuple[int, int]:
    """libzbar's (major, minor); (0, 0) when it cannot say."""
    import ctypes
    try:
        from pyzbar import zbar_library
        major, minor, patch = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        zbar_library.load()[0].zbar_version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
        return major.value, minor.value
    except (OSError, AttributeError, ImportError):
        return 0, 0


class ZbarDecoder:
    """libzbar0 through pyzbar's ctypes bindings: a different detector, reads some images zxing-cpp misses, and
    joins the symbols of a structured-append code into its one text (zxing-cpp returns each part as if whole).
    Only each symbol's data is asked for: `pyzbar.decode` also turns the symbol's orientation into an enum, which
    zbar leaves unknown (-1) on a joined structured-append symbol, so it raised ValueError and read nothing at all
    in an image holding one. With libzbar 0.23 and later the symbol's bytes are asked for as they are (binary mode)
    and turned into text as zxing-cpp does (`_text`): libzbar's own guess misread ISO-8859-1 accents."""
    name = "pyzbar"

    def __init__(self) -> None:
        from pyzbar import wrapper
        self._w = wrapper
        self._others = [s for s in wrapper.ZBarSymbol if s != wrapper.ZBarSymbol.QRCODE]
        self._binary = _zbar_version() >= (0, 23)

    def __call__(self, gray: np.ndarray) -> list[str]:
        if gray.shape[0] < 8 or gray.shape[1] < 8:
            return []
        return [_text(raw) for raw in self._read(np.ascontiguousarray(gray, dtype=np.uint8))]

    def _read(self, gray: np.ndarray) -> list[bytes]:
        from ctypes import c_char_p, c_void_p, cast, string_at
        w = self._w
        scanner, image = w.zbar_image_scanner_create(), w.zbar_image_create()
        try:
            for symbol in self._others:     # QR codes only, set as pyzbar.decode(symbols=[QRCODE]) sets it
                w.zbar_image_scanner_set_config(scanner, symbol, w.ZBarConfig.CFG_ENABLE, 0)
            w.zbar_image_scanner_set_config(scanner, w.ZBarSymbol.QRCODE, w.ZBarConfig.CFG_ENABLE, 1)
            if self._binary:                # the code's bytes, not libzbar's guess of their text (`_text` guesses)
                w.zbar_image_scanner_set_config(scanner, w.ZBarSymbol.QRCODE, CFG_BINARY, 1)
            pixels = gray.tobytes()
            w.zbar_image_set_format(image, int.from_bytes(b"Y800", "little"))
            w.zbar_image_set_size(image, gray.shape[1], gray.shape[0])
            w.zbar_image_set_data(image, cast(c_char_p(pixels), c_void_p), len(pixels), None)
            if w.zbar_scan_image(scanner, image) <= 0:
                return []
            out, symbol = [], w.zbar_image_first_symbol(image)
            while symbol:
                out.append(string_at(w.zbar_symbol_get_data(symbol), w.zbar_symbol_get_data_length(symbol)))
                symbol = w.zbar_symbol_next(symbol)
            return out
        finally:
            w.zbar_image_destroy(image)
            w.zbar_image_scanner_destroy(scanner)


class OpenCvDecoder:
    """OpenCV's QRCodeDetector: measured for comparison only (slower and reads the least)."""
    name = "opencv"

    def __init__(self) -> None:
        import cv2
        self._detector = cv2.QRCodeDetector()

    def __call__(self, gray: np.ndarray) -> list[str]:
        try:
            ok, texts, _, _ = self._detector.detectAndDecodeMulti(gray)
        except Exception:  # OpenCV raises cv2.error on odd inputs; a decoder never crashes the loop
            return []
        return [t for t in texts if t] if ok else []
