"""E-tickets: render PNG and PDF, decode the QR back from the PNG and verify it with the core."""
from __future__ import annotations

import io
import time

import pypdf
import pytest
import zxingcpp
from PIL import Image

from agent.payload import read_payload
from server_stub.eticket import ETicketError, export, format_when, gather
from server_stub.eticket_pdf import render_pdf
from server_stub.eticket_png import render_png

NOW = time.time()


def event(store, name="Opening Night"):
    return store.create_event("fest", name, NOW, NOW + 4 * 3600, "Europe/Paris",
                              [{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}],
                              [{"category_id": 3, "name": "Student"}])


def test_png_qr_decodes_to_the_same_verified_ticket(store):
    ev = event(store)
    order = store.add_order("fest", ev, "Hélène Łódź-Dupont", "h@example.org",
                            positions=[{"category": 3, "zone": 2, "seat": "R3-14"}])
    t = order["tickets"][0]
    png = render_png(gather(store, t["ticket_key"]))
    img = Image.open(io.BytesIO(png))
    found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    decoded = read_payload(found[0].text, store.keyring("fest"), NOW)
    assert decoded.status == "ok"
    tk = decoded.ticket
    assert (tk.ticket_id, tk.event_id, tk.zones, tk.seat, tk.category) == (t["ticket_id"], ev, (2,), "R3-14", 3)


def test_pdf_is_valid_and_carries_the_texts(store):
    ev = event(store)
    order = store.add_order("fest", ev, "Hélène Łódź-Dupont", positions=[{"category": 3, "zone": 1}])
    pdf = render_pdf(gather(store, order["tickets"][0]["ticket_key"]))
    assert pdf.startswith(b"%PDF-")
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in ("Opening", "Student", "Floor", order["number"], "Hélène Łódź-Dupont", "Summer Fest",
                     format_when(NOW, NOW + 4 * 3600, "Europe/Paris")[:10]):
        assert expected in text, expected


def test_pass_ticket_lists_every_event(store):
    e1, e2 = event(store, "Friday"), event(store, "Saturday")
    weekend = store.create_pass("fest", "Weekend pass", [e1, e2])
    key = store.add_order("fest", weekend, "Pat")["tickets"][0]["ticket_key"]
    e = gather(store, key)
    assert e.title == "Weekend pass" and len(e.when) == 2 and e.when[1].startswith("Saturday")
    img = Image.open(io.BytesIO(render_png(e)))
    (code,) = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    assert read_payload(code.text, store.keyring("fest"), NOW).ticket.is_pass


def test_dates_in_the_event_time_zone():
    # 2026-12-31 19:00 UTC = 20:00 in Paris; ends 03:00 the next morning (same night: no end date)
    start = 1798743600.0
    assert format_when(start, start + 7 * 3600, "Europe/Paris") == "Thu 31 Dec 2026, 20:00–03:00 CET"
    assert format_when(start, start + 3 * 86400, "America/New_York").startswith("Thu 31 Dec 2026, 14:00 – Sun 3 Jan 2027")


def test_cancelled_orders_get_no_eticket_and_pending_ones_say_so(store, tmp_path):
    ev = event(store)
    cancelled = store.add_order("fest", ev, "Ann")
    store.cancel_order(cancelled["number"], "chargeback")
    with pytest.raises(ETicketError, match="cancelled"):
        gather(store, cancelled["tickets"][0]["ticket_key"])
    pending = store.add_order("fest", ev, "Ben", status="pending")
    assert gather(store, pending["tickets"][0]["ticket_key"]).note == "PAYMENT PENDING"
    blocked = store.add_order("fest", ev, "Cy")["tickets"][0]["ticket_key"]
    store.block_ticket(blocked, "lost")
    with pytest.raises(ETicketError, match="blocked"):
        gather(store, blocked)


def test_export_png_per_ticket_and_one_pdf_per_order(store, tmp_path):
    ev = event(store)
    order = store.add_order("fest", ev, "Ann", positions=[{"seat": "A1"}, {"seat": "A2"}])
    files = export(store, [t["ticket_key"] for t in order["tickets"]], tmp_path / "out", ("png", "pdf"))
    assert sorted(p.name for p in files) == sorted([f"{order['number']}-{t['ticket_key']}.png" for t in order["tickets"]]
                                                   + [f"{order['number']}.pdf"])
    assert all(p.stat().st_size > 1000 for p in files)
    assert not list((tmp_path / "out").glob("*.part"))
    pages = pypdf.PdfReader(tmp_path / "out" / f"{order['number']}.pdf").pages
    assert len(pages) == 2
    assert [t["ticket_key"] in pages[i].extract_text() for i, t in enumerate(order["tickets"])] == [True, True]
    assert "A2" in pages[1].extract_text()


def test_export_skips_or_refuses_tickets_that_must_not_be_mailed(store, tmp_path):
    ev = event(store)
    good = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    blocked = store.add_order("fest", ev, "Ben")["tickets"][0]["ticket_key"]
    store.block_ticket(blocked, "lost")
    with pytest.raises(ETicketError):
        export(store, [good, blocked], tmp_path / "a", ("pdf",))
    skipped: list[dict] = []
    files = export(store, [good, blocked], tmp_path / "b", ("pdf",), skipped=skipped)
    assert len(files) == 1 and [s["ticket_key"] for s in skipped] == [blocked]

def test_pdf_qr_rasterised_decodes_to_the_same_ticket(store, tmp_path):
    """The PDF's QR is vector squares: rasterise the page (poppler's pdftoppm, dev.sh) and read it back."""
    import shutil
    import subprocess
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (apt poppler-utils, installed by dev.sh) is missing")
    ev = event(store)
    t = store.add_order("fest", ev, "Ann", positions=[{"category": 3, "zone": 1, "seat": "A1"}])["tickets"][0]
    pdf = tmp_path / "t.pdf"
    pdf.write_bytes(render_pdf(gather(store, t["ticket_key"])))
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True,
                   timeout=60)
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1
    decoded = read_payload(found[0].text, store.keyring("fest"), NOW)
    assert decoded.status == "ok" and decoded.ticket.ticket_id == t["ticket_id"] and decoded.ticket.seat == "A1"
