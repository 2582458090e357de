"""A door replaced by a spare mid-event (the technician's day): its login must stop working at once, and the entries
it made but never sent must not be lost. Revoked as the guide said ('revoke a lost device'), a broken door switched
on again later wiped itself and kept its entries 'as its record', never taken: the guests it let in were in no count
and their tickets not used at the other gates. `provision revoke --replaced` cuts the login the same and its wipe
keeps them for the device's next enrolment. Through the public commands (a HOME each, `provision serve`'s broker)."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _wait_cut(home, device_id: str, replaced: bool) -> None:
    """`provision serve` cuts a device revoked through the server within a few seconds, with the wipe the
    revocation says (its registry: `provision devices --json`)."""
    listed: list = []
    for _ in range(60):
        listed = json.loads(tg(home, "provision", "devices", "--org", "acme", "--json").stdout)
        if any(d["device_id"] == device_id and not d["broker_login"] and d["replaced_by_spare"] is replaced
               for d in listed):
            return
        time.sleep(0.5)
    raise AssertionError(f"{device_id} not cut by provision serve: {listed}")


def _entries(home) -> int:
    return json.loads(tg(home, "server", "stats", "--json").stdout)["entries"]


@needs_broker
@pytest.mark.parametrize("when", ["revoked as replaced", "marked replaced after a plain revoke",
                                  "revoked as replaced through the server", "marked replaced through the server"])
def test_a_door_replaced_by_a_spare_loses_its_login_and_none_of_its_entries(tmp_path, when):
    home, old, spare = tmp_path / "org", tmp_path / "old", tmp_path / "spare"
    for h in (home, old, spare):
        h.mkdir()
    payloads = _event_now(home)
    with organiser_running(home) as running:
        running.enroll(old, "north")
        tg(home, "server", "push")
        tg(old, "agent", "sync", "--until-idle", "--for", "40")
        assert tg(old, "agent", "scan", stdin=payloads[0] + "\n").stdout.startswith("ACCEPTED — IN")  # not sent:
        old_id = json.loads((old / "device" / "credentials.json").read_text())["device_id"]        # it broke
        login = json.loads((old / "device" / "credentials.json").read_text())

        if when == "revoked as replaced":
            said = tg(home, "provision", "revoke", "--org", "acme", "--replaced", old_id).stdout
            assert said.startswith(f"revoked {old_id}: broker login removed") and (
                "replaced by a spare: when it is switched on it wipes itself and keeps the scans it did not send "
                "yet") in said, said
        elif when == "revoked as replaced through the server":      # the organiser's command: the same revocation
            said = tg(home, "server", "device", "revoke", "--replaced", old_id).stdout
            assert said.startswith(f"device {old_id} revoked: `provision serve` cuts its broker login") and (
                "replaced by a spare: when it is switched on it wipes itself and keeps the scans it did not send "
                "yet") in said, said
            _wait_cut(home, old_id, replaced=True)
        elif when == "marked replaced through the server":
            said = tg(home, "server", "device", "revoke", old_id).stdout
            assert ("its scans not sent yet are never taken (a lost or stolen device); a device replaced by a spare "
                    "is revoked with --replaced, which keeps them") in said, said
            _wait_cut(home, old_id, replaced=False)
            again = tg(home, "server", "device", "revoke", "--replaced", old_id).stdout
            assert f"device {old_id} was revoked already; now marked replaced by a spare" in again, again
            _wait_cut(home, old_id, replaced=True)          # `provision serve` marks its wipe (every few seconds)
        else:
            said = tg(home, "provision", "revoke", "--org", "acme", old_id).stdout
            assert ("its scans not sent yet are never taken (a lost or stolen device); a device replaced by a spare "
                    "is revoked with --replaced, which keeps them") in said, said
            again = tg(home, "provision", "revoke", "--org", "acme", "--replaced", old_id).stdout
            assert f"device {old_id} was revoked already; now marked replaced by a spare" in again, again
        running.enroll(spare, "north")
        tg(spare, "agent", "sync", "--until-idle", "--for", "40")

        gone = tg(old, "agent", "sync", "--until-idle", "--for", "30", ok=False)    # switched on again: wiped
        assert gone.returncode == 1 and ("the organiser replaced this device by a spare and wiped it (removed "
                                         "the orders, names and event data") in gone.stderr, gone.stderr
        assert "1 upload(s) not sent kept on it" in gone.stderr, gone.stderr
        assert not (old / "device" / "credentials.json").exists()
        status = tg(old, "agent", "status", ok=False).stdout
        assert (f"wiped (replaced by a spare): 1 upload(s) of {old_id} not sent (1 check-in(s) or cancellation(s)): "
                "uploaded as this device's own when it is enrolled again") in status, status
        fr = tg(old, "agent", "status", "--lang", "fr", ok=False).stdout
        assert "remplacé par un appareil de rechange" in fr, fr
        assert _entries(home) == 0

        stolen = (old / "device" / "credentials.json")       # its old login works no more (copied before, say)
        stolen.parent.mkdir(exist_ok=True)
        stolen.write_text(json.dumps(login))
        refused = tg(old, "agent", "sync", "--for", "8", ok=False)
        assert refused.returncode == 1 and "Not authorized" in refused.stdout + refused.stderr, refused.stdout
        stolen.unlink(missing_ok=True)                    # (the endpoint's signed wipe took it again)

        running.enroll(old, "south")                    # repaired, enrolled again: its entry is counted
        tg(old, "agent", "sync", "--until-idle", "--for", "40")
        assert _entries(home) == 1
        tg(spare, "agent", "sync", "--until-idle", "--for", "40")      # the spare learns the guest is inside
        again = tg(spare, "agent", "scan", stdin=payloads[0] + "\n", ok=False).stdout
        assert again.startswith("ALREADY"), again
        devices = tg(home, "server", "devices").stdout
        assert f"{old_id}" in devices and "REVOKED" in devices, devices
