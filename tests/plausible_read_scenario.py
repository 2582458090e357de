"""What the camera may take from a retry step on each screen of the real app (KioskUI.plausible_read), offscreen;
run in its own process by tests/test_kiosk_plausible_read.py (Kivy's window is one per process).

    python tests/plausible_read_scenario.py OUT_DIR   -> OUT_DIR/plausible_results.json
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.scenario_main import run  # noqa: E402


class CameraStandIn:
    """This machine has no camera: what the set-up screen asks of one (its callback and retry rule) is kept."""

    def __init__(self):
        self.push, self.available, self.error, self.torch_supported = None, True, "", False
        self.started: list = []

    def start(self, on_payload, plausible=None) -> bool:
        self.started.append(plausible)
        return True

    def stop(self) -> None:
        pass

    def set_torch(self, on: bool) -> bool:
        return False


def main(out: Path) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.demo_data import seed
    from kiosk_ui.offscreen import Harness
    from provisioning.protocol import EnrollQR, new_token
    home = Path(tempfile.mkdtemp(prefix="plausible-read-"))
    demo = seed(home)
    services = build_services(demo.door, home)
    camera = services.camera = CameraStandIn()
    ctl = Controller(demo.door, services)
    h = Harness(ctl, "scan")
    qr = EnrollQR(new_token(), "0123456789ABCDEF", "192.168.1.10:8443", "demo-org").text()
    texts = {"ticket": demo.ticket(1001), "enrollment_qr": qr,
             "qr_misread": qr.replace(qr.split(":")[1], qr.split(":")[1][:-1]),   # a character of the token lost
             "ean13": "4006381333931", "promo": "SUMMER10"}
    res: dict = {"screens": {}}
    for name in ("scan", "setup", "sell"):
        h.go(name)
        res["screens"][name] = {k: h.ui.plausible_read(t) for k, t in texts.items()}
    h.go("setup")
    h.screen("setup").scan_qr()                       # "Scan enrollment QR": the camera starts with the screen's rule
    rule = camera.started[-1]
    res["setup_camera"] = None if rule is None else {k: rule(t) for k, t in texts.items()}
    (out / "plausible_results.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    run(main, Path(sys.argv[1]))
