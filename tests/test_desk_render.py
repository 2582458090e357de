"""The desk's screens rendered offscreen (EN and FR; 5" 720×1280 and 10" 1200×1920) driving the real server through a
real mosquitto (tests/desk_scenario.py): cart (stock left, sold out, promotion, total), payment (cash given, change
due, card without reference refused, invoice pending), an online sale the server prices, reserves and signs, then
with the server silent a sale signed within the kiosk's allotment, reconciled when it is back, then a refund at the
ticket desk; the tickets printed on a Zebra and the receipts on an ESC/POS printer (TCP on 127.0.0.1), rendered
back from the bytes received and their QR read and verified with the kiosk's keys."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from agent.keyring import Keyring
from agent.payload import read_payload
from drivers.camera.chain import DecoderChain
from drivers.printers.escpos_render import escpos_text, render_escpos
from drivers.printers.zpl_render import render_zpl
from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "desk"
SIZES = {"5in": (720, 1280), "10in": (1200, 1920)}


def _run(out: Path, size: tuple[int, int], lang: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("desk_scenario.py", str(out), str(size[0]), str(size[1]), lang)
    res = json.loads((out / "desk_results.json").read_text())
    res["jobs"] = json.loads((out / "desk_jobs.json").read_text())
    return res


@pytest.fixture(scope="module", params=[(lang, size) for lang in ("en", "fr") for size in SIZES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def run(request) -> tuple[str, str, dict]:
    lang, size = request.param
    return lang, size, _run(OUT / f"{lang}-{size}", SIZES[size], lang)


WORDS = {
    "en": {"left": "60 left", "sold_out": "Sold out", "total": "Total: EUR 129.00", "to_pay": "To pay: EUR 129.00",
           "change": "Change due: EUR 21.00", "choose": "Choose the tickets.", "promo": "Promotion: -10% (SPRING), 4 for 3",
           "short": "The cash given does not cover the total.", "sold": "5 tickets sold.", "offline": "Sold offline",
           "pending": "Payment pending (invoice).", "tile": "Sell tickets", "unknown": "Unknown promo code NOPE.",
           "refunded": "refunded: hand back EUR 129.00", "reason": "Buyer cannot come"},
    "fr": {"left": "60 restants", "sold_out": "Épuisé", "total": "Total : 129,00 EUR", "to_pay": "À payer : 129,00 EUR",
           "change": "Rendu : 21,00 EUR", "choose": "Choisissez les billets.",
           "promo": "Promotion : -10% (SPRING), 4 for 3", "short": "Le montant remis ne couvre pas le total.",
           "sold": "5 billets vendus.", "offline": "Vendu hors ligne", "pending": "Paiement en attente (facture).",
           "tile": "Vendre des billets", "unknown": "Code promo NOPE inconnu.",
           "refunded": "remboursée : rendez 129,00 EUR", "reason": "L'acheteur ne peut pas venir"},
}


def test_cart_shows_stock_sold_out_promotion_and_total(run):
    lang, _, res = run
    w = WORDS[lang]
    assert w["tile"] in res["menu"]
    empty = res["cart_empty"]
    assert empty["pay_disabled"] and empty["problem"] == w["choose"]
    standard, vip, child = empty["rows"]
    # 60 on sale; once the server's word on the kiosk's allotment (20 held) reaches the screen, 40 of them elsewhere:
    # the screen is read as the first catalogue arrives, before or after that word
    left = standard[0].splitlines()[-1]
    assert left in (w["left"], w["left"].replace("60", "40")), standard
    assert w["sold_out"] in child[0]
    cart = res["cart"]
    assert [r[2] for r in cart["rows"]] == ["4", "1", "0"]
    assert cart["total"] == w["total"] and not cart["pay_disabled"] and cart["problem"] == w["promo"]
    # the promo code reached the cart through the app's scan routing (a laser read while the sell screen is shown)
    assert res["promo_scanned"] == {"field": "spring", "flow": "spring"}
    assert res["bad_promo"]["pay_disabled"] and w["unknown"] in res["bad_promo"]["problem"]


def test_payment_change_due_and_refusals(run):
    lang, _, res = run
    w = WORDS[lang]
    assert res["pay_screen"] == "pay"
    assert res["short_cash"] == {"problem": w["short"], "confirm_disabled": True}
    assert res["payment"]["to_pay"] == w["to_pay"] and res["payment"]["change"] == w["change"]
    assert res["payment"]["confirm_disabled"] is False
    assert res["card_no_ref"]["confirm_disabled"] is True


def test_online_sale_then_offline_sale_reconciled_and_refund(run):
    lang, _, res = run
    w = WORDS[lang]
    assert res["refill"] == ""                                  # the allotment, granted online
    online = res["online"]
    assert online["ok"] and not online["offline"] and res["sold_screen"] == "sold"
    assert w["sold"] in online["headline"] and w["offline"] not in online["headline"]
    assert len(online["tickets"]) == 5 and online["server_states"] == ["paid"] * 5
    assert online["ticket_print"] and online["receipt_print"]
    # the stock the kiosk shows comes back from the server: 5 sold and 20 held by the allotment
    assert res["stock_updated"]
    assert [r[0].splitlines()[-1] for r in res["stock_after"]][:2] == (
        ["35 left", "2 left"] if lang == "en" else ["35 restants", "2 restants"])
    offline = res["offline"]
    assert offline["ok"] and offline["offline"] and offline["status"] == "pending"
    assert w["offline"] in offline["headline"] and w["pending"] in offline["headline"]
    assert offline["kiosk_states"] == ["unpaid"] and offline["outbox"] == 2     # the sale and its print record
    assert offline["orders_sold"] == 1 and len(offline["offline_sales"]) == 1    # tapped twice, sold once
    assert res["reconciled"] and offline["server_states_after"] == ["pending"]
    refund = res["refund"]
    assert refund["ok"] and refund["amount"] == -12900 and refund["server"] == "refunded"
    assert refund["kiosk_states"] == ["revoked"] * 5 and w["refunded"] in refund["message"]
    assert res["opened_order"] and w["reason"] in res["refund_choices"]   # the number typed in lower case opened it


WAITING = {"en": "Waiting for the server…", "fr": "En attente du serveur…"}


def test_confirming_a_sale_does_not_freeze_the_screen(run):
    """The sale runs off the UI thread: Confirm returns at once, the screen says it waits for the server and keeps
    drawing frames; a second tap is refused; online the server answers, silent it sells offline after 3 s."""
    lang, _, res = run
    for sale in ("online_wait", "offline_wait"):
        wait = res[sale]
        assert wait["returned_ms"] < 500, wait
        assert wait["waiting"] and wait["disabled"] and wait["text"] == WAITING[lang]
        assert wait["second_tap"] == "The sale is already being confirmed."
    silent = res["offline_wait"]
    assert silent["waited_ms"] >= 3000 and silent["frames_while_waiting"] >= 30, silent   # the UI kept running
    assert res["offline"]["ok"] and res["offline"]["offline"]


def test_badges_of_a_sale_printed_on_the_card_printer_rendered_and_verified(run, tmp_path):
    """The offline sale chose badges: its ticket went to the card printer (IPP Print-Job on 127.0.0.1) as a CR80
    PDF, rendered back with pdftoppm, its QR read and verified with the kiosk's keys (the allotment's TG2)."""
    lang, size, res = run
    assert res["offline"]["print_kind"] == "badge" and res["offline"]["ticket_print"]
    (badge,) = res["jobs"]["badges"]
    mime, pdf = badge[0], bytes.fromhex(badge[1])
    assert mime == "application/pdf" and pdf.startswith(b"%PDF")
    (tmp_path / "badge.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(tmp_path / "badge.pdf"),
                    str(tmp_path / "badge")], check=True, timeout=60)
    from PIL import Image
    image = Image.open(tmp_path / "badge.png")
    assert abs(image.width / image.height - 85.60 / 53.98) < 0.02          # a CR80 card
    image.save(OUT / f"{lang}-{size}" / "badge-offline.png")
    (payload,) = DecoderChain().decode(np.asarray(image.convert("L"))).texts
    decoded = read_payload(payload, Keyring.load(res["keyring"]), time.time())
    assert payload.startswith("TG2:") and decoded.status == "ok", decoded
    assert [decoded.ticket.key] == res["offline"]["tickets"]


def test_tickets_and_receipts_printed_rendered_back_and_verified(run):
    lang, size, res = run
    keyring = Keyring.load(res["keyring"])
    tickets = [bytes.fromhex(j) for j in res["jobs"]["tickets"]]
    assert len(tickets) == 5                          # 5 sold online (the offline one printed as a badge)
    read = []
    for i, job in enumerate(tickets):
        image = render_zpl(job)
        if i == 0:
            image.save(OUT / f"{lang}-{size}" / f"ticket-{i}.png")
        (payload,) = DecoderChain().decode(np.asarray(image.convert("L"))).texts
        assert payload.startswith("TG1:")
        decoded = read_payload(payload, keyring, time.time())
        assert decoded.status == "ok", decoded
        read.append(decoded.ticket.key)
    assert sorted(read) == sorted(res["online"]["tickets"])
    receipts = [bytes.fromhex(j) for j in res["jobs"]["receipts"]]
    assert len(receipts) == 2
    for job, sale in zip(receipts, ("online", "offline")):
        image, _ = render_escpos(job)
        image.save(OUT / f"{lang}-{size}" / f"receipt-{sale}.png")
        assert DecoderChain().decode(np.asarray(image.convert("L"))).texts == (res[sale]["order"],)
    text = escpos_text(receipts[0])
    # the receipt is in the event's language (English here), whatever the app's language
    assert any(line.startswith("Total") and line.endswith("EUR 129.00") for line in text)
    assert any(line.startswith("Change") and line.endswith("EUR 21.00") for line in text)
    assert f"#{res['online']['order']}" in text and "Sold offline" not in text
    offline = escpos_text(receipts[1])
    assert "*** PAYMENT PENDING ***" in offline and "Sold offline" in offline
