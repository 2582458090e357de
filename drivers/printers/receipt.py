"""The desk's receipt: what a buyer takes home with their tickets, printed on an ESC/POS printer in the event's
language. Items, the promotion applied to each, the total, how it was paid (cash given and change, the card
terminal's reference, invoice pending), the order number and its QR (the kiosk's Find reads it back).

    receipt = Receipt("Opening night", "Sat 5 Dec 2026, 20:00 CET", "D-1042", lines, total_cents=4500,
                      currency="EUR", method="cash", given_cents=5000, language="fr")
    job = receipt_bytes(receipt)          # pure: bytes for the printer
    send_receipt(config, receipt)         # -> PrintResult (drivers.printers.model)

Building is pure (python-escpos' Dummy printer, as `escpos_job`); sending goes through the ESC/POS language's
own transport (raw TCP with DLE EOT status, USB, serial, file).
"""
from __future__ import annotations

import io
from contextlib import redirect_stderr
from dataclasses import asdict, dataclass

from drivers.printers.escpos_job import DEFAULT_PROFILE
from drivers.printers.model import PrintableTicket, PrintResult
from drivers.printers.wording import money, plain, say

METHOD_LABELS = {"cash": "Cash", "card": "Card (terminal)", "invoice": "Invoice", "voucher": "Voucher"}
WIDTH = 42                       # characters per line, font A on 80 mm paper


@dataclass(frozen=True)
class ReceiptLine:
    what: str                    # the category (or pass) name, in the event's language
    quantity: int
    total_cents: int             # after the promotion
    promotion: str = ""          # the promotion's label, '' when none applied
    discount_cents: int = 0


