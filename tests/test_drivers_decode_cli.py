"""`ticketgate decode`: texts in images, the verdict when a text is a ticket, clear errors for bad files."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pypdf
import pytest
from PIL import Image

from agent.cli import main as ticketgate
from drivers.testkit.tickets import Issuer, qr_gray


def _png(path, text):
    Image.fromarray(qr_gray(text, scale=4)).save(path)
    return path


def test_decode_json_verifies_tickets_against_the_keyring(tmp_path, capsys):
    issuer = Issuer.create()
    ring = tmp_path / "keyring.json"
    issuer.keyring.save(ring)
    good = issuer.payload(ticket_id=777)
    forged = good[:-6] + ("0" if good[-6] != "0" else "1") + good[-5:]
    stranger = Issuer.create(key_id=99).payload()
    files = [_png(tmp_path / "good.png", good), _png(tmp_path / "forged.png", forged),
             _png(tmp_path / "stranger.png", stranger), _png(tmp_path / "url.png", "https://example.org/x")]
    assert ticketgate(["decode", "--json", "--keyring", str(ring), *map(str, files)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["path"] for o in out] == [str(f) for f in files]
    assert out[0]["texts"] == [good]
    verdict = out[0]["codes"][0]["verdict"]
    assert verdict["status"] == "ok" and verdict["ticket"]["ticket_id"] == 777
    assert out[1]["codes"][0]["verdict"]["status"] in ("forged", "malformed")
    assert out[2]["codes"][0]["verdict"]["status"] == "unknown_key"
    assert out[3]["codes"][0] == {"text": "https://example.org/x", "verdict": None}


def test_decode_human_output_and_missing_keyring_uses_agent_home(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TICKETGATE_HOME", str(tmp_path / "home"))
    issuer = Issuer.create()
    (tmp_path / "home").mkdir()
    issuer.keyring.save(tmp_path / "home" / "keyring.json")
    f = _png(tmp_path / "t.png", issuer.payload(ticket_id=5))
    assert ticketgate(["decode", str(f)]) == 0
    out = capsys.readouterr().out
    assert "OK ticket 5 event 1" in out


def test_decode_bad_inputs_never_crash(tmp_path, capsys):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    rc = ticketgate(["decode", "--json", "--keyring", str(tmp_path / "nope.json"), str(junk), str(blank),
                     str(tmp_path / "missing.png")])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 2
    assert "cannot read image" in out[0]["error"] and out[1]["texts"] == [] and "error" in out[2]
    assert "unreadable" in out[0]["keyring_warning"]


def test_decode_refuses_a_decompression_bomb_and_goes_on(tmp_path, capsys):
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)          # claims 900 Mpx of grayscale
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    good = _png(tmp_path / "ok.png", "still decoded")
    rc = ticketgate(["decode", "--json", "--keyring", str(tmp_path / "none.json"), str(bomb), str(good)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 2 and "claims more pixels than Pillow opens" in out[0]["error"] and out[1]["texts"] == ["still decoded"]


# -- PDF e-tickets (every page rendered by poppler's pdftoppm, dev.sh's poppler-utils) ---------------------------
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("pdfinfo") is None,
                                   reason="poppler-utils (pdftoppm, pdfinfo; installed by dev.sh) is missing")


def _server_etickets(tmp_path, capsys) -> tuple[dict, Path, Path]:
    """An order of two tickets, its e-ticket PDF as the organiser mails it (`server export-etickets`, one page a
    ticket) and the public keyring the doors trust (`server keys export`)."""
    def server(*argv: str) -> None:
        assert ticketgate(["server", "--data", str(tmp_path / "server"), *argv]) == 0
    server("init", "--org", "fest", "--name", "Fest")
    server("event", "create", "--name", "Night", "--start", "2026-12-31 20:00", "--end", "2027-01-01 03:00",
           "--tz", "Europe/Paris")
    capsys.readouterr()
    server("order", "add", "--event", "1", "--buyer", "Ann", "--quantity", "2", "--json")
    order = json.loads(capsys.readouterr().out)
    server("keys", "export", "--out", str(tmp_path / "keyring.json"))
    server("export-etickets", order["number"], "--out", str(tmp_path / "mail"), "--format", "pdf")
    capsys.readouterr()
    return order, tmp_path / "mail" / f"{order['number']}.pdf", tmp_path / "keyring.json"


@needs_poppler
def test_decode_reads_every_page_of_a_server_eticket_pdf(tmp_path, capsys):
    order, pdf, ring = _server_etickets(tmp_path, capsys)
    assert ticketgate(["decode", "--json", "--keyring", str(ring), str(pdf)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pages"] == 2 and out["empty_pages"] == [] and [c["page"] for c in out["codes"]] == [1, 2]
    assert [c["verdict"]["status"] for c in out["codes"]] == ["ok", "ok"]
    assert [str(c["verdict"]["ticket"]["key"]) for c in out["codes"]] == [t["ticket_key"] for t in order["tickets"]]

    assert ticketgate(["decode", "--keyring", str(ring), str(pdf)]) == 0
    said = capsys.readouterr().out
    assert "2 code(s) (2 page(s)" in said and said.count("page 1: 'TG1:") == 1 and said.count("page 2: 'TG1:") == 1
    assert f"OK ticket {order['tickets'][1]['ticket_key']} event 1" in said


@needs_poppler
def test_decode_pdf_without_code_damaged_or_encrypted_is_a_clear_error(tmp_path, capsys):
    _, pdf, ring = _server_etickets(tmp_path, capsys)
    blank = tmp_path / "terms.pdf"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(blank)
    locked = tmp_path / "locked.pdf"
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(pdf))
    writer.encrypt("secret", algorithm="AES-256")
    writer.write(locked)
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    named_png = tmp_path / "ticket.png"                   # a PDF under another name is still read as one
    named_png.write_bytes(pdf.read_bytes())

    assert ticketgate(["decode", "--keyring", str(ring), str(blank)]) == 1
    assert f"{blank}: no QR code found on its 1 page(s)" in capsys.readouterr().out
    missing = tmp_path / "never-saved.pdf"
    assert ticketgate(["decode", "--keyring", str(ring), str(damaged), str(locked), str(named_png), str(missing)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{damaged}: cannot read PDF: damaged or not a PDF (poppler: ")
    assert lines[1] == (f"{locked}: cannot read PDF: the PDF is password-protected (encrypted): give its password "
                        "with --password-file FILE or --ask-password, or decode a screenshot of the page")
    assert lines[2].startswith(f"{named_png}: 2 code(s) (2 page(s)")       # the others are still decoded
    assert lines[-1] == f"{missing}: cannot read PDF: no such file"


def test_decode_pdf_without_poppler_says_what_to_install(tmp_path, capsys, monkeypatch):
    pdf = tmp_path / "t.pdf"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(pdf)
    monkeypatch.setenv("PATH", str(tmp_path))             # a machine without poppler-utils
    assert ticketgate(["decode", "--json", "--keyring", str(tmp_path / "none.json"), str(pdf)]) == 2
    out = json.loads(capsys.readouterr().out)
    assert "needs poppler's pdfinfo" in out["error"] and "apt install poppler-utils" in out["error"]


def _locked(pdf: Path, password: str) -> Path:
    locked = pdf.with_name("locked.pdf")
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(pdf))
    writer.encrypt(password, algorithm="AES-256")
    writer.write(locked)
    return locked


@needs_poppler
def test_decode_opens_a_password_protected_pdf_with_its_password_file(tmp_path, capsys):
    """A buyer's e-ticket PDF protected by a password: `decode` had no way to give it ('open it with its password
    and save an unprotected copy'). --password-file FILE (or `-`, standard input) opens it; a wrong password is said
    on the file's line, exit 2, the other files still decoded; the password is never printed."""
    order, pdf, ring = _server_etickets(tmp_path, capsys)
    locked = _locked(pdf, "Tür-7 secret")
    secret = tmp_path / "pdf-password"
    secret.write_text("Tür-7 secret\n", encoding="utf-8")
    assert ticketgate(["decode", "--json", "--keyring", str(ring), "--password-file", str(secret), str(locked)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pages"] == 2 and [c["verdict"]["status"] for c in out["codes"]] == ["ok", "ok"]
    assert [str(c["verdict"]["ticket"]["key"]) for c in out["codes"]] == [t["ticket_key"] for t in order["tickets"]]

    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n")
    assert ticketgate(["decode", "--keyring", str(ring), "--password-file", str(wrong), str(locked), str(pdf)]) == 2
    said = capsys.readouterr()
    lines = said.out.splitlines()
    assert lines[0] == (f"{locked}: cannot read PDF: wrong password for this PDF (nothing was read): check the "
                        "password the buyer was given, or decode a screenshot of the page")
    assert lines[1].startswith(f"{pdf}: 2 code(s) (2 page(s)")             # unprotected files need none
    assert "guess" not in said.out + said.err

    empty = tmp_path / "empty"
    empty.write_text("")
    for argv, why in ((["--password-file", str(empty)], f"the password file {empty} is empty"),
                      (["--password-file", str(tmp_path / "none")], f"cannot read the password file {tmp_path / 'none'}"),
                      (["--password-file", str(secret), "--ask-password"], "not both")):
        assert ticketgate(["decode", "--keyring", str(ring), *argv, str(locked)]) == 2
        said = capsys.readouterr()
        assert why in said.err and "nothing was decoded" in said.err and said.out == "", said


@needs_poppler
def test_decode_reads_the_pdf_password_from_stdin_or_a_prompt_never_from_argv(tmp_path, capsys):
    """`--password-file -` takes it from standard input (a password manager's pipe); --ask-password asks on the
    terminal without echoing it. Neither puts the password in the process list (poppler gets a decrypted copy)."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time
    _, pdf, ring = _server_etickets(tmp_path, capsys)
    locked = _locked(pdf, "s3cret")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    base = [sys.executable, "-m", "agent", "decode", "--keyring", str(ring)]
    piped = subprocess.run([*base, "--password-file", "-", str(locked)], input="s3cret\n", capture_output=True,
                           text=True, cwd=root, env=env, timeout=120)
    assert piped.returncode == 0 and "2 code(s) (2 page(s)" in piped.stdout, piped.stdout + piped.stderr

    pid, fd = pty.fork()
    if pid == 0:                                      # the child: a terminal session running `ticketgate decode`
        os.execve(sys.executable, [*base, "--ask-password", str(locked)], env)
    seen, deadline, answered = b"", time.monotonic() + 120, False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:                               # the child closed the terminal: it ended
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"PDF password:" in seen:
            os.write(fd, b"s3cret\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert answered and os.waitstatus_to_exitcode(status) == 0, text
    assert "2 code(s) (2 page(s)" in text and "s3cret" not in text      # typed, not shown


# -- hostile files: refused in bounded time and memory, the other files still decoded ------------------------------
def _decode_in_child(*argv: str, seconds: float) -> tuple[int, list[dict], int]:
    """`ticketgate decode --json ARGV` in its own process: (exit code, one object per file, its peak RSS in KB)."""
    import subprocess
    import sys
    probe = ("import resource, sys; from agent.cli import main; rc = main(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", probe, "decode", "--json", *argv], capture_output=True, text=True,
                          timeout=seconds, cwd=Path(__file__).resolve().parent.parent)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], int(done.stderr.split()[-1])


def test_attack_a_small_png_claiming_169_megapixels_is_refused_at_once(tmp_path):
    """A 190 KB PNG of 13,000 x 13,000 white pixels (under Pillow's own bomb limit). Before: `ticketgate decode` took
    2 minutes and 3 GB before saying 'no QR code found'. Now refused as quickly as a small screenshot is read (measured
    here first: a fixed bound depended on the host's speed). A photo of 48 Mpx is still read, scaled down."""
    bomb = tmp_path / "bomb.png"
    Image.new("L", (13_000, 13_000), 255).save(bomb)
    photo = tmp_path / "photo.jpg"
    big = Image.new("L", (8000, 6000), 255)
    big.paste(Image.fromarray(qr_gray("a 48 Mpx photo", scale=24)), (3000, 2000))
    big.save(photo, quality=90)
    del big
    good = _png(tmp_path / "ok.png", "still decoded")
    keyring = ("--keyring", str(tmp_path / "none.json"))
    started = time.monotonic()
    assert _decode_in_child(*keyring, str(good), seconds=180)[1][0]["texts"] == ["still decoded"]
    screenshot = time.monotonic() - started
    started = time.monotonic()
    rc, out, _ = _decode_in_child(*keyring, str(bomb), seconds=180)
    refused = time.monotonic() - started
    assert rc == 2 and out[0]["error"] == (
        "cannot read image: 13000 x 13000 pixels (169 Mpx) is over the 50 Mpx ticketgate decode reads (a damaged or "
        "hostile file?): send a screenshot, or the photo resized"), out[0]
    assert refused < 3 * screenshot + 1, (refused, screenshot)           # not decoded first
    rc, out, peak_kb = _decode_in_child(*keyring, str(bomb), str(photo), str(good), seconds=180)
    assert rc == 2 and "(169 Mpx) is over the 50 Mpx" in out[0]["error"], out[0]
    assert out[1]["texts"] == ["a 48 Mpx photo"] and out[2]["texts"] == ["still decoded"]
    assert peak_kb < 700_000, peak_kb


@needs_poppler
def test_attack_a_pdf_of_10000_pages_is_refused_before_any_page_is_read(tmp_path):
    """10,000 blank pages (1.2 MB). Before: ~1 s a page, about 3 hours before the first line of output."""
    huge = tmp_path / "huge.pdf"
    writer = pypdf.PdfWriter()
    for _ in range(10_000):
        writer.add_blank_page(595, 842)
    writer.write(huge)
    good = _png(tmp_path / "ok.png", "still decoded")
    started = time.monotonic()
    rc, out, _ = _decode_in_child("--keyring", str(tmp_path / "none.json"), str(huge), str(good), seconds=180)
    assert rc == 2 and out[0]["error"] == (
        "cannot read PDF: the PDF has 10000 pages, over the 100 ticketgate decode reads (an order's e-tickets are one "
        "page a ticket; a hostile file?): split it with poppler's pdfseparate, or decode a screenshot of the page")
    assert out[1]["texts"] == ["still decoded"] and time.monotonic() - started < 120     # (~1 s a page: hours)


def _zip_bomb_pdf(path: Path, pages: int, spaces_mib: int) -> None:
    """Every page draws the same content stream: `spaces_mib` MiB of spaces, deflated to ~1/1000 of it."""
    import zlib
    c = zlib.compressobj(9)
    data = b"".join(c.compress(b" " * (1 << 20)) for _ in range(spaces_mib)) + c.flush()
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * pages
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))


@needs_poppler
def test_attack_a_zip_bomb_pdf_gets_a_bounded_time_of_poppler_in_all(tmp_path, capsys, monkeypatch):
    """100 pages, each drawing one deflated stream of 4 MiB of spaces (pages rendered small: the time is poppler's
    parsing). Poppler's time is bounded for the whole file (120 s by default; here 3 times what one batch of pages
    took on this host, measured first: each batch is well within the limit, the 13 batches are far over it). Before,
    each batch had the whole limit again: the file took 13 times the limit, and more pages more. A fixed limit (8 s)
    depended on the host: a fast one rendered the 100 pages within it, a slow one stopped at the first batch."""
    import drivers.pdf_pages as pdf_pages
    monkeypatch.setattr(pdf_pages, "LONG_SIDE", 200)
    one_batch = tmp_path / "one-batch.pdf"
    _zip_bomb_pdf(one_batch, pages=pdf_pages.BATCH, spaces_mib=4)
    started = time.monotonic()
    assert len(list(pdf_pages.pages(one_batch))) == pdf_pages.BATCH
    limit = round(max(1.0, 3 * (time.monotonic() - started)), 1)
    monkeypatch.setattr(pdf_pages, "TIMEOUT", limit)
    bomb = tmp_path / "bomb.pdf"
    _zip_bomb_pdf(bomb, pages=100, spaces_mib=4)
    good = _png(tmp_path / "ok.png", "still decoded")
    assert ticketgate(["decode", "--json", "--keyring", str(tmp_path / "none.json"), str(bomb), str(good)]) == 2
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0]["error"] == f"cannot read PDF: poppler took more than {limit:g} s on it (a damaged or hostile file?)", \
        out[0]
    assert out[1]["texts"] == ["still decoded"]


def test_attack_an_image_wider_than_the_decoders_take_is_answered_and_the_others_decoded(tmp_path):
    """A 10 KB PNG of 200,000 x 50 pixels (10 Mpx, under every pixel limit). Before: zxing-cpp's ValueError 'Maximum
    image width/height is 65535' ended `ticketgate decode` on a traceback: the files after it were never read."""
    wide = tmp_path / "wide.png"
    Image.new("L", (200_000, 50), 255).save(wide)
    good = _png(tmp_path / "ok.png", "still decoded")
    rc, out, _ = _decode_in_child("--keyring", str(tmp_path / "none.json"), str(wide), str(good), seconds=180)
    assert rc == 1 and out[0]["texts"] == [] and "error" not in out[0], out
    assert out[1]["texts"] == ["still decoded"]
