"""The door's commands on an enrolled device, through the public commands (`ticketgate …` subprocesses, the
provisioned broker, `server serve`). Each test fails on the defect it names."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import _start, organiser_running
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
    from tests.helpers import stop_process, wait_for
    org, north, south = (tmp_path / name for name in ("org", "north", "south"))
    for home in (org, north, south):
        home.mkdir()
    payloads = _event_now(org)
    events = ""
    if enrolled_for == "pass":
        tg(org, "server", "pass", "create", "--name", "Festival", "--events", "1")
        events = str(json.loads(tg(org, "server", "pass", "list", "--json").stdout)[0]["pass_id"])
    listening = None
    with organiser_running(org) as running:
        for home, gate in ((north, "north"), (south, "south")):
            running.enroll(home, gate, events)
        tg(org, "server", "push")
        for home in (north, south):
            tg(home, "agent", "sync", "--until-idle", "--for", "40")
        try:
            listening = _start(south, "agent", "sync", "--for", "60")      # the south gate, online
            assert wait_for(lambda: json.loads(tg(org, "server", "devices", "--json").stdout) and any(
                d["status"] == "online" for d in json.loads(tg(org, "server", "devices", "--json").stdout)), 30)
            assert json.loads(tg(north, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
            tg(north, "agent", "sync", "--until-idle", "--for", "40")
            assert wait_for(lambda: json.loads(tg(south, "agent", "status", "--json").stdout)["counts"]["checkins"]
                            == 1, 20), "the south gate never heard of the north gate's entry"
            said = json.loads(tg(south, "agent", "scan", "--json", payloads[0], ok=False).stdout)
            assert said["verdict"] == "already_used", said
        finally:
            if listening is not None:
                stop_process(listening)



def test_answers_to_an_earlier_runs_hellos_are_not_reported_as_refused(tmp_path):
    """The organiser's server was down while a door ran `agent sync`: its hellos waited at the broker, and the
    restarted server answered them all. The door's next `agent sync` (a new process) reported those answers as
    "message(s) refused … clock reply to no outstanding probe (replayed?)", which reads like an attack. A late
    clock reply changes nothing and is dropped quietly; the entry goes through and nothing is reported refused."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with organiser_running(home) as running:
        running.enroll(home, "north", "1")
        tg(home, "server", "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        running.stop_serve()                                  # the organiser's server goes down
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        tg(home, "agent", "sync", "--for", "8", ok=False)     # hellos unanswered, waiting at the broker
        running.start_serve()
        time.sleep(2)                                         # it answers the waiting hellos
        said = tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
        summary = json.loads(said.strip().splitlines()[-1])
        assert summary["outbox_pending"] == 0 and summary["rejected"] == [], summary
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1


# `server serve` whose bundles leave 6 s after the hello is answered: longer than the sync's quiet window (1.5 s)
_SLOW_BUNDLES = """
import sys, time
from server_stub.sync.server import SyncServer
send = SyncServer.send_bundle
def slow(self, *args, **kw):
    time.sleep(6.0)
    return send(self, *args, **kw)
SyncServer.send_bundle = slow
from agent.cli import main
sys.exit(main(["server", "serve"]))
"""


def test_sync_until_idle_on_an_every_event_door_waits_for_the_event_data(tmp_path):
    """A door enrolled for every event of the organiser (no `--events`) ran `agent sync --until-idle`: it returned
    once the server's clock reply came and 1.5 s passed quietly, while the server was still building and sending a
    big event's bundle, so the next `agent search` / `agent scan` found no ticket. The clock reply now says which
    bundle version follows and --until-idle waits until it is applied; it gives up at --for with a clear error."""
    import sys
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    rows = "".join(f"Buyer {n:04d},1,1,10\n" for n in range(300))         # 3,000 tickets: 4 chunks
    (home / "orders.csv").write_text("buyer_name,category,zone,quantity\n" + rows)
    tg(home, "server", "import-orders", str(home / "orders.csv"), "--event", "1")
    with organiser_running(home, serve=False) as running:
        running.start_serve(sys.executable, "-c", _SLOW_BUNDLES)
        running.enroll(home, "north")                                                         # every event
        early = tg(home, "agent", "sync", "--until-idle", "--for", "3", ok=False)
        assert early.returncode == 1 and "not caught up after 3 s" in early.stderr, early
        said = json.loads(tg(home, "agent", "sync", "--until-idle", "--for", "60", "--json").stdout.splitlines()[-1])
        assert said["idle"] and said["bundle_version"] > 0, said
        found = json.loads(tg(home, "agent", "search", "Buyer 0299", "--json").stdout)
        assert len(found) == 10, found
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["tickets"] == 3002
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
