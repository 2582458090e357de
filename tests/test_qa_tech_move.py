"""A door moved from one organiser to another (the technician's day: a rental fleet lent to the next festival):
`provision wipe --yes`, then a code of the other organiser. The entries it made and did not send belong to the
first organiser: they were uploaded to the second one as the new enrollment's own (the first organiser's ticket
numbers and times handed to another company's server, refused there as unknown tickets, and counted nowhere). Now
they are kept on the device, never sent, with why. Through the public commands (a HOME each, two organisers, each
with its own `provision serve` and broker)."""
from __future__ import annotations

import json

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@needs_broker
def test_a_door_moved_to_another_organiser_sends_it_none_of_the_first_organisers_entries(tmp_path):
    first, second, door = tmp_path / "first", tmp_path / "second", tmp_path / "door"
    for h in (first, second, door):
        h.mkdir()
    payloads = _event_now(first)
    _event_now(second)                        # another company, its own keys (the same slug, even)
    with organiser_running(first) as one, organiser_running(second) as other:
        one.enroll(door, "north")
        tg(first, "server", "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        assert tg(door, "agent", "scan", stdin=payloads[0] + "\n").stdout.startswith("ACCEPTED — IN")
        old_id = json.loads((door / "device" / "credentials.json").read_text())["device_id"]
        asked = tg(door, "provision", "wipe", ok=False).stderr
        assert ("enrolled by another, it keeps them and sends them to no one: moving it to another organiser, "
                "`ticketgate agent sync --until-idle` first") in asked, asked
        tg(door, "provision", "wipe", "--yes")

        other.enroll(door, "south")
        tg(second, "server", "push")
        synced = tg(door, "agent", "sync", "--until-idle", "--for", "40").stdout
        assert "uploaded 0" in synced, synced
        assert tg(second, "server", "refusals").stdout.strip() == "no refused uploads"
        status = tg(door, "agent", "status").stdout
        assert (f"made for organiser acme as {old_id}, before this device was enrolled with another organiser: not "
                "sent to this one") in status, status
        assert json.loads(tg(second, "server", "stats", "--json").stdout)["entries"] == 0
