"""The door's app, offscreen, on a device home (tests/test_qa_walk_door_v.py): tickets typed by a keyboard-wedge
laser on the Scan screen, what its title, reason and status strip say. Run in its own process:

    python tests/door_v_scenario.py OUT_JSON DEVICE_HOME LANG PAYLOADS_JSON   -> OUT_JSON
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def main(out: Path, home: Path, lang: str, payloads: Path) -> None:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.door import Door
    from kiosk_ui.offscreen import Harness
    i18n.set_language(lang)
    door = Door.open_home(home)
    ctl = Controller(door, build_services(door, home))
    h = Harness(ctl, "scan")
    scan = h.screen("scan")
    scan.verdict_timeout = 0
    h.pump()

    def wedge(text: str) -> dict:
        h.window.dispatch("on_textinput", text)
        h.window.dispatch("on_key_down", 13, 36, "\r", [])
        h.pump()
        return {"title": scan.big.text, "reason": scan.reason.text}
    import time

    from kiosk_ui.presenters.lists import sync_lines
    res = {"read": [wedge(p) for p in json.loads(payloads.read_text())], "counters": scan.counters.text,
           "sync": sync_lines(ctl.services.sync.status(), time.time())}     # what the Sync screen lists
    out.write_text(json.dumps(res, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    run(main, Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
