"""`server ticket show KEY` and `server order show NUMBER`, what the organiser looks up when a buyer calls ("it says
already used"), say whether and when each ticket was let in: its check-in state as the guest list has it (inside,
left, not checked in), its entries and last scan; a pass's at each of its events. They showed the tickets, their
flags and QR only. Real
`provision serve`, mosquitto and `server serve`, through the public commands."""
from __future__ import annotations

import json

import pytest

from server_stub.cli_output import when
from tests.broker import mosquitto_binary
from tests.qa_organiser import tg
from tests.test_qa_skew import _event_now
from tests.test_qa_walks import _door, _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_ticket_show_says_whether_and_when_the_ticket_was_let_in(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    with _door(home):
        _sync(home)
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
    rows = {r["ticket"]: r for r in json.loads(tg(home, "server", "report", "participants", "--json").stdout)}
    (admitted,) = [k for k, r in rows.items() if r["check_in"] == "inside"]
    other = next(k for k in rows if k != admitted)
    shown = json.loads(tg(home, "server", "ticket", "show", admitted, "--json").stdout)
    (at_event,) = shown["check_in"]
    assert (at_event["check_in"], at_event["entries"]) == ("inside", 1) and at_event["last_scan_at"]
    assert at_event["event_id"] == rows[admitted]["event_id"]
    text = tg(home, "server", "ticket", "show", admitted).stdout
    assert f"check_in: inside (1 entry, last scan {when(at_event['last_scan_at'])})" in text, text
    assert "check_in: not checked in" in tg(home, "server", "ticket", "show", other).stdout

    number = rows[admitted]["order"]
    lines = {line.split()[1]: line for line in tg(home, "server", "order", "show", number).stdout.splitlines()
             if line.startswith("  ticket ")}
    assert lines[admitted].endswith(f"inside (1 entry, last scan {when(at_event['last_scan_at'])})"), lines
    assert lines[other].endswith("not checked in"), lines
    tickets = json.loads(tg(home, "server", "order", "show", number, "--json").stdout)["tickets"]
    assert {t["ticket_key"]: [c["check_in"] for c in t["check_in"]] for t in tickets} == {
        admitted: ["inside"], other: ["not checked in"]}
