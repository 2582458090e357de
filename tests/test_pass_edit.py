"""`ticketgate server pass edit PASS` and `pass remove PASS`, through the public commands (`ticketgate …`
subprocesses, real SQLite files and PostgreSQL, the broker `provision serve` runs, `server serve`, real doors).
Before, a pass could be created and listed only: never renamed, given or taken an event, or removed, and `server
event remove` of an event a pass opened was refused with nothing to get past it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_device_events import _device_id, _found, _second_event, _until_idle
from tests.test_event_remove import store_opts  # noqa: F401  (the fixture: each test on SQLite and PostgreSQL)
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
NO_BROKER = ("--broker", "127.0.0.1:1", "--timeout", "2")
DAY = 86400


def _refused(run, *args: str) -> str:
    proc = run(*args, ok=False)
    assert proc.returncode == 1 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, \
        (args, proc.stdout, proc.stderr)
    return proc.stderr


def _days(offset_from: int, offset_to: int) -> tuple[str, str]:
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(time.time() + d * DAY)) for d in (offset_from, offset_to))
    return f"{start} 10:00", f"{end} 23:00"


def test_a_sold_pass_gains_events_loses_only_those_over_and_is_removed_once_its_holders_are_refunded(
        tmp_path, store_opts):
    """Saturday (over), Sunday and Monday (to come); the Weekend pass opens Saturday and Sunday, sold to Pat. It is
    renamed and gains Monday; it loses Saturday (over: holders lose nothing) but not Sunday while Pat's order is
    paid, and is not removed: each refusal names the order to refund, and changes nothing. `event remove` of Sunday,
    refused while the pass opens it, names `pass edit`; once Pat is refunded and the pass no longer opens Sunday, the
    removal goes through. A removed pass leaves the list (kept with --removed) and takes no order. Both stores."""
    def srv(*args: str, ok: bool = True):
        return tg(tmp_path, "server", *store_opts, *args, ok=ok)
    srv("init", "--org", "acme", "--name", "Acme")
    srv("event", "create", "--name", "Sat", "--start", "2026-10-03 10:00", "--end", "2026-10-03 23:00")
    srv("event", "create", "--name", "Sun", "--start", _days(1, 1)[0], "--end", _days(1, 1)[1])
    srv("event", "create", "--name", "Mon", "--start", _days(2, 2)[0], "--end", _days(2, 2)[1])
    assert "pass 4 created" in srv("pass", "create", "--name", "Weekend", "--events", "1,2").stdout
    pat = json.loads(srv("order", "add", "--event", "4", "--buyer", "Pat Pass", "--json").stdout)["number"]

    said = srv("pass", "edit", "4", "--name", "Long weekend", "--add-event", "3").stdout
    assert ("pass 4 (Long weekend): renamed from 'Weekend'; opens event 3 too; events 1,2,3; devices online to a "
            "running `ticketgate server serve` learn it at once, the others when they next say hello to it (or with "
            "`ticketgate server push`)") in said, said
    said = srv("pass", "edit", "4", "--remove-event", "1").stdout          # Saturday is over
    assert ("no longer opens event 1 (its doors refuse the pass's tickets; they no longer count in its ticket list, "
            "their entries there stay in the reports); events 2,3") in said, said
    said = _refused(srv, "pass", "edit", "4", "--remove-event", "2")
    assert (f"pass 4 (Long weekend) not changed: pass 4 is sold in 1 order(s) still valid and event 2 is not over "
            f"(its holders paid for it): refund the 1 paid one(s) (`ticketgate server order refund NUMBER`: {pat}) "
            "first, or keep the event in the pass") in said, said
    assert "events 2, 3 are not over" in _refused(srv, "pass", "edit", "4", "--events", "1")
    assert "not removed: pass 4 is sold in 1 order(s) still valid and events 2, 3 are not over" in \
        _refused(srv, "pass", "remove", "4")
    said = _refused(srv, "event", "remove", "2", *NO_BROKER)
    assert ("pass 4 (Long weekend) opens event 2: its holders' tickets count for it; a pass's event is not removed: "
            "take it out of the pass first (`ticketgate server pass edit 4 --remove-event 2`) or remove the pass "
            "(`ticketgate server pass remove 4`)") in said, said
    assert json.loads(srv("pass", "list", "--json").stdout) == [
        {"pass_id": 4, "name": "Long weekend", "event_ids": [2, 3], "organiser": "acme"}]

    # what the command cannot do is named, nothing changed
    assert "pass 4 opens event 3 already (events 2,3)" in _refused(srv, "pass", "edit", "4", "--add-event", "3")
    assert "pass 4 does not open event 1" in _refused(srv, "pass", "edit", "4", "--remove-event", "1")
    assert "give one of --events, --add-event, --remove-event" in _refused(
        srv, "pass", "edit", "4", "--add-event", "1", "--remove-event", "2")
    assert "`ticketgate server pass remove 4`" in _refused(srv, "pass", "edit", "4", "--events", "")
    assert "nothing to change" in _refused(srv, "pass", "edit", "4")
    assert "nothing to change: pass 4 is named 'Long weekend' and opens events 2,3" in _refused(
        srv, "pass", "edit", "4", "--name", "Long weekend", "--events", "3,2")
    assert "no event 9" in _refused(srv, "pass", "edit", "4", "--add-event", "9")
    assert "no pass 3" in _refused(srv, "pass", "edit", "3", "--name", "X")       # an event, not a pass

    srv("order", "refund", pat, "--reason", "Sunday cancelled")
    edited = json.loads(srv("pass", "edit", "4", "--remove-event", "2", "--json").stdout)
    assert (edited["event_ids"], edited["removed"], edited["added"]) == ([3], [2], [])
    assert "event 2 (Sun) removed" in srv("event", "remove", "2", *NO_BROKER).stdout

    said = srv("pass", "remove", "4").stdout
    assert "pass 4 (Long weekend) removed: no door admits its tickets and it takes no orders; its orders stay" in said
    assert srv("pass", "list").stdout.strip() == "no passes"
    assert "Long weekend  events [3]  (removed " in srv("pass", "list", "--removed").stdout
    assert "pass 4 was removed (`ticketgate server pass remove`): it takes no orders" in _refused(
        srv, "order", "add", "--event", "4", "--buyer", "Late Larry")
    assert "pass 4 was removed" in _refused(srv, "pass", "edit", "4", "--name", "Again")
    assert "pass 4 was removed" in _refused(srv, "pass", "remove", "4")
    assert "pass 4 was removed" in _refused(srv, "device", "register", "gate-1", "--events", "4")
    assert json.loads(srv("order", "show", pat, "--json").stdout)["status"] == "refunded"
    # the removed event leaves no pass and takes none
    assert "event 2 was removed" in _refused(srv, "pass", "create", "--name", "Sun pass", "--events", "2")


def test_a_pass_given_an_event_reaches_devices_of_that_event_with_its_tickets(store):
    """The store's side of `pass edit --add-event`: a device of the event gained, holding everything up to now, gets
    the event's pass list and the pass's tickets and flags (issued before) in its next delta. An event taken away
    leaves the pass's current events and the event's pass list, and is remembered as opened once (doors' entries
    there are still taken); given back, it opens it again. A pass removed leaves the bundles, not the reports. Both
    stores."""
    now = time.time()
    sat = store.create_event("fest", "Sat", now - DAY, now + DAY)
    sun = store.create_event("fest", "Sun", now, now + 2 * DAY)
    weekend = store.create_pass("fest", "Weekend", [sat])
    order = store.add_order("fest", weekend, "Pat Pass")
    ticket = order["tickets"][0]["ticket_key"]
    store.block_ticket(ticket, "lost wristband")
    since = store.version("fest")
    assert list(store.tickets_for_event(sun, since)) == []
    store.edit_pass("fest", weekend, event_ids=[sat, sun])
    assert [p["pass_id"] for p in store.event(sun)["passes"]] == [weekend]
    assert store.event_version(sun) > since and store.event_version(sat) > since
    assert [(r["ticket_key"], r["pass_id"]) for r in store.tickets_for_event(sun, since)] == [(ticket, weekend)]
    assert [(b["ticket_key"], b["reason"]) for b in store.blocks_for_event(sun, since)] == [(ticket, "lost wristband")]
    store.edit_pass("fest", weekend, event_ids=[sun])          # taken from Saturday: doors there refuse it
    assert store.target(weekend)["event_ids"] == [sun] and store.event(sat)["passes"] == []
    assert store.targets_of_event(sat) == [sat] and store.events_opened(weekend) == [sat, sun]
    taken = store.events_taken(weekend)           # a door's entry there dated after: refused
    assert list(taken) == [sat] and now <= taken[sat] <= time.time() and store.events_taken(sun) == {}
    store.edit_pass("fest", weekend, event_ids=[sat, sun])     # and given it back
    assert [p["pass_id"] for p in store.event(sat)["passes"]] == [weekend] and store.events_taken(weekend) == {}
    store.remove_pass("fest", weekend)
    gone = store.pass_of("fest", weekend)["removed_at"]
    assert store.events_taken(weekend) == {sat: gone, sun: gone}
    assert store.event(sun)["passes"] == [] and store.passes("fest") == []
    assert list(store.tickets_for_event(sun)) == []                  # its buyers leave the devices' bundles
    assert store.count_tickets(sun) == 1                             # and stay in the reports
    assert store.target(weekend)["event_ids"] == [sat, sun]          # its orders still name their events


@needs_broker
def test_doors_follow_the_pass_as_the_organiser_changes_it(tmp_path):
    """A Weekend pass opening events 1 and 2, sold to Pat; a door of event 2 and a door of event 3 (all open now).
    `pass edit --add-event 3` and the door's next sync (a delta since what it holds): the door of event 3 receives
    Pat's ticket (it got none: the ticket had not changed) and admits it (it refused it before). Pat refunded, `pass
    edit --remove-event 2` and a sync: the door of event 2 refuses Pat's ticket as not of its events (it kept the
    pass's old events and said 'revoked', as if the pass still opened event 2) and no longer holds Pat's name; Pat's
    entry there, recorded before and uploaded after, is taken. `pass remove` and a sync: the door of event 3 refuses
    it too and forgets Pat."""
    home, door2, door3 = tmp_path / "home", tmp_path / "door2", tmp_path / "door3"
    for folder in (home, door2, door3):
        folder.mkdir()
    _event_now(home)
    _second_event(home)
    start, end = _days(-1, 7)
    tg(home, "server", "event", "create", "--name", "Third", "--start", start, "--end", end)
    tg(home, "server", "pass", "create", "--name", "Weekend", "--events", "1,2")
    order = json.loads(tg(home, "server", "order", "add", "--event", "4", "--buyer", "Pat Pass", "--json").stdout)
    pat = json.loads(tg(home, "server", "ticket", "show", order["tickets"][0]["ticket_key"], "--json").stdout)["payload"]

    def scan(door: Path) -> dict:
        return json.loads(tg(door, "agent", "scan", "--json", pat).stdout)
    with organiser_running(home) as running:
        running.enroll(door2, "south", events="2")
        running.enroll(door3, "east", events="3")
        for door in (door2, door3):
            assert _until_idle(door)["rejected"] == []
        assert scan(door2)["verdict"] == "accepted"
        assert scan(door3)["verdict"] == "wrong_event" and _found(door3, "Pat Pass") == []

        tg(home, "server", "pass", "edit", "4", "--add-event", "3")      # the door's next hello: a delta
        assert _until_idle(door3)["rejected"] == []
        assert _found(door3, "Pat Pass"), "the door of event 3 did not receive the pass's ticket"
        assert scan(door3)["verdict"] == "accepted"

        tg(home, "server", "order", "refund", order["number"], "--reason", "Sunday cancelled")
        tg(home, "server", "pass", "edit", "4", "--remove-event", "2")
        synced = _until_idle(door2)
        assert synced["rejected"] == [] and synced["outbox_pending"] == 0, synced
        said = scan(door2)
        assert (said["verdict"], said["detail"]) == ("wrong_event", "pass 4 is not on this device (not one of its "
                                                     "events, or removed by the organiser)"), said
        assert _found(door2, "Pat Pass") == [] and _found(door3, "Pat Pass")    # the buyer's name left door 2 only
        # Pat's entry at event 2, recorded while the pass opened it and uploaded after: taken, not refused
        uploads = json.loads(tg(home, "server", "device", "uploads", _device_id(door2 / "device"), "--json").stdout)
        assert [(u["event_id"], u.get("kind")) for u in uploads] == [(2, "entry")], uploads
        assert json.loads(tg(home, "server", "refusals", "--json").stdout) == []

        tg(home, "server", "pass", "remove", "4")                 # Pat refunded: the pass taken off entirely
        assert _until_idle(door3)["rejected"] == []
        assert scan(door3)["verdict"] == "wrong_event" and _found(door3, "Pat Pass") == []
    tg(door2, "agent", "status")             # the ledger checkpointed and closed
    left = [f.name for f in (door2 / "device").iterdir() if f.is_file() and b"Pat Pass" in f.read_bytes()]
    assert left == [], f"the pass holder's name is still in {left} of the door of event 2"


@needs_broker
def test_a_pass_given_a_later_event_opens_it_with_the_qr_printed_before(tmp_path):
    """A club pass opening last week's match, sold to Pat, QR printed then (valid until that match's end + 6 h); the
    organiser gives the pass tonight's match. The door of tonight held Pat's QR to its printed window and refused it
    as expired; it judges a pass counted for one of its events by that event's window, as the organiser's current
    pass (the signed bundle) says, and admits Pat. A QR of a pass that does not open tonight stays refused."""
    home, door = tmp_path / "home", tmp_path / "door"
    for folder in (home, door):
        folder.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Club")
    start, end = _days(-9, -8)
    tg(home, "server", "event", "create", "--name", "Last week", "--start", start, "--end", end)
    start, end = _days(-1, 1)
    tg(home, "server", "event", "create", "--name", "Tonight", "--start", start, "--end", end)
    tg(home, "server", "pass", "create", "--name", "Club pass", "--events", "1")
    order = json.loads(tg(home, "server", "order", "add", "--event", "3", "--buyer", "Pat Pass", "--json").stdout)
    printed = json.loads(tg(home, "server", "ticket", "show", order["tickets"][0]["ticket_key"], "--json").stdout)
    with organiser_running(home) as running:
        running.enroll(door, "north", events="2")
        assert _until_idle(door)["rejected"] == []
        assert json.loads(tg(door, "agent", "scan", "--json", printed["payload"]).stdout)["verdict"] == "wrong_event"
        tg(home, "server", "pass", "edit", "3", "--add-event", "2")
        assert _until_idle(door)["rejected"] == []
        said = json.loads(tg(door, "agent", "scan", "--json", printed["payload"]).stdout)
        assert said["verdict"] == "accepted", said
