"""A door's entries of a pass holder at an event the organiser took from the pass (`server pass edit
--remove-event`): the one recorded before the change is taken, the one dated after (the door had not synced since,
so it still admitted the pass there) is refused, named in `server refusals`, not counted. Before, an upload was taken
for any event the pass ever opened, whatever its date. Through `server serve` and a real door's upload (real
mosquitto, real SQLite files)."""
from __future__ import annotations

import json
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_device_events import _device_id, _until_idle

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
HOUR = 3600


def _at(offset: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + offset))


@needs_broker
def test_an_entry_dated_after_the_pass_lost_its_event_is_refused_one_before_is_taken(tmp_path):
    """The late show ended an hour ago (its doors still admit for the 6 h margin); the Season pass opens it and
    tomorrow's, sold to Pat in two tickets. The door of the late show, synced, admits Pat's first ticket, then stays
    offline. The show over, the organiser takes it from the pass (allowed: holders lose nothing still to come); the
    door, not told, admits Pat's second ticket. At its next sync the first entry is taken, the second refused."""
    home, door = tmp_path / "home", tmp_path / "door"
    for folder in (home, door):
        folder.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Club")
    tg(home, "server", "event", "create", "--name", "Late show", "--start", _at(-5 * HOUR), "--end", _at(-HOUR))
    tg(home, "server", "event", "create", "--name", "Tomorrow", "--start", _at(20 * HOUR), "--end", _at(26 * HOUR))
    tg(home, "server", "pass", "create", "--name", "Season", "--events", "1,2")
    order = json.loads(tg(home, "server", "order", "add", "--event", "3", "--buyer", "Pat Pass", "--quantity", "2",
                          "--json").stdout)
    keys = [t["ticket_key"] for t in order["tickets"]]
    qr = [json.loads(tg(home, "server", "ticket", "show", k, "--json").stdout)["payload"] for k in keys]
    with organiser_running(home) as running:
        running.enroll(door, "north", events="1")
        assert _until_idle(door)["rejected"] == []
        assert json.loads(tg(door, "agent", "scan", "--json", qr[0]).stdout)["verdict"] == "accepted"
        said = tg(home, "server", "pass", "edit", "3", "--remove-event", "1").stdout
        assert "no longer opens event 1" in said, said
        assert json.loads(tg(door, "agent", "scan", "--json", qr[1]).stdout)["verdict"] == "accepted"   # not told

        synced = _until_idle(door)
        assert synced["outbox_pending"] == 0, synced
        uploads = json.loads(tg(home, "server", "device", "uploads", _device_id(door / "device"), "--json").stdout)
        assert [(u["event_id"], u["ticket_key"]) for u in uploads if u.get("kind") == "entry"] == [(1, keys[0])], \
            uploads
        refusals = json.loads(tg(home, "server", "refusals", "--json").stdout)
        assert [(r["body"].get("ticket_key"), r["body"].get("event_id")) for r in refusals] == [(keys[1], 1)], refusals
        assert (f"not allowed: ticket {keys[1]} is of pass 3, which no longer opened event 1 then (the organiser took "
                "it from the pass at ") in refusals[0]["reason"], refusals
