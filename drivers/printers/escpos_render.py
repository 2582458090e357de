"""Render ESC/POS bytes back to an image: the subset our tickets use, byte-exact (to check what was printed).

Text (ESC ! / GS ! sizes, ESC E bold, ESC a align, ESC t code pages of the python-escpos profile), native QR
(GS ( k: model, module size, error level, store, print), raster images (GS v 0), feeds, cut. Status queries
(DLE EOT) print nothing. Any other command raises RenderError, so a test notices a command we did not expect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from agent.errors import TicketgateError
from drivers.printers.escpos_job import DEFAULT_PROFILE
from drivers.printers.fonts import font

ESC, GS, DLE, LF = 0x1B, 0x1D, 0x10, 0x0A
_ECL = {48: "L", 49: "M", 50: "Q", 51: "H"}


@dataclass
class _QrSetup:
    """The QR the printer holds (GS ( k): module size, error level, stored data."""
    size: int = 3
    ecl: str = "L"
    data: bytes = b""


class RenderError(TicketgateError, ValueError):
    pass


def _codepages(profile: str) -> dict[int, str]:
    from escpos.capabilities import get_profile
    from escpos.codepages import CodePages
    out = {}
    for name, index in get_profile(profile).get_code_pages().items():
        try:
            out[int(index)] = CodePages.get_encoding_name(name)
        except Exception:
            continue
    return out


class EscPosRenderer:
    def __init__(self, width: int = 512, profile: str = DEFAULT_PROFILE, font_px: int = 24):
        self.width, self.font_px = width, font_px
        self.codepages = _codepages(profile)
        self.font = font(font_px - 5, "mono")
        self.blocks: list[Image.Image] = []
        self.cuts: list[int] = []            # y position of each cut
        self.texts: list[str] = []           # each printed line as text, decoded with the printer's code page
        self._reset()
        self._line: list[tuple[str, dict]] = []

    def _reset(self) -> None:
        self.align, self.bold, self.wmul, self.hmul, self.encoding = 0, False, 1, 1, self.codepages.get(0, "cp437")
        self.qr = _QrSetup()

    # -- output ------------------------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return sum(b.height for b in self.blocks)

    def _place(self, img: Image.Image) -> None:
        row = Image.new("L", (self.width, img.height), 255)
        x = {0: 0, 1: (self.width - img.width) // 2, 2: self.width - img.width}.get(self.align, 0)
        row.paste(img, (max(0, x), 0))
        self.blocks.append(row)

    def _flush_line(self, force: bool) -> None:
        if not self._line and not force:
            return
        self.texts.append("".join(text for text, _ in self._line))
        h = max([self.font_px * s["h"] for _, s in self._line], default=self.font_px)
        parts = []
        for text, s in self._line:
            w = max(1, int(self.font.getlength(text)) + (1 if s["bold"] else 0))
            img = Image.new("L", (w, self.font_px), 255)
            draw = ImageDraw.Draw(img)
            draw.text((0, 1), text, fill=0, font=self.font)
            if s["bold"]:
                draw.text((1, 1), text, fill=0, font=self.font)
            parts.append(img.resize((w * s["w"], self.font_px * s["h"])))
        line = Image.new("L", (max(1, sum(p.width for p in parts)), h), 255)
        x = 0
        for p in parts:
            line.paste(p, (x, h - p.height))
            x += p.width
        self._place(line)
        self._line = []

    def _text(self, data: bytes) -> None:
        self._line.append((data.decode(self.encoding, "replace"), {"w": self.wmul, "h": self.hmul, "bold": self.bold}))

    def image(self) -> Image.Image:
        page = Image.new("L", (self.width, max(1, self.height)), 255)
        y = 0
        for b in self.blocks:
            page.paste(b, (0, y))
            y += b.height
        return page

    # -- parsing -----------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> "EscPosRenderer":
        i, n = 0, len(data)
        text_start = None
        while i < n:
            b = data[i]
            if b in (ESC, GS, DLE, LF):
                if text_start is not None:
                    self._text(data[text_start:i])
                    text_start = None
                i = self._command(data, i)
            elif b < 0x20:
                raise RenderError(f"unexpected control byte 0x{b:02x} at {i}")
            else:
                if text_start is None:
                    text_start = i
                i += 1
        if text_start is not None:
            self._text(data[text_start:])
        return self

    def _command(self, d: bytes, i: int) -> int:
        b = d[i]
        if b == LF:
            self._flush_line(force=True)
            return i + 1
        if b == DLE:
            if d[i + 1] == 0x04:
                return i + 3
            raise RenderError(f"unknown DLE command at {i}")
        c = d[i + 1]
        if b == ESC:
            if c == 0x40:                                   # ESC @
                self._reset()
                return i + 2
            arg = d[i + 2]
            if c == 0x21:                                   # ESC ! n
                self.bold = bool(arg & 0x08)
                self.hmul, self.wmul = (2 if arg & 0x10 else 1), (2 if arg & 0x20 else 1)
            elif c == 0x45:
                self.bold = bool(arg & 1)
            elif c == 0x61:
                self.align = arg % 48 if arg >= 48 else arg
            elif c == 0x74:
                self.encoding = self.codepages.get(arg, "cp437")
            elif c == 0x64:                                 # ESC d n: feed n lines
                self._flush_line(False)
                if arg:
                    self.blocks.append(Image.new("L", (self.width, arg * self.font_px), 255))
            elif c in (0x2D, 0x4D, 0x7B, 0x47):             # underline, font, upside down, double strike: ignored
                pass
            else:
                raise RenderError(f"unknown ESC 0x{c:02x} at {i}")
            return i + 3
        # GS
        if c == 0x21:                                       # GS ! n
            arg = d[i + 2]
            self.wmul, self.hmul = (arg >> 4) + 1, (arg & 0x0F) + 1
            return i + 3
        if c in (0x62, 0x42):                               # smoothing, reverse: ignored
            return i + 3
        if c == 0x56:                                       # GS V m [n]
            self._flush_line(False)
            self.cuts.append(self.height)
            return i + (4 if d[i + 2] in (65, 66, 97, 98) else 3)
        if c == 0x28 and d[i + 2] == 0x6B:                  # GS ( k pL pH cn fn ...
            size = d[i + 3] | d[i + 4] << 8
            body = d[i + 5:i + 5 + size]
            self._qr(body)
            return i + 5 + size
        if c == 0x76 and d[i + 2] == 0x30:                  # GS v 0 m xL xH yL yH data
            xb = d[i + 4] | d[i + 5] << 8
            yd = d[i + 6] | d[i + 7] << 8
            raw = np.frombuffer(d[i + 8:i + 8 + xb * yd], np.uint8)
            if raw.size != xb * yd:
                raise RenderError("truncated raster image")
            bits = np.unpackbits(raw).reshape(yd, xb * 8)
            self._flush_line(False)
            self._place(Image.fromarray(np.where(bits, 0, 255).astype(np.uint8)))
            return i + 8 + xb * yd
        raise RenderError(f"unknown GS 0x{c:02x} at {i}")

    def _qr(self, body: bytes) -> None:
        cn, fn = body[0], body[1]
        if cn != 0x31:
            raise RenderError(f"2D code type {cn} not supported")
        if fn == 0x41:
            pass                                            # model 2
        elif fn == 0x43:
            if not 1 <= body[2] <= 16:
                raise RenderError(f"QR module size {body[2]} out of 1..16")
            self.qr.size = body[2]
        elif fn == 0x45:
            self.qr.ecl = _ECL.get(body[2], "L")
        elif fn == 0x50:
            self.qr.data = bytes(body[3:])
        elif fn == 0x51:
            import segno
            self._flush_line(False)
            qr = segno.make_qr(self.qr.data.decode("latin-1"), error=self.qr.ecl, boost_error=False)
            m = np.array(qr.matrix, np.uint8)
            img = np.kron(np.where(m, 0, 255).astype(np.uint8), np.ones((self.qr.size,) * 2, np.uint8))
            self._place(Image.fromarray(img))
        else:
            raise RenderError(f"QR function {fn} not supported")


def escpos_text(data: bytes, width: int = 512) -> list[str]:
    """The lines of text a printer would print from these bytes (as the renderer decodes them)."""
    r = EscPosRenderer(width).feed(data)
    r._flush_line(False)
    return [t for t in r.texts if t]


def render_escpos(data: bytes, width: int = 512) -> tuple[Image.Image, list[int]]:
    """(page image, y positions of cuts). Raises RenderError for anything it cannot render, truncated input included."""
    try:
        r = EscPosRenderer(width).feed(data)
        r._flush_line(False)
        return r.image(), r.cuts
    except RenderError:
        raise
    except (IndexError, ValueError, LookupError) as exc:
        raise RenderError(f"cannot render: {type(exc).__name__}: {exc}") from None
