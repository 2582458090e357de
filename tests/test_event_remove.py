"""`ticketgate server event remove EVENT`: the end of an event's life, through the public commands (`ticketgate …`
subprocesses, real SQLite files and PostgreSQL, the broker `provision serve --start-broker` runs, `server serve`,
real doors). Before, no command removed an event: a test event made by mistake, one the venue cancelled or one
long over stayed on the server and on every device with its tickets and buyers' names."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for
from tests.qa_organiser import _start, organiser_running, tg
from tests.test_device_events import _device_id, _found, _second_event, _until_idle, _verdict
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
NO_BROKER = ("--broker", "127.0.0.1:1", "--timeout", "2")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_opts(request, tmp_path) -> tuple[str, ...]:
    if request.param == "sqlite":
        return ()
    return ("--data", str(tmp_path / "server"), "--db", request.getfixturevalue("pg_url"))


def _refused(run, *args: str) -> str:
    proc = run(*args, ok=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    return proc.stderr


def test_removing_is_refused_while_it_would_lose_money_or_data_and_a_removed_event_stays_in_the_reports(
        tmp_path, store_opts):
    """Refused on one line naming the command to run first, nothing changed: orders still paid or pending of an
    event not over, an open desk shift, a device holding only that event, a pass opening it. A test event and an
    event over (its paid order kept) are removed: gone from the event list, the devices' registrations, `push`, new
    orders; still in the sales report and the list of removed events. Both stores."""
    def srv(*args: str, ok: bool = True):
        return tg(tmp_path, "server", *store_opts, *args, ok=ok)
    srv("init", "--org", "acme", "--name", "Acme")
    day, now = 86400, time.time()
    open_from, open_to = (time.strftime("%Y-%m-%d", time.gmtime(now + d * day)) for d in (-1, 7))
    srv("event", "create", "--name", "Week", "--start", f"{open_from} 10:00", "--end", f"{open_to} 23:00",
        "--category", "1=Adult")
    srv("event", "create", "--name", "Old", "--start", "2026-10-01 10:00", "--end", "2026-10-01 23:00",
        "--category", "1=Adult")
    srv("event", "create", "--name", "Typo", "--start", "2027-05-01 10:00", "--end", "2027-05-01 23:00")
    srv("event", "create", "--name", "Fri", "--start", "2027-06-01 10:00", "--end", "2027-06-01 23:00")
    srv("pass", "create", "--name", "Weekend", "--events", "4")
    srv("price", "set", "2", "--category", "1", "--cents", "2500", "--currency", "EUR")
    paid = json.loads(srv("order", "add", "--event", "1", "--buyer", "Ann Martin", "--json").stdout)["number"]
    pending = json.loads(srv("order", "add", "--event", "1", "--buyer", "Cy Pend", "--pending", "--json").stdout)["number"]
    old = json.loads(srv("order", "add", "--event", "2", "--buyer", "Dan Old", "--ticket", "category=1",
                         "--json").stdout)["number"]
    srv("device", "register", "gate-1", "--events", "1")
    srv("device", "register", "gate-all")
    srv("device", "register", "desk-1", "--events", "1,2", "--role", "kiosk")
    during = time.mktime((2026, 10, 1, 12, 0, 0, 0, 0, 0))
    sold = str(_desk_sale(tmp_path, store_opts, "s1", during).order_number)
    shift = json.loads(srv("till", "open", "desk-1", "--float-cents", "1000", "--json").stdout)["shift_id"]

    said = _refused(srv, "event", "remove", "1", *NO_BROKER)
    assert (f"event 1 (Week) not removed: event 1 is not over and has 2 order(s) still valid: refund the 1 paid "
            f"one(s) (`ticketgate server order refund NUMBER`: {paid}) and cancel the 1 pending one(s) (`ticketgate "
            f"server order cancel NUMBER`: {pending}) first") in said, said
    srv("order", "refund", paid, "--reason", "venue closed")
    srv("order", "cancel", pending, "--reason", "venue closed")
    said = _refused(srv, "event", "remove", "1", *NO_BROKER)
    assert f"desk desk-1 holding event 1 has shift {shift} open: close it first (`ticketgate server till close " \
           f"{shift} --counted-cents CENTS`" in said, said
    srv("till", "close", str(shift), "--counted-cents", "1000")
    said = _refused(srv, "event", "remove", "1", *NO_BROKER)
    assert "device gate-1 holds event 1 alone: give it another event first (`ticketgate server device events gate-1 " \
           "--add EVENT --remove 1`) or take it out of service (`ticketgate server device revoke gate-1`)" in said, said
    assert "pass 5 (Weekend) opens event 4" in _refused(srv, "event", "remove", "4", *NO_BROKER)
    assert "no event 9" in _refused(srv, "event", "remove", "9", *NO_BROKER)
    assert [e["event_id"] for e in json.loads(srv("event", "list", "--json").stdout)] == [2, 1, 3, 4]

    # a test event made by mistake; no broker to tell the devices: removed all the same, and the output says when
    # they learn it
    proc = srv("event", "remove", "3", *NO_BROKER)
    assert "event 3 (Typo) removed" in proc.stdout and "they forget it when they next say hello" in proc.stdout, \
        proc.stdout
    assert "was removed already" in _refused(srv, "event", "remove", "3", *NO_BROKER)
    assert "event 3 was removed" in _refused(srv, "push", "--event", "3", *NO_BROKER)
    assert "event 3 was removed" in _refused(srv, "device", "events", "gate-1", "--add", "3", *NO_BROKER)
    assert "event 3 was removed" in _refused(srv, "order", "add", "--event", "3", "--buyer", "Eve")

    # an event over: removed with its paid order, which the sales report still counts
    proc = srv("event", "remove", "2", *NO_BROKER, "--json")
    assert json.loads(proc.stdout)["devices_not_told"] == ["desk-1", "gate-all"], proc.stdout
    assert [e["event_id"] for e in json.loads(srv("event", "list", "--json").stdout)] == [1, 4]
    listed = srv("event", "list", "--removed").stdout
    assert "Old" in listed and "(removed " in listed, listed
    devices = {d["device_id"]: d["events"] for d in json.loads(srv("devices", "--json").stdout)}
    assert devices == {"desk-1": [1], "gate-1": [1], "gate-all": []}
    commands = json.loads(srv("device", "commands", "desk-1", "--json").stdout)
    assert [(c["args"]["removed"], c["status"].split(" (")[0]) for c in commands] == [([2], "not sent")]
    sales = json.loads(srv("report", "sales", "--event", "2", "--json").stdout)
    assert [(x["order"], x["event"], x["total_cents"]) for x in sales["lines"]] == [(sold, "Old", 2500)], sales
    z = json.loads(srv("till", "z-report", str(shift), "--json").stdout)
    assert "2500" in json.dumps(z), z
    assert json.loads(srv("order", "show", old, "--json").stdout)["status"] == "paid"
    late = _desk_sale(tmp_path, store_opts, "s2", during)      # a kiosk that has not forgotten it yet
    assert (late.ok, late.reason_code) == (False, "sales_closed") and "event 2 was removed" in late.reason, late


def _desk_sale(tmp_path: Path, store_opts: tuple[str, ...], request_id: str, at: float):
    """desk-1 asks to sell one Adult ticket of event 2 at `at` (cash, online: the store's sale, as `server serve`
    makes it for a kiosk's request): the answer."""
    from agent.sync.messages import SaleLine, SaleRequest
    from server_stub.store import open_store
    data = Path(store_opts[1]) if store_opts else tmp_path / ".local" / "share" / "ticketgate" / "server"
    store = open_store(data, create=False, db=store_opts[3] if store_opts else None)
    try:
        answer = store.sell("acme", "desk-1", SaleRequest("acme", "desk-1", request_id, 2, (SaleLine(1, 1),),
                                                          buyer_name="Eve Desk"), now=at)
        assert answer.ok or request_id != "s1", answer
        return answer
    finally:
        store.close()


@needs_broker
def test_devices_forget_a_removed_event_after_uploading_what_they_recorded_for_it(tmp_path):
    """A door holding every event, offline, let Bob in at event 2; a door registered for events 1 and 2 is online.
    The venue cancels event 2: Bob's order refunded, `server event remove 2`. The online door forgets event 2 at once
    (the signed `events` command); the offline one when it comes back (a resync waits in its session; the bundle of
    the events left replaces what it holds), after uploading Bob's entry. Neither holds Bob's name in any file, both
    refuse his ticket as not of their events, and event 1 still scans."""
    home, every, listed = tmp_path / "home", tmp_path / "every", tmp_path / "listed"
    for folder in (home, every, listed):
        folder.mkdir()
    ann = _event_now(home)
    bob = _second_event(home)
    with organiser_running(home) as running:
        running.enroll(every, "north")
        running.enroll(listed, "south", events="1,2")
        online_id = _device_id(listed / "device")
        for device in (every, listed):
            assert _until_idle(device)["rejected"] == []
            assert _found(device, "Bob Stone")
        assert _verdict(every, bob) == "accepted"                   # offline: not uploaded yet
        number = json.loads(tg(home, "server", "order", "find", "Bob Stone", "--json").stdout)[0]["number"]
        tg(home, "server", "order", "refund", number, "--reason", "event cancelled")
        online = _start(listed, "agent", "sync", "--for", "90")
        try:
            said = tg(home, "server", "event", "remove", "2").stdout
            assert "event 2 (Gala) removed" in said and "not told" not in said, said
            assert wait_for(lambda: _found(listed, "Bob Stone") == [], 30), "the online door still holds event 2"
            commands = json.loads(tg(home, "server", "device", "commands", online_id, "--json").stdout)
            assert wait_for(lambda: json.loads(tg(home, "server", "device", "commands", online_id, "--json").stdout)
                            [0]["status"] == "applied", 15), commands
        finally:
            stop_process(online)
        synced = _until_idle(every)
        assert synced["rejected"] == [] and synced["outbox_pending"] == 0, synced
        for device in (every, listed):
            assert _found(device, "Bob Stone") == [] and _found(device, "Ann Martin")
            said = json.loads(tg(device, "agent", "scan", "--json", bob).stdout)
            assert (said["verdict"], said["detail"]) == ("wrong_event", "event 2 is not on this device (not one of "
                                                         "its events, or removed by the organiser)"), said
            assert _verdict(device, ann[0]) == "accepted"
        entries = json.loads(tg(home, "server", "device", "uploads", _device_id(every / "device"), "--json").stdout)
        assert any(u.get("event_id") == 2 for u in entries), entries
    for device in (every, listed):
        tg(device, "agent", "status")             # the ledger checkpointed and closed
        left = [f.name for f in (device / "device").iterdir() if f.is_file() and b"Bob Stone" in f.read_bytes()]
        assert left == [], f"event 2's buyer is still in {left} of {device.name}"


@needs_broker
def test_a_door_forgets_the_last_event_of_its_organiser(tmp_path):
    """The organiser's only event is cancelled and removed: a door holding every event was left with it (no event
    to send, so the server sent nothing). Its hello now gets a bundle of no event: Ann's tickets and name are gone
    from the door, which uploaded her entry first."""
    home, door = tmp_path / "home", tmp_path / "door"
    for folder in (home, door):
        folder.mkdir()
    ann = _event_now(home)
    with organiser_running(home) as running:
        running.enroll(door, "north")
        assert _until_idle(door)["rejected"] == [] and _found(door, "Ann Martin")
        assert _verdict(door, ann[0]) == "accepted"
        number = json.loads(tg(home, "server", "order", "find", "Ann Martin", "--json").stdout)[0]["number"]
        tg(home, "server", "order", "refund", number, "--reason", "event cancelled")
        tg(home, "server", "event", "remove", "1")
        synced = _until_idle(door)
        assert synced["rejected"] == [] and synced["outbox_pending"] == 0, synced
        assert _found(door, "Ann Martin") == []
        assert _verdict(door, ann[1]) == "wrong_event"
        entries = json.loads(tg(home, "server", "device", "uploads", _device_id(door / "device"), "--json").stdout)
        assert any(u.get("event_id") == 1 for u in entries), entries
    tg(door, "agent", "status")
    left = [f.name for f in (door / "device").iterdir() if f.is_file() and b"Ann Martin" in f.read_bytes()]
    assert left == [], f"the event's buyer is still in {left}"
