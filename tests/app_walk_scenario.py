"""The technician's path through the real app offscreen (real GL, real widgets), against the real enrollment
endpoint and mosquitto with provisioning's password/ACL files (tests/test_provision_env.py); run in its own process
by tests/test_app_walk.py (Kivy's window is one per process).

    python tests/app_walk_scenario.py OUT_DIR LANG   -> OUT_DIR/walk_results_LANG.json
    python tests/app_walk_scenario.py OUT_DIR LANG door   -> OUT_DIR/door_results_LANG.json

Enrollment from Set-up with the QR read by the camera (its on_payload, from the camera's thread), after a damaged QR
and an unreachable server; the broker unreachable, then refusing the device's login (not revoked); enrollment again
(a used code, then a new one typed by the laser); the old entry revoked; this device revoked (wiped) and enrolled
again. The door walk (`door`): see its docstring.
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
from tests.scenario_main import run  # noqa: E402
from tests.sync_fixtures import FAST  # noqa: E402
from tests.test_qa_user_paths import _broker_login_works  # noqa: E402


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


def pump_until(h, ctl, predicate, seconds: float = 20.0) -> bool:
    """Pump the UI (its Clock: the set-up screen's polling) and the app's periodic tick until predicate (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        h.pump(2)
        ctl.poll()
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def main(out: Path, lang: str) -> dict:
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.door import Door
    from kiosk_ui.offscreen import Harness
    from provisioning.device.state import DeviceState
    from tests.broker import free_port
    from tests.test_provision_env import ORG, provision_env
    i18n.set_language(lang)
    root = Path(tempfile.mkdtemp(prefix="app-walk-"))
    res: dict = {}
    with provision_env(root / "env") as env:
        home = root / "device"
        door = Door.open_home(home)
        ctl = Controller(door, build_services(door, home))
        ctl.services.sync.options = FAST             # retries in fractions of a second, not the field's minutes
        camera = ctl.services.camera = CameraStandIn()
        h = Harness(ctl, "setup")
        setup, scan = h.screen("setup"), h.screen("scan")

        def until(predicate, seconds: float = 20.0) -> bool:
            return pump_until(h, ctl, predicate, seconds)

        def sync_lines() -> list[str]:
            h.go("sync")
            sync = h.screen("sync")
            return [w.text for w in reversed(sync.list.children)]

        try:
            token = env.prov.registry.create_tokens(ORG, 1, gate="north", events=tuple(env.events))[0]
            qr = env.prov.qr_for(token, env.server).text()
            failures = {}
            for name, text in (("damaged", qr[:len(qr) // 2]),
                               ("unreachable", qr.replace(env.server, f"127.0.0.1:{free_port()}"))):
                setup.qr_button.dispatch("on_release")
                h.pump()
                camera.read(text)
                until(lambda: ctl.services.enrollment.progress().step == "failed" and setup._poll is None)
                failures[name] = setup.progress_text.text
            res["failures"] = failures
            res["enrolled_after_failures"] = DeviceState(home).enrolled()
            setup.qr_button.dispatch("on_release")
            h.pump()
            camera.read(qr)
            res["enrolled"] = until(lambda: ctl.services.enrollment.progress().step == "enrolled"
                                    and setup._poll is None)
            res["enrolled_text"] = setup.progress_text.text
            creds = DeviceState(home).load()
            res["device_id"] = creds.device_id if creds else None
            old_login = json.loads(DeviceState(home).credentials_path.read_text())
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
            res["online_before_reenrol"] = until(lambda: ctl.services.sync.status().online, 30)
            token2 = env.prov.registry.create_tokens(ORG, 1, gate="south", events=tuple(env.events))[0]
            enrollment = ctl.services.enrollment
            sync_running_at_request: list[bool] = []      # the old sync must be stopped before the request goes
            real_enroll = enrollment._enroll
            enrollment._enroll = lambda *a, **kw: (sync_running_at_request.append(ctl.services.sync.sync is not None),
                                                   real_enroll(*a, **kw))[1]
            h.go("setup")
            setup.code.text = qr                        # the first QR again: its token is used
            setup.code_button.dispatch("on_release")
            until(lambda: ctl.services.enrollment.progress().step == "failed" and setup._poll is None)
            res["used_token"] = setup.progress_text.text
            res["enrolled_after_used_token"] = DeviceState(home).load().device_id == res["device_id"]
            # the failed enrollment left the old one working: its sync runs again and logs in
            res["online_after_used_token"] = until(lambda: ctl.services.sync.status().online, 30)
            res["threads_after_used_token"] = sorted(t.name for t in threading.enumerate()
                                                     if t.name.startswith(("sync-", "paho-")))
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
            res["sync_running_at_request"] = sync_running_at_request
            # the old enrollment is retired: listed once (not the old entry offline for ever), its login refused
            res["registry_after_reenrol"] = [c.device_id for c in env.prov.registry.credentials()]
            res["store_after_reenrol"] = sorted(d["device_id"] for d in env.store.devices(ORG) if not d["revoked"])
            res["old_login_refused"] = until(lambda: not _broker_login_works(old_login), 10)
            # the organiser revokes the device's old entry: the device, enrolled anew, keeps working
            env.prov.revoke(res["device_id"])
            until(lambda: ctl.services.sync.wiped, 3)
            res["enrolled_after_old_revoked"] = DeviceState(home).enrolled()
            res["keys_after_old_revoked"] = len(door.keyring.keys)
            # the organiser revokes this device: wiped; Set-up and Sync say so, and it enrolls again
            env.prov.revoke(res["device_id2"])
            res["wiped"] = until(lambda: ctl.services.sync.wiped and ctl.services.sync.sync is None, 10)
            h.go("setup")
            res["setup_after_wipe"] = setup.progress_text.text
            res["sync_after_wipe"] = sync_lines()
            h.go("scan")
            res["badge_after_wipe"] = scan.badge.text
            token3 = env.prov.registry.create_tokens(ORG, 1, gate="east", events=tuple(env.events))[0]
            h.go("setup")
            setup.qr_button.dispatch("on_release")
            h.pump()
            camera.read(env.prov.qr_for(token3, env.server).text())
            res["enrolled3"] = until(lambda: ctl.services.enrollment.progress().step == "enrolled"
                                     and ctl.services.enrollment.progress().device_id != res["device_id2"]
                                     and setup._poll is None)
            res["online3"] = until(lambda: ctl.services.sync.status().online)
            res["keys3"] = len(door.keyring.keys)
            h.go("setup")
            res["setup3"] = setup.progress_text.text
        finally:
            ctl.services.sync.stop()
            door.close()
    (out / f"walk_results_{lang}.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


def door(out: Path, lang: str) -> dict:
    """Door staff on a door enrolled by the app, with the real sync server: PIN login, laser reads (Zebra DataWedge
    broadcasts), the broker gone and back with scans waiting, search by name and number and a check-in from the
    result, the Events screen, a quick cancellation, the organiser deactivating the member on duty while the door is
    offline."""
    from kiosk_ui.offscreen import offscreen_env
    offscreen_env((720, 1280))
    from agent.policy import Mode
    from agent.staff import make_badge
    from agent.sync import BrokerConfig
    from agent.sync.transport import PahoTransport
    from drivers.scanners import datawedge, settings as scanner_settings
    from kiosk_ui import i18n
    from kiosk_ui.adapters import build_services
    from kiosk_ui.adapters.lasers import LaserInput
    from kiosk_ui.controller import Controller
    from kiosk_ui.door import Door
    from kiosk_ui.offscreen import Harness
    from server_stub.sync.server import SyncServer
    from tests.test_provision_env import ORG, provision_env
    i18n.set_language(lang)
    root = Path(tempfile.mkdtemp(prefix="app-walk-door-"))
    res: dict = {}
    with provision_env(root / "env") as env:
        store = env.store
        order = store.add_order(ORG, env.events[0], "Zoé Quintal", "z@example.org",
                                positions=[{"category": 1, "zone": None}] * 3)
        payloads = [store.issue_ticket_payload(t["ticket_key"]) for t in order["tickets"]]
        unsold = store.add_order(ORG, env.events[1], "Box Office", "box@example.org", positions=[{"category": 1}])
        unsold_payload = store.issue_ticket_payload(unsold["tickets"][0]["ticket_key"])
        lea = store.add_staff(ORG, "Léa Martin", "door", pin="1234")
        sam = store.add_staff(ORG, "Sam Okafor", "supervisor", pin="9876", badge=True)
        user, password = env.prov.registry.server_login(ORG)
        server = SyncServer(store, PahoTransport(user, BrokerConfig(port=env.broker.port, username=user,
                                                                   password=password)), name=user, orgs=[ORG]).start()
        home = root / "device"
        door = Door.open_home(home)
        ctl = Controller(door, build_services(door, home))
        ctl.services.sync.options = FAST             # retries in fractions of a second, not the field's minutes
        h = Harness(ctl, "setup")
        scanner_settings.save(door.ledger, scanner_settings.ScannerSettings(mode="zebra"))
        broadcasts: dict = {}
        laser = LaserInput(door.ledger, register=lambda actions, flags, callback: broadcasts.update(cb=callback) or
                           (lambda: None), api=34, send=lambda action, extras: None, package="org.ticketgate.ticketgate")
        assert laser.start(h.ui.device_payload), laser.error
        scan = h.screen("scan")
        scan.verdict_timeout = 0

        def until(predicate, seconds: float = 20.0) -> bool:
            return pump_until(h, ctl, predicate, seconds)

        def laser_read(text: str) -> dict:
            broadcasts["cb"]("ch.ticketgate.SCAN", {datawedge.DATA_STRING: text + "\n", datawedge.SOURCE: "scanner",
                                                    datawedge.LABEL_TYPE: "LABEL-TYPE-QRCODE"})
            h.pump()
            return {"title": scan.big.text, "reason": scan.reason.text, "counters": scan.counters.text,
                    "badge": scan.badge.text}

        def strip() -> dict:
            h.go("scan")
            scan.refresh()
            return {"counters": scan.counters.text, "badge": scan.badge.text}

        def sync_lines() -> list[str]:
            h.go("sync")
            return [w.text for w in reversed(h.screen("sync").list.children)]

        try:
            token = env.prov.registry.create_tokens(ORG, 1, gate="north", events=tuple(env.events))[0]
            setup = h.screen("setup")
            setup.code.text = env.prov.qr_for(token, env.server).text()
            setup.code_button.dispatch("on_release")
            res["enrolled"] = until(lambda: ctl.services.enrollment.progress().step == "enrolled" and setup._poll is None)
            res["ready"] = until(lambda: ctl.services.sync.status().online and door.staff.configured
                                 and len(door.ledger.search("Quintal")) == 3, 30)
            h.go("scan")
            res["before_login"] = laser_read(payloads[0])
            h.go("staff")
            staff = h.screen("staff")
            res["people"] = [b.text for b in reversed(staff.people.children)]

            def login_lea() -> None:
                h.go("staff")
                [b for b in staff.people.children if b.text.startswith("Léa")][0].dispatch("on_release")
                h.pump()
                h.ui.popup.pin_input.text = "1234"
                h.ui.popup.submit()
                h.pump()
            login_lea()
            res["after_login"] = {"screen": h.ui.manager.current, **strip()}
            res["first"] = laser_read(payloads[0])
            res["uploaded"] = until(lambda: ctl.services.sync.status().queue == 0)
            res["online_strip"] = strip()

            env.broker.stop()
            res["offline"] = until(lambda: not ctl.services.sync.status().online)
            res["offline_read"] = laser_read(payloads[1])
            res["offline_strip"] = strip()
            res["offline_sync"] = sync_lines()
            env.broker.start()
            res["back"] = until(lambda: ctl.services.sync.status().online and ctl.services.sync.status().queue == 0, 30)
            res["back_strip"] = strip()
            res["back_sync"] = sync_lines()

            # search by name, then by order number; check in from the result
            h.go("search")
            search = h.screen("search")
            search.query.text = "quintal"
            search.go_button.dispatch("on_release")
            h.pump()
            res["search_name"] = [(r.title, r.subtitle, r.can_checkin) for r in search.rows]
            search.query.text = order["number"].lower()
            search.go_button.dispatch("on_release")
            h.pump()
            res["search_number"] = [(r.title, r.subtitle, r.can_checkin) for r in search.rows]
            res["search_info"] = search.info.text
            valid = [r.can_checkin for r in search.rows].index(True)
            row = list(reversed(search.results.children))[valid]
            [w for w in row.walk() if type(w).__name__ == "BigButton"][0].dispatch("on_release")
            h.pump()
            reasons = [w for w in h.ui.popup.walk() if type(w).__name__ == "BigButton"]
            res["checkin_reasons"] = [w.text for w in reasons]
            reasons[0].dispatch("on_release")
            h.pump()
            res["checkin"] = {"screen": h.ui.manager.current, "title": scan.big.text, "reason": scan.reason.text,
                              **strip()}
            search.query.text = order["number"]
            search.go_button.dispatch("on_release")
            h.pump()
            res["search_after"] = [(r.subtitle, r.can_checkin) for r in search.rows]
            # events: the steward picks the second day only: the supervisor's PIN is asked
            h.go("events")
            events = h.screen("events")
            res["events_dates"] = [w.text for w in reversed(events.dates.children)]
            res["events_list"] = [(w.text, getattr(w, "state", None)) for w in reversed(events.list.children)]
            toggles = [w for w in reversed(events.list.children) if getattr(w, "state", None) is not None]
            toggles[0].dispatch("on_release")
            h.pump()
            res["events_list2"] = [(w.text, getattr(w, "state", None)) for w in reversed(events.list.children)]
            events.apply_button.dispatch("on_release")
            h.pump()
            res["events_popup"] = h.ui.popup_open()
            if h.ui.popup_open():
                h.ui.popup.pin_input.text = "9876"
                h.ui.popup.submit()
                h.pump()
            res["events_after"] = {"screen": h.ui.manager.current, "events": sorted(door.policy.events),
                                   "toast": h.ui.toast_label.text}
            res["day1_read"] = laser_read(payloads[1])
            # the supervisor, on duty, puts a pre-printed ticket the box office did not sell back on sale
            h.go("scan")
            scan.mode_button.dispatch("on_release")
            h.pump()
            modes = [w for w in h.ui.popup.walk() if type(w).__name__ == "BigButton"]
            res["mode_choices"] = [w.text for w in modes]
            [w for w in modes if w.text == "Quick cancellation"][0].dispatch("on_release")
            h.pump()
            res["quick_cancel_strip"] = {"mode": scan.mode.text, "warning": scan.warning.text}
            res["quick_cancel"] = laser_read(unsold_payload)
            res["quick_cancel_uploaded"] = until(lambda: ctl.services.sync.status().queue == 0)
            res["unsold_order_status"] = store.order(unsold["number"])["status"]
            scan.set_mode(Mode.NORMAL)
            h.pump()
            res["quick_cancelled_read"] = laser_read(unsold_payload)
            login_lea()                     # the supervisor's PIN put him on duty: the steward logs in again
            res["lea_again"] = strip()

            # the organiser deactivates the steward while the door is offline: she still admits someone; once back
            # online the server records that entry, flagged for the organiser (it happened), and the roster logs
            # her out
            env.broker.stop()
            until(lambda: not ctl.services.sync.status().online)
            store.set_staff(ORG, lea["staff_id"], active=False)
            late = store.add_order(ORG, env.events[1], "Late Comer", "l@example.org", positions=[{"category": 1}])
            res["late_key"] = late["tickets"][0]["ticket_key"]
            h.go("scan")
            res["deactivated_offline_read"] = laser_read(store.issue_ticket_payload(res["late_key"]))
            env.broker.start()
            res["late_uploaded"] = until(lambda: ctl.services.sync.status().queue == 0, 30)
            res["late_refused"] = ctl.services.sync.status().refused
            res["late_flags"] = [a["flag"] for a in store.staff_actions(ORG, lea["staff_id"])
                                 if a["ticket_key"] == res["late_key"]]
            res["deactivated_arrived"] = until(lambda: not any(m.active for m in door.staff.members()
                                                               if m.staff_id == lea["staff_id"]), 20)
            res["deactivated_strip"] = strip()
            h.go("scan")
            res["deactivated_read"] = laser_read(payloads[2])
            h.go("staff")
            res["deactivated_staff"] = {"on_duty": staff.on_duty.text,
                                        "people": [b.text for b in reversed(staff.people.children)]}
            # the supervisor scans his badge with the laser on the Staff screen (its hint says to)
            res["staff_hint"] = staff.hint.text
            badge = make_badge(ORG, sam["staff_id"], sam["badge_serial"], store.server_key(ORG).sign)
            res["badge_on_staff_screen"] = {**laser_read(badge), "screen": h.ui.manager.current,
                                            "on_duty": door.staff.current().name if door.staff.current() else None}
            h.go("scan")
            res["badge_on_scan_screen"] = {**laser_read(badge),
                                           "on_duty": door.staff.current().name if door.staff.current() else None}
        finally:
            laser.stop()
            ctl.services.sync.stop()
            server.stop()
            door.close()
    (out / f"door_results_{lang}.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    if sys.argv[3:] == ["door"]:
        run(door, Path(sys.argv[1]), sys.argv[2])
    else:
        run(main, Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "en")
