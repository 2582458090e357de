"""Real rendering: QR images and printable sheets, decoded back with zxing-cpp."""
from __future__ import annotations

import pytest

from provisioning import qr
from provisioning.protocol import EnrollQR, new_code, new_token, parse_qr, wifi_payload

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")


def _decode(path) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(Image.open(path).convert("L"),
                                                         formats=zxingcpp.BarcodeFormat.QRCode))


def test_enrollment_qr_png_decodes_to_the_same_text(tmp_path):
    text = EnrollQR(new_token(), "6D7B5E94FB5A5395", "192.168.8.10:8787", "acme").text()
    path = qr.save(text, tmp_path / "enroll.png")
    assert _decode(path) == [text]
    assert parse_qr(_decode(path)[0]).server == "192.168.8.10:8787"


def test_wifi_qr_svg_and_png(tmp_path):
    text = wifi_payload('Door;Net', 'pa:ss,"w"')
    assert _decode(qr.save(text, tmp_path / "wifi.png")) == [text]
    svg = qr.save(text, tmp_path / "wifi.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg


def test_png_sheet_holds_every_code(tmp_path):
    items = [qr.SheetItem(EnrollQR(new_token(), "6D7B5E94FB5A5395", "10.0.0.1:8787", "acme").text(), f"north #{i}",
                          new_code()) for i in range(4)]
    seen = []
    path = qr.sheet(items, tmp_path / "sheet.png", progress=lambda done, total: seen.append((done, total)))
    assert _decode(path) == sorted(i.qr_text for i in items)
    assert seen[-1] == (4, 4)


def test_pdf_sheet(tmp_path):
    items = [qr.SheetItem(f"TGE1:{new_token()}:6D7B5E94FB5A5395:10.0.0.1:8787:acme", f"gate #{i}", new_code())
             for i in range(13)]
    data = qr.sheet(items, tmp_path / "sheet.pdf").read_bytes()
    assert data.startswith(b"%PDF") and b"/Count 2" in data       # 12 per page: 13 codes need two pages


def test_bad_extensions(tmp_path):
    with pytest.raises(ValueError):
        qr.save("x", tmp_path / "x.jpg")
    with pytest.raises(ValueError):
        qr.sheet([], tmp_path / "x.doc")
