"""A stolen door dates its entry hours ahead (within the 24 h the server takes, `ingest.MAX_AHEAD`) so that it sits
after every reset the organiser makes of the ticket tonight. Set up as the guides say (`server init`, `provision
serve` with its broker, `server serve`, `provision enroll` of two doors), attacked with the door's broker login."""
from __future__ import annotations

import json
import time
import uuid

from agent.sync.messages import ActionItem
from tests.helpers import wait_for
from tests.test_qa_attacks import StolenLogin, field, tg  # noqa: F401  (`field`: the fixture)


def _verdict(field, home) -> str:
    tg(home, "agent", "sync", "--until-idle", "--for", "60")
    return json.loads(tg(home, "agent", "scan", "--json", field.payload).stdout)["verdict"]


def test_attack_an_entry_dated_hours_ahead_does_not_outlive_the_organisers_reset(field):
    """The stolen door (gate north) uploads an entry for Ann's ticket stamped 20 h ahead; the south gate refuses Ann
    `already_used`; the organiser resets the ticket (`server ticket reset`). Before: the entry sat 20 h after the
    reset on every gate's time line: Ann still refused, after every reset, all night (only `device rollback` undid
    it). Now the server dates an action no later than when it received it: the reset clears it, Ann is admitted."""
    thief = StolenLogin(field.door)
    try:
        ahead = ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", time.time() + 20 * 3600, thief.device,
                           "north").to_wire()
        thief.upload([ahead])
        assert wait_for(lambda: json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"] == 1, 60)
    finally:
        thief.close()
    assert _verdict(field, field.gate) == "already_used"        # the entry was relayed: the holder counts as inside
    tg(field.org, "server", "ticket", "reset", field.ticket, "--reason", "Ann was not let in")
    verdict = _verdict(field, field.gate)
    assert verdict == "accepted", verdict
    assert _verdict(field, field.gate) == "already_used"        # Ann's own entry, after the reset: counted once
