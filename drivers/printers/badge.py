"""CR80 badge / pass (85.60 x 53.98 mm, ISO/IEC 7810 ID-1) rendered at 300 dpi to PNG and PDF.

Layout: event band at the top, the holder's name large, category / zone, order number, the signed QR on the
right. The PDF page is exactly the card size with the 300 dpi image on it, for card printers behind CUPS."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from agent.ticket_format import ticket_qr
from drivers.printers.fonts import font
from drivers.printers.model import PrintableTicket

WIDTH_MM, HEIGHT_MM, DPI = 85.60, 53.98, 300
WIDTH_PX, HEIGHT_PX = round(WIDTH_MM / 25.4 * DPI), round(HEIGHT_MM / 25.4 * DPI)   # 1011 x 638


def _fit(draw: ImageDraw.ImageDraw, text: str, max_width: int, size: int, style: str):
    while size > 14:
        f = font(size, style)
        if draw.textlength(text, font=f) <= max_width:
            return f
        size -= 2
    return font(size, style)


def badge_image(t: PrintableTicket, band: str = "#1b3a5c") -> Image.Image:
    img = Image.new("RGB", (WIDTH_PX, HEIGHT_PX), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, WIDTH_PX, 120), fill=band)
    draw.text((40, 28), t.event_name, fill="white", font=_fit(draw, t.event_name, WIDTH_PX - 80, 64, "bold"))
    qr = ticket_qr(t.payload)
    scale = max(3, 400 // qr.symbol_size(scale=1, border=2)[0])
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=2)
    code = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    img.paste(code, (WIDTH_PX - code.width - 30, 120 + (HEIGHT_PX - 120 - code.height) // 2))
    text_w = WIDTH_PX - code.width - 90
    y = 150
    if t.buyer_name:
        draw.text((40, y), t.buyer_name, fill="black", font=_fit(draw, t.buyer_name, text_w, 72, "bold"))
        y += 100
    for line, size in ((t.date_text, 38), (" · ".join(v for v in (t.category, t.zone, t.seat) if v), 44)):
        if line:
            draw.text((40, y), line, fill="black", font=_fit(draw, line, text_w, size, "sans"))
            y += size + 22
    if t.payment_pending:                                    # PAYMENT PENDING / PAIEMENT EN ATTENTE
        draw.text((40, HEIGHT_PX - 200), t.pending_mark, fill="#b00020", font=_fit(draw, t.pending_mark, text_w, 44, "bold"))
    if t.reprint:                                            # REPRINT / DUPLICATA
        draw.text((40, HEIGHT_PX - 140), t.reprint_mark, fill="#b00020", font=font(44, "bold"))
    if t.order_number:
        draw.text((40, HEIGHT_PX - 80), f"#{t.order_number}", fill="#444444", font=font(36, "mono"))
    return img


def badge_png(t: PrintableTicket) -> bytes:
    buf = io.BytesIO()
    badge_image(t).save(buf, format="PNG", dpi=(DPI, DPI))
    return buf.getvalue()


def badge_pdf(t: PrintableTicket, png: bytes | None = None) -> bytes:
    from fpdf import FPDF
    pdf = FPDF(orientation="L", unit="mm", format=(HEIGHT_MM, WIDTH_MM))
    pdf.set_margin(0)
    pdf.set_auto_page_break(False)
    pdf.set_creator("ticketgate")
    pdf.add_page()
    pdf.image(io.BytesIO(png or badge_png(t)), x=0, y=0, w=WIDTH_MM, h=HEIGHT_MM)
    return bytes(pdf.output())
