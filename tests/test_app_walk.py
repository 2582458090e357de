"""The technician's and the door staff's paths through the real app (tests/app_walk_scenario.py), against the real
enrollment endpoint, mosquitto with provisioning's ACL and the sync server: enrollment from Set-up by the camera, its
refusals, the broker unreachable then refusing the login, enrollment again by the laser; PIN login, laser reads, the
broker gone and back with a scan waiting, the member on duty deactivated by the organiser."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "app-walk"


@pytest.fixture(scope="module", params=["en", "fr"])
def res(request) -> tuple[str, dict]:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("app_walk_scenario.py", str(OUT), request.param)
    return request.param, json.loads((OUT / f"walk_results_{request.param}.json").read_text())


@pytest.fixture(scope="module")
def door() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("app_walk_scenario.py", str(OUT), "en", "door")
    return json.loads((OUT / "door_results_en.json").read_text())


WORDS = {"en": {"failed": "Enrollment failed — ", "enrolled": "Enrolled — ", "offline": "OFFLINE · queue 0",
                "not_qr": "This is not an enrollment QR: scan the QR of the organiser's enrollment sheet.",
                "unreachable": ("Cannot reach the organiser's server at http://127.0.0.1:", "check the Wi-Fi."),
                "used": "This enrollment QR was already used: scan the next one on the sheet.",
                "refused": ("Broker login refused: Not authorized (", "data kept, retrying by itself."),
                "wiped": "This device was revoked and wiped: enroll it again (QR or organiser code).",
                "wiped_sync": "This device was revoked and wiped: enroll it again in Set-up."},
         "fr": {"failed": "Échec de l'inscription — ", "enrolled": "Inscrit — ", "offline": "HORS LIGNE · file 0",
                "not_qr": "Ce n'est pas un QR d'inscription : scannez le QR de la feuille d'inscription de "
                          "l'organisateur.",
                "unreachable": ("Serveur de l'organisateur injoignable à http://127.0.0.1:", "vérifiez le Wi-Fi."),
                "used": "Ce QR d'inscription a déjà servi : scannez le suivant sur la feuille.",
                "refused": ("Connexion au broker refusée : Not authorized (",
                            "données conservées, nouvel essai automatique."),
                "wiped": "Cet appareil a été révoqué et effacé : inscrivez-le à nouveau (QR ou code de l'organisateur).",
                "wiped_sync": "Cet appareil a été révoqué et effacé : inscrivez-le à nouveau dans Configuration."}}


def test_enrollment_refusals_say_what_to_do_in_the_apps_language(res):
    lang, r = res
    w = WORDS[lang]
    assert r["failures"]["damaged"] == w["failed"] + w["not_qr"]
    start, end = w["unreachable"]
    assert r["failures"]["unreachable"].startswith(w["failed"] + start) and r["failures"]["unreachable"].endswith(end)
    assert not r["enrolled_after_failures"]
    assert r["used_token"] == w["failed"] + w["used"] and r["enrolled_after_used_token"]
    # the refused enrollment left the old one working: its sync (stopped for the attempt) runs and logs in again
    assert r["online_before_reenrol"] and r["online_after_used_token"]
    assert r["threads_after_used_token"] == [f"paho-mqtt-client-{r['device_id']}", f"sync-{r['device_id']}"]


def test_enrolled_from_the_setup_screen_by_the_camera(res):
    lang, r = res
    assert r["enrolled"] and r["enrolled_text"] == f"{WORDS[lang]['enrolled']}{r['device_id']} — acme"
    assert r["gate_after"] == "north" and r["online"]


def test_broker_unreachable_or_refusing_keeps_the_device_and_says_so(res):
    lang, r = res
    w = WORDS[lang]
    assert r["badge_unreachable"] == r["badge_refused"] == w["offline"]
    assert r["enrolled_while_unreachable"] and r["enrolled_while_refused"] and r["keys_while_refused"] == 1
    start, end = w["refused"]
    assert r["sync_refused"][-1].startswith(start) and r["sync_refused"][-1].endswith(end)


def test_enrolled_again_runs_only_the_new_enrollment(res):
    lang, r = res
    assert r["reenrolled"] and r["device_id2"] != r["device_id"]
    assert r["reenrolled_text"] == f"{WORDS[lang]['enrolled']}{r['device_id2']} — acme" and r["gate_after2"] == "south"
    assert r["online2"]
    # one sync, the new device's: the old login no longer runs on this device
    assert [n for n in r["thread_names"] if n.startswith(("sync-", "paho-"))] == [
        f"paho-mqtt-client-{r['device_id2']}", f"sync-{r['device_id2']}"]
    # the old sync was stopped before each request went (its retirement must not reach it): the used code, the new
    # code, and (below) the enrollment after the wipe
    assert r["sync_running_at_request"] == [False, False, False]
    # the old enrollment retired: the door listed once on the server, the old login refused by the broker
    assert r["registry_after_reenrol"] == [r["device_id2"]] and r["store_after_reenrol"] == [r["device_id2"]]
    assert r["old_login_refused"]
    # the organiser revoking the old entry does not wipe the device enrolled anew
    assert r["enrolled_after_old_revoked"] and r["keys_after_old_revoked"] == 1


def test_revoked_and_wiped_set_up_says_so_and_enrolls_it_again(res):
    lang, r = res
    w = WORDS[lang]
    assert r["wiped"] and r["badge_after_wipe"].startswith(w["offline"].split(" · ")[0])
    assert r["sync_after_wipe"][-1] == w["wiped_sync"]
    assert r["setup_after_wipe"] == w["wiped"]                  # not "Enrolled — …" any more
    assert r["enrolled3"] and r["online3"] and r["keys3"] == 1
    assert r["setup3"].startswith(w["enrolled"])


def test_door_staff_log_in_and_scan_with_the_laser_offline_and_back(door):
    r = door
    assert r["enrolled"] and r["ready"]
    assert r["before_login"]["title"] == "LOG IN FIRST"
    assert r["people"] == ["Léa Martin · Door steward", "Sam Okafor · Supervisor"]
    assert r["after_login"]["screen"] == "scan"
    assert r["after_login"]["counters"].endswith("On duty: Léa Martin (Door steward)")
    assert r["first"]["title"] == "ACCEPTED — IN" and r["first"]["counters"].startswith("Scanned 1 · Accepted 1 · Inside 1")
    assert r["uploaded"] and r["online_strip"]["badge"] == "Online · queue 0"
    assert r["offline_read"]["title"] == "ACCEPTED — IN" and r["offline_strip"]["badge"] == "OFFLINE · queue 1"
    assert r["offline_strip"]["counters"].startswith("Scanned 2 · Accepted 2 · Inside 2")
    assert r["offline_sync"][:2] == ["Server: offline", "Messages waiting: 1"]
    assert r["back"] and r["back_strip"]["badge"] == "Online · queue 0"
    assert r["back_sync"][:2] == ["Server: online", "Messages waiting: 0"]


def test_search_by_name_and_number_and_check_in_from_the_result(door):
    r = door
    assert r["search_info"] == "3 tickets found"
    assert sorted(r["search_name"]) == sorted(r["search_number"])
    assert sorted(s.split(" · ")[0] for _, s, _ in r["search_number"]) == ["used", "used", "valid"]
    assert r["checkin"]["screen"] == "scan" and r["checkin"]["title"] == "ACCEPTED — IN"
    assert r["checkin"]["counters"].startswith("Scanned 3 · Accepted 3 · Inside 3")
    assert sorted(s.split(" · ")[0] for s, _ in r["search_after"]) == ["used", "used", "used"]


def test_events_chosen_by_the_steward_with_the_supervisors_pin(door):
    r = door
    assert r["events_list"] == [["Events", None], ["Day 1", "down"], ["Day 2", "down"]]
    assert r["events_list2"] == [["Events", None], ["Day 1", "normal"], ["Day 2", "down"]]
    assert r["events_popup"] and r["events_after"]["screen"] == "scan" and r["events_after"]["toast"] == "Selection saved."
    assert r["day1_read"]["title"] == "WRONG EVENT"
    assert r["day1_read"]["reason"].startswith("Ticket for Day 1 (") and r["day1_read"]["reason"].endswith(
        "not selected on this device.")


def test_quick_cancellation_of_an_unsold_ticket_reaches_the_server(door):
    r = door
    assert "Quick cancellation" in r["mode_choices"]
    assert r["quick_cancel_strip"] == {"mode": "Mode: Quick cancellation",
                                       "warning": "QUICK CANCELLATION: scanned tickets go back on sale. NOT FOR THE DOOR!"}
    assert r["quick_cancel"]["title"] == "CANCELLED — BACK ON SALE"
    assert r["quick_cancel_uploaded"] and r["unsold_order_status"] == "cancelled"
    assert r["quick_cancelled_read"]["title"] == "CANCELLED FOR RESALE"


def test_a_member_deactivated_while_on_duty_is_told_why_at_the_next_update(door):
    r = door
    said = "Léa Martin is deactivated: ask the organiser."
    assert r["lea_again"]["counters"].endswith("On duty: Léa Martin (Door steward)")
    assert r["deactivated_offline_read"]["title"] == "ACCEPTED — IN"      # offline: the door does not know yet
    assert r["late_uploaded"] and r["late_refused"] == 0                  # it happened: recorded, not refused
    assert [f[:len("staff member Léa Martin (1) deactivated at ")] for f in r["late_flags"]] == [
        "staff member Léa Martin (1) deactivated at "]
    assert r["deactivated_arrived"]
    assert r["deactivated_strip"]["counters"].endswith(" · " + said)
    assert r["deactivated_read"]["title"] == "LOG IN FIRST" and r["deactivated_read"]["reason"] == said
    assert r["deactivated_read"]["counters"].startswith("Scanned 7 · ")          # the read was not judged
    assert r["deactivated_staff"] == {"on_duty": said, "people": ["Sam Okafor · Supervisor"]}


def test_a_staff_badge_read_on_the_staff_screen_of_a_door_enrolled_by_the_app_logs_in(door):
    r = door
    assert r["staff_hint"].startswith("Scan your staff badge")
    assert r["badge_on_staff_screen"] == {"title": "ON DUTY", "reason": "On duty: Sam Okafor (Supervisor)",
                                          "counters": r["badge_on_staff_screen"]["counters"], "badge": "Online · queue 0",
                                          "screen": "scan", "on_duty": "Sam Okafor"}
    assert r["badge_on_staff_screen"]["counters"].endswith("On duty: Sam Okafor (Supervisor)")
    assert r["badge_on_scan_screen"]["title"] == "ON DUTY" and r["badge_on_scan_screen"]["on_duty"] == "Sam Okafor"
