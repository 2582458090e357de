"""Render ZPL back to an image: the subset our formats emit (^XA ^XZ ^CI ^PW ^LL ^LH ^FO ^A0 ^FH ^FD ^FS ^FR
^GB ^BQ ^PQ). Any other command raises RenderError. Text uses a TrueType font at the ZPL height; QR codes
are re-encoded from the field data with the error level it names, at the ^BQ magnification."""
from __future__ import annotations

import re

import numpy as np
from PIL import Image, ImageDraw

from agent.errors import TicketgateError
from drivers.printers.fonts import font


class RenderError(TicketgateError, ValueError):
    pass


_CMD = re.compile(r"[\^~]([A-Z@][A-Z0-9@]?)")


def _unescape(data: str, escape: str | None) -> str:
    if not escape:
        return data
    raw = bytearray()
    i = 0
    enc = data.encode("utf-8")
    esc = escape.encode()
    while i < len(enc):
        if enc[i:i + 1] == esc and i + 2 < len(enc) + 1:
            raw.append(int(enc[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(enc[i])
            i += 1
    return raw.decode("utf-8")


MAX_DOTS = 4000     # 20 inches at 203 dpi: anything larger is a broken label, not something to allocate


def zpl_text(data: bytes) -> list[str]:
    """The text fields of the label, in the order they are drawn (as the renderer reads them)."""
    texts: list[str] = []
    _render(data, texts)
    return texts


def render_zpl(data: bytes) -> Image.Image:
    """The label as an image. Raises RenderError for anything it cannot render."""
    try:
        return _render(data)
    except RenderError:
        raise
    except (IndexError, ValueError, LookupError) as exc:
        raise RenderError(f"cannot render: {type(exc).__name__}: {exc}") from None


def _render(data: bytes, texts: list[str] | None = None) -> Image.Image:
    text = data.decode("utf-8")
    width, height, origin = 812, 1218, (0, 0)
    pos, fnt_h, reverse, escape, field_kind, qr_mag = (0, 0), 30, False, None, "text", 2
    page: Image.Image | None = None
    tokens = [(m.group(1), m.start(), m.end()) for m in _CMD.finditer(text)]
    i = 0
    while i < len(tokens):
        cmd, start, end = tokens[i]
        if cmd.startswith("A") and cmd != "A@":                          # ^A0N,h,w : font letter glued on
            cmd, arg_start = "A", start + 2
        else:
            arg_start = end
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else len(text)
        if cmd == "FD":                                                   # data runs to the next ^FS
            fs = text.find("^FS", arg_start)
            if fs < 0:
                raise RenderError("^FD without ^FS")
            value = _unescape(text[arg_start:fs], escape)
            if texts is not None and field_kind == "text" and value:
                texts.append(value)
            page = page or Image.new("L", (width, height), 255)
            _draw_field(page, field_kind, value, (origin[0] + pos[0], origin[1] + pos[1]), fnt_h, qr_mag, reverse)
            while i + 1 < len(tokens) and tokens[i + 1][1] < fs:
                i += 1
            i += 1
            continue
        args = text[arg_start:nxt].strip().split(",")
        if cmd == "XA":
            page, reverse, escape, field_kind = None, False, None, "text"
        elif cmd in ("XZ", "CI", "PQ"):
            pass
        elif cmd == "PW":
            width = _dots(args[0])
        elif cmd == "LL":
            height = _dots(args[0])
        elif cmd == "LH":
            origin = (int(args[0]), int(args[1]))
        elif cmd == "FO":
            pos = (int(args[0]), int(args[1]))
        elif cmd == "A":
            fnt_h = _dots(args[1]) if len(args) > 1 and args[1] else fnt_h
            field_kind = "text"
        elif cmd == "FH":
            escape = text[arg_start:nxt][:1] or "_"
        elif cmd == "FR":
            reverse = True
        elif cmd == "BQ":
            field_kind, qr_mag = "qr", int(args[2]) if len(args) > 2 and args[2] else 2
            if not 1 <= qr_mag <= 10:
                raise RenderError(f"^BQ magnification {qr_mag} out of 1..10")
        elif cmd == "GB":
            page = page or Image.new("L", (width, height), 255)
            w, h, t = (_dots(a) if a and a != "0" else 1 for a in (args + ["", "", ""])[:3])
            _draw_box(page, (origin[0] + pos[0], origin[1] + pos[1]), w, h, t, reverse)
        elif cmd == "FS":
            reverse, escape, field_kind = False, None, "text"
        else:
            raise RenderError(f"ZPL command ^{cmd} not supported by this renderer")
        i += 1
    return page or Image.new("L", (width, height), 255)


def _dots(value: str) -> int:
    n = int(value)
    if not 0 < n <= MAX_DOTS:
        raise RenderError(f"label size {n} dots out of range")
    return n


def _paint(page: Image.Image, mask: Image.Image, at: tuple[int, int], reverse: bool) -> None:
    """Black where mask is set; with ^FR, invert what is underneath instead."""
    region = (at[0], at[1], at[0] + mask.width, at[1] + mask.height)
    under = np.asarray(page.crop(region)).copy()
    m = np.asarray(mask) > 0
    under[m] = 255 - under[m] if reverse else 0
    page.paste(Image.fromarray(under), region[:2])


def _draw_box(page, at, w, h, t, reverse) -> None:
    w, h = max(w, t), max(h, t)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    if t * 2 >= min(w, h):
        draw.rectangle((0, 0, w - 1, h - 1), fill=255)
    else:
        for k in range(t):
            draw.rectangle((k, k, w - 1 - k, h - 1 - k), outline=255)
    _paint(page, mask, at, reverse)


def _draw_field(page, kind, value, at, h, mag, reverse) -> None:
    if kind == "qr":
        import segno
        ecl, _, payload = value.partition(",")
        if len(ecl) != 2 or ecl[0] not in "HQML":
            raise RenderError(f"^BQ data must start with <ecl><mode>, got {value[:4]!r}")
        qr = segno.make_qr(payload, error=ecl[0].lower(), boost_error=False)
        m = np.kron(np.array(qr.matrix, np.uint8) * 255, np.ones((mag, mag), np.uint8))
        _paint(page, Image.fromarray(m), at, reverse)
        return
    if not value:
        return
    f = font(h, "bold")
    w = int(f.getlength(value)) + 2
    mask = Image.new("L", (w, h + 4), 0)
    ImageDraw.Draw(mask).text((0, 0), value, fill=255, font=f)
    _paint(page, mask.point(lambda p: 255 if p > 96 else 0), at, reverse)
