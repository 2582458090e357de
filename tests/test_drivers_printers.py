"""Printers: tickets printed to a local TCP printer, the captured bytes rendered back, the QR decoded and verified
by the core as the same ticket; printers that refuse, stall, run out of paper; badges; IPP; discovery."""
from __future__ import annotations

import io
import socket
import time

import numpy as np
import pytest
from PIL import Image

from agent.payload import read_payload
from drivers.camera.chain import DecoderChain
from drivers.printers import status as S
from drivers.printers.escpos_job import ticket_bytes
from drivers.printers.escpos_render import RenderError, render_escpos
from drivers.printers.model import PrintableTicket
from drivers.printers.service import PrinterConfig, print_ticket
from drivers.printers.transport import send_tcp
from drivers.printers.zpl import cinema_ticket, show_ticket
from drivers.printers.zpl_render import RenderError as ZplRenderError, render_zpl
from drivers.testkit.fake_printer import FakePrinter
from drivers.testkit.tickets import Issuer


@pytest.fixture(scope="module")
def issued():
    issuer = Issuer.create()
    payload = issuer.payload(ticket_id=90210, seat="F-12")
    ticket = PrintableTicket("Opening night", "Sat 28 Nov 2026, 20:00", payload, category="Standing", zone="Floor",
                             seat="Row F 12", order_number="A-1042", buyer_name="Hélène ^Dupont_", venue="Théâtre")
    return issuer, ticket


def _verifies_as_same_ticket(image: Image.Image, issuer: Issuer, payload: str) -> None:
    texts = DecoderChain().decode(np.asarray(image.convert("L"))).texts
    assert texts == (payload,)
    decoded = read_payload(texts[0], issuer.keyring, time.time())
    assert decoded.status == "ok"
    assert decoded.ticket == read_payload(payload, issuer.keyring, time.time()).ticket
    assert decoded.ticket.ticket_id == 90210 and decoded.ticket.seat == "F-12"


@pytest.mark.parametrize("native_qr", [True, False], ids=["native-qr", "image-qr"])
def test_escpos_ticket_printed_rendered_back_and_verified(issued, native_qr, artifacts):
    issuer, ticket = issued
    with FakePrinter("escpos") as printer:
        result = print_ticket(PrinterConfig("escpos", host=printer.host, port=printer.port, native_qr=native_qr), ticket)
        captured = printer.last_job
    assert result.printed and result.message == "printed"
    assert captured == ticket_bytes(ticket, native_qr=native_qr) and result.bytes_sent == len(captured)
    assert (b"\x1d(k" in captured) is native_qr and (b"\x1dv0" in captured) is not native_qr
    image, cuts = render_escpos(captured)
    image.save(artifacts / f"escpos-{'native' if native_qr else 'image'}.png")
    assert len(cuts) == 1 and cuts[0] >= image.height - 1          # one cut, at the end
    _verifies_as_same_ticket(image, issuer, ticket.payload)


@pytest.mark.parametrize("fmt", ["show", "cinema"])
def test_zpl_ticket_printed_rendered_back_and_verified(issued, fmt, artifacts):
    issuer, ticket = issued
    with FakePrinter("zpl") as printer:
        result = print_ticket(PrinterConfig("zpl", host=printer.host, port=printer.port, format=fmt), ticket)
        captured = printer.last_job
    assert result.printed, result.message
    assert captured == (show_ticket if fmt == "show" else cinema_ticket)(ticket)
    assert captured.startswith(b"^XA") and captured.endswith(b"^XZ") and b"_5EDupont_5F" in captured
    image = render_zpl(captured)
    image.save(artifacts / f"zpl-{fmt}.png")
    assert image.size == ((812, 406) if fmt == "show" else (406, 812))
    _verifies_as_same_ticket(image, issuer, ticket.payload)


def test_badge_png_and_pdf_are_cr80_at_300_dpi_and_verify(issued, tmp_path):
    from pypdf import PdfReader
    issuer, ticket = issued
    result = print_ticket(PrinterConfig("badge", connection="save", save_folder=str(tmp_path)), ticket)
    assert result.printed and result.message.endswith(".pdf")
    png = Image.open(tmp_path / "badge-A-1042.png")
    assert png.size == (1011, 638) and round(png.info["dpi"][0]) == 300
    _verifies_as_same_ticket(png, issuer, ticket.payload)
    page = PdfReader(tmp_path / "badge-A-1042.pdf").pages[0]
    assert (round(float(page.mediabox.width) * 25.4 / 72, 2), round(float(page.mediabox.height) * 25.4 / 72, 2)) == (85.6, 53.98)
    (embedded,) = page.images
    _verifies_as_same_ticket(embedded.image, issuer, ticket.payload)


