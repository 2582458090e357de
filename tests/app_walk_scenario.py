"""The technician's path through the real app offscreen (real GL, real widgets), against the real enrollment
endpoint and mosquitto with provisioning's password/ACL files (tests/test_provision_env.py); run in its own process
by tests/test_app_walk.py (Kivy's window is one per process).

    python tests/app_walk_scenario.py OUT_DIR LANG   -> OUT_DIR/walk_results.json

Enrollment from Set-up with the QR read by the camera (its on_payload, from the camera's thread); the broker
unreachable, then refusing the device's login (not revoked); enrollment again with a new code typed by the laser.
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class CameraStandIn:
    """The camera service as the app sees it: `start` keeps on_payload; `read` calls it from another thread."""
    available, torch_supported, push = True, False, None

    def __init__(self) -> None:
        self.on_payload = None

    def start(self, on_payload, plausible=None) -> bool:
        self.on_payload = on_payload
        return True

    def stop(self) -> None:
        self.on_payload = None

    def set_torch(self, on: bool) -> bool:
        return False

    def read(self, text: str) -> None:
        t = threading.Thread(target=self.on_payload, args=(text,))
        t.start()
        t.join(5)


def main(out: Path, lang: str) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.door import Door
    from kiosk_ui.offscreen import Harness
    from provisioning.device.state import DeviceState
    from tests.test_provision_env import ORG, provision_env
    i18n.set_language(lang)
    root = Path(tempfile.mkdtemp(prefix="app-walk-"))
    res: dict = {}
    with provision_env(root / "env") as env:
        home = root / "device"
        door = Door.open_home(home)
        ctl = Controller(door, build_services(door, home))
        camera = ctl.services.camera = CameraStandIn()
        h = Harness(ctl, "setup")
        setup, scan = h.screen("setup"), h.screen("scan")

        def until(predicate, seconds: float = 20.0) -> bool:
            """Pump the UI (its Clock: the set-up screen's polling) and the app's periodic tick until predicate."""
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                h.pump(2)
                ctl.poll()
                if predicate():
                    return True
                time.sleep(0.05)
            return predicate()

        def sync_lines() -> list[str]:
            h.go("sync")
            sync = h.screen("sync")
            return [w.text for w in reversed(sync.list.children)]

        try:
            token = env.prov.registry.create_tokens(ORG, 1, gate="north", events=tuple(env.events))[0]
            setup.qr_button.dispatch("on_release")
            h.pump()
            camera.read(env.prov.qr_for(token, env.server).text())
            res["enrolled"] = until(lambda: ctl.services.enrollment.progress().step == "enrolled"
                                    and setup._poll is None)
            res["enrolled_text"] = setup.progress_text.text
            creds = DeviceState(home).load()
            res["device_id"] = creds.device_id if creds else None
            res["gate_after"] = door.policy.gate
            res["online"] = until(lambda: ctl.services.sync.status().online)
            h.go("scan")
            res["badge_online"] = scan.badge.text

            # the broker stops: unreachable
            env.broker.stop()
            res["offline"] = until(lambda: not ctl.services.sync.status().online)
            h.go("scan")
            res["badge_unreachable"] = scan.badge.text
            res["sync_unreachable"] = sync_lines()
            res["enrolled_while_unreachable"] = DeviceState(home).enrolled()

            # the broker back, but its password file no longer holds this device (not revoked): refused
            pw = env.prov.paths.password_file
            kept = [line for line in pw.read_text().splitlines() if not line.startswith(creds.username + ":")]
            pw.write_text("\n".join(kept) + "\n")
            env.broker.start()
            res["refused_seen"] = until(lambda: "refused" in " ".join(sync_lines()).lower()
                                        or "refus" in " ".join(sync_lines()).lower(), 30)
            res["sync_refused"] = sync_lines()
            h.go("scan")
            res["badge_refused"] = scan.badge.text
            res["enrolled_while_refused"] = DeviceState(home).enrolled()
            res["keys_while_refused"] = len(door.keyring.keys)

            # enrollment again: a new code; the laser types the QR text into the field, then Enroll
            env.prov.write_broker_files(reload=True)
            token2 = env.prov.registry.create_tokens(ORG, 1, gate="south", events=tuple(env.events))[0]
            h.go("setup")
            setup.code.text = env.prov.qr_for(token2, env.server).text()
            setup.code_button.dispatch("on_release")
            res["reenrolled"] = until(lambda: ctl.services.enrollment.progress().step == "enrolled"
                                      and ctl.services.enrollment.progress().device_id != res["device_id"]
                                      and setup._poll is None)
            creds2 = DeviceState(home).load()
            res["device_id2"] = creds2.device_id if creds2 else None
            res["reenrolled_text"] = setup.progress_text.text
            res["gate_after2"] = door.policy.gate
            res["online2"] = until(lambda: ctl.services.sync.status().online)
            time.sleep(2)
            ctl.poll()
            res["thread_names"] = sorted(t.name for t in threading.enumerate())
            res["sync_after_reenrol"] = sync_lines()
            # the organiser revokes the device's old entry: the device, enrolled anew, keeps working
            env.prov.revoke(res["device_id"])
            until(lambda: ctl.services.sync.wiped, 3)
            res["enrolled_after_old_revoked"] = DeviceState(home).enrolled()
            res["keys_after_old_revoked"] = len(door.keyring.keys)
        finally:
            ctl.services.sync.stop()
            door.close()
    (out / "walk_results.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "en")
