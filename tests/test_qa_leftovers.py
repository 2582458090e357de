"""Leftover defects of session L, each walked through the public commands (`ticketgate …` subprocesses, a fresh
HOME, the broker `provision serve --start-broker` runs, `server serve`, real SQLite files). Each test fails on the
defect it names."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _sync(device: Path) -> dict:
    said = tg(device, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout
    return json.loads(said.strip().splitlines()[-1])


@contextmanager
def enrolled_door(tmp_path: Path) -> Iterator[tuple[Path, Any, str, list[str]]]:
    """One folder for the organiser and a door "north" enrolled through the public commands, the event pushed and
    synced: (home, the running organiser, the door's device id, the event's ticket payloads)."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with organiser_running(home) as running:
        running.enroll(home, "north")
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        yield home, running, device, payloads


def _tickets(home: Path, number: str) -> dict[str, dict]:
    order = json.loads(tg(home, "server", "order", "show", number, "--json").stdout)
    return {t["ticket_key"]: t for t in order["tickets"]}


@needs_broker
def test_cancelling_an_order_keeps_the_exchange_of_one_of_its_tickets(tmp_path):
    """A kiosk exchanged a torn ticket; a door still offline let the torn one in after that (`server conflicts`: let
    in after the server revoked it, "exchanged: torn"). Then the buyer cancelled the order: `server order cancel`
    overwrote the exchanged ticket's revocation with "order cancelled" and the cancellation's time, so the order
    no longer said it was exchanged and the conflict vanished from `server conflicts` (the entry now came before
    the "revocation"). The first revocation stays; the cancellation revokes the tickets not revoked yet."""
    home, kiosk = tmp_path / "home", tmp_path / "kiosk"
    home.mkdir()
    kiosk.mkdir()
    _event_now(home)
    number = json.loads(tg(home, "server", "order", "find", "Ann Martin", "--json").stdout)[0]["number"]
    keys = sorted(_tickets(home, number))
    torn = json.loads(tg(home, "server", "ticket", "show", keys[0], "--json").stdout)["payload"]
    with organiser_running(home) as running:
        running.enroll(home, "north")
        running.enroll(kiosk, "desk", role="kiosk")
        tg(home, "server", "push")
        for device in (home, kiosk):
            assert _sync(device)["rejected"] == []
        tg(kiosk, "agent", "exchange", keys[0], "--reason", "torn")
        assert _sync(kiosk)["outbox_pending"] == 0
        # the door has not heard of the exchange yet: it lets the torn ticket in, and uploads that later
        assert json.loads(tg(home, "agent", "scan", "--json", torn).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
        before = json.loads(tg(home, "server", "conflicts", "--json").stdout)
        assert [(c["ticket_key"], c["revoked"]["reason"]) for c in before] == [(keys[0], "exchanged: torn")], before

        tg(home, "server", "order", "cancel", number, "--reason", "buyer asked")
        tickets = _tickets(home, number)
        assert tickets[keys[0]]["revoked_reason"] == "exchanged: torn", tickets
        assert [t["revoked_reason"] for k, t in tickets.items() if k != keys[0]] == ["buyer asked", "buyer asked"], tickets
        after = json.loads(tg(home, "server", "conflicts", "--json").stdout)
        assert after == before, (before, after)


def test_a_mistyped_event_given_to_import_orders_is_named_before_the_file_imported_already(tmp_path):
    """`server import-orders orders.csv --event 7` (the organiser meant 1; the file was imported for event 1 before)
    said "this file was imported already … give --again for that": the organiser, taking that advice, adds the
    orders twice (or believes event 7 has them). The event is checked first: "no event or pass 7", nothing added."""
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(tmp_path, "server", "event", "create", "--name", "Tonight", "--start", "2026-12-01 18:00", "--end",
       "2026-12-09 02:00", "--category", "1=Adult")
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("buyer_name;email;category;quantity;order_ref\nAnn Martin;ann@example.org;Adult;2;A\n")
    tg(tmp_path, "server", "import-orders", str(csv_file), "--event", "1")
    for extra in ([], ["--dry-run"], ["--again"]):
        typo = tg(tmp_path, "server", "import-orders", str(csv_file), "--event", "7", *extra, ok=False)
        assert typo.returncode == 1 and "no event or pass 7" in typo.stderr, (extra, typo.stderr)
        assert "imported already" not in typo.stderr and "imported" not in typo.stdout, (extra, typo)
    assert len(json.loads(tg(tmp_path, "server", "report", "participants", "--json").stdout)) == 2
    # the right event still finds the file imported already
    again = tg(tmp_path, "server", "import-orders", str(csv_file), "--event", "1", ok=False)
    assert again.returncode == 1 and "this file was imported already on " in again.stderr, again.stderr


@needs_broker
def test_a_wiped_door_refuses_to_scan_and_says_how_to_enrol_again(tmp_path):
    """After `provision wipe --yes` (device handed back), `agent scan` on it still ran: every ticket came out refused
    (it knows no event any more) and each refusal was queued under the device id "device" — what the next enrolment
    then uploads as its own. A wiped door now says it is not enrolled and holds no event data, how to enrol it
    again, exits non-zero and records nothing; enrolled again, it scans."""
    with enrolled_door(tmp_path) as (home, running, _device, payloads):
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
        tg(home, "provision", "wipe", "--yes")
        before = json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]
        for args in (["--json", payloads[1]], [payloads[1]]):
            refused = tg(home, "agent", "scan", *args, ok=False)
            assert refused.returncode == 1 and refused.stdout == "", (refused.stdout, refused.stderr)
            assert "wiped" in refused.stderr and "not enrolled" in refused.stderr, refused.stderr
            assert "ticketgate provision enroll --code" in refused.stderr, refused.stderr
        after = json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]
        assert after == before and after["checkins"] == 1, (before, after)   # the scan log stays, nothing added
        running.enroll(home, "north")
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[1]).stdout)["verdict"] == "accepted"


@needs_broker
def test_a_door_the_organiser_revoked_refuses_to_scan_once_wiped(tmp_path):
    """The organiser revoked a lost door (`server device revoke`); found again, it synced and its signed wipe wiped
    it. `agent scan` on it then queued refusals under the id "device"; now it is refused, recording nothing."""
    with enrolled_door(tmp_path) as (home, running, device, payloads):
        tg(home, "server", "device", "revoke", device)
        synced = tg(home, "agent", "sync", "--until-idle", "--for", "40", ok=False)
        assert "revoked by the organiser and wiped" in synced.stderr + synced.stdout, (synced.stdout, synced.stderr)
        before = json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]
        refused = tg(home, "agent", "scan", "--json", payloads[0], ok=False)
        assert refused.returncode == 1 and refused.stdout == "", (refused.stdout, refused.stderr)
        assert "wiped (revoked by the organiser)" in refused.stderr and "provision enroll" in refused.stderr, \
            refused.stderr
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"] == before
