"""The door's commands on an enrolled device, through the public commands (`ticketgate …` subprocesses, the
provisioned broker, `server serve`). Each test fails on the defect it names."""
from __future__ import annotations

import json
import time
from functools import partial

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import provision_serve
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


@pytest.mark.parametrize("enrolled_for", ["", "pass"], ids=["every event", "a pass"])
def test_a_ticket_used_at_one_gate_is_refused_at_the_other_when_enrolled_for_all_events_or_a_pass(tmp_path,
                                                                                                   enrolled_for):
    """Two doors enrolled with tokens for no event in particular (the default: every event of the organiser): their
    hello brought no event data (only a `server push` made while they were connected did), and the broker's ACL let
    them read no live topic, so neither heard the other's entries and the same ticket got in at both gates. Now the
    hello brings every event and each reads the live topics of the events it holds. The same for a festival pass
    (`--events` takes pass ids; the ACL names the events the pass opens)."""
    from tests.helpers import stop_process, wait_for, wait_for_line
    from tests.test_qa_user_paths import _start
    org, north, south = (tmp_path / name for name in ("org", "north", "south"))
    for home in (org, north, south):
        home.mkdir()
    payloads = _event_now(org)
    events = ""
    if enrolled_for == "pass":
        tg(org, "server", "pass", "create", "--name", "Festival", "--events", "1")
        events = str(json.loads(tg(org, "server", "pass", "list", "--json").stdout)[0]["pass_id"])
    prov, http_port = provision_serve(partial(_start, org), seconds=150)
    serve = listening = None
    try:
        serve = _start(org, "server", "serve")
        assert wait_for_line(serve, "sync server", 30)
        for home, gate in ((north, "north"), (south, "south")):
            sheet = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", gate,
                       *(["--events", events] if events else []), "--out", str(org / f"{gate}.pdf")).stdout
            tg(home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
               f"127.0.0.1:{http_port}")
        tg(org, "server", "push")
        for home in (north, south):
            tg(home, "agent", "sync", "--until-idle", "--for", "40")
        listening = _start(south, "agent", "sync", "--for", "60")      # the south gate, online
        assert wait_for(lambda: json.loads(tg(org, "server", "devices", "--json").stdout) and any(
            d["status"] == "online" for d in json.loads(tg(org, "server", "devices", "--json").stdout)), 30)
        assert json.loads(tg(north, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(north, "agent", "sync", "--until-idle", "--for", "40")
        assert wait_for(lambda: json.loads(tg(south, "agent", "status", "--json").stdout)["counts"]["checkins"] == 1,
                        20), "the south gate never heard of the north gate's entry"
        said = json.loads(tg(south, "agent", "scan", "--json", payloads[0], ok=False).stdout)
        assert said["verdict"] == "already_used", said
    finally:
        for proc in (listening, serve, prov):
            if proc is not None:
                stop_process(proc)



def test_answers_to_an_earlier_runs_hellos_are_not_reported_as_refused(tmp_path):
    """The organiser's server was down while a door ran `agent sync`: its hellos waited at the broker, and the
    restarted server answered them all. The door's next `agent sync` (a new process) reported those answers as
    "message(s) refused … clock reply to no outstanding probe (replayed?)", which reads like an attack. A late
    clock reply changes nothing and is dropped quietly; the entry goes through and nothing is reported refused."""
    from tests.helpers import stop_process, wait_for_line
    from tests.test_qa_user_paths import _start
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    prov, http_port = provision_serve(partial(_start, home), seconds=150)
    serve = None
    try:
        serve = _start(home, "server", "serve")
        assert wait_for_line(serve, "sync server", 30)
        sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--events", "1", "--out", str(home / "doors.pdf")).stdout
        tg(home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
           f"127.0.0.1:{http_port}")
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        stop_process(serve)                                   # the organiser's server goes down
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "agent", "sync", "--for", "8", ok=False)     # hellos unanswered, waiting at the broker
        serve = _start(home, "server", "serve")
        assert wait_for_line(serve, "sync server", 30)
        time.sleep(2)                                         # it answers the waiting hellos
        said = tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
        summary = json.loads(said.strip().splitlines()[-1])
        assert summary["outbox_pending"] == 0 and summary["rejected"] == [], summary
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1
    finally:
        if serve is not None:
            stop_process(serve)
        stop_process(prov)
