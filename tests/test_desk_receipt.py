"""The desk receipt (drivers/printers/receipt.py): printed to a TCP printer on 127.0.0.1, rendered back from the
bytes it received, its words in the event's language and its QR read back as the order number."""
from __future__ import annotations

import socket

import numpy as np
import pytest

from drivers.camera.chain import DecoderChain
from drivers.printers.escpos_render import escpos_text, render_escpos
from drivers.printers.receipt import Receipt, ReceiptLine, columns, receipt_bytes, send_receipt
from drivers.printers.service import PrinterConfig
from drivers.printers.wording import money
from drivers.testkit.fake_printer import FakePrinter

LINES = (ReceiptLine("Adult", 4, 4500, "4 for 3", 1500), ReceiptLine("Child", 1, 800))


def _receipt(**kw) -> Receipt:
    base = dict(event_name="Opening night", date_text="Sat 5 Dec 2026, 20:00 CET", order_number="D-1042", lines=LINES,
                total_cents=5300, currency="EUR", method="cash", given_cents=6000, buyer_name="Hélène Dupont")
    return Receipt(**{**base, **kw})


def _qr(data: bytes) -> tuple[str, ...]:
    image, cuts = render_escpos(data)
    assert len(cuts) == 1 and cuts[0] >= image.height - 1              # one receipt, cut at its end
    return DecoderChain().decode(np.asarray(image.convert("L"))).texts


@pytest.mark.parametrize("native_qr", [True, False], ids=["native-qr", "image-qr"])
def test_cash_receipt_printed_rendered_back_in_english(native_qr, artifacts):
    receipt = _receipt()
    with FakePrinter("escpos") as printer:
        result = send_receipt(PrinterConfig("escpos", host=printer.host, port=printer.port, native_qr=native_qr), receipt)
        job = printer.last_job
    assert result.ok and result.bytes_sent == len(job)
    assert job == receipt_bytes(receipt, native_qr=native_qr)
    text = escpos_text(job)
    assert text[:3] == ["Opening night", "Sat 5 Dec 2026, 20:00 CET", "RECEIPT  Order D-1042"]
    assert "Name: Hélène Dupont" in text
    assert columns("4 x Adult", "EUR 45.00") in text
    assert columns("  Discount 4 for 3", "-EUR 15.00") in text
    assert columns("Total", "EUR 53.00") in text and columns("Payment", "Cash") in text
    assert columns("Given", "EUR 60.00") in text and columns("Change", "EUR 7.00") in text
    render_escpos(job)[0].save(artifacts / f"receipt-{'native' if native_qr else 'image'}.png")
    assert _qr(job) == ("D-1042",)


def test_receipt_in_the_events_language_card_and_invoice():
    card = escpos_text(receipt_bytes(_receipt(language="fr", method="card", given_cents=None, payment_ref="TX 88121")))
    assert "REÇU  Commande D-1042" in card and "Nom: Hélène Dupont" in card
    assert columns("4 x Adult", "45,00 EUR") in card and columns("  Remise 4 for 3", "-15,00 EUR") in card
    assert columns("Paiement", "Carte (terminal)") in card and columns("Réf. terminal", "TX 88121") in card
    assert not any(line.startswith("Rendu") for line in card)                 # no change on a card payment
    invoice = escpos_text(receipt_bytes(_receipt(method="invoice", given_cents=None, offline=True)))
    assert "*** PAYMENT PENDING ***" in invoice and "Sold offline" in invoice
    assert columns("Payment", "Invoice") in invoice


def test_buyer_text_cannot_inject_printer_commands():
    job = receipt_bytes(_receipt(buyer_name="Eve\x1d\x56\x00", lines=(ReceiptLine("VIP\x1b@", 1, 100),),
                                 total_cents=100, given_cents=100))
    assert b"Eve\x1d" not in job and b"VIP\x1b" not in job
    assert "Name: Eve\\x1dV\\x00" in escpos_text(job)                          # shown as visible escapes
    assert _qr(job) == ("D-1042",)


def test_bad_receipts_and_printers_are_refused_by_name():
    with pytest.raises(ValueError, match="payment method 'cheque'"):
        _receipt(method="cheque")
    with pytest.raises(ValueError, match="order number"):
        _receipt(order_number="")
    zebra = send_receipt(PrinterConfig("zpl", host="127.0.0.1", port=9), _receipt())
    assert not zebra.ok and "ESC/POS" in zebra.message
    off = socket.socket()
    off.bind(("127.0.0.1", 0))                          # nobody listens: the printer is off
    try:
        result = send_receipt(PrinterConfig("escpos", host="127.0.0.1", port=off.getsockname()[1], timeout=1), _receipt())
    finally:
        off.close()
    assert not result.ok and "Not printed" in result.message


def test_money_in_both_languages():
    assert money(123456, "EUR", "en") == "EUR 1,234.56" and money(123456, "EUR", "fr") == "1 234,56 EUR"
    assert money(-5, "CHF", "en") == "-CHF 0.05" and money(0, "EUR", "fr") == "0,00 EUR"
