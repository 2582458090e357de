"""`ticketgate server device events DEVICE --add/--remove`: a device registered for events is given another one, or
has one taken away, through the public commands (`ticketgate …` subprocesses, the broker `provision serve
--start-broker` runs with its ACL, `server serve`, real SQLite files). Before, nothing could: its hello named its
enrolment's events, the server sent only those, the broker's ACL let it read only their live topics."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for
from tests.qa_organiser import _start, organiser_running, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _second_event(home: Path) -> str:
    """Event 2 (open now, like event 1) with one paid order of Bob Stone: its ticket's signed QR payload."""
    day = 86400
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * day)) for d in (-1, 7))
    tg(home, "server", "event", "create", "--name", "Gala", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Hall", "--category", "1=Adult")
    order = json.loads(tg(home, "server", "order", "add", "--event", "2", "--buyer", "Bob Stone", "--email",
                          "bob.stone@example.org", "--ticket", "category=Adult,zone=Hall", "--json").stdout)
    return json.loads(tg(home, "server", "ticket", "show", order["tickets"][0]["ticket_key"], "--json").stdout)["payload"]


def _two_events(tmp_path: Path) -> tuple[Path, list[str], str]:
    """An organiser's folder with event 1 (Ann's two tickets) and event 2 (Bob's), both open now: (home, their signed
    QR payloads)."""
    home = tmp_path / "home"
    home.mkdir()
    return home, _event_now(home), _second_event(home)


def _until_idle(device: Path) -> dict:
    said = tg(device, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
    return json.loads(said.strip().splitlines()[-1])


def _verdict(device: Path, payload: str) -> str:
    return json.loads(tg(device, "agent", "scan", "--json", payload).stdout)["verdict"]


def _found(device: Path, name: str) -> list:
    return json.loads(tg(device, "agent", "search", name, "--json").stdout)


def _commands(home: Path, device_id: str) -> list[dict]:
    return json.loads(tg(home, "server", "device", "commands", device_id, "--json").stdout)


def _acl(home: Path) -> str:
    return (home / ".local/share/ticketgate/server/provision/mosquitto/acl").read_text()


def _device_id(device: Path) -> str:
    return json.loads((device / "credentials.json").read_text())["device_id"]


@needs_broker
def test_an_online_door_given_another_event_admits_it_and_reads_its_live_updates(tmp_path):
    """A door enrolled for event 1, online (`agent sync` running): `server device events DOOR --add 2` reaches it
    at once; it downloads event 2, admits its tickets, and the broker lets it read event 2's live topic (a ticket
    blocked afterwards is refused at the door within seconds, with no other sync)."""
    home, _, bob = _two_events(tmp_path)
    with organiser_running(home) as running:
        running.enroll(home, "north", events="1")
        door = _device_id(home / "device")
        assert _until_idle(home)["rejected"] == []
        assert _verdict(home, bob) == "wrong_event"
        assert f"tg/acme/ev/2/live" not in _acl(home)
        online = _start(home, "agent", "sync", "--for", "90")
        try:
            said = tg(home, "server", "device", "events", door, "--add", "2").stdout
            assert f"{door} holds events 1, 2 (added 2, removed -)" in said, said
            assert wait_for(lambda: f"topic read tg/acme/ev/2/live" in _acl(home), 15), _acl(home)
            assert wait_for(lambda: _found(home, "Bob Stone"), 30), "event 2's data never reached the online door"
            assert wait_for(lambda: _commands(home, door)[0]["status"] == "applied", 15), _commands(home, door)
            key = _found(home, "Bob Stone")[0]["ticket_key"]
            tg(home, "server", "ticket", "block", key, "--reason", "stolen")
            assert wait_for(lambda: _verdict(home, bob) == "blocked", 30), _verdict(home, bob)
        finally:
            stop_process(online)
        devices = {d["device_id"]: d for d in json.loads(tg(home, "server", "devices", "--json").stdout)}
        assert devices[door]["events"] == [1, 2]
        assert json.loads(tg(home, "provision", "status", "--json").stdout)["events"] == [1, 2]


@needs_broker
def test_an_offline_door_loses_an_event_its_buyers_and_keeps_its_entries(tmp_path):
    """A door enrolled for events 1 and 2, offline, let a guest of event 1 in. `server device events DOOR --remove
    1`, sent while it is off: when it comes back it stops admitting event 1, its buyers (names, e-mails) are no
    longer on the device, event 2 stays, and the entry it recorded offline is still uploaded."""
    home, ann, bob = _two_events(tmp_path)
    with organiser_running(home) as running:
        running.enroll(home, "north", events="1,2")
        door = _device_id(home / "device")
        assert _until_idle(home)["rejected"] == []
        assert _found(home, "Ann Martin") and _found(home, "Bob Stone")
        assert _verdict(home, ann[0]) == "accepted"          # offline: not uploaded yet

        said = tg(home, "server", "device", "events", door, "--remove", "1").stdout
        assert f"{door} holds events 2 (added -, removed 1)" in said, said
        assert _commands(home, door)[0]["status"] == "pending"
        listed = tg(home, "server", "device", "commands", door).stdout     # before: "added=all": it added none
        assert "events added=- events=2 removed=1\n      pending" in listed, listed
        assert wait_for(lambda: "tg/acme/ev/1/live" not in _acl(home), 15), _acl(home)

        synced = _until_idle(home)
        assert synced["rejected"] == [] and synced["outbox_pending"] == 0, synced
        assert _found(home, "Ann Martin") == [] and _found(home, "Bob Stone")
        left = [f.name for f in (home / "device").iterdir() if f.is_file() and b"Ann Martin" in f.read_bytes()]
        assert left == [], f"event 1's buyer is still in {left}"
        assert _verdict(home, ann[1]) == "wrong_event"
        assert _verdict(home, bob) == "accepted"
        assert wait_for(lambda: _commands(home, door)[0]["status"] == "applied", 15), _commands(home, door)
        entries = json.loads(tg(home, "server", "device", "uploads", door, "--json").stdout)
        assert any(u.get("event_id") == 1 for u in entries), entries


@needs_broker
def test_a_door_that_missed_the_command_gets_the_change_at_its_hello(tmp_path):
    """A door enrolled for event 1 that never connected yet: the broker keeps no command for it, so the one `server
    device events --add 2` sends is lost (the command warns). Its first hello names event 1 only: `server serve`
    sends the change again and the bundle of events 1 and 2; the door admits event 2."""
    home, ann, bob = _two_events(tmp_path)
    with organiser_running(home) as running:
        running.enroll(home, "north", events="1")
        door = _device_id(home / "device")
        proc = tg(home, "server", "device", "events", door, "--add", "2")
        assert "was never seen by the sync server" in proc.stderr, proc.stderr
        assert _until_idle(home)["rejected"] == []
        assert _verdict(home, bob) == "accepted" and _verdict(home, ann[0]) == "accepted"
        assert wait_for(lambda: any(c["args"].get("by") == "hello" and c["status"] == "applied"
                                    for c in _commands(home, door)), 15), _commands(home, door)
        assert json.loads(tg(home, "provision", "status", "--json").stdout)["events"] == [1, 2]


@needs_broker
def test_an_offline_kiosk_given_another_event_gets_its_data(tmp_path):
    """Kiosks likewise: a kiosk enrolled for event 1 gets event 2's orders once it syncs after `server device events
    KIOSK --add 2`."""
    home, kiosk = tmp_path / "home", tmp_path / "kiosk"
    home.mkdir()
    kiosk.mkdir()
    _event_now(home)
    _second_event(home)
    with organiser_running(home) as running:
        running.enroll(kiosk, "desk", events="1", role="kiosk")
        desk = _device_id(kiosk / "device")
        assert _until_idle(kiosk)["rejected"] == []
        assert _found(kiosk, "Bob Stone") == []
        tg(home, "server", "device", "events", desk, "--add", "2")
        assert _until_idle(kiosk)["rejected"] == []
        assert _found(kiosk, "Bob Stone"), "event 2's orders never reached the kiosk"


def test_only_the_organisers_own_events_and_a_device_keeps_one(tmp_path):
    """Refused on one line, exit 1, nothing changed: another organiser's event, an unknown one, an event the device
    does not hold, taking every event away, a device registered for every event, an unknown device."""
    _event_now(tmp_path)
    tg(tmp_path, "server", "init", "--org", "rival", "--name", "Rival")
    tg(tmp_path, "server", "--org", "rival", "event", "create", "--name", "Theirs", "--start", "2026-12-01 10:00",
       "--end", "2026-12-01 23:00")
    tg(tmp_path, "server", "device", "register", "gate-1", "--events", "1")
    tg(tmp_path, "server", "device", "register", "gate-all")
    cases = [(["gate-1", "--add", "2"], "event or pass 2 belongs to another organiser"),
             (["gate-1", "--add", "9"], "no event or pass 9"),
             (["gate-1", "--remove", "2"], "event or pass 2 belongs to another organiser"),
             (["gate-1", "--remove", "1"], "that would leave gate-1 no event"),
             (["gate-1", "--add", "1"], "nothing to change: gate-1 holds events 1 already"),
             (["gate-1"], "nothing to change: give --add or --remove"),
             (["gate-all", "--remove", "1"], "gate-all holds every event of acme (registered without --events)"),
             (["gate-9", "--add", "1"], "no device 'gate-9'")]
    for args, said in cases:
        proc = tg(tmp_path, "server", "--org", "acme", "device", "events", *args, ok=False)
        assert proc.returncode == 1 and said in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    devices = {d["device_id"]: d["events"] for d in json.loads(tg(tmp_path, "server", "devices", "--json").stdout)}
    assert devices == {"gate-1": [1], "gate-all": []}
    # no broker to take the command: the registration changed, and the error says so and how the device learns it
    tg(tmp_path, "server", "event", "create", "--name", "Ours", "--start", "2026-12-02 10:00", "--end", "2026-12-02 23:00")
    proc = tg(tmp_path, "server", "device", "events", "gate-1", "--add", "3", "--broker", "127.0.0.1:1", "--timeout", "2",
              ok=False)
    assert proc.returncode == 1 and "gate-1 now holds events 1, 3" in proc.stderr, proc.stderr
    assert "when it next says hello to `server serve`" in proc.stderr, proc.stderr
    devices = {d["device_id"]: d["events"] for d in json.loads(tg(tmp_path, "server", "devices", "--json").stdout)}
    assert devices["gate-1"] == [1, 3]
    # taking one away unsent: kept, so what the device recorded for it offline is still taken (the events a hello
    # names are not: tests/test_attack_scope.py)
    tg(tmp_path, "server", "device", "events", "gate-1", "--remove", "1", "--broker", "127.0.0.1:1", "--timeout", "2",
       ok=False)
    sent = json.loads(tg(tmp_path, "server", "device", "commands", "gate-1", "--json").stdout)
    assert [(c["args"]["removed"], c["status"].split(" (")[0]) for c in sent] == [([1], "not sent"), ([], "not sent")]
    from server_stub.store import open_store
    store = open_store(tmp_path / ".local" / "share" / "ticketgate" / "server", create=False)
    try:
        assert store.events_released("gate-1") == {1}
    finally:
        store.close()


@pytest.mark.parametrize("in_steps", [False, True])
def test_forgetting_an_event_keeps_the_pass_tickets_of_an_event_kept(tmp_path, in_steps):
    """The ledger's part of `--remove`: event 1's tickets, flags and data go; a pass opening events 1 and 2 keeps its
    tickets (event 2 stays), a pass opening only event 1 loses them; check-ins and the outbox stay. `in_steps`: the
    tickets deleted first in short transactions (one ticket each here), as the sync thread does before the command,
    then the command's transaction finds none left; the same result."""
    from agent.ledger import Ledger
    led = Ledger.open(tmp_path / "ledger.sqlite")
    led.upsert_events([{"event_id": 1, "name": "Fri", "zones": [{"zone_id": 1, "name": "Floor"}],
                        "passes": [{"pass_id": 10, "name": "Weekend"}, {"pass_id": 11, "name": "Friday+"}]},
                       {"event_id": 2, "name": "Sat", "passes": [{"pass_id": 10, "name": "Weekend"}]}])
    led.upsert_tickets([{"ticket_key": "1", "event_id": 1, "buyer_name": "Ann Martin", "email": "ann@example.org"},
                        {"ticket_key": "2", "event_id": 2, "buyer_name": "Bob Stone"},
                        {"ticket_key": "3", "event_id": 1, "pass_id": 10, "buyer_name": "Cy Weekend"},
                        {"ticket_key": "4", "event_id": 1, "pass_id": 11, "buyer_name": "Di Friday"}])
    led.block(["1"], "stolen")
    led.enqueue("action", {"scan_uuid": "u1", "ticket_key": "1", "event_id": 1})
    first = led.forget_tickets_in_steps([1], chunk=1, pause=0) if in_steps else 0
    assert first + led.forget_events([1]) == 2 and first == (2 if in_steps else 0)
    assert led.prune_pending()
    assert sorted(r[0] for r in led.conn.execute("SELECT ticket_key FROM tickets")) == ["2", "3"]
    assert led.search("Ann") == [] and led.search("ann@example.org") == [] and led.search("Di") == []
    assert led.event_ids() == {2} and led.pass_events() == {10: frozenset({2})}
    assert led.conn.execute("SELECT count(*) FROM blocked").fetchone()[0] == 0
    assert led.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    while led.prune_step():
        pass
    assert not led.prune_pending()
    led.close()


def test_the_selection_follows_the_events_held(tmp_path):
    """A selection of every event held takes the new events; a narrower one keeps what is left of it; a zone only an
    event taken away had is left out (none left: every zone)."""
    from agent.ledger import Ledger
    from agent.policy import DevicePolicy
    from agent.stored_policy import load_policy, save_policy
    from agent.sync.commands import run_command
    led = Ledger.open(tmp_path / "ledger.sqlite")
    led.upsert_events([{"event_id": 1, "name": "Fri", "zones": [{"zone_id": 1, "name": "Floor"}]},
                       {"event_id": 2, "name": "Sat", "zones": [{"zone_id": 2, "name": "Hall"}]},
                       {"event_id": 3, "name": "Sun", "zones": [{"zone_id": 2, "name": "Hall"}]}])
    save_policy(led, DevicePolicy(events=frozenset({1, 2, 3}), zones=frozenset({1})))
    done = run_command(led, {"cmd": "events", "events": [2, 3, 4]}, enrolled=[1, 2, 3])
    assert (done["added"], done["removed"]) == ([4], [1])
    policy = load_policy(led)
    assert policy.events == {2, 3, 4} and policy.zones is None
    save_policy(led, DevicePolicy(events=frozenset({2}), zones=frozenset({2})))
    run_command(led, {"cmd": "events", "events": [2, 4]}, enrolled=[2, 3, 4])
    policy = load_policy(led)
    assert policy.events == {2} and policy.zones == {2}
    from agent.sync.signed import Rejected
    with pytest.raises(Rejected, match="a list of event ids expected"):
        run_command(led, {"cmd": "events", "events": []}, enrolled=[2, 4])
    led.close()


@needs_broker
def test_changing_a_devices_events_on_postgresql(tmp_path, pg_url, broker):
    """The same command with the organiser's store on PostgreSQL: the registration, the commands listed, and the
    events taken away (whose uploads are still taken) read back from the database."""
    from server_stub.store import open_store
    data = tmp_path / "server"
    server = ("server", "--data", str(data), "--db", pg_url)
    _gate_moved_from_event_1_to_2(tmp_path, server, broker)
    devices = json.loads(tg(tmp_path, *server, "devices", "--json").stdout)
    assert [(d["device_id"], d["events"]) for d in devices] == [("gate-1", [2])]
    sent = json.loads(tg(tmp_path, *server, "device", "commands", "gate-1", "--json").stdout)
    assert [(c["cmd"], c["args"]["events"], c["status"]) for c in sent] == [("events", [2], "pending"),
                                                                            ("events", [1, 2], "pending")], sent
    store = open_store(data, create=False, db=pg_url)
    try:
        assert store.events_released("gate-1") == {1}
    finally:
        store.close()


@needs_broker
def test_an_event_taken_away_while_the_server_is_off_leaves_no_buyer_in_the_ledgers_files(tmp_path):
    """`server device events DOOR --remove 2` while `server serve` is stopped (the broker of `provision serve` keeps
    the command for the door): the door applies it at its next `agent sync` but gets no full bundle. Its search no
    longer found Bob, yet his name and e-mail stayed in the search index's FTS5 segments (SQLite 3.40: no FTS5
    secure-delete) until a full bundle replaced the file. Now the door prunes them from the index file between
    messages: after the sync (and a checkpoint) the words are in none of the device folder's files."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    tg(home, "server", "event", "create", "--name", "Gala", "--start", "2026-01-01 10:00", "--end", "2030-01-01 23:00",
       "--zone", "1=Hall", "--category", "1=Adult")
    tg(home, "server", "order", "add", "--event", "2", "--buyer", "Bob Quaxwrightson", "--email",
       "bob.quaxwrightson@zyphmail.example", "--ticket", "category=Adult,zone=Hall")
    with organiser_running(home) as running:
        running.enroll(home, "north", events="1,2")
        door = _device_id(home / "device")
        assert _until_idle(home)["rejected"] == []
        assert _found(home, "Quaxwrightson")
        running.stop_serve()                           # the evening is over: the organiser's sync server is off
        tg(home, "server", "device", "events", door, "--remove", "2")
        tg(home, "agent", "sync", "--for", "8", ok=False)        # the command arrives; no server, no full bundle
    assert _found(home, "Quaxwrightson") == [] and _found(home, "Ann Martin")
    files = sorted(f for f in (home / "device").iterdir() if f.name.startswith("ledger.sqlite"))
    import sqlite3
    conn = sqlite3.connect(home / "device" / "ledger.sqlite")
    for index in (f for f in files if f.name.endswith(".db")):
        conn.execute("ATTACH DATABASE ? AS idx", (str(index),))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    left = {f.name: n for f in (home / "device").iterdir() if f.is_file()
            for n in [f.read_bytes().count(b"wrightson") + f.read_bytes().count(b"zyphmail")] if n}
    assert left == {}, f"event 2's buyer is still in {left}"


@needs_broker
def _gate_moved_from_event_1_to_2(tmp_path, server: tuple[str, ...], broker) -> None:
    """An organiser with events 1 and 2, gate-1 registered for 1, then `device events --add 2`, `--remove 1`."""
    tg(tmp_path, *server, "init", "--org", "acme", "--name", "Acme")
    for name in ("Fri", "Sat"):
        tg(tmp_path, *server, "event", "create", "--name", name, "--start", "2026-12-01 10:00",
           "--end", "2026-12-01 23:00")
    tg(tmp_path, *server, "device", "register", "gate-1", "--events", "1")
    on_broker = ("--broker", f"127.0.0.1:{broker.port}")
    tg(tmp_path, *server, "device", "events", "gate-1", "--add", "2", *on_broker)
    tg(tmp_path, *server, "device", "events", "gate-1", "--remove", "1", *on_broker)


def test_the_commands_list_says_what_was_added_and_removed_never_all(tmp_path, broker):
    """`device commands` after `device events --add 2`: 'added=2 events=1,2 removed=-'. It said 'removed=all' (an
    empty list read as a setting's 'all zones'), as if the device had lost every event."""
    data = tmp_path / "server"
    server = ("server", "--data", str(data))
    _gate_moved_from_event_1_to_2(tmp_path, server, broker)
    listed = tg(tmp_path, *server, "device", "commands", "gate-1").stdout
    assert "events added=2 events=1,2 removed=-" in listed and "events added=- events=2 removed=1" in listed, listed
    assert "=all" not in listed
