"""E-ticket as a PNG (Pillow): the QR on the left, event and ticket details on the right."""
from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from server_stub.eticket_content import ETicket, font_file, lines, make_qr

WIDTH, HEIGHT, MARGIN = 1200, 620, 40


@lru_cache(maxsize=32)
def _font(size: int, bold: bool = False):
    path = font_file(bold)
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size=size)


def qr_image(payload: str, size: int) -> Image.Image:
    qr = make_qr(payload)
    buf = io.BytesIO()
    modules = qr.symbol_size(scale=1, border=4)[0]
    qr.save(buf, kind="png", scale=max(1, size // modules), border=4)
    buf.seek(0)
    return Image.open(buf).convert("L")


def render_image(e: ETicket) -> Image.Image:
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    qr = qr_image(e.payload, HEIGHT - 2 * MARGIN)
    img.paste(qr, (MARGIN, (HEIGHT - qr.height) // 2))
    x, y = MARGIN * 2 + qr.width, MARGIN
    right = WIDTH - MARGIN
    draw.text((x, y), e.organiser, fill="#555555", font=_font(24))
    y += 40
    title = _font(44, bold=True)
    for chunk in _wrap(draw, e.title, title, right - x)[:2]:
        draw.text((x, y), chunk, fill="black", font=title)
        y += 54
    small = _font(22 if len(e.when) > 2 else 26)
    for line in e.when[:4]:
        draw.text((x, y), line, fill="black", font=small)
        y += 36
    y += 14
    label, value = _font(22), _font(30, bold=True)
    for k, v in lines(e):
        draw.text((x, y + 6), k.upper(), fill="#666666", font=label)
        draw.text((x + 140, y), _wrap(draw, v, value, right - x - 140)[0], fill="black", font=value)
        y += 44
    if e.note:
        draw.text((x, y + 10), e.note, fill="#b00020", font=_font(30, bold=True))
    return img


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    words, out, line = text.split(), [], ""
    for w in words:
        candidate = f"{line} {w}".strip()
        if draw.textlength(candidate, font=font) <= width or not line:
            line = candidate
        else:
            out.append(line)
            line = w
    return out + [line] if line or not out else out


def render_png(e: ETicket) -> bytes:
    buf = io.BytesIO()
    render_image(e).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
