"""A door online (`agent sync` running, through the broker `provision serve` runs, `server serve` announcing) learns a
`server pass edit` at once: before, the announcer sent no pass change (it changes an event's pass list, not a ticket
or a price), and a door kept refusing a pass given its event, or admitting one taken from it, until its next
`agent sync` or a `server push`. Through the public commands, real mosquitto, real SQLite files."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for
from tests.qa_organiser import _start, organiser_running, tg
from tests.test_device_events import _found, _second_event, _until_idle
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
DAY = 86400


def _verdict(door: Path, payload: str) -> dict:
    return json.loads(tg(door, "agent", "scan", "--json", payload).stdout)


@needs_broker
def test_an_online_door_follows_a_pass_edit_without_a_sync(tmp_path):
    """The Weekend pass opens events 1 and 2, sold to Pat; a door of event 3 is online. `pass edit --add-event 3`:
    the door admits Pat within seconds, no sync command run. Pat refunded (the door says 'revoked', live) and
    `pass edit --remove-event 3`: the door refuses Pat's ticket as not of its events and forgets Pat's name."""
    home, door = tmp_path / "home", tmp_path / "door"
    for folder in (home, door):
        folder.mkdir()
    _event_now(home)
    _second_event(home)
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * DAY)) for d in (-1, 7))
    tg(home, "server", "event", "create", "--name", "Third", "--start", f"{start} 10:00", "--end", f"{end} 23:00")
    tg(home, "server", "pass", "create", "--name", "Weekend", "--events", "1,2")
    order = json.loads(tg(home, "server", "order", "add", "--event", "4", "--buyer", "Pat Pass", "--json").stdout)
    pat = json.loads(tg(home, "server", "ticket", "show", order["tickets"][0]["ticket_key"], "--json").stdout)["payload"]
    with organiser_running(home) as running:
        running.enroll(door, "east", events="3")
        assert _until_idle(door)["rejected"] == []
        assert _verdict(door, pat)["verdict"] == "wrong_event"
        online = _start(door, "agent", "sync", "--for", "120")
        try:
            tg(home, "server", "pass", "edit", "4", "--add-event", "3")
            assert wait_for(lambda: _verdict(door, pat)["verdict"] == "accepted", 30), _verdict(door, pat)
            assert _found(door, "Pat Pass")

            tg(home, "server", "order", "refund", order["number"], "--reason", "Sunday cancelled")
            assert wait_for(lambda: _verdict(door, pat)["verdict"] == "revoked", 30), _verdict(door, pat)
            tg(home, "server", "pass", "edit", "4", "--remove-event", "3")
            assert wait_for(lambda: _verdict(door, pat)["verdict"] == "wrong_event", 30), _verdict(door, pat)
            assert _verdict(door, pat)["detail"] == ("pass 4 is not on this device (not one of its events, or "
                                                     "removed by the organiser)")
            assert wait_for(lambda: _found(door, "Pat Pass") == [], 10), "the door kept the pass holder's name"
        finally:
            stop_process(online)
