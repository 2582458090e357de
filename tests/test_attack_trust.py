"""A stolen door acting beyond itself, with its real broker login (a raw paho client), set up as the guides say
(`server init`, two events, `provision serve` with its broker and ACL, `server serve`, one door per event): what it
says is checked against what it is before the organiser's figures take it. Each test fails on the defect it names."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync.messages import RefusalItem
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_attack_scope import two_events    # noqa: F401  (the fixture)
from tests.test_qa_attacks import StolenLogin, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _stats(org, *args: str) -> dict:
    return json.loads(tg(org, "server", "stats", "--json", *args).stdout)


def test_attack_a_door_uploads_refusals_under_another_event(two_events):
    """The stolen door of event 1 uploads 5 `already_used` refusals naming event 2, and one naming its own event.
    Before: taken from any device of the organiser as they came: event 2's figures said 5 refused as already used
    (double entries at a gate of event 2 that never scanned). Now a refusal counts only under an event the device
    holds: the 5 count under event 1 (the door's only event), none under event 2."""
    thief = StolenLogin(two_events.door)
    try:
        padding = [RefusalItem("already_used", two_events.ticket, 2, time.time() - i, thief.device, "south",
                               scan_uuid=str(uuid.uuid4())).to_wire() for i in range(5)]
        own = RefusalItem("already_used", "PX-1", 1, time.time(), thief.device, "north").to_wire()
        thief.upload(padding + [own])
        assert wait_for(lambda: sum(_stats(two_events.org)["refusals"].values()) == 6, 30)
    finally:
        thief.close()
    event2 = _stats(two_events.org, "--event", "2")
    assert event2["refusals"] == {} and event2["double_entries"]["refused_already_used"] == 0, event2
    assert _stats(two_events.org, "--event", "1")["double_entries"]["refused_already_used"] == 6

