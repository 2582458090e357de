"""The technician's path through the real app (tests/app_walk_scenario.py): enrollment from Set-up by the camera,
the broker unreachable then refusing the login, enrollment again by the laser."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "app-walk"


@pytest.fixture(scope="module")
def res() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("app_walk_scenario.py", str(OUT), "en")
    return json.loads((OUT / "walk_results.json").read_text())


def test_enrolled_from_the_setup_screen_by_the_camera(res):
    assert res["enrolled"] and res["enrolled_text"] == f"Enrolled — {res['device_id']} — acme"
    assert res["gate_after"] == "north"
    assert res["online"] and res["badge_online"] == "Online · queue 0"


def test_broker_unreachable_or_refusing_keeps_the_device_and_says_so(res):
    assert res["badge_unreachable"] == "OFFLINE · queue 0" and res["enrolled_while_unreachable"]
    assert res["sync_unreachable"][0] == "Server: offline"
    assert res["badge_refused"] == "OFFLINE · queue 0"
    assert res["sync_refused"][-1].startswith("Broker login refused: Not authorized (")
    assert res["sync_refused"][-1].endswith("data kept, retrying by itself.")
    assert res["enrolled_while_refused"] and res["keys_while_refused"] == 1      # refused is not revoked: nothing wiped


def test_enrolled_again_runs_only_the_new_enrollment(res):
    assert res["reenrolled"] and res["device_id2"] != res["device_id"]
    assert res["reenrolled_text"] == f"Enrolled — {res['device_id2']} — acme" and res["gate_after2"] == "south"
    assert res["online2"] and res["sync_after_reenrol"][0] == "Server: online"
    # one sync, the new device's: the old login no longer runs on this device
    assert [n for n in res["thread_names"] if n.startswith(("sync-", "paho-"))] == [
        f"paho-mqtt-client-{res['device_id2']}", f"sync-{res['device_id2']}"]
    # the organiser revoking the old entry does not wipe the device enrolled anew
    assert res["enrolled_after_old_revoked"] and res["keys_after_old_revoked"] == 1
