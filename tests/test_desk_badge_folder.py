"""Badges saved to a folder: set up from the kiosk's Set-up (a folder typed as the badge printer's address), each
badge under its own name, a file already there never replaced (two tickets of one order, a reprint, a file left by
hand, a folder the kiosk cannot write)."""
from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from agent.ticket_format import Ticket
from drivers.printers import ipp
from kiosk_ui import i18n
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed


@pytest.fixture
def kiosk(tmp_path):
    """The demo kiosk with order B-7 of two paid tickets."""
    i18n.set_language("en")
    demo = seed(tmp_path / "device")
    demo.door.ledger.upsert_tickets([{"ticket_key": str(k), "event_id": 1, "order_number": "B-7", "buyer_name": "Ana",
                                      "category": 1, "zone": None, "order_status": "paid",
                                      "payload": demo.key.issue(Ticket(1, 1, k, category=1))} for k in (5001, 5002)])
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    yield demo, ctl
    demo.door.close()
    i18n.set_language("en")


def test_badges_saved_to_a_folder_set_up_in_the_kiosk_never_overwrite_each_other(kiosk, tmp_path):
    demo, ctl = kiosk
    folder = tmp_path / "badges"
    folder.mkdir()
    (folder / "badge-B-7.png").write_bytes(b"left here by hand")
    assert ctl.add_printer(str(folder), "badge") == ""
    (badge,) = [p for p in ctl.added_printers() if p.kind == "badge"]
    assert badge.printer_id == f"badge:{folder}:631" and badge.name == str(folder)
    first = ctl.print_order("B-7", kind="badge")
    again = ctl.print_order("B-7", kind="badge", reprint=True, ticket_keys=("5001",))
    assert first.ok and first.printed == 2 and again.ok and again.printed == 1
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["badge-B-7-2.pdf", "badge-B-7-2.png", "badge-B-7-3.pdf", "badge-B-7-3.png",
                     "badge-B-7-4.pdf", "badge-B-7-4.png", "badge-B-7.png"]
    assert (folder / "badge-B-7.png").read_bytes() == b"left here by hand"          # not replaced
    pngs = {(folder / n).read_bytes() for n in names if n.endswith(".png") and n != "badge-B-7.png"}
    assert len(pngs) == 3 and all(p.startswith(b"\x89PNG") for p in pngs)           # three badges, three files


def test_a_folder_only_for_a_printer_that_saves_and_a_folder_it_cannot_write_is_said(kiosk, tmp_path):
    demo, ctl = kiosk
    assert ctl.add_printer(str(tmp_path / "tickets"), "escpos") != ""               # a receipt printer has no folder
    not_a_folder = tmp_path / "badges"
    not_a_folder.write_text("a file where the folder should be")
    assert ctl.add_printer(str(not_a_folder), "badge") == ""
    result = ctl.print_order("B-7", kind="badge")
    assert not result.ok and "cannot save badge-B-7" in result.message and "Not saved" in result.message
    assert result.kept == 2 and [p.ticket_key for p in ctl.pending_prints()] == ["5001", "5002"]


def test_two_savers_at_once_each_get_their_own_name(tmp_path):
    results = []
    def save(n: int) -> None:
        results.append(ipp.save_new(tmp_path, "badge-X", [(".png", b"png %d" % n), (".pdf", b"pdf %d" % n)]))
    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(r.ok for r in results) and len(results) == 8
    pngs = sorted(p.read_bytes() for p in tmp_path.glob("*.png"))
    assert pngs == sorted(b"png %d" % n for n in range(8))                      # none lost, none replaced
    for png in tmp_path.glob("*.png"):
        assert Path(str(png)[:-4] + ".pdf").read_bytes() == b"pdf" + png.read_bytes()[3:]   # each pair together
    assert not list(tmp_path.glob(".*part"))


def test_attack_a_local_user_reads_the_badges_saved_to_a_folder(kiosk, tmp_path):
    """A badge holds the buyer's name and the signed QR code that gets its holder in, as an e-ticket does (written
    0600). Before: saved 0644 under the usual umask 022, readable by every local user; now 0600 from creation."""
    demo, ctl = kiosk
    folder = tmp_path / "badges"
    folder.mkdir()
    old = os.umask(0o022)
    try:
        assert ctl.add_printer(str(folder), "badge") == ""
        assert ctl.print_order("B-7", kind="badge").printed == 2
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert len(modes) == 4 and set(modes.values()) == {0o600}, {n: oct(m) for n, m in modes.items()}
