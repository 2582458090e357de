"""Printed output in the event's language and time zone, through the one printer registry and ESC/POS path.

A French event at 06:00 in Montréal is printed by the kiosk's own adapters to local TCP printers on 127.0.0.1; the
captured ESC/POS and ZPL bytes are rendered back (image and text), the QR decoded and verified by the core; a hostile
buyer name is neutralised on every path; reprints carry DUPLICATA; a printer that refuses or is out of paper is
reported in the operator's language and its tickets are kept, then printed from the queue."""
from __future__ import annotations

import io
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from agent.payload import read_payload
from agent.ticket_format import Ticket
from drivers.camera.chain import DecoderChain
from drivers.printers import registry
from drivers.printers import settings as printer_settings
from drivers.printers.escpos_render import escpos_text, render_escpos
from drivers.printers.model import PrintableTicket, PrintResult
from drivers.printers.queue import PrintQueue
from drivers.printers.service import PrinterConfig, print_ticket
from drivers.printers.wording import when
from drivers.printers.zpl_render import render_zpl, zpl_text
from drivers.testkit.fake_printer import FakePrinter
from kiosk_ui import i18n
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed

ROOT = Path(__file__).resolve().parent.parent
MONTREAL = ZoneInfo("America/Montreal")
STARTS = datetime(2026, 12, 5, 6, 0, tzinfo=MONTREAL).timestamp()          # 11:00 UTC
HOSTILE = "Zoé\x1b@\x1dV\x00\x10\x04\x01\n^XZ~JR\u202e Tremblay"


@pytest.fixture(autouse=True)
def english_ui():
    i18n.set_language("en")
    yield
    i18n.set_language("en")


@pytest.fixture
def kiosk(tmp_path):
    """The demo kiosk, its event 1 now French, in Montréal at 06:00; order Z-1 bought under a hostile name."""
    demo = seed(tmp_path / "device")
    ledger = demo.door.ledger
    event = next(e for e in ledger.events() if e["event_id"] == 1)
    ledger.upsert_events([dict(event, name="Festival des Lumières", starts_at=STARTS, ends_at=STARTS + 3 * 3600,
                               timezone="America/Montreal", language="fr")])
    ledger.upsert_tickets([{"ticket_key": str(k), "event_id": 1, "order_number": "Z-1", "buyer_name": HOSTILE,
                            "category": 2, "zone": 3, "seat": "B-7", "order_status": "paid",
                            "payload": demo.key.issue(Ticket(1, 1, k, category=2, zones=(3,), seat="B-7"))}
                           for k in (4001, 4002)])
    demo.door.reload_names()
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    yield demo, ctl
    demo.door.close()


def verified(image: Image.Image, demo, ticket_id: int) -> None:
    texts = DecoderChain().decode(np.asarray(image.convert("L"))).texts
    assert len(texts) == 1
    decoded = read_payload(texts[0], demo.door.keyring, time.time())
    assert decoded.status == "ok" and decoded.ticket.ticket_id == ticket_id


