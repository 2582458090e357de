"""The door's commands on an enrolled device, through the public commands (`ticketgate …` subprocesses, the
provisioned broker, `server serve`). Each test fails on the defect it names."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.test_qa_skew import DAY, _event_now
from tests.test_qa_user_paths import _enrolled_door, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_a_door_admits_only_the_events_it_was_enrolled_for(tmp_path):
    """A door enrolled for event 1, set to `--events 1,2`, admitted event 2's tickets on their signature alone; the
    server refused those entries ("event 2 is not an event of …"), so they were never counted nor relayed, and the
    same ticket got in again at event 2's own gates. Now the setting is refused; `--events ''` is the events the
    door holds."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * DAY)) for d in (-1, 7))
    tg(home, "server", "event", "create", "--name", "Other", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(tg(home, "server", "order", "add", "--event", "2", "--buyer", "Zed", "--ticket",
                          "category=Adult,zone=Floor", "--json").stdout)
    other = json.loads(tg(home, "server", "ticket", "show", order["tickets"][0]["ticket_key"], "--json").stdout)["payload"]
    with _enrolled_door(home, gate="north", events="1"):
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        for command in (("configure", "--events", "1,2"), ("scan", "--json", "--events", "2", other)):
            refused = tg(home, "agent", *command, ok=False)
            assert refused.returncode == 1 and "enrolled for [1]" in refused.stderr, (command, refused)
        for events in ("1", ""):                                             # its own event, or all it holds
            tg(home, "agent", "configure", "--events", events)
            assert json.loads(tg(home, "agent", "scan", "--json", other, ok=False).stdout)["verdict"] == "wrong_event"
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"] == []