def test_printer_refusing_the_connection(issued):
    _, ticket = issued
    printer = FakePrinter()
    port = printer.port
    printer.close()
    result = print_ticket(PrinterConfig("escpos", host="127.0.0.1", port=port), ticket)
    assert not result.printed and "refused the connection" in result.message and "Not printed" in result.message


def test_printer_out_of_paper_gets_nothing(issued):
    _, ticket = issued
    for language in ("escpos", "zpl"):
        with FakePrinter(language, mode="paper_out") as printer:
            result = print_ticket(PrinterConfig(language, host=printer.host, port=printer.port), ticket)
            assert not result.printed and "out of" in result.message and result.bytes_sent == 0
            assert printer.jobs == [b""]


def test_printer_stalling_mid_job_is_reported_not_printed(issued):
    _, ticket = issued
    job = ticket_bytes(ticket)
    with FakePrinter(mode="stall") as printer:
        small = send_tcp(job, printer.host, printer.port, timeout=0.3)        # fits in buffers: no answer after
        big = send_tcp(job * 150_000, printer.host, printer.port, timeout=0.3)  # buffers fill: send deadline
    assert not small.printed and "may not have printed" in small.message
    assert not big.printed and "stopped reading mid-job" in big.message and 0 < big.bytes_sent < len(job) * 150_000


def test_printer_closing_mid_job(issued):
    _, ticket = issued
    with FakePrinter(mode="close_mid_job") as printer:
        result = send_tcp(ticket_bytes(ticket) * 20_000, printer.host, printer.port, timeout=1)
    assert not result.printed and "Not printed" in result.message


def test_status_replies():
    assert S.parse_escpos(S.escpos_reply()).ready
    assert S.parse_escpos(S.escpos_reply(near_end=True)).message == "ready, paper running low"
    assert "out of paper" in S.parse_escpos(S.escpos_reply(paper_out=True)).message
    assert "cover open" in S.parse_escpos(S.escpos_reply(cover_open=True)).message
    assert "offline" in S.parse_escpos(S.escpos_reply(printer_offline=True)).message
    assert "did not answer" in S.parse_escpos(b"").message
    assert "unexpected" in S.parse_escpos(b"\xff\xff\xff").message
    assert S.parse_zpl(S.zpl_reply()).ready
    assert "head open" in S.parse_zpl(S.zpl_reply(head_open=True)).message
    assert "paused" in S.parse_zpl(S.zpl_reply(paused=True)).message
    assert "did not answer" in S.parse_zpl(b"garbage").message


def test_renderers_reject_commands_we_do_not_emit():
    with pytest.raises(RenderError):
        render_escpos(b"\x1b\x99\x00")
    with pytest.raises(ZplRenderError):
        render_zpl(b"^XA^FO1,1^B3N,N,100^FD123^FS^XZ")


def test_escpos_file_connection_through_python_escpos(issued, tmp_path):
    _, ticket = issued
    out = tmp_path / "lp0"
    out.write_bytes(b"")
    result = print_ticket(PrinterConfig("escpos", connection="file", device={"devfile": str(out)}), ticket)
    assert result.printed and out.read_bytes() == ticket_bytes(ticket)
    missing = print_ticket(PrinterConfig("escpos", connection="file", device={"devfile": str(tmp_path / "no/lp0")}), ticket)
    assert not missing.printed and "cannot be opened" in missing.message


