"""The gate and mode the organiser gave a device, over time (`server_stub/sync/posting.py`), and the sync server
refusing a door's scans at another gate through a real broker on both stores. The walks with the public commands
and a stolen login: tests/test_attack_gate_posting.py."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch, CmdResult, RefusalItem, UploadItem
from server_stub.sync.posting import SETTLE, posting
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_server


def _config(args: dict, sent_at: float, answered_at: float | None = None, result=None) -> dict:
    return {"cmd": "config", "args": args, "sent_at": sent_at, "answered_at": answered_at,
            "result": result if result is not None or answered_at is None else {"config": sorted(args)}}


def test_a_gate_change_takes_the_old_gate_until_the_device_applied_it_and_the_new_one_from_when_it_was_sent():
    moved = posting("north", [_config({"gate": "east"}, 1000.0, 1500.0)])
    assert moved.gates_at(0) == {"north"}
    assert moved.gates_at(1200) == {"north", "east"}                 # sent, not applied yet: either
    assert moved.gates_at(1500 + SETTLE + 1) == {"east"}
    assert moved.gates_at(1000 - SETTLE - 1) == {"north"}
    assert posting("north", [_config({"gate": "east"}, 1000.0)]).gates_at(10**9) == {"north", "east"}   # no answer
    rejected = posting("north", [_config({"gate": "east"}, 1000.0, 1500.0, {"rejected": "bad config"})])
    assert rejected.gates_at(10**9) == {"north"}
    since = posting("north", [_config({"gate": "west", "since": 400.0}, 1000.0, 1500.0)])
    assert since.gates_at(450) == {"north", "west"}                  # `--since`: taken from then
    assert posting("", []).gates_at(0) is None                        # no gate given: the device's word
    assert posting("north", [], registered_at=500.0).gates_at(499) is None    # before its enrollment: its word
    assert posting("north", [], registered_at=500.0).gates_at(501) == {"north"}
    assert posting("", [_config({"gate": "east"}, 1000.0, 1500.0)]).gates_at(2000 + SETTLE) == {"east"}


def test_a_mode_is_the_devices_word_until_the_organiser_sets_one():
    assert posting("north", []).modes_at(0) is None
    set_ = posting("north", [_config({"mode": "normal"}, 1000.0, 1100.0),
                             _config({"mode": "entry_exit"}, 5000.0, 5100.0)])
    assert set_.modes_at(3000) == {"normal"}
    assert set_.modes_at(9000) == {"entry_exit"}
    assert set_.gates_at(3000) == {"north"}                           # a mode change leaves the gate as it was


def test_a_scan_is_counted_in_the_mode_the_organiser_set_not_the_one_it_claims():
    assert posting("north", []).mode_counted("multiple", 0) == "multiple"           # none set: its word
    set_ = posting("north", [_config({"mode": "normal"}, 1000.0, 1100.0),
                             _config({"mode": "multiple"}, 5000.0)])              # sent, never answered
    assert set_.mode_counted("multiple", 3000) == "normal"
    assert set_.mode_counted(None, 3000) == "normal"
    assert set_.mode_counted("multiple", 9000) == "multiple"                      # either, until applied
    assert set_.mode_counted("quick_cancel", 9000) == "normal"                    # neither: the one hiding least


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_scans_at_a_gate_the_organiser_did_not_give_are_refused_on_both_stores(tmp_path, broker, backend, request):
    """Door gate-a (registered at gate "gate-a") is moved by the organiser to "east"; its answer says applied. An
    entry at gate-a from before is taken, one at "east" after, one at "east" dated before the move and ones at gate-a
    after it are refused, as is an entry at "VIP": none stored. One naming no gate is taken (an older device's)."""
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store, event, orders = make_store(tmp_path / "server", tickets=4, devices=("gate-a",), db=db)
    with store.tx() as c:                                     # enrolled two hours ago
        c.execute("UPDATE devices SET registered_at = ? WHERE device_id = 'gate-a'", (time.time() - 7200,))
    server = start_server(store, broker.port)
    try:
        now = time.time()
        command = uuid.uuid4().hex
        store.record_command(ORG, "gate-a", command, "config", {"gate": "east"}, sent_at=now)
        keys = [o["tickets"][0]["ticket_key"] for o in orders]
        items = [ActionItem(str(uuid.uuid4()), "entry", keys[0], event, "in", now - 3600, "gate-a", "gate-a"),
                 ActionItem(str(uuid.uuid4()), "entry", keys[1], event, "in", now + 2 * SETTLE, "gate-a", "east"),
                 ActionItem(str(uuid.uuid4()), "entry", keys[2], event, "in", now + 2 * SETTLE, "gate-a", "gate-a"),
                 ActionItem(str(uuid.uuid4()), "entry", keys[3], event, "in", now - 3600, "gate-a", "east"),
                 ActionItem(str(uuid.uuid4()), "entry", keys[3], event, "in", now, "gate-a", "VIP"),
                 ActionItem(str(uuid.uuid4()), "entry", keys[2], event, "in", now, "gate-a", "")]   # no gate: "?"
        up = topics.up(ORG, "gate-a")
        answer = Batch(ORG, "gate-a", uuid.uuid4().hex, now,
                       (UploadItem(900, "cmd_result", CmdResult(command, {"config": ["gate"]}, "gate-a")),))
        server._process([(up, json.dumps(answer.to_wire()).encode())])
        assert wait_for(lambda: store.device_commands("gate-a")[0]["status"] == "applied", 10)
        batch = Batch(ORG, "gate-a", uuid.uuid4().hex, now, tuple(UploadItem(n, "action", i) for n, i in
                                                               enumerate(items, 1)))
        server._process([(up, json.dumps(batch.to_wire()).encode())])
        stored = {u for u, in store.q("SELECT scan_uuid FROM scans WHERE type = 'action'")}
        assert stored == {items[0].scan_uuid, items[1].scan_uuid, items[5].scan_uuid}, stored
        refused = {r["body"]["scan_uuid"]: r["reason"] for r in store.refusals(ORG, "gate-a", 50)}
        assert set(refused) == {i.scan_uuid for i in items[2:5]}
        assert "scanned at gate 'VIP', the organiser posted it at gate" in refused[items[4].scan_uuid]
    finally:
        server.stop()
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_claimed_mode_is_stored_as_the_organisers_on_both_stores(tmp_path, broker, backend, request):
    """Door gate-a, set in normal mode by the organiser, admits a ticket then uploads a second entry claiming
    `multiple` and an "already used" refusal claiming `quick_cancel`: both are stored in normal mode, so the store's
    conflicts and stats count them (before: no conflict, no double entry)."""
    db = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    store, event, orders = make_store(tmp_path / "server", tickets=1, devices=("gate-a",), db=db)
    server = start_server(store, broker.port)
    try:
        now = time.time()
        command, up = uuid.uuid4().hex, topics.up(ORG, "gate-a")
        store.record_command(ORG, "gate-a", command, "config", {"mode": "normal"}, sent_at=now - 3600)
        answer = Batch(ORG, "gate-a", uuid.uuid4().hex, now - 3000,
                       (UploadItem(900, "cmd_result", CmdResult(command, {"config": ["mode"]}, "gate-a")),))
        server._process([(up, json.dumps(answer.to_wire()).encode())])         # applied (answered now)
        assert wait_for(lambda: store.device_commands("gate-a")[0]["status"] == "applied", 10)
        now += 2 * SETTLE                                                        # past the settling margin
        key = orders[0]["tickets"][0]["ticket_key"]
        items = (UploadItem(1, "action", ActionItem(str(uuid.uuid4()), "entry", key, event, "in", now - 60, "gate-a",
                                                    "gate-a", mode="normal")),
                 UploadItem(2, "action", ActionItem(str(uuid.uuid4()), "entry", key, event, "in", now, "gate-a",
                                                    "gate-a", mode="multiple")),
                 UploadItem(3, "refusal", RefusalItem("already_used", key, event, now, "gate-a", "gate-a",
                                                      scan_uuid=str(uuid.uuid4()), mode="quick_cancel")))
        batch = Batch(ORG, "gate-a", uuid.uuid4().hex, now, items)
        server._process([(up, json.dumps(batch.to_wire()).encode())])
        assert [m for m, in store.q("SELECT mode FROM scans WHERE type IN ('action', 'refusal')")] == ["normal"] * 3
        assert [c["ticket_key"] for c in store.conflicts(ORG)] == [key]
        double = store.stats(ORG)["double_entries"]
        assert double["conflicts"] == 1 and double["refused_already_used"] == 1, double
    finally:
        server.stop()
        store.close()
