"""QR codes for the technician: one enrollment QR per device and the hotspot's Wi-Fi join QR,
rendered with segno (PNG/SVG) and laid out on printable sheets (PDF with fpdf2, or one PNG with Pillow).
Files are written 0600: an enrollment code enrolls a device, a Wi-Fi QR holds the hotspot's password.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import segno

from agent import private_files

from provisioning.protocol import BadInput, show_code

SHEETS = (".pdf", ".png")
IMAGES = (".png", ".svg")


@dataclass(frozen=True)
class SheetItem:
    qr_text: str       # what the QR holds
    title: str         # printed above: gate, number
    code: str          # the hand-typed fallback, printed below
    subtitle: str = ""


def check_out(path: str | Path, suffixes: Sequence[str] = SHEETS) -> Path:
    """The file a sheet or an image goes to, checked before anything is made for it (a sheet's codes): its kind by
    extension and its folder, in words naming what the technician typed."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise BadInput(f"{'sheets' if suffixes == SHEETS else 'QR images'} are {' or '.join(suffixes)}")
    if not path.parent.is_dir():
        raise BadInput(f"cannot write {path}: there is no folder {path.parent}")
    return path


def write_private(path: Path, data: bytes) -> None:
    """0600 from its first byte, replaced atomically, no partial file left; a full or read-only disk said plainly,
    naming the file asked for (not the temporary one)."""
    try:
        private_files.write_private(path, data)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}; nothing was written") from None


def make(text: str) -> segno.QRCode:
    return segno.make(text, error="m", micro=False)


def save(text: str, path: str | Path, scale: int = 8) -> Path:
    """PNG or SVG by extension."""
    path = check_out(path, IMAGES)
    buf = io.BytesIO()
    make(text).save(buf, kind=path.suffix.lower().lstrip("."), scale=scale, border=4)
    write_private(path, buf.getvalue())
    return path


def png_bytes(text: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    make(text).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def sheet(items: Sequence[SheetItem], path: str | Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """A printable sheet: PDF (A4, 3x4 per page) or PNG (one tall image) by extension."""
    path = check_out(path)
    return (_pdf if path.suffix.lower() == ".pdf" else _png)(items, path, progress)


def _pdf(items: Sequence[SheetItem], path: Path, progress) -> Path:
    from fpdf import FPDF
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    cols, rows, cell_w, cell_h, qr_mm = 3, 4, 66.0, 70.0, 48.0
    for i, item in enumerate(items):
        if i % (cols * rows) == 0:
            pdf.add_page()
        col, row = i % cols, (i // cols) % rows
        x, y = 6 + col * cell_w, 8 + row * cell_h
        pdf.set_font("Helvetica", "B", 10)
        pdf.set_xy(x, y)
        pdf.cell(cell_w - 4, 5, item.title[:40], align="C")
        pdf.image(io.BytesIO(png_bytes(item.qr_text, scale=6)), x=x + (cell_w - 4 - qr_mm) / 2, y=y + 6, w=qr_mm, h=qr_mm)
        pdf.set_font("Courier", "B", 12)
        pdf.set_xy(x, y + 56)
        pdf.cell(cell_w - 4, 5, show_code(item.code) if item.code else "", align="C")
        if item.subtitle:
            pdf.set_font("Helvetica", "", 7)
            pdf.set_xy(x, y + 62)
            pdf.cell(cell_w - 4, 4, item.subtitle[:60], align="C")
        if progress:
            progress(i + 1, len(items))
    write_private(path, bytes(pdf.output()))
    return path


def _png(items: Sequence[SheetItem], path: Path, progress) -> Path:
    from PIL import Image, ImageDraw
    cols, cell = 3, 300
    rows = max(1, (len(items) + cols - 1) // cols)
    img = Image.new("RGB", (cols * cell, rows * (cell + 60)), "white")
    draw = ImageDraw.Draw(img)
    for i, item in enumerate(items):
        x, y = (i % cols) * cell, (i // cols) * (cell + 60)
        draw.text((x + 10, y + 5), item.title[:40], fill="black")
        qr_img = Image.open(io.BytesIO(png_bytes(item.qr_text, scale=4))).convert("RGB")
        qr_img.thumbnail((cell - 20, cell - 20))
        img.paste(qr_img, (x + (cell - qr_img.width) // 2, y + 22))
        draw.text((x + 10, y + cell + 25), show_code(item.code) if item.code else "", fill="black")
        if progress:
            progress(i + 1, len(items))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_private(path, buf.getvalue())
    return path
