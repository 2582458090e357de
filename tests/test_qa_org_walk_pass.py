"""The organiser's walk (session N) once a door let guests in: what `stats` (and its live JSON form), `report
entries` and `conflicts` say. Real mosquitto, `provision serve`, `server serve`, a door enrolled through the public
commands. Each test fails on the defect it names."""
from __future__ import annotations

import itertools
import json
import threading

from tests.helpers import stop_process
from tests.qa_organiser import _start, organiser_running, tg
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


def test_a_pass_of_two_events_asked_as_an_event_names_both(tmp_path):
    """A weekend pass (events 1 and 2) asked of `stats`, `report entries` or `conflicts` said "give --event 1": the
    organiser who wanted Sunday's figures was sent to Saturday's. It names each event of the pass."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    tg(home, "server", "event", "create", "--name", "Sunday", "--start", "2030-01-06 10:00", "--end",
       "2030-01-06 23:00", "--zone", "1=Floor", "--category", "1=Adult")
    tg(home, "server", "pass", "create", "--name", "Weekend", "--events", "1,2")
    for command in (["report", "entries"], ["conflicts"], ["stats"]):
        asked = tg(home, "server", *command, "--event", "3", ok=False)
        assert asked.returncode == 1 and ("3 is a pass (events 1, 2): entries are counted per event where its holders "
                                          "came in: give --event 1 or --event 2 (or no --event for every event)"
                                          ) in asked.stderr, (command, asked.stderr)


@needs_broker
def test_stats_watched_as_json_is_one_object_per_line(tmp_path):
    """`server stats --watch 1 --json`, the live form a dashboard reads: each refresh was an indented JSON document
    printed after the last (dozens of lines each, no separator), which no line reader and no `json.loads` of the
    output could take. Each refresh is now one JSON object on one line."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with organiser_running(home) as running:
        running.enroll(home, "north")
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
    watch = _start(home, "server", "stats", "--watch", "1", "--json")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(itertools.islice(watch.stdout, 2)), daemon=True)
    reader.start()
    try:
        reader.join(60)                                   # two refreshes (bounded on a loaded machine)
    finally:
        code = stop_process(watch)
    out, err = watch.communicate()
    assert code == 0 and "Traceback" not in err, err
    refreshes = [json.loads(line) for line in lines + out.splitlines()]
    assert len(refreshes) >= 2, (lines, out)
    assert all(r["entries"] == 1 and r["inside_now"] == {"1": 1} for r in refreshes), refreshes


def test_stats_watched_as_text_says_when_each_refresh_was_taken(tmp_path):
    """`server stats --watch 1` into a log (`| tee`, no terminal to clear): each refresh was printed after the last
    with nothing between them and no time, so neither the log nor the screen said when its figures were taken (or
    that they still refresh). Each refresh now starts with its time and its period."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    watch = _start(home, "server", "stats", "--watch", "1")
    heads: list[str] = []
    reader = threading.Thread(target=lambda: heads.extend(itertools.islice(
        (line for line in watch.stdout if line.startswith("as of ")), 2)), daemon=True)
    reader.start()
    try:
        reader.join(60)                                   # two refreshes (bounded on a loaded machine)
    finally:
        code = stop_process(watch)
    _, err = watch.communicate()
    assert code == 0 and "Traceback" not in err, err
    assert len(heads) == 2 and heads[0] != heads[1], heads
    assert all(h.endswith(" UTC, every 1 s (Ctrl-C stops)\n") for h in heads), heads
