"""The till's Z report on paper: ESC/POS bytes for the desk's receipt printer and a PDF (fpdf2) for the organiser.
One layout (server_stub.reports.z_lines) for both and the terminal."""
from __future__ import annotations

from typing import Callable

from drivers.printers.receipt import WIDTH, columns
from drivers.printers.wording import plain
from server_stub.reports import z_lines


def z_escpos(z: dict, when: Callable[[float | None], str]) -> bytes:
    from escpos.printer import Dummy
    p = Dummy()
    p.hw("INIT")
    rows = z_lines(z, when)
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.text(plain(rows[0][0]) + "\n")
    p.set(align="center", bold=False, normal_textsize=True)
    p.text(plain(rows[0][1]) + "\n" + "-" * WIDTH + "\n")
    p.set(align="left", normal_textsize=True)
    for label, value in rows[1:]:
        bold = label in ("Expected cash", "Counted cash", "Difference")
        p.set(align="left", bold=bold, normal_textsize=True)
        p.text(columns(plain(label), plain(value)) + "\n" if label or value else "\n")
    p.text("\n")
    p.cut()
    return p.output


def z_pdf(z: dict, when: Callable[[float | None], str]) -> bytes:
    from fpdf import FPDF
    from server_stub.eticket_pdf import _setup_fonts, _text
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    font = _setup_fonts(pdf)
    pdf.set_font(font, size=16)
    rows = [(_text(font, plain(a)), _text(font, plain(b))) for a, b in z_lines(z, when)]
    pdf.cell(0, 10, f"{rows[0][0]}  {rows[0][1]}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, size=10)
    for label, value in rows[1:]:
        pdf.cell(70, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
