"""Door staff's and kiosk operators' paths through the real app offscreen (session K): real screens, real ledger,
the real camera decoder chain and CameraScanner, Zebra / Bluebird broadcasts through LaserInput (the platform
receiver replaced by a stand-in that keeps the callback). Run in its own process by tests/test_qa_paths_k_app.py.

    python tests/qa_paths_k_app_scenario.py OUT_DIR door   -> OUT_DIR/k_door.json
    python tests/qa_paths_k_app_scenario.py OUT_DIR desk   -> OUT_DIR/k_desk.json
    python tests/qa_paths_k_app_scenario.py OUT_DIR app    -> OUT_DIR/k_app.json
"""
from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def qr_pair(left: str, right: str):
    """One camera frame holding two tickets' QR codes side by side (segno draws them as the tickets are drawn)."""
    import numpy as np
    import segno
    from PIL import Image

    def qr(text: str):
        buf = io.BytesIO()
        segno.make(text, error="m").save(buf, kind="png", scale=4, border=4)
        buf.seek(0)
        return np.array(Image.open(buf).convert("L"))
    a, b = qr(left), qr(right)
    frame = np.full((max(a.shape[0], b.shape[0]) + 40, a.shape[1] + b.shape[1] + 60), 255, np.uint8)
    frame[20:20 + a.shape[0], 20:20 + a.shape[1]] = a
    frame[20:20 + b.shape[0], 40 + a.shape[1]:40 + a.shape[1] + b.shape[1]] = b
    return np.stack([frame] * 3, -1)


def laser(ledger, mode: str, on_payload):
    """A Zebra or Bluebird LaserInput started as the app starts it; -> the broadcast callback (the recorded
    intents are handed to it as Android hands them to the receiver)."""
    from drivers.scanners import settings as scanner_settings
    from kiosk_ui.adapters.lasers import LaserInput
    scanner_settings.save(ledger, scanner_settings.ScannerSettings(mode=mode))
    kept: dict = {}
    li = LaserInput(ledger, register=lambda actions, flags, callback: kept.update(cb=callback) or (lambda: None),
                    api=34, send=lambda action, extras: None, package="org.ticketgate.ticketgate")
    assert li.start(on_payload), li.error
    return kept["cb"], li


