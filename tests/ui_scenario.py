"""Drives the real app offscreen through door and kiosk scenarios; run in its own process by test_ui_render.py.

    python tests/ui_scenario.py OUT_DIR     -> OUT_DIR/*.png and OUT_DIR/results.json

Real agent (ledger in a temp folder, keys from agent.signing), real GL rendering, real TCP printer socket.
"""
from __future__ import annotations

import dataclasses
import json
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def state_of(scan) -> dict:
    return {"title": scan.big.text, "reason": scan.reason.text, "details": scan.details.text,
            "message": scan.message.text, "bg": list(scan.root_box.bg.rgba), "badge": scan.badge.text,
            "counters": scan.counters.text, "mode": scan.mode.text, "warning": scan.warning.text}


def widget_box(w) -> list[int]:
    """[left, top, width, height] of a widget in screenshot pixels (origin top-left)."""
    from kivy.core.window import Window
    x, y = w.to_window(*w.pos)
    return [int(x), int(Window.height - y - w.height), int(w.width), int(w.height)]


def cut_hints(h) -> list[str]:
    """Text fields whose hint (placeholder) is wider than the field: measured as Kivy renders it."""
    from kivy.core.text import Label as CoreLabel
    from kivy.uix.textinput import TextInput
    out = []
    for screen in h.ui.manager.screens:
        for w in screen.walk(restrict=True):
            if isinstance(w, TextInput) and w.hint_text:
                probe = CoreLabel(text=w.hint_text, font_size=w.font_size)
                probe.refresh()
                room = w.width - w.padding[0] - w.padding[2]
                if probe.texture.size[0] > room:
                    out.append(f"{screen.name}: {w.hint_text!r} is {probe.texture.size[0]} px in {room:.0f} px")
    return out


def smallest_targets(h) -> dict:
    """Height in px of the smallest button / toggle / text field on every screen (gloves: >= 76 dp)."""
    from kivy.uix.button import Button
    from kivy.uix.textinput import TextInput
    out = {}
    for screen in h.ui.manager.screens:
        heights = [w.height for w in screen.walk(restrict=True) if isinstance(w, (Button, TextInput))]
        if heights:
            out[screen.name] = min(heights)
    return out


