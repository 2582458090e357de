"""Tickets of an unpaid (invoice) order printed at the desk say so: PAYMENT PENDING, PAIEMENT EN ATTENTE for a
French event, on the ESC/POS ticket, both Zebra layouts and the CR80 badge; a paid order's tickets do not. The QR
still verifies, the door still says `unpaid` for them, and a kept ticket paid meanwhile prints without the mark."""
from __future__ import annotations

import time

import numpy as np
import pytest

from agent.payload import read_payload
from agent.ticket_format import Ticket
from drivers.camera.chain import DecoderChain
from drivers.printers.badge import badge_image
from drivers.printers.escpos_render import escpos_text, render_escpos
from drivers.printers.zpl_render import render_zpl, zpl_text
from drivers.testkit.fake_printer import FakePrinter
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed


@pytest.fixture
def kiosk(tmp_path):
    """The demo kiosk; event 1 French. Order INV-1 (invoice, pending) and PAID-1 (paid), one ticket each."""
    demo = seed(tmp_path / "device")
    ledger = demo.door.ledger
    event = next(e for e in ledger.events() if e["event_id"] == 1)
    ledger.upsert_events([dict(event, language="fr")])
    ledger.upsert_tickets([{"ticket_key": str(k), "event_id": 1, "order_number": number, "buyer_name": "Léa",
                            "category": 1, "zone": None, "order_status": status,
                            "payload": demo.key.issue(Ticket(1, 1, k, category=1))}
                           for k, number, status in ((6001, "INV-1", "pending"), (6002, "PAID-1", "paid"))])
    demo.door.reload_names()
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    yield demo, ctl
    demo.door.close()


def _verified(image, demo, ticket_id: int) -> None:
    (text,) = DecoderChain().decode(np.asarray(image.convert("L"))).texts
    decoded = read_payload(text, demo.door.keyring, time.time())
    assert decoded.status == "ok" and decoded.ticket.ticket_id == ticket_id


def test_escpos_ticket_of_an_invoice_order_says_payment_pending_in_the_event_language(kiosk, french):
    demo, ctl = kiosk
    with FakePrinter("escpos") as printer:
        assert ctl.add_printer(f"127.0.0.1:{printer.port}", "escpos") == ""
        assert ctl.print_order("INV-1").ok and ctl.print_order("PAID-1").ok
        unpaid, paid = [j for j in printer.jobs if j]
    assert "*** PAIEMENT EN ATTENTE ***" in escpos_text(unpaid)
    assert not any("ATTENTE" in line for line in escpos_text(paid))
    image, _ = render_escpos(unpaid)
    _verified(image, demo, 6001)
    assert demo.door.ticket_state("6001", at_this_gate=False) == "unpaid"      # the door's verdict unchanged
    assert demo.door.scan(demo.door.ticket("6001")["payload"]).code.value == "unpaid"


@pytest.mark.parametrize("fmt", ["show", "cinema"])
def test_zebra_ticket_of_an_invoice_order_says_payment_pending_both_layouts(kiosk, fmt):
    demo, ctl = kiosk
    demo.door.ledger.upsert_events([dict(demo.door.event(1), language="en")])
    demo.door.reload_names()
    with FakePrinter("zpl") as zebra:
        assert ctl.add_printer(f"127.0.0.1:{zebra.port}", "zpl", fmt) == ""
        assert ctl.print_order("INV-1").ok and ctl.print_order("PAID-1").ok
        assert ctl.print_order("INV-1", reprint=True).ok
        unpaid, paid, copy = [j for j in zebra.jobs if j]
    assert "PAYMENT PENDING" in zpl_text(unpaid) and "PAYMENT PENDING" not in zpl_text(paid)
    assert {"PAYMENT PENDING", "REPRINT"} <= set(zpl_text(copy))
    _verified(render_zpl(unpaid), demo, 6001)
    _verified(render_zpl(copy), demo, 6001)


def test_badge_of_an_invoice_order_says_payment_pending(kiosk):
    demo, ctl = kiosk
    unpaid = ctl.services.printers._printable(demo.door.order("INV-1")[0], reprint=False)
    paid = ctl.services.printers._printable(demo.door.order("PAID-1")[0], reprint=False)
    assert unpaid.payment_pending and unpaid.pending_mark == "PAIEMENT EN ATTENTE" and not paid.payment_pending
    def red(img) -> int:
        return int(np.all(np.asarray(img) == (0xB0, 0x00, 0x20), axis=-1).sum())
    assert red(badge_image(unpaid)) > 200 and red(badge_image(paid)) == 0
    _verified(badge_image(unpaid), demo, 6001)


def test_a_kept_ticket_paid_meanwhile_prints_without_the_mark(kiosk):
    demo, ctl = kiosk
    off = FakePrinter("escpos")
    port = off.port
    off.close()
    assert ctl.add_printer(f"127.0.0.1:{port}", "escpos") == ""
    assert ctl.print_order("INV-1").kept == 1                                  # printer off: kept
    assert demo.door.validate_payment("INV-1", "desk", "card") == 1
    with FakePrinter("escpos", port=port) as printer:
        ((_, result),) = ctl.retry_prints()
        (job,) = [j for j in printer.jobs if j]
    assert result.ok and not any("ATTENTE" in line or "PENDING" in line for line in escpos_text(job))
