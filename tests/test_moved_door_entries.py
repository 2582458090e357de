"""A door that let people in offline for one event, then was wiped by the technician and enrolled again for another
event, uploads those entries as its new enrollment's: the server refuses them ("event 1 is not an event of …"),
kept on the door. `server refusals` listed them and nothing more; giving the door the event
(`server device events NEW --add 1`) changed nothing: they stayed refused until someone at the door typed
`agent resend-refused`, and once they were counted `server devices` still said "1 upload(s) REFUSED". Now `server
refusals` names the one command that counts them, the door sends them again by itself when it gets the event, and
what was taken since is said so (`server refusals`) and no longer counted as refused (`server devices`). The server
does not accept them unasked: the new enrollment holds other events, and what a device may upload is what the
organiser gives it. Walked through the public commands."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_leftovers import _sync
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@needs_broker
def test_entries_a_door_made_before_it_moved_to_another_event_are_counted_by_one_command(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    tg(home, "server", "event", "create", "--name", "Other hall", "--start", f"{day} 00:00", "--end", f"{day} 23:59",
       "--zone", "1=Hall", "--category", "1=Adult")
    with organiser_running(home) as running:
        running.enroll(home, "north", events="1")
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "provision", "wipe", "--yes")                      # not uploaded yet: kept for the next enrollment
        running.enroll(home, "south", events="2")
        moved = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        _sync(home)
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["outbox_refused"] == 1
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 0
        told = tg(home, "server", "refusals").stdout
        assert (f"{moved}: 1 upload(s) for event 1, which it does not hold (scanned before it was wiped and enrolled "
                f"again for other events?): to count them, `ticketgate server device events {moved} --add 1`: the "
                "device sends them again by itself") in told, told

        tg(home, "server", "device", "events", moved, "--add", "1")
        _sync(home)
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["outbox_refused"] == 0
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1
        tg(home, "server", "device", "events", moved, "--remove", "1")     # counted: the event can go again
        told = tg(home, "server", "refusals").stdout
        assert "does not hold" not in told and told.rstrip().endswith("(sent again and TAKEN since)"), told
        listed = tg(home, "server", "devices").stdout                      # "1 upload(s) REFUSED" no more
        assert moved in listed and "REFUSED" not in listed, listed