def main(out: Path, size=(720, 1280), lang: str = "en") -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env(size)
    from agent.policy import Mode
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    from kiosk_ui.offscreen import Harness
    i18n.set_language(lang)
    home = Path(tempfile.mkdtemp(prefix="ui-scenario-"))
    t = [1_790_000_000.0]
    demo = seed(home, now=t[0], clock=lambda: t[0])
    ctl = Controller(demo.door, build_services(demo.door, home), clock=lambda: t[0])
    h = Harness(ctl, "scan")
    scan = h.screen("scan")
    scan.verdict_timeout = 0
    res: dict = {}

    def shot(name):
        h.pump()
        h.screenshot(out / f"{name}.png")

    def step(name, payload=None, advance=10.0):
        t[0] += advance
        if payload is not None:
            scan.scan(payload)
        shot(name)
        res[name] = state_of(scan)

    step("scan_ready")
    step("scan_valid", demo.ticket(1001, zones=(1,), category=1))
    step("scan_repeat", demo.ticket(1001, zones=(1,), category=1), advance=2)   # within the re-read window
    res["undo_label"] = scan.undo_button.text
    step("scan_vip", demo.ticket(1011, zones=(3,), category=2, seat="R3-12"))
    step("scan_used", demo.ticket(1001, zones=(1,), category=1))
    step("scan_forged", demo.forged(1003))
    step("scan_wrong_zone", demo.ticket(1021, zones=(2,), category=1))
    step("scan_unpaid", demo.ticket(1031, zones=(1,), category=1))
    res["badge_box"] = widget_box(scan.badge)
    res["verdict_box"] = widget_box(scan.verdict_box)
    step("scan_not_a_ticket", "hello world")
    # a laser in keyboard-wedge mode types the code then Enter
    t[0] += 10
    h.window.dispatch("on_textinput", demo.ticket(1032, zones=(1,), category=1)[:40])
    h.window.dispatch("on_textinput", demo.ticket(1032, zones=(1,), category=1)[40:])
    h.pump()
    res["wedge_before_enter"] = scan.big.text
    h.window.dispatch("on_key_down", 13, 36, "\r", [])
    h.pump()
    res["wedge"] = state_of(scan)
    res["feedback"] = list(ctl.services.feedback.played)[:8]
    step("scan_wrong_event", demo.ticket(1041, event_id=2, zones=(1,), category=1))

    # modes: a PIN locks the switch
    ctl.lock.set_pin("4321")
    ctl.lock.lock()
    scan.ask_mode()
    h.pump()
    res["pin_popup_open"] = h.ui.popup_open()
    shot("pin_popup")
    res["pin_wrong"] = h.ui.popup.pin_input.text == "" and ctl.lock.unlock("0000")
    h.ui.popup.pin_input.text = "4321"
    h.ui.popup.submit()
    h.pump()
    res["mode_popup_open"] = h.ui.popup_open()
    shot("mode_popup")
    h.close_popup()
    scan.set_mode(Mode.QUICK_CANCEL)
    step("quick_cancel_ready")
    res["undo_label_quick_cancel"] = scan.undo_button.text
    step("quick_cancel_scan", demo.ticket(1002, zones=(1,), category=1))
    scan.set_mode(Mode.ENTRY_EXIT)
    step("exit", demo.ticket(1001, zones=(1,), category=1))
    step("entry_again", demo.ticket(1001, zones=(1,), category=1))
    scan.set_mode(Mode.ENTRY_EXIT, "out")       # an exit-only gate
    step("exit_only", demo.ticket(1001, zones=(1,), category=1))
    scan.set_mode(Mode.NORMAL)
    res["policy_mode"] = ctl.door.policy.mode.value

    # search -> manual check-in -> undo
    h.go("search")
    search = h.screen("search")
    rows = search.search("martin")
    res["search_rows"] = [(r.ticket_key, r.title, r.subtitle, r.can_checkin) for r in rows]
    shot("search")
    search.checkin([r for r in rows if r.can_checkin][0].ticket_key, "QR code unreadable")
    h.pump()
    res["manual_current"] = h.ui.manager.current
    step("manual_checkin", advance=1)
    scan.ask_undo()
    h.pump()
    shot("undo_popup")
    h.close_popup()
    res["undo"] = scan.undo("Scanned by mistake")
    step("after_undo", advance=1)

    # kiosk: print to a TCP printer on 127.0.0.1, then with the printer off
    h.ui.toast_label.opacity = 0
    from drivers.testkit.fake_printer import FakePrinter
    printer = FakePrinter("escpos")
    ctl.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": printer.port, "name": "Desk printer"}])
    h.go("kiosk")
    kiosk = h.screen("kiosk")
    kiosk.find("A-1002")
    result = kiosk.print_(kind="ticket", wait=True)
    printer.close()
    jobs = b"".join(printer.jobs)
    res["print"] = {"ok": result.ok, "printed": result.printed, "jobs": len(printer.jobs),
                    "has_buyer": "Bob Martin".encode() in jobs, "has_order": b"A-1002" in jobs,
                    "message": kiosk.message.text}
    kiosk.refresh()
    res["kiosk_rows"] = [w.text for w in reversed(kiosk.list.children)]
    res["printer_bar"] = kiosk.printer_line.text
    shot("kiosk_order")
    with FakePrinter("escpos", mode="paper_out") as empty:
        ctl.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": empty.port, "name": "Desk printer"}])
        kiosk.print_(kind="ticket", wait=True)
        res["print_paper_out"] = kiosk.message.text
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))             # a port nobody listens on: the printer is off
    ctl.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": dead.getsockname()[1], "name": "Desk printer"}])
    off = kiosk.print_(kind="ticket", wait=True)
    dead.close()
    res["print_off"] = {"ok": off.ok, "message": kiosk.message.text}
    shot("kiosk_printer_off")
    # the tickets that did not print wait in the device's print queue; a working printer prints them
    res["print_queue"] = [(p.order_number, p.ticket_key) for p in ctl.pending_prints()]
    kiosk.show_print_queue()
    h.pump()
    shot("kiosk_print_queue")
    h.close_popup()
    with FakePrinter("escpos") as fixed:
        ctl.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": fixed.port, "name": "Desk printer"}])
        kiosk.retry_queued(None, wait=True)
        res["print_queue_after"] = {"message": kiosk.message.text, "left": len(ctl.pending_prints()),
                                    "jobs": len([j for j in fixed.jobs if j])}
    kiosk.find("A-1004")
    kiosk.buttons["pay"].dispatch("on_release")             # "Payment received": how the buyer paid, as for a sale
    h.pump()
    choices = [w for w in h.ui.popup.walk() if type(w).__name__ == "BigButton"]
    next(w for w in choices if w.text == i18n.tr("Card (terminal)")).dispatch("on_release")
    h.pump()
    h.ui.popup.entry.text = "  "                            # the terminal's reference: needed, as for a sale
    h.ui.popup.submit()
    h.pump()
    res["payment_no_reference"] = {"asked": h.ui.popup.title, "said": h.ui.popup.content.children[-1].text,
                                   "sent": len([b for _, _, b in ctl.door.ledger.outbox_pending()
                                                if b.get("action") == "payment_validated"])}
    h.ui.popup.entry.text = "AUTH-77"
    h.ui.popup.submit()
    h.pump()
    sent = [body for _, kind, body in ctl.door.ledger.outbox_pending() if body.get("action") == "payment_validated"]
    res["payment"] = {"message": kiosk.message.text, "states": [t["state"] for t in kiosk.tickets],
                      "choices": [w.text for w in choices], "sent": [(b["order_number"], b["payment"], b.get("payment_ref")) for b in sent]}
    res["find_martin"] = [len(kiosk.find("Martin")), kiosk.message.text, [w.text for w in kiosk.list.children]]
    kiosk.find("A-1004")
    kiosk.show_printers()
    h.pump()
    shot("kiosk_printers")
    h.close_popup()
    kiosk.show_checklist()
    h.pump()
    shot("kiosk_checklist")
    h.close_popup()
    # events: pick another event; the kiosk lock asks for the PIN (it relocked itself since)
    t[0] += 300
    h.go("events")
    events = h.screen("events")
    events.sel.toggle_event(3)
    events.apply_button.dispatch("on_release")
    h.pump()
    res["events_pin_asked"] = h.ui.popup_open() and ctl.door.policy.events == frozenset({1})
    h.ui.popup.pin_input.text = "4321"
    h.ui.popup.submit()
    h.pump()
    res["events_after"] = sorted(ctl.door.policy.events)
    res["events_screen_after"] = h.ui.manager.current
    events.sel.toggle_event(3)              # back to the demo selection for the screenshots
    ctl.door.set_selection(frozenset({1}), ctl.door.policy.zones)
    # printers by address in Set-up: a Zebra printing the cinema ticket, a badge printer (no PIN: unlocked above)
    ctl.lock.unlock("4321")
    res["add_zebra"] = ctl.add_printer("127.0.0.1:9101", "zpl", "cinema")
    res["add_badge"] = ctl.add_printer("127.0.0.1", "badge")
    res["added_printers"] = [dataclasses.asdict(p) for p in ctl.added_printers()]
    h.go("setup")
    res["setup_printers"] = h.screen("setup").printers_list.text
    ctl.services.role = "door"                      # a door device: no ticket desk tile
    h.go("menu")
    res["menu_door_tiles"] = [w.text for w in reversed(h.screen("menu").grid.children)]
    ctl.services.role = "kiosk"
    h.go("menu")
    res["menu_kiosk_tiles"] = [w.text for w in reversed(h.screen("menu").grid.children)]
    ctl.services.role = "door"
    h.ui.toast_label.opacity = 0                    # "Selection saved." would cover the screenshots
    for name in ("events", "stats", "sync", "setup", "menu"):
        h.go(name)
        shot(name)
    res["cut_hints"] = cut_hints(h)
    h.go("setup")
    setup = h.screen("setup")
    setup.body.children[0].scroll_y = 0               # the printers, at the end of Set-up
    shot("setup_printers")
    setup.printer_button.dispatch("on_release")
    h.pump()
    res["add_printer_choices"] = [w.text for w in h.ui.popup.walk() if type(w).__name__ == "BigButton"]
    shot("add_printer_popup")
    h.close_popup()
    res["smallest_target"] = smallest_targets(h)
    res["stats_lines"] = [w.text for w in reversed(h.screen("stats").list.children)]
    res["events_toggles"] = [w.text for w in reversed(h.screen("events").list.children)]

    if lang != "en":
        (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
        return res
    # French
    h.ui.switch_language("fr")
    h.go("scan")
    step("fr_scan_used", demo.ticket(1011, zones=(3,), category=2, seat="R3-12"), advance=30)
    h.go("menu")
    shot("fr_menu")
    res["fr_menu_tiles"] = [w.text for w in reversed(h.screen("menu").grid.children)]
    h.ui.switch_language("en")

    res["min_button_height_px"] = min(b.height for b in scan.buttons.children)
    from kivy.metrics import dp
    res["dp76"] = dp(76)
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    return res


def landscape(out: Path) -> dict:
    """The 10" tablet in landscape (a separate process: the offscreen window cannot be resized)."""
    from kiosk_ui.offscreen import LANDSCAPE, offscreen_env
    offscreen_env(LANDSCAPE)
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    from kiosk_ui.offscreen import Harness
    i18n.set_language("en")
    home = Path(tempfile.mkdtemp(prefix="ui-landscape-"))
    demo = seed(home)
    ctl = Controller(demo.door, build_services(demo.door, home))
    h = Harness(ctl, "scan")
    scan = h.screen("scan")
    scan.verdict_timeout = 0
    scan.scan(demo.ticket(1012, zones=(3,), category=2, seat="R3-13"))
    h.screenshot(out / "landscape_valid.png")
    res = {"landscape_valid": state_of(scan), "size": list(h.window.size)}
    for name in ("kiosk", "events", "menu"):
        h.go(name)
        h.screenshot(out / f"landscape_{name}.png")
    (out / "results_landscape.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    return res


if __name__ == "__main__":
    if sys.argv[2:] == ["landscape"]:
        run(landscape, Path(sys.argv[1]))
    else:
        run(main, Path(sys.argv[1]), lang=(sys.argv[2:] or ["en"])[0])
