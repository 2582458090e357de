"""`server staff actions`, "what Sam did, newest first", says when and where: each line carries the time (UTC, as
`device uploads` shows it), the event and the gate of the act. It printed the upload's number, the ticket and the
device only: the organiser could not tell a 20:05 entry from a 23:40 one. Real `provision serve`, mosquitto and
`server serve`, through the public commands."""
from __future__ import annotations

import json

import pytest

from server_stub.cli_output import when
from tests.broker import mosquitto_binary
from tests.qa_organiser import tg
from tests.test_qa_skew import _event_now
from tests.test_qa_walks import _door, _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_each_act_of_a_staff_member_is_listed_with_its_time_event_and_gate(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    sam = json.loads(tg(home, "server", "staff", "add", "--name", "Sam Okafor", "--role", "door", "--pin", "--json",
                        stdin="1234\n").stdout)["staff_id"]
    with _door(home):
        _sync(home)
        tg(home, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="1234\n")
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
    (entry,) = json.loads(tg(home, "server", "staff", "actions", "--staff", sam, "--json").stdout)
    assert entry["gate"] and entry["event_id"] is not None
    (line,) = tg(home, "server", "staff", "actions", "--staff", sam).stdout.splitlines()
    assert when(entry["at"]) in line and f"event {entry['event_id']}" in line and f"gate {entry['gate']}" in line, line
    assert f"ticket {entry['ticket_key']}" in line and "Sam Okafor" in line
