"""ESC/POS ticket bytes built with python-escpos (Dummy printer): text, native QR (GS ( k) or raster image
fallback (GS v 0), cut. Building is pure (bytes out); sending is `transport`."""
from __future__ import annotations

import io
from contextlib import redirect_stderr

from agent.ticket_format import QR_ERROR_LEVEL, ticket_qr
from drivers.printers.model import PrintableTicket
from drivers.printers.wording import plain          # PrintableTicket cleans its text already; kept at the edge

DEFAULT_PROFILE = "TM-T88V"   # 80 mm, 512 dots at 180 dpi; most 80 mm printers accept its command set


def ticket_bytes(ticket: PrintableTicket, profile: str = DEFAULT_PROFILE, native_qr: bool | None = True,
                 qr_size: int = 6) -> bytes:
    """native_qr: True sends GS ( k, False a raster image, None decides from the printer profile's capabilities."""
    from escpos import constants
    from escpos.printer import Dummy
    p = Dummy(profile=profile)
    if native_qr is None:
        native_qr = bool(p.profile.supports("qrCode"))
    p.hw("INIT")                                     # ESC @: whatever a previous job left set
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.text(plain(ticket.event_name) + "\n")
    if ticket.reprint:                              # REPRINT / DUPLICATA: a copy, not a second ticket
        p.set(align="center", bold=True, double_height=True)
        p.text(f"*** {ticket.reprint_mark} ***\n")
    if ticket.payment_pending:                      # PAYMENT PENDING / PAIEMENT EN ATTENTE: not paid yet
        p.set(align="center", bold=True, double_height=True)
        p.text(f"*** {ticket.pending_mark} ***\n")
    p.set(align="center", normal_textsize=True)
    if ticket.venue:
        p.text(plain(ticket.venue) + "\n")
    p.text(plain(ticket.date_text) + "\n\n")
    p.set(align="left", normal_textsize=True)
    for label, value in ticket.lines():
        p.set(align="left", bold=True, normal_textsize=True)
        p.text(f"{label}: ")
        p.set(align="left", bold=False, normal_textsize=True)
        p.text(plain(value) + "\n")
    p.text("\n")
    p.set(align="center", normal_textsize=True)
    with redirect_stderr(io.StringIO()):            # escpos warns about centering on some profiles
        if native_qr:
            p.qr(ticket.payload, ec=getattr(constants, f"QR_ECLEVEL_{QR_ERROR_LEVEL}"), size=qr_size, native=True)
        else:
            p.image(qr_image(ticket.payload, qr_size), center=False)
    p.text("\n" + (ticket.order_number and f"#{plain(ticket.order_number)}\n" or ""))
    p.cut()
    return p.output


def qr_image(payload: str, scale: int):
    """The QR as a 1-bit PIL image (for printers without the native QR command)."""
    from PIL import Image
    qr = ticket_qr(payload)
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=2)
    buf.seek(0)
    return Image.open(buf).convert("1")