# ---- IPP / CUPS ---------------------------------------------------------------------------------------------
class _IppServer:
    """A local HTTP endpoint answering IPP Print-Job like a card printer (captures the document)."""

    def __init__(self, status: int = 0, job_id: int = 42):
        import http.server
        import threading
        outer = self
        self.requests: list[bytes] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(body)
                import struct
                reply = struct.pack(">BBHI", 2, 0, status, struct.unpack(">I", body[4:8])[0]) + b"\x01"
                reply += b"\x47\x00\x12attributes-charset\x00\x05utf-8\x02"
                reply += b"\x21\x00\x06job-id\x00\x04" + struct.pack(">i", job_id) + b"\x03"
                self.send_response(200)
                self.send_header("Content-Type", "application/ipp")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_badge_over_ipp_print_job(issued):
    from drivers.printers.ipp import parse_response
    issuer, ticket = issued
    server = _IppServer()
    try:
        uri = f"ipp://127.0.0.1:{server.port}/ipp/print"
        result = print_ticket(PrinterConfig("badge", connection="ipp", ipp_uri=uri), ticket)
    finally:
        server.close()
    assert result.printed and result.message == "queued as job 42"
    (request,) = server.requests
    assert request[:4] == b"\x02\x00\x00\x02"                      # IPP 2.0 Print-Job
    assert b"printer-uri" in request and uri.encode() in request and b"application/pdf" in request
    pdf = request[request.index(b"%PDF"):]
    from pypdf import PdfReader
    (embedded,) = PdfReader(io.BytesIO(pdf)).pages[0].images
    _verifies_as_same_ticket(embedded.image, issuer, ticket.payload)
    assert parse_response(b"\x02\x00\x04\x06\x00\x00\x00\x01\x01\x03")[0] == 0x0406


def test_ipp_refusals_and_missing_cups(issued, tmp_path):
    from drivers.printers.ipp import send_lp
    _, ticket = issued
    server = _IppServer(status=0x0406)
    try:
        refused = print_ticket(PrinterConfig("badge", connection="ipp", ipp_uri=f"ipp://127.0.0.1:{server.port}/ipp/print"), ticket)
    finally:
        server.close()
    assert not refused.printed and "client-error-not-found" in refused.message
    closed = print_ticket(PrinterConfig("badge", connection="ipp", ipp_uri=f"ipp://127.0.0.1:{server.port}/ipp/print"), ticket)
    assert not closed.printed and "Not printed" in closed.message
    no_host = print_ticket(PrinterConfig("badge", connection="ipp", ipp_uri="ipp:///ipp/print"), ticket)
    assert not no_host.printed and "names no host" in no_host.message and "Not printed" in no_host.message
    no_cups = send_lp(tmp_path / "x.pdf", "CardPrinter", lp="lp-not-installed-here")
    assert not no_cups.printed and "'lp' not found" in no_cups.message
    readonly = tmp_path / "ro"
    readonly.write_text("a file, not a folder")
    saved = print_ticket(PrinterConfig("badge", connection="save", save_folder=str(readonly)), ticket)
    assert not saved.printed and "Not saved" in saved.message


# ---- discovery ----------------------------------------------------------------------------------------------
def test_discovery_finds_a_printer_announced_on_loopback_and_keeps_manual_entries():
    from zeroconf import ServiceInfo, Zeroconf
    from drivers.printers.discovery import HELP_CHECKLIST, PrinterList
    try:
        zc = Zeroconf(interfaces=["127.0.0.1"])
    except OSError as exc:
        pytest.skip(f"no multicast on the loopback interface here ({exc})")
    info = ServiceInfo("_ipp._tcp.local.", "Card Printer._ipp._tcp.local.", addresses=[socket.inet_aton("127.0.0.1")],
                       port=8631, properties={"rp": "ipp/print", "ty": "Evolis Primacy 2"}, server="card.local.")
    zc.register_service(info)
    try:
        printers = PrinterList(interfaces=["127.0.0.1"])
        printers.add_manual("192.168.1.50")
        printers.add_manual("192.168.1.50:9100")                  # same printer: not listed twice
        for _ in range(3):                                        # refreshable; multicast on a busy CI may be late
            entries = printers.refresh(seconds=1.5)
            if len(entries) == 2:
                break
    finally:
        zc.unregister_service(info)
        zc.close()
    assert [e.name for e in entries] == ["192.168.1.50", "Card Printer"]
    card = entries[1]
    assert (card.kind, card.port, card.model, card.uri) == ("ipp", 8631, "Evolis Primacy 2", "ipp://127.0.0.1:8631/ipp/print")
    assert any("One hotspot only" in line for line in HELP_CHECKLIST) and any("Restart" in line for line in HELP_CHECKLIST)


