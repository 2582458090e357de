"""An entry a door made before a technician's wipe and its re-enrollment is the old device id's on the server. `agent
annul` on the door enrolled again annulled it in its ledger and exit 0, and the server refused the annulment
(annul_other_device): the door forgot the entry, the server still counted it. `server device rollback` undid every
entry of the old id or none. Now the door says at once that only the organiser can undo it, and how; the organiser
undoes that one entry (`server device annul OLD SCAN_UUID`), listed as undone, the entry kept, and the door learns it
at its next sync. Walked through the public commands (a fresh HOME, `provision serve`'s broker, `server serve`)."""
from __future__ import annotations

import json

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import tg
from tests.test_qa_leftovers import _sync, enrolled_door

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@needs_broker
def test_the_organiser_undoes_an_entry_made_before_the_door_was_wiped_and_enrolled_again(tmp_path):
    with enrolled_door(tmp_path) as (home, running, old, payloads):
        entry = json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)
        assert entry["verdict"] == "accepted" and _sync(home)["outbox_pending"] == 0
        tg(home, "provision", "wipe", "--yes")
        running.enroll(home, "north")
        new = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        assert new != old
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []

        before = json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]
        said = tg(home, "agent", "annul", "--scan", entry["scan_uuid"], "--reason", "wrong person", ok=False)
        assert said.returncode == 1, (said.stdout, said.stderr)
        assert (f"was uploaded as {old}, this device's enrollment before it was wiped and enrolled again: only the "
                f"organiser can undo it (`ticketgate server device annul {old} {entry['scan_uuid']} --reason …`)"
                in said.stderr), said.stderr
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"] == before   # nothing recorded

        listed = tg(home, "server", "device", "uploads", old).stdout
        assert entry["scan_uuid"] in listed and "ROLLED BACK" not in listed, listed
        wrong = tg(home, "server", "device", "annul", new, entry["scan_uuid"], "--reason", "x", ok=False)
        assert wrong.returncode == 1 and f"no entry {entry['scan_uuid']} uploaded by {new}" in wrong.stderr
        undone = tg(home, "server", "device", "annul", old, entry["scan_uuid"], "--reason", "wrong person")
        assert f"undone: the entry of ticket " in undone.stdout and f" by {old} at gate north (" in undone.stdout, undone.stdout
        again = tg(home, "server", "device", "annul", old, entry["scan_uuid"], "--reason", "x", ok=False)
        assert again.returncode == 1 and "already undone (by the organiser)" in again.stderr, again.stderr
        uploads = json.loads(tg(home, "server", "device", "uploads", old, "--json").stdout)
        assert [(u["scan_uuid"], u["kind"], u["rolled_back"]) for u in uploads] == [(entry["scan_uuid"], "entry", True)]
        assert "ROLLED BACK" in tg(home, "server", "device", "uploads", old).stdout
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 0

        _sync(home)                                           # the door learns it: the ticket enters again
        again_in = json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)
        assert again_in["verdict"] == "accepted", again_in
