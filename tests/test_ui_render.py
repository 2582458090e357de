"""Rendering tests: the real app, offscreen with a real GL context, driven through the real agent.

The scenario runs in its own process (Kivy's Window is a process singleton), see tests/ui_scenario.py;
here we assert on the widget state it reports and on the pixels of the screenshots it saved.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from kiosk_ui.presenters.colours import BLUE, GREEN, ORANGE, PURPLE, RED
from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "ui"


def _run(*extra: str, out: Path = OUT) -> None:
    run_offscreen_scenario("ui_scenario.py", str(out), *extra, timeout=120)


@pytest.fixture(scope="module")
def res() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    _run()
    return json.loads((OUT / "results.json").read_text())


@pytest.fixture(scope="module")
def landscape() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    _run("landscape")
    return json.loads((OUT / "results_landscape.json").read_text())


@pytest.fixture(scope="module")
def french() -> dict:
    (OUT / "fr").mkdir(parents=True, exist_ok=True)
    _run("fr", out=OUT / "fr")
    return json.loads((OUT / "fr" / "results.json").read_text())


def share(png: str, colour: tuple, tol: int = 14) -> float:
    """Fraction of the screenshot's pixels within `tol` of the colour (the verdict colour should fill the screen)."""
    img = Image.open(OUT / png).convert("RGB").resize((90, 160))
    target = [round(c * 255) for c in colour[:3]]
    raw = img.tobytes()
    pixels = [raw[i:i + 3] for i in range(0, len(raw), 3)]
    return sum(all(abs(p[i] - target[i]) <= tol for i in range(3)) for p in pixels) / len(pixels)


def box_share(png: str, box: list[int], colour: tuple, tol: int = 40) -> float:
    """Fraction of the pixels of `box` ([left, top, width, height], full-size screenshot) near `colour`."""
    left, top, width, height = box
    img = Image.open(OUT / png).convert("RGB").crop((left, top, left + width, top + height))
    target = [round(c * 255) for c in colour[:3]]
    raw = img.tobytes()
    pixels = [raw[i:i + 3] for i in range(0, len(raw), 3)]
    return sum(all(abs(p[i] - target[i]) <= tol for i in range(3)) for p in pixels) / len(pixels)


def test_valid_ticket_green_full_screen(res):
    v = res["scan_valid"]
    assert v["title"] == "ACCEPTED — IN"
    assert "Zone: Floor" in v["details"] and "Name: Hélène Dupont" in v["details"]
    assert v["counters"] == "Scanned 1 · Accepted 1 · Inside 1"
    assert share("scan_valid.png", GREEN) > 0.55
    assert share("scan_valid.png", RED) < 0.01


def test_repeat_read_is_blue_not_a_second_green_entry(res):
    """The same code within the re-read window: its own blue screen that says so, silent, nothing counted."""
    v = res["scan_repeat"]
    assert v["title"] == "ALREADY READ — 2 s ago" and "Refuse" in v["reason"]
    assert v["counters"] == "Scanned 1 · Accepted 1 · Inside 1"
    assert share("scan_repeat.png", BLUE) > 0.55 and share("scan_repeat.png", GREEN) < 0.01
    assert res["feedback"][:2] == ["accept", "silent"]          # drivers' feedback_for: repeats make no sound


def test_ticket_shown_again_later_is_red(res):
    """Handed back to a friend in the queue after the window: refused in red, never green."""
    assert res["scan_used"]["title"] == "ALREADY USED" and share("scan_used.png", GREEN) < 0.01


def test_offline_badge_stays_visible_on_orange(res):
    v = res["scan_unpaid"]
    assert v["badge"].startswith("OFFLINE") and share("scan_unpaid.png", ORANGE) > 0.55
    black = (0, 0, 0)
    assert box_share("scan_unpaid.png", res["badge_box"], black) > 0.15      # its black frame and black text
    left, _, width, height = res["badge_box"]
    below = [left, res["verdict_box"][1] + 40, width, height]                # the same size of verdict around it
    assert box_share("scan_unpaid.png", below, black) < 0.02


def test_wrong_event_names_the_event_and_date(res):
    v = res["scan_wrong_event"]
    assert v["title"] == "WRONG EVENT"
    assert v["reason"].startswith("Ticket for Festival — Saturday (") and "event 2" not in v["reason"]


def test_undo_has_its_own_words(res):
    assert res["undo_label"] == "Undo entry" and res["undo_label_quick_cancel"] == "Undo cancellation"


def test_ticket_desk_only_on_kiosk_devices(res):
    assert "Ticket desk" not in res["menu_door_tiles"] and "Ticket desk" in res["menu_kiosk_tiles"]
    assert "Scan" in res["menu_door_tiles"]


def test_kiosk_rows_lead_with_buyer_and_order(res):
    assert res["kiosk_rows"][0].startswith("Bob Martin — order A-1002\n")
    assert res["find_martin"][1] == "1 order found" and res["find_martin"][2] == ["Bob Martin — order A-1002 · 2 tickets"]


