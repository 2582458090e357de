"""E-ticket as an A4 PDF (fpdf2): QR drawn as vector squares (sharp at any zoom or printer), details beside it."""
from __future__ import annotations

from typing import Sequence

from fpdf import FPDF

from agent.errors import InvalidInput
from server_stub.eticket_content import FOOTER, ETicket, font_file, lines, make_qr

QR_MM = 70.0


def _setup_fonts(pdf: FPDF) -> str:
    regular, bold = font_file(), font_file(bold=True)
    if regular and bold:
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return "DejaVu"
    return "Helvetica"   # core font: Latin-1 only (text is transliterated below)


def _text(font: str, s: str) -> str:
    return s if font == "DejaVu" else s.encode("latin-1", "replace").decode("latin-1")


def draw_qr(pdf: FPDF, payload: str, x: float, y: float, size: float) -> None:
    matrix = make_qr(payload).matrix
    n = len(matrix) + 8                       # 4 modules of quiet zone each side
    module = size / n
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):                   # one rectangle per horizontal run of dark modules
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                pdf.rect(x + (start + 4) * module, y + (r + 4) * module, (c - start) * module, module, style="F")
            else:
                c += 1


def render_pdf(tickets: ETicket | Sequence[ETicket]) -> bytes:
    """One A4 page per ticket (an order's tickets in one file: fonts are embedded once)."""
    items = [tickets] if isinstance(tickets, ETicket) else list(tickets)
    if not items:
        raise InvalidInput("no ticket to render")
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_title(f"{items[0].title} - {items[0].order_number}")
    pdf.set_creator("ticketgate")
    font = _setup_fonts(pdf)
    for e in items:
        pdf.add_page()
        _page(pdf, font, e)
    return bytes(pdf.output())


def _page(pdf: FPDF, font: str, e: ETicket) -> None:
    t = lambda s: _text(font, s)  # noqa: E731
    pdf.set_draw_color(180, 180, 180)
    pdf.rect(10, 10, 190, 100)
    draw_qr(pdf, e.payload, 15, 15, QR_MM + 20)
    x = 110
    pdf.set_xy(x, 16)
    pdf.set_font(font, "", 10)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(85, 6, t(e.organiser), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(font, "B", 16)
    pdf.set_x(x)
    pdf.multi_cell(85, 7, t(e.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 9 if len(e.when) > 2 else 10)
    for line in e.when[:6]:
        pdf.set_x(x)
        pdf.multi_cell(85, 5, t(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for label, value in lines(e):
        pdf.set_x(x)
        pdf.set_font(font, "", 8)
        pdf.set_text_color(100, 100, 100)
        pdf.cell(20, 6, t(label.upper()))
        pdf.set_font(font, "B", 11)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(65, 6, t(value), new_x="LMARGIN", new_y="NEXT")
    if e.note:
        pdf.set_x(x)
        pdf.set_font(font, "B", 12)
        pdf.set_text_color(176, 0, 32)
        pdf.cell(85, 8, t(e.note), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(90, 90, 90)
    pdf.set_font(font, "", 8)
    pdf.set_xy(10, 114)
    pdf.multi_cell(190, 4, t(e.say(FOOTER)))
