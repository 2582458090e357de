"""A stolen door acting beyond itself, with its real broker login (a raw paho client), set up as the guides say
(`server init`, two events, `provision serve` with its broker and ACL, `server serve`, one door per event): what it
says is checked against what it is before the organiser's figures take it. Each test fails on the defect it names."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync.messages import ActionItem, RefusalItem
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_attack_scope import two_events    # noqa: F401  (the fixture)
from tests.test_qa_attacks import ROOT, StolenLogin, field, tg    # noqa: F401  (`field`: the fixture)

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
        padding = [RefusalItem("already_used", two_events.ticket, 2, time.time() - i, thief.device, "north",
                               scan_uuid=str(uuid.uuid4())).to_wire() for i in range(5)]
        own = RefusalItem("already_used", "PX-1", 1, time.time(), thief.device, "north").to_wire()
        thief.upload(padding + [own])
        assert wait_for(lambda: sum(_stats(two_events.org)["refusals"].values()) == 6, 30)
    finally:
        thief.close()
    event2 = _stats(two_events.org, "--event", "2")
    assert event2["refusals"] == {} and event2["double_entries"]["refused_already_used"] == 0, event2
    assert _stats(two_events.org, "--event", "1")["double_entries"]["refused_already_used"] == 6


def test_walk_a_pretix_ticket_admitted_counts_under_not_issued_here_not_every_zone(field):
    """A door trusts a pretix event mapped onto event 1 (item 21 -> zone 1, as docs/pretix.md says) and admits a
    pretix ticket and one of ours (zone 1); it syncs. Before: `server stats` counted the pretix entry under zone
    `all` (a ticket valid in every zone), which it is not: the server knows nothing of the pretix mapping. Now it is
    counted as a ticket not issued here (`issued: false`), and said so."""
    vectors = json.loads((ROOT / "tests" / "vectors" / "pretix-sig1.json").read_text())
    event_json = field.door / "pretix-event.json"
    event_json.write_text(json.dumps(vectors["event_resource"]))
    tg(field.door, "agent", "trust-pretix", str(event_json), "--event-id", "1", "--item", "21=1:1", "--subevent", "301=1")
    secret = next(v["secret"] for v in vectors["vectors"] if v["name"] == "item and subevent")
    for scanned in (secret, field.payload):
        assert json.loads(tg(field.door, "agent", "scan", "--json", scanned).stdout)["verdict"] == "accepted"
    tg(field.door, "agent", "sync", "--until-idle", "--for", "60")
    zones = _stats(field.org)["entries_per_zone"]
    assert sorted(zones, key=str) == sorted([{"event_id": 1, "zone": 1, "issued": True, "entries": 1, "exits": 0,
                                              "inside_now": 1},
                                             {"event_id": 1, "zone": None, "issued": False, "entries": 1, "exits": 0,
                                              "inside_now": 1}], key=str)
    text = tg(field.org, "server", "stats").stdout
    assert "1/1: 1" in text and "1/not issued here: 1" in text and "1/all" not in text, text


def test_attack_entries_for_made_up_ticket_keys_are_refused(field):
    """The stolen door uploads entries for keys no gate admits: numbers the server never issued (below the offline
    allotments' space) and text that is no ticket key, and one pretix key (`pretix:SEED`: the server cannot check it,
    taken as the gate saw it). Before: every key the server had not issued was taken: 2,000 made-up entries a batch
    padded the event's entries and `inside now` without bound. Now only a pretix key or an offline sale's id is
    taken unissued; the others are refused (`unknown ticket …`, listed by `server refusals`), never counted."""
    made_up = ["123456", "99999999999999", "0", "VIP-0001", "pretix:"]
    thief = StolenLogin(field.door)
    try:
        entries = [ActionItem(str(uuid.uuid4()), "entry", key, 1, "in", time.time(), thief.device, "north")
                   for key in made_up + ["pretix:Jz9mPq3sA"]]
        thief.upload([e.to_wire() for e in entries])
        assert wait_for(lambda: entries[0].scan_uuid in tg(field.org, "server", "refusals", "--json").stdout
                        or _stats(field.org)["entries"] > 1, 30)
    finally:
        thief.close()
    assert _stats(field.org)["entries"] == 1                  # the pretix ticket's
    refusals = tg(field.org, "server", "refusals").stdout
    assert all(f"unknown ticket {key}" in refusals for key in made_up), refusals