def test_chosen_printer_stays_in_sight_and_set_up_adds_any_kind(res):
    assert res["printer_bar"] == "Printer: Desk printer — Receipt printer (ESC/POS)"
    assert res["add_zebra"] == "" and res["add_badge"] == ""
    zebra = [p for p in res["added_printers"] if p["language"] == "zpl"][0]
    assert (zebra["printer_id"], zebra["format"], zebra["kind"]) == ("zpl:127.0.0.1:9101", "cinema", "ticket")
    badge = [p for p in res["added_printers"] if p["language"] == "badge"][0]
    assert (badge["printer_id"], badge["kind"]) == ("badge:127.0.0.1:631", "badge")
    assert "Zebra label printer (ZPL) — Cinema ticket (portrait)" in res["setup_printers"]
    assert res["add_printer_choices"][:3] == ["Receipt printer (ESC/POS)", "Zebra label printer (ZPL)",
                                              "Badge printer (CR80 cards)"]


def test_no_placeholder_is_cut(res, french):
    assert res["cut_hints"] == [] and french["cut_hints"] == []


def test_organiser_message_for_vip(res):
    v = res["scan_vip"]
    assert v["message"] == "VIP — hand out a wristband"
    assert "Seat: R3-12" in v["details"]
    # the message sits on a yellow band, readable on green
    assert share("scan_vip.png", (1, 0.93, 0.3)) > 0.02


def test_used_ticket_red_with_when_and_gate(res):
    v = res["scan_used"]
    assert v["title"] == "ALREADY USED"
    assert "gate North" in v["reason"] and "handheld-3" in v["reason"]
    assert share("scan_used.png", RED) > 0.55
    assert share("scan_used.png", GREEN) < 0.01


def test_forged_ticket_red_and_shows_nothing_from_it(res):
    v = res["scan_forged"]
    assert v["title"] == "FAKE TICKET"
    assert v["details"] == "" and "supervisor" in v["reason"]
    assert share("scan_forged.png", RED) > 0.55


def test_wrong_zone_names_both_zones(res):
    assert res["scan_wrong_zone"]["reason"] == "Ticket for Balcony. This gate: Floor, VIP lounge."


def test_attention_is_orange(res):
    assert res["scan_unpaid"]["title"] == "PAYMENT PENDING"
    assert share("scan_unpaid.png", ORANGE) > 0.55
    assert share("scan_not_a_ticket.png", ORANGE) > 0.55


def test_laser_keyboard_wedge_scans_on_enter(res):
    assert res["wedge_before_enter"] == "NOT A TICKET"          # nothing happens before the line ends
    assert res["wedge"]["title"] == "PAYMENT PENDING" and "Name: Marc Lefèvre" in res["wedge"]["details"]
    assert res["wedge"]["counters"] == "Scanned 8 · Accepted 2 · Inside 2"


def test_sounds_follow_verdicts(res):
    assert res["feedback"] == ["accept", "silent", "accept", "reject", "reject", "reject", "attention", "attention"]


def test_mode_switch_behind_pin(res):
    assert res["pin_popup_open"] is True and res["pin_wrong"] == "wrong" and res["mode_popup_open"] is True


def test_quick_cancel_marked_and_purple(res):
    ready = res["quick_cancel_ready"]
    assert "NOT FOR THE DOOR" in ready["warning"] and ready["mode"] == "Mode: Quick cancellation"
    assert share("quick_cancel_ready.png", PURPLE) > 0.4
    assert res["quick_cancel_scan"]["title"] == "CANCELLED — BACK ON SALE"
    assert share("quick_cancel_scan.png", PURPLE) > 0.4


def test_entry_exit_mode(res):
    assert res["exit"]["title"] == "EXIT — OK" and res["exit"]["counters"].endswith("Inside 1")
    assert res["entry_again"]["title"] == "ACCEPTED — IN" and res["entry_again"]["counters"].endswith("Inside 2")
    assert res["exit_only"]["title"] == "EXIT — OK" and res["exit_only"]["mode"] == "Mode: Entry / exit: exits only"
    assert res["policy_mode"] == "normal"


def test_search_manual_checkin_and_undo(res):
    rows = {r[0]: r for r in res["search_rows"]}
    assert rows["1011"][2].startswith("used") and rows["1011"][3] is False
    assert rows["1012"][2].startswith("valid") and rows["1012"][3] is True
    assert res["manual_current"] == "scan" and res["manual_checkin"]["title"] == "ACCEPTED — IN"
    assert res["undo"] == "Entry of ticket 1012 undone."
    assert res["after_undo"]["title"] == "READY"
    assert res["after_undo"]["counters"] == "Scanned 14 · Accepted 5 · Inside 1"


