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
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


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


class ZbarDecoder:
    """libzbar0 through pyzbar's ctypes bindings: a different detector, reads some images zxing-cpp misses, and
    joins the symbols of a structured-append code into its one text (zxing-cpp returns each part as if whole).
    Only each symbol's data is asked for: `pyzbar.decode` also turns the symbol's orientation into an enum, which
    zbar leaves unknown (-1) on a joined structured-append symbol, so it raised ValueError and read nothing at all
    in an image holding one."""
    name = "pyzbar"

    def __init__(self) -> None:
        from pyzbar import wrapper
        self._w = wrapper
        self._others = [s for s in wrapper.ZBarSymbol if s != wrapper.ZBarSymbol.QRCODE]

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
