"""Tickets signed by a key the organiser retired, through the public commands (`server init`, `provision serve` with
its broker, `server serve`, an enrolled door): the door stops trusting the key once the organiser says so."""
from __future__ import annotations

import json

import pytest

from tests.broker import mosquitto_binary
from tests.test_qa_attacks import field, tg   # noqa: F401  (`field`: the fixture)

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_attack_a_ticket_signed_by_a_retired_key_is_refused_after_the_next_sync(field):
    """The organiser rotates the ticket key and retires the old one at once (`keys rotate --retire-old-in 0`: it
    leaked), then pushes as the command says. Before: neither changed the organiser's data version, so the door's
    hello got no bundle and the push was the version it held ("again: the device holds it"): its keyring kept the
    old key with no end and never got the new one, and a ticket signed by the retired key was `accepted`."""
    new = json.loads(tg(field.org, "server", "keys", "rotate", "--retire-old-in", "0", "--json").stdout)["key_id"]
    tg(field.org, "server", "push")
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    verdict = json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)
    assert verdict["verdict"] == "unknown_key", verdict
    keyring = json.loads((field.gate / "device" / "keyring.json").read_text())
    assert new in [k["key_id"] for k in keyring["keys"]], keyring       # tickets signed with the new key get in