def test_print_to_local_tcp_printer(res):
    p = res["print"]
    assert p["ok"] and p["printed"] == 2 and p["jobs"] == 2 and p["has_buyer"] and p["has_order"]
    assert p["message"] == "2 printed."
    assert "out of paper" in res["print_paper_out"] and "Not printed" in res["print_paper_out"]
    assert res["print_off"]["ok"] is False and "refused the connection" in res["print_off"]["message"]
    assert "2 ticket(s) kept to print again" in res["print_off"]["message"]
    assert res["print_queue"] == [["A-1002", "1011"], ["A-1002", "1012"]]      # the latest attempt, once each
    assert res["print_queue_after"] == {"message": "2 printed.", "left": 0, "jobs": 2}


def test_kiosk_validates_payment(res):
    assert res["payment"]["message"] == "Payment recorded for 2 tickets."
    assert res["payment"]["states"] == ["valid", "valid"]
    # the method is chosen as for a sale (no invoice: the money is taken) and goes with the payment to the till
    assert res["payment"]["choices"][:3] == ["Cash", "Card (terminal)", "Voucher / exchange credit"]
    assert res["payment"]["sent"] == [["A-1004", "card", "AUTH-77"]]
    assert res["payment_no_reference"] == {"asked": "Terminal or voucher reference",      # as for a sale
                                           "said": "Type the terminal's or the voucher's reference.", "sent": 0}


def test_event_switch_behind_pin(res):
    assert res["events_pin_asked"] is True
    assert res["events_after"] == [1, 3] and res["events_screen_after"] == "scan"


def test_stats_and_events(res):
    assert "Festival — Friday: 3 in, 2 out" in res["stats_lines"]
    assert "North: 3 in, 2 out" in res["stats_lines"] and "Inside now: 1" in res["stats_lines"]
    assert res["events_toggles"][:3] == ["Events", "Festival — Friday", "Afterparty — Friday"]


def test_french(res):
    assert res["fr_scan_used"]["title"] == "DÉJÀ UTILISÉ"
    assert "Scanner" in res["fr_menu_tiles"] and "English" in res["fr_menu_tiles"]


def test_glove_sized_buttons(res):
    assert res["min_button_height_px"] >= res["dp76"]
    assert set(res["smallest_target"]) >= {"scan", "search", "events", "kiosk", "stats", "sync", "setup", "menu"}
    for screen, height in res["smallest_target"].items():
        assert height >= res["dp76"], f"{screen}: a {height}px target is smaller than 12 mm"


def test_every_screen_rendered(res):
    for name in ("events", "stats", "sync", "setup", "setup_printers", "add_printer_popup", "menu", "search",
                 "kiosk_order", "kiosk_printers",
                 "kiosk_checklist", "pin_popup", "mode_popup", "undo_popup"):
        img = Image.open(OUT / f"{name}.png")
        assert img.size == (720, 1280)
        raw = img.convert("RGB").resize((72, 128)).tobytes()
        assert len({raw[i:i + 3] for i in range(0, len(raw), 3)}) > 5, f"{name} looks blank"


def test_landscape_tablet(landscape):
    assert landscape["size"] == [1280, 800]
    assert landscape["landscape_valid"]["title"] == "ACCEPTED — IN"
    assert share("landscape_valid.png", GREEN) > 0.5


def test_the_whole_door_in_french(french):
    assert french["scan_valid"]["title"] == "ACCEPTÉ — ENTRÉE"
    assert french["scan_used"]["title"] == "DÉJÀ UTILISÉ" and "porte North" in french["scan_used"]["reason"]
    assert french["scan_forged"]["title"] == "FAUX BILLET"
    assert french["quick_cancel_ready"]["warning"].startswith("ANNULATION RAPIDE")
    assert french["scan_valid"]["counters"] == "Scannés 1 · Acceptés 1 · Présents 1"
    assert french["print"]["message"] == "2 imprimés."
    assert french["scan_repeat"]["title"] == "DÉJÀ LU — il y a 2 s"
    assert share("fr/scan_repeat.png", BLUE) > 0.55
    assert french["undo_label"] == "Annuler l'entrée" and french["undo_label_quick_cancel"] == "Rétablir le billet"
    assert french["scan_wrong_event"]["reason"].startswith("Billet pour Festival — Saturday (")
    assert "Guichet" not in french["menu_door_tiles"] and "Guichet" in french["menu_kiosk_tiles"]
    assert "VIP lounge : 1 entrée, 0 sortie" in french["stats_lines"]
    assert "Festival — Friday : 3 entrées, 2 sorties" in french["stats_lines"]
    assert french["find_martin"][1] == "1 commande trouvée"
    assert french["scan_unpaid"]["badge"].startswith("HORS LIGNE") and share("fr/scan_unpaid.png", ORANGE) > 0.55
    assert box_share("fr/scan_unpaid.png", french["badge_box"], (0, 0, 0)) > 0.15
    assert share("fr/scan_used.png", RED) > 0.55
