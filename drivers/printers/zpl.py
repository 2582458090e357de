"""ZPL II for Zebra ticket printers (203 dpi): the show ticket (landscape 4" x 2") and the cinema ticket
(portrait 2" x 4", reversed header band). Pure: text in, ZPL bytes out. Field data is written with ^FH
hex escapes, so a name or payload containing ^ ~ or _ cannot break the format."""
from __future__ import annotations

from agent.ticket_format import QR_ERROR_LEVEL
from drivers.printers.model import PrintableTicket

DPI = 203


def field(text: str) -> str:
    """^FH^FD…^FS with `_XX` escapes for the characters ZPL would read as commands."""
    text = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    safe = "".join(f"_{ord(c):02X}" if c in "^~_" else c for c in text)
    return f"^FH^FD{safe}^FS"


# QR capacity at error level M (QR_ERROR_LEVEL), versions 1-15: alphanumeric and byte mode (ISO/IEC 18004 table 7)
_ALNUM_M = (20, 38, 61, 90, 122, 154, 178, 221, 262, 311, 366, 419, 483, 528, 600)
_BYTE_M = (14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412)
_ALNUM = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def qr_size(payload: str, mag: int) -> int:
    """Printed width in dots of the QR the printer will make (for layout only; no encoding needed, so fast)."""
    alnum = set(payload) <= _ALNUM
    table, length = (_ALNUM_M, len(payload)) if alnum else (_BYTE_M, len(payload.encode("utf-8")))
    version = next((v for v, cap in enumerate(table, start=1) if length <= cap), 20)
    return (17 + 4 * version) * mag


def _fit(text: str, chars: int, h: int) -> int:
    """A font height at which `text` fits where `chars` characters of height `h` do (not below 22 dots)."""
    return h if len(text) <= chars else max(22, h * chars // len(text))


def _text(x: int, y: int, h: int, text: str, reverse: bool = False) -> str:
    return f"^FO{x},{y}{'^FR' if reverse else ''}^A0N,{h},{h}{field(text)}"


def _qr(x: int, y: int, payload: str, mag: int) -> str:
    return f"^FO{x},{y}^BQN,2,{mag}{field(f'{QR_ERROR_LEVEL}A,' + payload)}"


def show_ticket(t: PrintableTicket, width: int = 812, height: int = 406, mag: int = 5) -> bytes:
    size = qr_size(t.payload, mag)
    qx = width - 30 - size
    out = ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0",
           f"^FO10,10^GB{width - 20},{height - 20},3^FS",
           _text(30, 30, 40, t.event_name[:40]),
           _text(30, 80, 26, t.date_text)]
    qy = max(20, (height - size) // 2)
    if t.reprint:                        # REPRINT / DUPLICATA, reversed: above the QR, or bottom left when it is tall
        x, y = (qx, qy - 46) if qy >= 62 else (30, height - 62)
        out += [f"^FO{x - 6},{y - 6}^GB{max(size, 200) + 12},40,40^FS", _text(x, y, 28, t.reprint_mark, reverse=True)]
    if t.venue:
        out.append(_text(30, 112, 24, t.venue))
    y = 150
    if t.payment_pending:                # PAYMENT PENDING / PAIEMENT EN ATTENTE, reversed, above the details
        out += [f"^FO24,{y - 6}^GB{min(qx - 44, 420)},40,40^FS", _text(30, y, 28, t.pending_mark[:24], reverse=True)]
        y += 46
    for label, value in t.lines():
        out.append(_text(30, y, 24, f"{label}: {value}"[:38]))
        y += 32
    out += [_qr(qx, qy, t.payload, mag), "^PQ1", "^XZ"]
    return "\n".join(out).encode("utf-8")


def cinema_ticket(t: PrintableTicket, width: int = 406, height: int = 812, mag: int = 5) -> bytes:
    size = qr_size(t.payload, mag)
    out = ["^XA", "^CI28", f"^PW{width}", f"^LL{height}", "^LH0,0",
           f"^FO0,0^GB{width},90,90^FS",                                   # black band
           _text(20, 24, _fit(t.event_name[:30], 16, 40), t.event_name[:30], reverse=True)]
    day, _, hours = t.date_text.partition(", ")            # 2" wide: the day, then the hours and zone below
    out += [_text(20, 102, 26, day), _text(20, 132, 26, hours)] if hours else [_text(20, 110, 26, t.date_text)]
    if t.venue:
        out.append(_text(20, 162, 22, t.venue))
    place = "  ".join(v for v in (t.zone, t.seat) if v)
    if place:
        out.append(_text(20, 190, 40, place[:18]))
    y = 250
    if t.reprint:
        out += [f"^FO20,{y - 6}^GB{width - 40},38,38^FS", _text(30, y, 28, t.reprint_mark, reverse=True)]
        y += 44
    if t.payment_pending:
        out += [f"^FO20,{y - 6}^GB{width - 40},38,38^FS",
                _text(30, y, _fit(t.pending_mark, 16, 28), t.pending_mark, reverse=True)]
        y += 44
    for key, value in t.fields():
        if key in ("Zone", "Seat"):
            continue
        out.append(_text(20, y, 24, f"{t.say(key)}: {value}"[:28]))
        y += 30
    out += [f"^FO20,{height - size - 120}^GB{width - 40},0,2^FS",
            _qr((width - size) // 2, height - size - 90, t.payload, mag),
            _text(20, height - 60, 22, f"#{t.order_number}" if t.order_number else ""), "^PQ1", "^XZ"]
    return "\n".join(out).encode("utf-8")


FORMATS = {"show": show_ticket, "cinema": cinema_ticket}