@dataclass(frozen=True)
class Receipt:
    event_name: str
    date_text: str
    order_number: str
    lines: tuple[ReceiptLine, ...]
    total_cents: int
    currency: str = "EUR"
    method: str = "cash"         # cash | card | invoice | voucher
    given_cents: int | None = None     # cash: what the buyer handed over
    payment_ref: str = ""        # card: the terminal's reference; voucher: its number
    buyer_name: str = ""
    sold_at: str = ""            # date and time of the sale, in the event's time zone
    language: str = "en"
    offline: bool = False        # signed with the kiosk's allotment, sent to the server later
    refund: bool = False         # a refund slip: amounts handed back
    copy: bool = False           # printed again (the ticket desk's "Print receipt"): marked REPRINT / DUPLICATA
    parts: tuple[tuple[str, int, str], ...] = ()   # a split payment: (method, cents, reference) each, in order

    def __post_init__(self) -> None:
        if self.method not in METHOD_LABELS:
            raise ValueError(f"payment method {self.method!r}: one of {', '.join(METHOD_LABELS)}")
        object.__setattr__(self, "parts", tuple((str(m), int(c), str(r)) for m, c, r in self.parts))  # (kept as JSON)
        if any(m not in METHOD_LABELS for m, _, _ in self.parts):
            raise ValueError(f"payment parts {self.parts!r}: methods of {', '.join(METHOD_LABELS)}")
        if not self.order_number:
            raise ValueError("a receipt needs its order number")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Receipt":
        """A receipt kept as JSON (the print queue); ValueError, TypeError or KeyError when it is not one."""
        return cls(**{**d, "lines": tuple(ReceiptLine(**line) for line in d["lines"])})

    @property
    def change_cents(self) -> int | None:
        return None if self.given_cents is None else self.given_cents - self.total_cents

    def say(self, text: str, **params: object) -> str:
        return say(self.language, text, **params)

    def money(self, cents: int) -> str:
        return money(cents, self.currency, self.language)

    def rows(self) -> list[tuple[str, str]]:
        """(left, right) text rows of the body, in print order: items, promotions, total, payment."""
        out: list[tuple[str, str]] = []
        for line in self.lines:
            out.append((self.say("{n} x {what}", n=line.quantity, what=plain(line.what)),
                        self.money(line.total_cents)))
            if line.promotion:
                out.append((f"  {self.say('Discount')} {plain(line.promotion)}", self.money(-line.discount_cents)))
        out.append(("", ""))
        out.append((self.say("Refund") if self.refund else self.say("Total"), self.money(self.total_cents)))
        if self.parts:                   # a split payment: each part, its amount and reference
            return out + self._part_rows()
        out.append((self.say("Payment"), self.say(METHOD_LABELS[self.method])))
        if self.method == "cash" and self.given_cents is not None:
            out.append((self.say("Given"), self.money(self.given_cents)))
            out.append((self.say("Change"), self.money(self.change_cents or 0)))
        if self.payment_ref:
            out.append((self.say("Terminal ref.") if self.method == "card" else self.say(METHOD_LABELS[self.method]),
                        plain(self.payment_ref)))
        return out


    def _part_rows(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = [(self.say("Payment"), self.say("split"))]
        for method, cents, ref in self.parts:
            out.append((f"  {self.say(METHOD_LABELS[method])}", self.money(cents)))
            if ref:
                out.append((f"    {self.say('Terminal ref.') if method == 'card' else self.say('Reference')}",
                            plain(ref)))
        cash = sum(c for m, c, _ in self.parts if m == "cash")
        if cash and self.given_cents is not None:
            out.append((self.say("Given"), self.money(self.given_cents)))
            out.append((self.say("Change"), self.money(self.given_cents - cash)))
        return out


def columns(left: str, right: str, width: int = WIDTH) -> str:
    """`left` and `right` on one line of `width` characters (left cut when both do not fit)."""
    room = width - len(right) - 1
    if room < 1:
        return f"{left}\n{right:>{width}}"
    left = left if len(left) <= room else left[:room - 1] + "."
    return f"{left}{' ' * (width - len(left) - len(right))}{right}"


def receipt_bytes(receipt: Receipt, profile: str = DEFAULT_PROFILE, native_qr: bool = True, qr_size: int = 5) -> bytes:
    from escpos.constants import QR_ECLEVEL_M
    from escpos.printer import Dummy
    p = Dummy(profile=profile)
    p.hw("INIT")
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.text(plain(receipt.event_name) + "\n")
    p.set(align="center", normal_textsize=True)
    if receipt.date_text:
        p.text(plain(receipt.date_text) + "\n")
    p.set(align="center", bold=True, normal_textsize=True)
    p.text(f"{receipt.say('RECEIPT')}  {receipt.say('Order')} {plain(receipt.order_number)}\n")
    if receipt.copy:
        p.text(f"*** {receipt.say('REPRINT')} ***\n")
    if receipt.method == "invoice":
        p.text(f"*** {receipt.say('PAYMENT PENDING')} ***\n")
    p.set(align="center", bold=False, normal_textsize=True)
    if receipt.sold_at:
        p.text(plain(receipt.sold_at) + "\n")
    if receipt.buyer_name:
        p.text(f"{receipt.say('Name')}: {plain(receipt.buyer_name)}\n")
    p.text("-" * WIDTH + "\n")
    p.set(align="left", normal_textsize=True)
    for left, right in receipt.rows():
        total = left in (receipt.say("Total"), receipt.say("Refund"))
        p.set(align="left", bold=total, normal_textsize=True)
        p.text(columns(left, right) + "\n" if left or right else "\n")
    p.set(align="center", bold=False, normal_textsize=True)
    if receipt.offline:
        p.text(receipt.say("Sold offline") + "\n")
    p.text("\n")
    with redirect_stderr(io.StringIO()):
        if native_qr:
            p.qr(receipt.order_number, ec=QR_ECLEVEL_M, size=qr_size, native=True)
        else:
            from drivers.printers.escpos_job import qr_image
            p.image(qr_image(receipt.order_number, qr_size), center=False)
    p.text(f"\n#{plain(receipt.order_number)}\n{receipt.say('Thank you')}\n")
    p.cut()
    return p.output


def send_receipt(config, receipt: Receipt) -> PrintResult:
    """Print the receipt on an ESC/POS printer (`config`: a drivers.printers.service.PrinterConfig)."""
    if config.language != "escpos":
        return PrintResult.done(False, "printing failed ({why}). Not printed.", config.host,
                                why=f"a receipt prints on an ESC/POS printer, not {config.language}")
    try:
        job = receipt_bytes(receipt, profile=config.escpos_profile, native_qr=config.native_qr is not False)
        # the language's transport wants the ticket it sends, for its messages only: the order stands in for it
        stand_in = PrintableTicket(receipt.event_name, receipt.date_text, receipt.order_number,
                                   order_number=receipt.order_number, language=receipt.language)
        return config.printer_language.send(config, job, stand_in)
    except Exception as exc:    # a driver bug is still "not printed", with why
        return PrintResult.done(False, "printing failed ({why}). Not printed.", config.host,
                                why=f"{type(exc).__name__}: {exc}")


def report_bytes(rows: tuple[tuple[str, str], ...], profile: str = DEFAULT_PROFILE) -> bytes:
    """A report slip (the till's Z report): the first row, centred and bold, is its title; the others are
    (label, value) columns. The rows come already in the app's language."""
    from escpos.printer import Dummy
    p = Dummy(profile=profile)
    p.hw("INIT")
    p.set(align="center", bold=True, normal_textsize=True)
    p.text(" ".join(plain(x) for x in rows[0]) + "\n" + "-" * WIDTH + "\n")
    p.set(align="left", bold=False, normal_textsize=True)
    for left, right in rows[1:]:
        p.text(columns(plain(left), plain(right)) + "\n")
    p.text("\n")
    p.cut()
    return p.output


def send_report(config, rows: tuple[tuple[str, str], ...], language: str = "en") -> PrintResult:
    """Print a report slip on an ESC/POS printer (`config`: a drivers.printers.service.PrinterConfig)."""
    if config.language != "escpos":
        return PrintResult.done(False, "printing failed ({why}). Not printed.", config.host,
                                why=f"a report prints on an ESC/POS printer, not {config.language}")
    try:
        job = report_bytes(rows, profile=config.escpos_profile)
        title = " ".join(plain(x) for x in rows[0])
        stand_in = PrintableTicket(title, "", title, order_number=title, language=language)
        return config.printer_language.send(config, job, stand_in)
    except Exception as exc:    # a driver bug is still "not printed", with why
        return PrintResult.done(False, "printing failed ({why}). Not printed.", config.host,
                                why=f"{type(exc).__name__}: {exc}")