def door(out: Path) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from agent.staff import hash_pin, make_badge
    from agent.staff_session import store_roster
    from drivers.camera.scanner import CameraScanner
    from drivers.scanners import bluebird, datawedge
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.adapters.camera import decoder_chain
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    from kiosk_ui.offscreen import Harness
    i18n.set_language("en")
    home = Path(tempfile.mkdtemp(prefix="k-door-"))
    t = [1_790_000_000.0]
    demo = seed(home, now=t[0], clock=lambda: t[0], role="door")
    ctl = Controller(demo.door, build_services(demo.door, home), clock=lambda: t[0])
    h = Harness(ctl, "scan")
    scan = h.screen("scan")
    scan.verdict_timeout = 0
    res: dict = {}

    def state() -> dict:
        return {"title": scan.big.text, "reason": scan.reason.text, "details": scan.details.text,
                "counters": scan.counters.text, "badge": scan.badge.text}

    # a couple shows both tickets on one phone: the picture moves, the decoder reads one, then the other
    a, b = demo.ticket(1001), demo.ticket(1002)
    frames = (qr_pair(a, b), qr_pair(b, a))
    probe = decoder_chain()
    res["decoded_per_frame"] = [list(probe.decode_live(f).texts) == [x] for f, x in zip(frames, (a, b))]
    camera = CameraScanner(lambda read: h.ui.device_payload(read.text), chain=decoder_chain(h.ui.plausible_read),
                           clock=lambda: t[0])
    shown = []
    for i in range(30):                          # 6 s in front of the camera, 5 frames a second decoded
        camera.process(frames[i % 2])
        h.pump(2)
        shown.append(scan.big.text)
        t[0] += 0.2
    res["two_codes_shown"] = shown
    res["two_codes_counters"] = [ctl.door.session.scanned, ctl.door.session.accepted]

    # the language switched while a verdict is on screen
    t[0] += 30
    scan.scan(demo.ticket(1003))
    h.pump()
    res["verdict_en"] = state()
    h.ui.switch_language("fr")
    h.pump()
    res["verdict_after_switch_fr"] = state()
    h.ui.switch_language("en")
    h.pump()
    res["verdict_after_switch_en"] = state()

    # a keyboard-wedge laser with Caps Lock on: the ticket's letters come in lower case, then Enter
    t[0] += 30
    h.window.dispatch("on_textinput", demo.ticket(1005).swapcase())
    h.window.dispatch("on_key_down", 13, 36, "\r", [])
    h.pump()
    res["caps_lock"] = state()

    # the gate's name typed in Set-up, as long as a French one gets (70 characters), then a ticket scanned there;
    # whether the entries queued are what the server takes
    from agent.sync.messages import item_from_wire
    h.go("setup")
    setup = h.screen("setup")
    setup.device_id.text = "handheld-3"
    setup.gate.text = "Entrée principale côté parking sud — porte B, près de la billetterie"
    setup.save_identity()
    res["gate_saved"] = {"said": setup.result.text, "gate": ctl.door.policy.gate}
    h.go("scan")
    t[0] += 30
    scan.scan(demo.ticket(1004))
    refused, kinds = [], []
    for _row_id, kind, body in ctl.door.ledger.outbox_pending():
        try:
            kinds.append(type(item_from_wire(body)).__name__)
        except Exception as exc:                 # what the server's ingestion refuses (`server refusals`)
            refused.append(f"{kind}: {exc}")
    res["door_queued_refused_by_server"], res["door_queued_kinds"] = refused, sorted(set(kinds))

    # staff badges read by a laser that sends the AIM symbology identifier (`]Q1`) and ends with CR/LF
    key = Ed25519PrivateKey.generate()
    store_roster(ctl.door.ledger, "demo", [{"staff_id": "1", "name": "Léa Martin", "role": "door", "active": True,
                                            "pin": hash_pin("1234"), "badge_serial": 1}])
    ctl.door.staff.server_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ctl.door.staff.clock = lambda: t[0]
    badge = make_badge("demo", "1", 1, key.sign)
    zebra, zebra_input = laser(ctl.door.ledger, "zebra", h.ui.device_payload)
    zebra("ch.ticketgate.SCAN", {datawedge.DATA_STRING: "]Q1" + badge + "\r\n", datawedge.SOURCE: "scanner",
                                 datawedge.LABEL_TYPE: "LABEL-TYPE-QRCODE"})
    h.pump()
    member = ctl.door.staff.current()
    res["zebra_badge"] = {**state(), "on_duty": member.name if member else None}
    t[0] += 30
    zebra("ch.ticketgate.SCAN", {datawedge.DATA_STRING: "]Q1" + demo.ticket(1011, zones=(3,), category=2) + "\r\n",
                                 datawedge.SOURCE: "scanner", datawedge.LABEL_TYPE: "LABEL-TYPE-QRCODE"})
    h.pump()
    res["zebra_ticket"] = state()
    zebra_input.stop()
    ctl.logout()
    h.go("staff")                               # a badge read on the Staff screen
    raw = ("]Q1" + badge + "\r\n").encode()
    blue, blue_input = laser(ctl.door.ledger, "bluebird", h.ui.device_payload)
    blue(bluebird.ACTION_DECODING_DATA, {bluebird.EXTRA_DATA: [x - 256 if x > 127 else x for x in raw],
                                         bluebird.EXTRA_SYMBOLOGY: 28})
    h.pump()
    member = ctl.door.staff.current()
    res["bluebird_badge"] = {**state(), "on_duty": member.name if member else None,
                             "screen": h.ui.manager.current}
    blue_input.stop()
    # a keyboard-wedge laser (the default scanner mode): the badge typed then Enter, on the Staff screen
    ctl.logout()
    h.go("staff")
    h.window.dispatch("on_textinput", badge)
    h.window.dispatch("on_key_down", 13, 36, "\r", [])
    h.pump()
    member = ctl.door.staff.current()
    res["wedge_badge_on_staff"] = {**state(), "on_duty": member.name if member else None,
                                   "screen": h.ui.manager.current}
    (out / "k_door.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


def desk(out: Path) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed, seed_desk
    from kiosk_ui.offscreen import Harness
    i18n.set_language("fr")
    home = Path(tempfile.mkdtemp(prefix="k-desk-"))
    demo = seed(home, role="kiosk")
    ctl = Controller(demo.door, build_services(demo.door, home))
    seed_desk(demo, ctl.services.desk)
    h = Harness(ctl, "sell")
    sell = h.screen("sell")
    res: dict = {}

    def state() -> dict:
        h.pump()
        return {"problem": sell.problem.text, "total": sell.total.text, "lines": sell.lines.text,
                "pay_disabled": sell.pay_button.disabled,
                "quantities": {row.category: row.children[1].text for row in sell.list.children
                               if hasattr(row, "category")}}

    sell.add(1, 1)
    sell.add(2, 1)
    sell.apply_promo("nope")
    res["unknown_promo"] = state()
    sell.apply_promo("Z" * 10_000)               # a 10,000-character code (a wedge scanner stuck, a paste)
    res["huge_promo"] = state()
    sell.apply_promo("")
    res["no_promo"] = state()
    errors = []
    for category, n in ((1, 10**6), (1, -10**6), (99, 1)):
        try:
            sell.add(category, n)
        except Exception as exc:                 # what the app's button would have raised into Kivy's loop
            errors.append(f"add({category}, {n}): {type(exc).__name__}: {exc}")
        res[f"add_{category}_{n}"] = state()
    res["add_errors"] = errors

    # the printer off: the order's tickets wait in the print queue; "Print all again" prints them on a working one
    # while the operator, in the queue's popup opened before, taps "Do not print it" on one of them
    import socket
    from drivers.testkit.fake_printer import FakePrinter
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))                  # nobody listens: the printer is off
    ctl.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": dead.getsockname()[1], "name": "Desk"}])
    h.go("kiosk")
    kiosk = h.screen("kiosk")
    kiosk.find("A-1002")
    kiosk.print_(kind="ticket", wait=True)
    dead.close()
    kept = ctl.pending_prints()
    res["queued"] = len(kept)
    with FakePrinter("escpos") as printer:
        ctl.door.ledger.set_setting("printers", [{"host": "127.0.0.1", "port": printer.port, "name": "Desk"}])
        kiosk.retry_queued(None, wait=True)
        res["queue_after_retry"] = len(ctl.pending_prints())
        try:
            kiosk.dismiss_queued(kept[0].job_id)
            res["dismiss_printed"] = kiosk.message.text
        except Exception as exc:
            res["dismiss_printed"] = f"raised {type(exc).__name__}: {exc}"

    # the server unreachable: an order found by its buyer's name typed without accents, one ticket exchanged here,
    # then the same ticket again; the payment of an order already paid
    kiosk.message.text = ""
    res["found"] = [list(o) for o in kiosk.find("helene dupont")]
    kiosk.open_order("A-1001")
    kiosk.selected_ticket = "1001"
    res["desk_online"] = ctl.services.desk.online
    kiosk.exchange("1001", "Damaged ticket")
    res["exchanged"] = kiosk.message.text
    kiosk.selected_ticket = "1001"
    kiosk.exchange("1001", "Damaged ticket")
    res["exchanged_again"] = kiosk.message.text
    kiosk.open_order("A-1002")
    kiosk.validate_payment("cash")
    res["paid_again"] = kiosk.message.text

    # still offline: a card sale whose terminal reference is 250 characters (a receipt's text scanned into the
    # field), a cash sale with a 250-character e-mail; then whether what the kiosk queued is what the server takes
    import time
    from agent.sync.messages import item_from_wire
    pay = h.screen("pay")
    for name, method, field_name, value in (("long_reference", "card", "reference", "R" * 250),
                                            ("long_email", "cash", "email", "x" * 250 + "@example.org")):
        ctl.sale.cart, ctl.sale.promo_code = {}, ""
        h.go("sell")
        sell.add(1, 1)
        sell.pay()
        pay.set_method(method)
        pay.given.text = "100" if method == "cash" else ""
        getattr(pay, field_name).text = value
        h.pump()
        shown = {"problem": pay.problem.text, "confirm_disabled": pay.confirm_button.disabled}
        pay.confirm()
        deadline = time.monotonic() + 30
        while ctl.sale.waiting and time.monotonic() < deadline:
            h.pump()
            time.sleep(0.05)
        h.pump()
        res[name] = {**shown, "screen": h.ui.manager.current}
        getattr(pay, field_name).text = ""
    refused, queued = [], []
    for _row_id, kind, body in ctl.door.ledger.outbox_pending():
        if kind != "kiosk":                      # every kiosk message of this walk: prints, exchange, sales
            continue
        try:
            queued.append(type(item_from_wire(body)).__name__)
        except Exception as exc:                 # what the server's ingestion refuses (`server refusals`)
            refused.append(f"{body.get('type')}: {exc}")
    res["queued_refused_by_server"], res["queued_kinds"] = refused, sorted(set(queued))
    (out / "k_desk.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


def app(out: Path) -> dict:
    """The real KioskApp main loop (App.run), as `ticketgate kiosk` runs it: a screen's callback raising (a defect
    not found yet, stood in for by the undo intent replaced with one that raises), then one raising on every frame."""
    import logging
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from kivy.clock import Clock
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.app import KioskApp
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    i18n.set_language("en")
    home = Path(tempfile.mkdtemp(prefix="k-app-"))
    demo = seed(home, role="door")
    ctl = Controller(demo.door, build_services(demo.door, home, camera=False, feedback=False))
    logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage() + ("\n" + "".join(__import__("traceback").format_exception(
                *record.exc_info)) if record.exc_info else ""))
    logging.getLogger("kiosk_ui").addHandler(Keep())
    res: dict = {}
    kiosk = KioskApp(ctl, "scan")

    def undo_that_raises(reason: str) -> str:
        raise RuntimeError("simulated defect in an intent")

    def first_frame(a) -> None:
        scan = a.ui.screen("scan")
        ctl.undo_last = undo_that_raises
        Clock.schedule_once(lambda *_: scan.undo("Scanned by mistake"), 0.1)       # the popup's button

        def after(*_):
            res["running_after"] = True
            res["toast"] = a.ui.toast_label.text
            view = scan.scan(demo.ticket(1001))
            res["scan_after"] = view.title
            for _ in range(10):                   # raising on every frame: more than FLOOD within FLOOD_SECONDS
                Clock.schedule_once(lambda *_: scan.undo("Scanned by mistake"), 0)
        Clock.schedule_once(after, 0.5)
        Clock.schedule_once(lambda *_: a.stop(), 5.0)       # not reached when the flood stops the app
    kiosk.after_first_frame = first_frame
    try:
        kiosk.run()
        res["stopped_by"] = "stop"
    except RuntimeError as exc:
        res["stopped_by"] = str(exc)
    res["logged"] = logged
    (out / "k_app.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    run({"door": door, "desk": desk, "app": app}[sys.argv[2]], Path(sys.argv[1]))
