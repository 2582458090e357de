"""A supervisor opens the app's Events screen on a device the organiser enrolled (its real device home, synced), in
English or French: which dates it lists, which one it opens on, which events that date shows; then picks today's
event and the door reads its tickets through the camera (QR images decoded by the drivers' chain). Run in its own
process by tests/test_qa_door_dates.py.

    python tests/door_dates_scenario.py OUT_DIR DEVICE_HOME LANG PAYLOADS_JSON   -> OUT_DIR/dates_LANG.json
    python tests/door_dates_scenario.py OUT_DIR DEVICE_HOME LANG PAYLOADS_JSON box   -> OUT_DIR/box_LANG.json

`box`: the same device at the box office in quick cancellation, tickets typed by a keyboard-wedge laser, the last
one undone: what the status strip counts.
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


def qr_frame(text: str):
    """A camera frame of one ticket's QR code, drawn as the tickets are drawn (segno)."""
    import numpy as np
    import segno
    from PIL import Image
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=4, border=4)
    buf.seek(0)
    return np.stack([np.array(Image.open(buf).convert("L"))] * 3, -1)


def _app_on_scan(home: Path, lang: str, payloads: Path) -> tuple[Any, Any, Any, dict]:
    """The door's app, offscreen, in `lang`, on its Scan screen (verdicts held): controller, harness, screen, and
    the tickets' payloads by name."""
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
    return ctl, h, scan, json.loads(payloads.read_text())


def box_office(out: Path, home: Path, lang: str, payloads: Path) -> None:
    ctl, h, scan, tickets = _app_on_scan(home, lang, payloads)
    from agent.policy import Mode
    scan.set_mode(Mode.QUICK_CANCEL)          # the mode popup's choice (no PIN set on this device)
    res: dict = {"mode_set": ctl.door.policy.mode is Mode.QUICK_CANCEL}
    h.pump()
    res["strip_ready"] = scan.counters.text

    def wedge(text: str) -> dict:
        h.window.dispatch("on_textinput", text)
        h.window.dispatch("on_key_down", 13, 36, "\r", [])
        h.pump()
        return {"title": scan.big.text, "counters": scan.counters.text}
    res["read"] = [wedge(tickets[name]) for name in ("festival", "festival2")]
    res["undo"] = scan.undo("scanned by mistake")
    h.pump()
    res["strip_after_undo"] = scan.counters.text
    (out / f"box_{lang}.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))


def main(out: Path, home: Path, lang: str, payloads: Path) -> None:
    ctl, h, scan, tickets = _app_on_scan(home, lang, payloads)
    from drivers.camera.scanner import CameraScanner
    from kiosk_ui.adapters.camera import decoder_chain
    res: dict = {}

    def screen_state() -> dict:
        events = h.screen("events")
        rows = list(reversed(events.list.children))        # "Events", its toggles, then "Zones…" and theirs
        zones_at = next((i for i, w in enumerate(rows[1:], 1) if not hasattr(w, "state")), len(rows))
        return {"dates": [(w.text, w.state) for w in reversed(events.dates.children)],
                "events": [(w.text, w.state) for w in rows[1:zones_at]]}

    h.go("events")
    res["opened"] = screen_state()
    events = h.screen("events")
    festival = next(e["event_id"] for e in events.sel.visible_events() if e["name"] == "Festival") \
        if any(e["name"] == "Festival" for e in events.sel.visible_events()) else None
    res["festival_visible"] = festival is not None
    if festival is not None:
        events.sel.toggle_event(festival)
        events.apply_button.dispatch("on_release")
        h.pump()
    res["policy_events"] = sorted(ctl.door.policy.events or ())
    h.go("scan")
    camera = CameraScanner(lambda read: h.ui.device_payload(read.text), chain=decoder_chain(h.ui.plausible_read))
    shown = []
    for name in ("festival", "next_week"):
        camera.process(qr_frame(tickets[name]))
        h.pump(2)
        shown.append({"title": scan.big.text, "reason": scan.reason.text})
    res["scanned"] = shown
    h.go("events")
    res["reopened"] = screen_state()
    (out / f"dates_{lang}.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    run(box_office if sys.argv[5:] == ["box"] else main, Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
        Path(sys.argv[4]))