def test_manual_addresses_are_validated():
    from drivers.printers.discovery import manual_entry
    assert manual_entry("10.0.0.7").port == 9100 and manual_entry("printer.local", kind="ipp").port == 631
    for bad, why in (("", "type the printer"), ("10.0.0.7:abc", "not a number"), ("10.0.0.7:9\u00b2", "not a number"), ("10.0.0.7:70000", "out of range"),
                     ("999.1.1.1", "not a valid IP")):
        with pytest.raises(ValueError, match=why):
            manual_entry(bad)


def test_printable_ticket_needs_payload_and_event():
    with pytest.raises(ValueError):
        PrintableTicket("", "today", "TG1:X")
    with pytest.raises(ValueError):
        PrintableTicket("Show", "today", "")


def test_printer_profile_without_native_qr_gets_the_image_fallback(issued):
    issuer, ticket = issued
    job = ticket_bytes(ticket, profile="POS-5890", native_qr=None)
    assert b"\x1d(k" not in job and b"\x1dv0" in job
    image, _ = render_escpos(job, width=384)
    _verifies_as_same_ticket(image, issuer, ticket.payload)
    assert b"\x1d(k" in ticket_bytes(ticket, profile="TM-T88V", native_qr=None)


def test_failed_jobs_stay_pending_until_printed_or_dismissed(issued):
    from drivers.printers.queue import PrintQueue
    _, ticket = issued
    with FakePrinter("escpos", mode="paper_out") as printer:
        queue = PrintQueue(lambda _printer, t: print_ticket(PrinterConfig("escpos", host=printer.host, port=printer.port), t))
        first, second = queue.submit(ticket), queue.submit(ticket)
        assert not first and not second and len(queue.pending) == 2
        assert "out of paper" in queue.pending[1].message
        assert [r.printed for r in queue.retry_all()] == [False]          # stops at the first failure
        assert queue.pending[1].attempts == 2
        printer.mode = "ok"                                                 # paper loaded
        assert [r.printed for r in queue.retry_all()] == [True, True] and not queue.pending
        captured = [job for job in printer.jobs if job]
    assert captured == [ticket_bytes(ticket)] * 2
    broken = PrintQueue(lambda _printer, t: 1 / 0)
    assert "ZeroDivisionError" in broken.submit(ticket).message and broken.dismiss(1).ticket == ticket


def test_names_cannot_inject_printer_commands(issued):
    issuer, _ = issued
    payload = issuer.payload(ticket_id=90210, seat="F-12")
    evil = PrintableTicket("Show\x1dV\x00", "today\x1b@", payload, buyer_name="Eve\x1dV\x41\x00\x10\x04\x01 李 😀",
                           order_number="X\n^XZ~JR")
    job = ticket_bytes(evil)
    assert job.count(b"\x1dV") == 1 and job.count(b"\x1b@") == 1 and b"\x10\x04" not in job
    image, cuts = render_escpos(job)
    assert len(cuts) == 1
    _verifies_as_same_ticket(image, issuer, payload)
    label = show_ticket(evil)
    assert label.count(b"^XZ") == 1 and b"~JR" not in label and b"\x1d" not in label
    _verifies_as_same_ticket(render_zpl(label), issuer, payload)


def test_a_card_printer_that_took_the_badge_and_never_answered_keeps_it_as_a_copy(issued):
    """It said 'IPP printer … unreachable (Remote end closed connection without response). Not printed.' and kept
    the badge as an original: the printer had the whole job, so printed again it could come out twice unmarked."""
    from drivers.printers.queue import PrintQueue
    from tests.ipp_printer import IppPrinter
    _, ticket = issued
    with IppPrinter(mode="silent") as printer:
        config = PrinterConfig("badge", connection="ipp", ipp_uri=f"ipp://127.0.0.1:{printer.port}/ipp/print")
        queue = PrintQueue(lambda _printer, t: print_ticket(config, t))
        result = queue.submit(ticket, "badge:card")
        assert len(printer.documents) == 1                            # it received the whole badge
    assert not result.printed and result.bytes_sent > 0
    assert "took the job but did not answer" in result.message and "may have printed" in result.message
    (kept,) = queue.pending.values()
    assert kept.ticket.reprint                                        # printed again: marked REPRINT
