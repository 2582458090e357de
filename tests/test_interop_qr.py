"""QR codes made by other libraries (segno and python-qrcode, not our testkit), read by `ticketgate decode --json`
(one subprocess over every image, a fresh home): every error level and mask, versions 1 to 20, light on dark,
mirrored, turned by 90/180/270 degrees and by arbitrary angles, without quiet zone, several codes in one photo,
UTF-8 / ECI / Latin-1 / binary payloads, and structured append (one ticket spread over three symbols)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import qrcode
import segno
from PIL import Image

from drivers.testkit.tickets import Issuer

ROOT = Path(__file__).resolve().parent.parent


def segno_gray(content: str | bytes, scale: int = 4, border: int = 4, **kw) -> np.ndarray:
    buf = io.BytesIO()
    segno.make_qr(content, boost_error=False, **kw).save(buf, kind="png", scale=scale, border=border)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def qrcode_gray(text: str, level: int, mask: int) -> np.ndarray:
    q = qrcode.QRCode(error_correction=level, box_size=4, border=4, mask_pattern=mask)
    q.add_data(text)
    q.make(fit=True)
    return np.asarray(q.make_image().convert("L"))


def side_by_side(images: list[np.ndarray], gap: int = 0) -> np.ndarray:
    h = max(i.shape[0] for i in images)
    padded = [np.pad(i, ((0, h - i.shape[0]), (0, gap)), constant_values=255) for i in images]
    return np.hstack(padded)


def turned(gray: np.ndarray, degrees: float) -> np.ndarray:
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(gray, m, (nw, nh), borderValue=255)


def decode(home: Path, images: dict[str, np.ndarray], *extra: str) -> dict[str, dict]:
    folder = home / "images"
    folder.mkdir(exist_ok=True)
    paths = []
    for name, gray in images.items():
        Image.fromarray(np.ascontiguousarray(gray)).save(folder / f"{name}.png")
        paths.append(str(folder / f"{name}.png"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home / "device"))
    proc = subprocess.run([sys.executable, "-m", "agent", "decode", "--json", *extra, *paths], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert "Traceback" not in proc.stderr, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(paths), proc.stdout
    return {Path(o["path"]).stem: o for o in out}


TICKET = Issuer.create()


@pytest.fixture(scope="module")
def ring(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ring") / "keyring.json"
    TICKET.keyring.save(path)
    return path


def test_a_structured_append_ticket_is_read_as_one_ticket(tmp_path, ring):
    """Before: zxing-cpp returned each symbol's part as a whole code (3 codes, none a ticket: a valid ticket said
    `malformed`), and pyzbar, which joins the sequence, raised ValueError on the joined symbol (its orientation is
    unknown) so it read nothing at all in such an image."""
    payload = TICKET.payload(ticket_id=4242, seat="Rang 3, Platz 17")
    seq = segno.make_sequence(payload, symbol_count=3, error="m")
    parts = []
    for symbol in seq:
        buf = io.BytesIO()
        symbol.save(buf, kind="png", scale=4, border=4)
        parts.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")))
    plain = segno_gray("https://example.org/door", scale=4)
    out = decode(tmp_path, {"in_order": side_by_side(parts), "shuffled": side_by_side([parts[2], parts[0], parts[1]]),
                            "with_another": side_by_side([plain] + parts)}, "--keyring", str(ring))
    for name in ("in_order", "shuffled"):
        assert out[name]["texts"] == [payload], out[name]
        verdict = out[name]["codes"][0]["verdict"]
        assert verdict["status"] == "ok" and verdict["ticket"]["ticket_id"] == 4242
    assert sorted(out["with_another"]["texts"]) == sorted([payload, "https://example.org/door"])


def test_zbar_reads_a_joined_structured_append_code_and_the_other_codes_beside_it():
    from drivers.camera.decoders import ZbarDecoder
    seq = segno.make_sequence("TG1:" + "0123456789" * 20, symbol_count=2)
    parts = []
    for symbol in seq:
        buf = io.BytesIO()
        symbol.save(buf, kind="png", scale=4, border=4)
        parts.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")))
    got = ZbarDecoder()(side_by_side(parts + [segno_gray("beside", scale=4)]))
    assert sorted(got) == sorted(["TG1:" + "0123456789" * 20, "beside"])


def test_codes_of_other_libraries_in_every_shape_a_door_meets(tmp_path, ring):
    """What held when this was written (no fix needed): kept so that it keeps holding."""
    payload = TICKET.payload(ticket_id=77)
    want: dict[str, list[str]] = {}
    images: dict[str, np.ndarray] = {}

    def add(name: str, gray: np.ndarray, texts: list[str]) -> None:
        images[name], want[name] = gray, texts
    for err in "lmqh":
        for mask in range(8):
            add(f"segno_{err}_mask{mask}", segno_gray(payload, error=err, mask=mask), [payload])
    levels = {"l": qrcode.constants.ERROR_CORRECT_L, "m": qrcode.constants.ERROR_CORRECT_M,
              "q": qrcode.constants.ERROR_CORRECT_Q, "h": qrcode.constants.ERROR_CORRECT_H}
    for err, level in levels.items():
        for mask in (0, 3, 7):
            add(f"qrcode_{err}_mask{mask}", qrcode_gray(payload, level, mask), [payload])
    for version in range(1, 21):
        add(f"version{version}", segno_gray("TG1:V" + str(version), version=version, error="l", scale=3),
            ["TG1:V" + str(version)])
    base = segno_gray(payload, error="m", scale=5)
    add("inverted", 255 - base, [payload])
    add("inverted_grey", (255 - base) // 2 + 20, [payload])
    add("mirrored", base[:, ::-1], [payload])
    add("mirrored_inverted", (255 - base)[:, ::-1], [payload])
    for k in (1, 2, 3):
        add(f"turned{90 * k}", np.rot90(base, k), [payload])
    for degrees in (7, 22.5, 45, 61, 135, 200, 313):
        add(f"angle{degrees}", turned(base, degrees), [payload])
    for border in (0, 1):
        add(f"quiet{border}", segno_gray(payload, error="m", scale=5, border=border), [payload])
        add(f"quiet{border}_on_grey", np.pad(segno_gray(payload, error="m", scale=5, border=border), 30,
                                             constant_values=128), [payload])
    add("utf8", segno_gray("Zürich 🎫 チケット"), ["Zürich 🎫 チケット"])
    add("utf8_eci", segno_gray("Zürich 🎫", eci=True), ["Zürich 🎫"])
    add("latin1", segno_gray("Grüße", encoding="latin-1"), ["Grüße"])
    add("greek_eci", segno_gray("Ελλάδα", encoding="iso-8859-7", eci=True), ["Ελλάδα"])
    others = [segno_gray(t, scale=5) for t in ("TG1:FIRST", "TG1:SECOND", "https://example.org")]
    add("three_codes", side_by_side(others, gap=20), ["TG1:FIRST", "TG1:SECOND", "https://example.org"])
    out = decode(tmp_path, images, "--keyring", str(ring))
    wrong = {name: out[name].get("texts") for name in images if sorted(out[name].get("texts", [])) != sorted(want[name])}
    assert not wrong
    assert out["three_codes"]["texts"] == ["TG1:FIRST", "TG1:SECOND", "https://example.org"]   # reading order
    assert out["segno_h_mask5"]["codes"][0]["verdict"]["status"] == "ok"


def test_the_door_camera_reads_the_ticket_beside_a_foreign_code():
    """A ticket and another QR code in one camera frame (an app's link printed beside the ticket, a poster behind
    it). Before: the first pass stops at the first code zxing-cpp finds; the foreign one, found first, was the only
    text of every such frame (the door said "not a ticket", the ticket was never read while both were in view)."""
    from agent.payload import plausible
    from drivers.camera.scanner import CameraScanner
    from kiosk_ui.adapters.camera import decoder_chain
    ticket, url = TICKET.payload(ticket_id=99), "https://example.org/get-the-app"
    frame = np.full((480, 640), 200, np.uint8)
    for text, scale, x in ((url, 5, 10), (ticket, 3, 330)):
        code = segno_gray(text, scale=scale)
        frame[40:40 + code.shape[0], x:x + code.shape[1]] = code
    door = decoder_chain(plausible=plausible)
    reads = CameraScanner(lambda read: None, door).process(frame)
    assert [r.text for r in reads] == [ticket]
    alone = frame.copy()
    alone[:, 320:] = 200                               # the foreign code alone: still said, as "not a ticket"
    assert door.decode_live(alone).texts == (url,)
    assert decoder_chain().decode_live(frame).texts == (url,)      # a chain taking any text: the first code, as before
