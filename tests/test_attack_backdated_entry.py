"""A device's date is its word below the server's clock: an entry uploaded after the organiser cancelled (refunded)
its ticket, dated before the cancellation, sat before it and `server conflicts` did not list it: a stolen door's
login (or a door offline whose clock was set back) let a refunded buyer's ticket in and the organiser saw a ticket
used before its refund, nothing to look at. An entry the server received after the cancellation is now listed as a
ticket admitted and cancelled, whatever its date. Real `provision serve` broker and `server serve`."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync.messages import ActionItem
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.qa_organiser import tg
from tests.test_qa_attacks import StolenLogin, field  # noqa: F401 (the fixture)

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_attack_an_entry_dated_before_its_tickets_cancellation_and_uploaded_after_it_is_listed(field):  # noqa: F811
    number = json.loads(tg(field.org, "server", "order", "find", "Ann", "--json").stdout)[0]["number"]
    tg(field.org, "server", "order", "cancel", number, "--reason", "refunded")
    thief = StolenLogin(field.door)
    try:
        back = time.time() - 600                            # ten minutes before the cancellation
        entry = ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", back, thief.device, "north")
        thief.upload([entry.to_wire()])
        assert wait_for(lambda: json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"] == 1, 30)
    finally:
        thief.close()
    listed = [c for c in json.loads(tg(field.org, "server", "conflicts", "--json").stdout)
              if c["ticket_key"] == field.ticket]
    assert len(listed) == 1, listed                         # before: [] (the entry dated before the cancellation)
    revoked = listed[0]["revoked"]
    assert revoked is not None and revoked["dated_back"] is True and not revoked["exchanged"], listed
    assert [a["device_id"] for a in listed[0]["admissions"]] == [thief.device], listed
    said = tg(field.org, "server", "conflicts").stdout
    assert "before this entry reached it, the entry dated before" in said, said
    assert json.loads(tg(field.org, "server", "stats", "--json").stdout)["double_entries"]["admitted_after_refund"] == 1