def test_dates_are_in_the_event_time_zone_and_language():
    assert when(STARTS, STARTS + 3 * 3600, "America/Montreal", "fr") == "sam. 5 déc. 2026, 06:00–09:00 EST"
    assert when(STARTS, STARTS + 3 * 3600, "America/Montreal", "en") == "Sat 5 Dec 2026, 06:00–09:00 EST"
    summer = datetime(2026, 7, 1, 20, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    assert when(summer, summer + 20 * 3600, "Europe/Paris", "fr") == "mer. 1 juil. 2026, 20:00 – jeu. 2 juil. 2026, 16:00 CEST"
    assert when(STARTS, None, "Not/AZone", "fr") == "sam. 5 déc. 2026, 11:00 UTC"      # a broken zone still prints


def test_escpos_ticket_in_french_montreal_time_name_neutralised_and_reprint_marked(kiosk):
    demo, ctl = kiosk
    with FakePrinter("escpos") as printer:
        assert ctl.add_printer(f"127.0.0.1:{printer.port}", "escpos") == ""
        first = ctl.print_order("Z-1", ticket_keys=("4001",))
        again = ctl.print_order("Z-1", reprint=True, ticket_keys=("4001",))
        jobs = [j for j in printer.jobs if j]
    assert first.ok and first.printed == 1 and again.ok and again.printed == 1 and len(jobs) == 2
    for job in jobs:
        assert job.count(b"\x1dV") == 1 and job.count(b"\x1b@") == 1 and b"\x10\x04" not in job
        assert b"\n^XZ" not in job and "\u202e".encode() not in job
        image, cuts = render_escpos(job)
        assert len(cuts) == 1
        verified(image, demo, 4001)
    original, copy = escpos_text(jobs[0]), escpos_text(jobs[1])
    printed = "\n".join(original)
    assert "Festival des Lumières" in printed and "sam. 5 déc. 2026, 06:00–09:00 EST" in printed
    assert "11:00" not in printed and "UTC" not in printed
    for label in ("Catégorie: VIP", "Zone: VIP lounge", "Place: B-7", "Commande: Z-1"):
        assert label in original, label
    assert r"Nom: Zoé\x1b@\x1dV\x00\x10\x04\x01\x0a^XZ~JR\u202e Tremblay" in original   # shown, never obeyed
    assert not any("DUPLICATA" in line for line in original)
    assert "*** DUPLICATA ***" in copy
    kiosk_msgs = [body for _, kind, body in demo.door.ledger.outbox_pending() if kind == "kiosk"]
    assert [m["action"] for m in kiosk_msgs[-2:]] == ["print", "reprint"]


def test_zpl_cinema_format_chosen_in_set_up_french_and_reprint(kiosk):
    demo, ctl = kiosk
    zpl = next(c for c in ctl.printer_choices() if c.language == "zpl")
    assert [f for f, _ in zpl.formats] == ["show", "cinema"] and zpl.kind == "ticket"
    with FakePrinter("zpl") as zebra:
        assert ctl.add_printer(f"127.0.0.1:{zebra.port}", "zpl", "cinema") == ""
        (info,) = ctl.services.printers.printers()
        assert (info.printer_id, info.language, info.format, info.saved) == \
            (f"zpl:127.0.0.1:{zebra.port}", "zpl", "cinema", True)
        ctl.selected_printer = info.printer_id
        result = ctl.print_order("Z-1", reprint=True)
        jobs = [j for j in zebra.jobs if j]
        assert ctl.set_printer_format(info.printer_id, "show") == ""
        assert ctl.print_order("Z-1", ticket_keys=("4002",)).ok
        show = zebra.last_job
    assert result.ok and result.printed == 2 and len(jobs) == 2
    for job, key in zip(jobs, (4001, 4002)):
        image = render_zpl(job)
        assert image.size == (406, 812)                                     # the cinema ticket
        verified(image, demo, key)
        texts = zpl_text(job)
        assert "sam. 5 déc. 2026" in texts and "06:00–09:00 EST" in texts and "DUPLICATA" in texts
        assert "Catégorie: VIP" in texts and "VIP lounge  B-7" in texts
        assert job.count(b"^XZ") == 1 and b"~JR" not in job and b"\x1b" not in job
    assert render_zpl(show).size == (812, 406) and "DUPLICATA" in zpl_text(show)     # printed before: a copy
    assert "Place: B-7" in zpl_text(show) and "sam. 5 déc. 2026, 06:00–09:00 EST" in zpl_text(show)
    assert ctl.add_printer("10.0.0.9", "zpl", "poster") != ""                  # not a layout of that printer
    assert ctl.add_printer("10.0.0.9", "laser") != ""
    assert ctl.add_printer("not an address", "zpl") != ""


def test_badge_printer_added_by_address_and_badge_in_french(kiosk, tmp_path):
    from drivers.printers.badge import badge_image
    demo, ctl = kiosk
    assert ctl.add_printer("10.0.0.30", "badge") == ""
    (badge,) = [p for p in ctl.services.printers.printers() if p.kind == "badge"]
    assert badge.printer_id == "badge:10.0.0.30:631" and badge.language == "badge"      # not saved as ESC/POS
    ticket = ctl.services.printers._printable(demo.door.order("Z-1")[0], reprint=True)
    assert ticket.language == "fr" and ticket.date_text == "sam. 5 déc. 2026, 06:00–09:00 EST"
    assert ticket.buyer_name == r"Zoé\x1b@\x1dV\x00\x10\x04\x01\x0a^XZ~JR\u202e Tremblay"    # drawn escaped
    image = badge_image(ticket)
    verified(image, demo, 4001)
    def red(img: Image.Image) -> int:                                   # the DUPLICATA mark's colour
        return int(np.all(np.asarray(img) == (0xB0, 0x00, 0x20), axis=-1).sum())
    assert red(image) > 200 and red(badge_image(PrintableTicket(**{**ticket.to_json(), "reprint": False}))) == 0
    result = print_ticket(PrinterConfig("badge", connection="save", save_folder=str(tmp_path / "badges")), ticket)
    assert result.ok and (tmp_path / "badges" / "badge-Z-1.pdf").exists()


def test_printer_refusing_or_out_of_paper_keeps_the_tickets_in_french(kiosk):
    demo, ctl = kiosk
    i18n.set_language("fr")
    off = FakePrinter("escpos")
    port = off.port
    off.close()                                                        # switched off: the port refuses
    assert ctl.add_printer(f"127.0.0.1:{port}", "escpos") == ""
    refused = ctl.print_order("Z-1")
    assert not refused.ok and refused.printed == 0 and refused.kept == 2
    assert "a refusé la connexion" in refused.message and "2 billet(s) gardé(s)" in refused.message
    pending = ctl.pending_prints()
    assert [(p.ticket_key, p.order_number, p.attempts) for p in pending] == [("4001", "Z-1", 1), ("4002", "Z-1", 1)]
    assert "a refusé la connexion" in pending[0].message and "non envoyé" in pending[1].message
    again = ctl.retry_prints()                                          # still off: reported again, still kept
    assert len(again) == 1 and "a refusé la connexion" in again[0][1].message
    assert [p.attempts for p in ctl.pending_prints()] == [2, 1]
    before = len(demo.door.ledger.outbox_pending())
    with FakePrinter("escpos", mode="paper_out") as empty:
        assert ctl.add_printer(f"127.0.0.1:{empty.port}", "escpos") == ""
        other = f"escpos:127.0.0.1:{empty.port}"
        retried = ctl.retry_prints(printer_id=other)                       # on the other printer
        assert len(retried) == 1 and not retried[0][1].ok                 # stops at the first failure
        assert "plus de papier" in retried[0][1].message
        # the queue is on the device: after a restart of the app the tickets are still there
        ctl = Controller(demo.door, build_services(demo.door, Path(demo.door.ledger.path).parent))
        assert [p.ticket_key for p in ctl.pending_prints()] == ["4001", "4002"]
        empty.mode = "ok"                                                  # paper loaded
        done = ctl.retry_prints(printer_id=other)
        jobs = [j for j in empty.jobs if j]
    assert [r.ok for _, r in done] == [True, True] and ctl.pending_prints() == []
    assert len(jobs) == 2
    verified(render_escpos(jobs[0])[0], demo, 4001)
    recorded = [body for _, kind, body in demo.door.ledger.outbox_pending()[before:] if kind == "kiosk"]
    assert [m["tickets"] for m in recorded] == [["4001"], ["4002"]]          # printed from the queue: recorded
    off_again = ctl.print_order("Z-1", ticket_keys=("4001",))               # the first printer is still off
    assert not off_again.ok and off_again.kept == 1
    (kept,) = ctl.pending_prints()
    assert ctl.dismiss_print(kept.job_id).ticket_key == "4001" and ctl.pending_prints() == []


def test_a_job_the_printer_received_is_retried_as_a_copy():
    issued = []

    def send(printer, ticket):
        issued.append(ticket)
        if len(issued) == 1:                                  # all bytes went out, then no status: may have printed
            return PrintResult.done(False, "printer {name} after the job: {status}. The ticket may not have printed: "
                                    "check it and print again.", printer, 900, name=printer, status="cover open")
        return PrintResult.done(True, "printed", printer, 900)

    queue = PrintQueue(send)
    ticket = PrintableTicket("Show", "today", "TG1:X", language="fr")
    assert not queue.submit(ticket, "p")
    assert queue.pending[1].result.in_language("fr").startswith("imprimante p après le travail")
    assert queue.retry_all()[0].ok and issued[1].reprint and issued[1].reprint_mark == "DUPLICATA"


def test_registry_drives_languages_and_a_new_language_is_one_registration():
    assert registry.names()[:3] == ("escpos", "zpl", "badge")
    assert registry.language_for("_pdl-datastream._tcp.local.", "Zebra ZD421").name == "zpl"
    assert registry.language_for("_pdl-datastream._tcp.local.", "").name == "escpos"
    assert registry.language_for("_ipp._tcp.local.", "Evolis Primacy").name == "badge"
    assert registry.language_for("_printer._tcp.local.") is None
    with pytest.raises(ValueError, match="unknown printer language"):
        PrinterConfig("laser")
    with pytest.raises(ValueError, match="connect by"):
        PrinterConfig("zpl", connection="usb")
    with pytest.raises(ValueError, match="unknown zpl format"):
        PrinterConfig("zpl", format="poster")
    from drivers.printers import status
    from drivers.printers.transport import send_tcp

    def render(ticket, config):                               # a plain-text line printer speaking ESC/POS status
        return f"{ticket.event_name}|{ticket.say('Seat')}|{ticket.seat}|{ticket.payload}\n".encode()
    plain = registry.PrinterLanguage(
        name="lineprinter", label="Line printer", kind="ticket", connections=("network",), default_port=9100,
        render=render, send=lambda config, job, ticket: send_tcp(job, config.host, config.port, status.ESCPOS),
        status=status.ESCPOS)
    registry.register(plain)
    try:
        assert "lineprinter" in [c.name for c in printer_settings.choices()]
        with FakePrinter("lineprinter") as printer:
            ticket = PrintableTicket("Nuit\x1b", "today", "TG1:X", seat="A1", language="fr")
            result = print_ticket(PrinterConfig("lineprinter", host=printer.host, port=printer.port), ticket)
            assert result.ok and printer.last_job == b"Nuit\\x1b|Place|A1|TG1:X\n"
    finally:
        registry._LANGUAGES.pop("lineprinter")


def test_set_up_entries_read_back_and_bad_ones_are_skipped(tmp_path):
    from agent.ledger import Ledger
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.set_setting("printers", [{"host": "10.0.0.5", "port": 9100, "name": "Desk", "language": "escpos"},
                                    {"host": "10.0.0.6", "language": "no-such-printer"}])
    (desk,) = printer_settings.load(ledger)
    assert (desk.printer_id, desk.name, desk.format) == ("escpos:10.0.0.5:9100", "Desk", "")
    zebra = printer_settings.add(ledger, "10.0.0.7", "zpl", "cinema")
    assert zebra.printer_id == "zpl:10.0.0.7:9100" and zebra.config().format == "cinema"
    assert printer_settings.add(ledger, "10.0.0.7:9100", "zpl").format == "show"       # same address: replaced
    assert [p.printer_id for p in printer_settings.load(ledger)] == ["escpos:10.0.0.5:9100", "zpl:10.0.0.7:9100"]
    for bad in ("", "10.0.0.7:abc", "two words", "999.1.1.1"):
        with pytest.raises(ValueError):
            printer_settings.add(ledger, bad, "escpos")
    ledger.close()


def test_etickets_in_french_with_montreal_time_through_the_server_commands(tmp_path):
    import pypdf
    import zxingcpp

    def server(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "srv"), *argv],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout
    server("init", "--org", "mtl", "--name", "Festival de Montréal")
    import json
    ev = json.loads(server("event", "create", "--name", "Matinée", "--start", "2026-12-05 06:00", "--end",
                           "2026-12-05 09:00", "--tz", "America/Montreal", "--lang", "fr", "--zone", "1=Parterre",
                           "--category", "1=Adulte", "--json"))["event_id"]
    order = json.loads(server("order", "add", "--event", str(ev), "--buyer", "Zoé\x1b[2J\u202eTremblay",
                              "--ticket", "category=1,zone=1", "--json"))
    server("export-etickets", order["number"], "--format", "both", "--out", str(tmp_path / "out"))
    pdf = pypdf.PdfReader(tmp_path / "out" / f"{order['number']}.pdf").pages[0].extract_text()
    for expected in ("sam. 5 déc. 2026, 06:00–09:00 EST", "CATÉGORIE", "Adulte", "Parterre", "Présentez ce code",
                     r"Zoé\x1b[2J\u202eTremblay"):
        assert expected in pdf, expected
    assert "\x1b" not in pdf and "11:00" not in pdf
    (png,) = (tmp_path / "out").glob("*.png")
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.read_bytes())), formats=zxingcpp.BarcodeFormat.QRCode)
    from server_stub.store import open_store
    store = open_store(tmp_path / "srv", create=False)
    try:
        decoded = read_payload(code.text, store.keyring("mtl"), time.time())
    finally:
        store.close()
    assert decoded.status == "ok" and str(decoded.ticket.ticket_id) == order["tickets"][0]["ticket_key"]


def test_a_kept_z_report_printed_from_the_queue_is_not_reported_as_a_ticket_print(kiosk):
    """The till's Z report, kept while its printer was off, printed from the print queue: the kiosk told the server
    "print" of ticket '' in order "Z report …", which the server refuses (no such order) and lists among the
    kiosk's refused uploads. Only a ticket's or badge's print is reported."""
    demo, ctl = kiosk
    off = FakePrinter("escpos")
    port = off.port
    off.close()
    assert ctl.add_printer(f"127.0.0.1:{port}", "escpos") == ""
    printer = f"escpos:127.0.0.1:{port}"
    kept = ctl.services.printers.print_report(printer, (("Z report", "shift 3"), ("Sales", "EUR 70.00")))
    assert not kept.ok and kept.kept == 1
    (job,) = ctl.pending_prints()
    before = len(demo.door.ledger.outbox_pending())
    with FakePrinter("escpos", port=port) as back:
        done = ctl.retry_prints()
        assert [r.ok for _, r in done] == [True] and ctl.pending_prints() == []
        assert any(back.jobs)
    assert [kind for _, kind, _ in demo.door.ledger.outbox_pending()[before:]] == []
