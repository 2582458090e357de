"""The organiser configures a door from the office (`server device configure`) and sees what became of it (`server
device commands`), walked through the public commands only: `provision serve` with its broker, `server serve`, an
enrolled door that syncs now and then (`agent sync --until-idle`: offline in between, the command waits at the
broker), real SQLite files."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _sync(home) -> dict:
    return json.loads(tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout.strip().splitlines()[-1])


def _commands(home, device: str) -> list[dict]:
    return json.loads(tg(home, "server", "device", "commands", device, "--json").stdout)


def _answered(home, device: str, command_id: str) -> dict:
    """The command's row once the door's result reached the store (`server serve` ingests it), within 20 s."""
    deadline = time.monotonic() + 20
    while True:
        row = next(c for c in _commands(home, device) if c["command_id"] == command_id)
        if row["status"] != "pending" or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def _configure(home, device: str, *flags: str) -> str:
    return json.loads(tg(home, "server", "device", "configure", device, *flags, "--json").stdout)["command_id"]


def test_the_organiser_sets_a_door_remotely_and_sees_it_applied_or_rejected(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)                                          # event 1, zone 1 Floor
    with organiser_running(home) as running:
        running.enroll(home, "north")
        tg(home, "server", "push", "--event", "1")
        assert _sync(home)["rejected"] == []
        door = json.loads(tg(home, "agent", "status", "--json").stdout)["policy"]["device_id"]
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["policy"]["mode"] == "normal"

        # the door is offline (not syncing): the command waits at the broker, "pending" meanwhile
        applied = _configure(home, door, "--events", "1", "--mode", "entry_exit")
        assert [(c["command_id"], c["status"]) for c in _commands(home, door)] == [(applied, "pending")]
        assert _sync(home)["rejected"] == []
        policy = json.loads(tg(home, "agent", "status", "--json").stdout)["policy"]
        assert (policy["mode"], policy["events"]) == ("entry_exit", [1])
        row = _answered(home, door, applied)
        assert row["status"] == "applied" and row["args"] == {"mode": "entry_exit", "events": [1]}, row

        # an event the door's data does not hold (created since, not pushed): the door refuses it and says why
        tg(home, "server", "event", "create", "--name", "Later", "--start", "2030-01-01 10:00", "--end",
           "2030-01-01 23:00", "--zone", "2=Balcony")
        rejected = _configure(home, door, "--events", "2", "--gate", "east")
        _sync(home)
        policy = json.loads(tg(home, "agent", "status", "--json").stdout)["policy"]
        assert (policy["mode"], policy["events"], policy["gate"]) == ("entry_exit", [1], "north"), "nothing changed"
        row = _answered(home, door, rejected)
        assert row["status"].startswith("rejected: config refused, nothing changed: event 2 is not known on this "
                                        "device; its event data holds event 1 (Week)"), row
        text = tg(home, "server", "device", "commands", door).stdout
        assert f"2 command(s) sent to {door}" in text and "\n      applied" in text, text
        assert "rejected: config refused" in text and "events=2 gate=east" in text, text

        # a device registered but never connected: sent, with a warning (the broker queues nothing for it yet)
        tg(home, "server", "device", "register", "gate-y")
        proc = tg(home, "server", "device", "configure", "gate-y", "--gate", "y")
        assert "gate-y was never seen by the sync server" in proc.stderr and "sent to gate-y (gate=y)" in proc.stdout
        assert "was never seen" not in tg(home, "server", "device", "configure", door, "--mode", "entry_exit").stderr

        # pushed, the event is the door's: the same selection is taken
        tg(home, "server", "push")
        again = _configure(home, door, "--events", "1,2")
        _sync(home)
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["policy"]["events"] == [1, 2]
        assert _answered(home, door, again)["status"] == "applied"

    # refused on the server, before anything is sent (no broker needed): nothing recorded
    tg(home, "server", "device", "register", "gate-x", "--events", "1")
    for flags, error in ((["nobody", "--mode", "multiple"], "no device 'nobody'"),
                         ([door, "--events", "9"], "no event 9"),
                         (["gate-x", "--events", "2"], "event 2 is not an event of gate-x (registered for events 1)"),
                         ([door, "--events", "1", "--zones", "2"], "zone 2 is not a zone of event 1 (Week)"),
                         ([door], "nothing to change")):
        proc = tg(home, "server", "device", "configure", *flags, ok=False)
        assert proc.returncode == 1 and error in proc.stderr and proc.stdout == "", (flags, proc.stderr)
    tg(home, "server", "device", "revoke", "gate-x")
    proc = tg(home, "server", "device", "configure", "gate-x", "--gate", "x", ok=False)
    assert proc.returncode == 1 and "device gate-x is revoked" in proc.stderr
    assert _commands(home, "gate-x") == [] and len(_commands(home, door)) == 4
    assert tg(home, "server", "device", "configure", door, "--mode", "sideways", ok=False).returncode == 2
