"""A wiped device's `ticketgate agent status`: it counts only what the wiped identity really left, and says whose
it is and what becomes of it (public commands, the organiser's broker and servers, real SQLite files)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.qa_organiser import tg
from tests.test_qa_leftovers import _sync, enrolled_door, needs_broker


def _status(home: Path) -> dict:
    return json.loads(tg(home, "agent", "status", "--json").stdout)


@needs_broker
def test_a_door_revoked_and_wiped_keeps_its_checkin_not_the_wipes_own_answer(tmp_path):
    """Revoked with a check-in not uploaded yet, the door synced and the organiser's signed wipe wiped it: status
    said outbox_pending 2 — the check-in and the wipe's own cmd_result, an answer no one can read (the login is
    gone, the server reads nothing from a revoked device). Now it holds the check-in alone and says so."""
    with enrolled_door(tmp_path) as (home, running, device, payloads):
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "server", "device", "revoke", device)
        synced = tg(home, "agent", "sync", "--until-idle", "--for", "40", ok=False)
        assert "revoked by the organiser and wiped" in synced.stderr, (synced.stdout, synced.stderr)
        assert "1 upload(s) not sent kept on it" in synced.stderr and "'unsent'" not in synced.stderr, synced.stderr
    status = _status(home)
    assert status["counts"]["outbox_pending"] == 1 and status["counts"]["checkins"] == 1, status["counts"]
    # the signed wipe reaches it as the command queued at the broker, or from the enrollment endpoint when the
    # broker already refuses its login: which one comes first is a race, both are the organiser's revocation
    wiped = dict(status["wiped"])
    assert wiped.pop("reason") in ("signed wipe command", "revoked: signed wipe from the enrollment endpoint"), wiped
    assert wiped == {"device_id": device, "revoked": True, "uploads_kept": 1, "kinds": {"action": 1}}, wiped
    said = tg(home, "agent", "status").stdout
    assert (f"wiped (revoked by the organiser): 1 upload(s) of {device} not sent (1 check-in(s) or cancellation(s)): "
            "kept as its record; the server takes nothing from a revoked device") in said, said


@needs_broker
def test_a_technicians_wipe_names_the_refused_scan_it_keeps_and_uploads_it_once_enrolled(tmp_path):
    """A door uploaded its entry, then refused the same ticket again (a refusal queued for the statistics), then was
    wiped by the technician: the wipe said it kept nothing, status said outbox_pending 1. Now both count it, status
    says what it is, and the next enrollment uploads it."""
    with enrolled_door(tmp_path) as (home, running, device, payloads):
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
        again = tg(home, "agent", "scan", "--json", payloads[0], ok=False)
        assert json.loads(again.stdout)["verdict"] == "already_used"
        said = tg(home, "provision", "wipe", "--yes").stdout
        assert "the 1 check-in(s) and other upload(s) not sent" in said and "'unsent'" not in said, said
        status = _status(home)
        assert status["counts"]["outbox_pending"] == 1, status["counts"]
        assert status["wiped"] == {"device_id": device, "revoked": False, "reason": "by the technician",
                                   "uploads_kept": 1, "kinds": {"refusal": 1}}, status["wiped"]
        said = tg(home, "agent", "status").stdout
        assert (f"wiped (by the technician): 1 upload(s) of {device} not sent (1 refused scan(s) for the "
                "statistics): uploaded as this device's own when it is enrolled again") in said, said
        running.enroll(home, "north")
        assert "wiped" not in _status(home)
        assert _sync(home)["outbox_pending"] == 0 and _status(home)["refused_uploads"] == []


@needs_broker
def test_a_sync_that_wipes_the_device_prints_no_sync_summary(tmp_path):
    """`agent sync` that met the organiser's revocation said the device was revoked and wiped, then its usual
    summary line ("event data v3, uploaded 0, waiting 1 …"): event data and uploads the device no longer holds. Now
    it says only the wipe and what it kept."""
    with enrolled_door(tmp_path) as (home, running, device, payloads):
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "server", "device", "revoke", device)
        synced = tg(home, "agent", "sync", "--until-idle", "--for", "40", ok=False)
    assert synced.returncode == 1 and "revoked by the organiser and wiped" in synced.stderr, synced.stderr
    assert "1 upload(s) not sent kept on it" in synced.stderr, synced.stderr
    assert "event data v" not in synced.stdout and "uploaded" not in synced.stdout, synced.stdout


@needs_broker
def test_a_sync_that_wipes_the_device_says_so_in_its_json_summary(tmp_path):
    """The same with --json: the summary said nothing of the wipe (only stderr did); a script reading it took the
    device for synced. Now `wiped` says what the wipe removed and how many uploads it kept."""
    with enrolled_door(tmp_path) as (home, running, device, payloads):
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "server", "device", "revoke", device)
        synced = tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json", ok=False)
    summary = json.loads(synced.stdout.strip().splitlines()[-1])
    assert summary["wiped"]["ledger"] and summary["wiped"]["unsent"] == 1, summary
    assert summary["outbox_pending"] == 1, summary
