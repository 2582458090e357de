"""The organiser's walk (session N) with a pass: what `stats`, `report entries` and `conflicts` say of a pass's
guests once a door let them in. Real mosquitto, `provision serve`, `server serve`, a door enrolled through the
public commands. Fails on the defect it names."""
from __future__ import annotations

import json


from tests.qa_organiser import organiser_running, tg
from tests.test_qa_leftovers import _sync, needs_broker
from tests.test_qa_skew import _event_now


@needs_broker
def test_entries_and_conflicts_asked_of_a_pass_name_its_events(tmp_path):
    """A pass holder let in at the door. Asked with `--event PASS`, `report entries` said 'entries: 0' and
    `conflicts` 'no conflicts', exit 0 (entries are counted under the event where the guest came in, never under the
    pass), and `stats` 'no event 2'. Each now refuses, exit 1, naming the pass's events to ask instead; asked per
    event they count the pass holder."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    tg(home, "server", "pass", "create", "--name", "All week", "--events", "1")
    order = json.loads(tg(home, "server", "order", "add", "--event", "2", "--buyer", "Pat Pass", "--ticket",
                          "category=Adult,zone=Floor", "--json").stdout)
    key = order["tickets"][0]["ticket_key"]
    payload = json.loads(tg(home, "server", "ticket", "show", key, "--json").stdout)["payload"]
    with organiser_running(home) as running:
        running.enroll(home, "north")
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        assert json.loads(tg(home, "agent", "scan", "--json", payload).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
    for command in (["report", "entries"], ["conflicts"], ["stats"]):
        asked = tg(home, "server", *command, "--event", "2", ok=False)
        assert asked.returncode == 1 and asked.stdout == "", (command, asked.stdout)
        assert ("2 is a pass (events 1): entries are counted per event where its holders came in: give --event 1 "
                "(or no --event for every event)") in asked.stderr, (command, asked.stderr)
    per_event = json.loads(tg(home, "server", "report", "entries", "--event", "1", "--format", "json").stdout)
    assert per_event["entries"] == 1 and per_event["inside_now"] == {"1": 1}
    assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1
