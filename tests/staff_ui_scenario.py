"""The staff screens offscreen (real app, real GL, real agent); run in its own process by test_staff_ui.py.

    python tests/staff_ui_scenario.py OUT_DIR LANG   -> OUT_DIR/staff_*.png and OUT_DIR/staff_results.json
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def main(out: Path, lang: str) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from agent.staff import hash_pin, make_badge
    from agent.staff_session import store_roster
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    from kiosk_ui.offscreen import Harness
    i18n.set_language(lang)
    home = Path(tempfile.mkdtemp(prefix="staff-ui-"))
    t = [1_790_000_000.0]
    demo = seed(home, now=t[0], clock=lambda: t[0])
    key = Ed25519PrivateKey.generate()
    ledger = demo.door.ledger
    store_roster(ledger, "demo", [
        {"staff_id": "1", "name": "Léa Martin", "role": "door", "active": True, "pin": hash_pin("1234"), "badge_serial": 0},
        {"staff_id": "2", "name": "Sam Okafor", "role": "supervisor", "active": True, "pin": hash_pin("9876"),
         "badge_serial": 1},
        {"staff_id": "3", "name": "Old Hand", "role": "desk", "active": False, "pin": hash_pin("1111"), "badge_serial": 0}])
    demo.door.staff.server_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    demo.door.staff.clock = lambda: t[0]
    ctl = Controller(demo.door, build_services(demo.door, home), clock=lambda: t[0])
    h = Harness(ctl, "scan")
    scan = h.screen("scan")
    scan.verdict_timeout = 0
    res: dict = {}

    def shot(name: str) -> None:
        h.pump()
        h.screenshot(out / f"{name}.png")

    scan.scan(demo.ticket(1001, zones=(1,), category=1))          # nobody on duty: not judged
    shot("staff_scan_login_first")
    res["login_first"] = {"title": scan.big.text, "reason": scan.reason.text, "bg": list(scan.root_box.bg.rgba)}
    res["outbox_after_refused_scan"] = ledger.outbox_size()
    h.go("staff")
    staff = h.screen("staff")
    shot("staff_login")
    res["login_screen"] = {"on_duty": staff.on_duty.text, "hint": staff.hint.text,
                           "people": [b.text for b in staff.people.children[::-1]], "logout_disabled": staff.logout.disabled}
    popup = staff.ask("1", "Léa Martin · x")
    popup.pin_input.text = "0000"
    popup.submit()
    h.pump()
    shot("staff_pin_wrong")
    res["wrong_pin"] = popup.info.text
    popup.pin_input.text = "1234"
    popup.submit()
    h.pump()
    res["after_login_screen"] = h.ui.manager.current
    res["status_strip"] = scan.counters.text
    scan.scan(demo.ticket(1001, zones=(1,), category=1))
    res["steward_scan"] = scan.big.text
    res["steward_may_change_mode"] = ctl.set_mode(ctl.door.policy.mode)
    res["steward_undo"] = ctl.undo_last("Scanned by mistake")
    res["steward_refund"] = ctl.sale.refund("X-1", "Buyer cannot come").problem
    scan.scan(make_badge("demo", "2", 1, key.sign))                  # the supervisor's badge on the scanner
    shot("staff_badge_on_duty")
    res["badge"] = {"title": scan.big.text, "reason": scan.reason.text}
    res["supervisor_may_change_mode"] = ctl.set_mode(ctl.door.policy.mode)
    h.go("staff")
    shot("staff_on_duty")
    res["on_duty_screen"] = {"on_duty": staff.on_duty.text, "logout_disabled": staff.logout.disabled}
    # refusals from the core, in the app's language: a deactivated member's PIN and badge, a badge nobody holds
    res["deactivated_pin"] = ctl.login_pin("3", "1111")
    h.go("scan")
    scan.scan(make_badge("demo", "3", 0, key.sign))
    res["deactivated_badge"] = scan.reason.text
    scan.scan(make_badge("demo", "99", 0, key.sign))
    res["unknown_badge"] = scan.reason.text
    (out / "staff_results.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    run(main, Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "en")
