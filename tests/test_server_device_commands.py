"""The commands the organiser sent to a device and their results (`server device commands`), on both store backends
(SQLite file, PostgreSQL): a result is the device's cmd_result upload naming the command's id."""
from __future__ import annotations

import time

from agent.sync.messages import CmdResult
from server_stub.store.device_commands import STALE_AFTER
from server_stub.sync.contract import Upload

NOW = time.time()


def test_each_command_shows_what_its_device_answered(store):
    store.register_device("fest", "gate-a")
    store.register_device("fest", "gate-b")
    store.record_command("fest", "gate-a", "c1", "config", {"mode": "entry_exit", "events": [1]}, sent_at=NOW - 30)
    store.record_command("fest", "gate-a", "c2", "config", {"events": [7]}, sent_at=NOW - 20)
    store.record_command("fest", "gate-a", "c3", "config", {"gate": "east"}, sent_at=NOW - 10)
    store.record_command("fest", "gate-a", "c4", "config", {"gate": "west"}, sent_at=NOW - STALE_AFTER - 5)
    store.record_command("fest", "gate-b", "c5", "config", {"gate": "south"}, sent_at=NOW - 5)
    result = store.ingest_uploads([
        Upload("fest", "gate-a", 1, CmdResult("c1", {"config": ["events", "mode"]}, "gate-a")),
        Upload("fest", "gate-a", 2, CmdResult("c2", {"rejected": "config refused, nothing changed: event 7 is not "
                                                                 "known on this device"}, "gate-a")),
        Upload("fest", "gate-b", 1, CmdResult("c3", {"config": ["gate"]}, "gate-b")),     # not gate-b's command
        Upload("fest", "gate-b", 2, CmdResult("c5", {"config": ["gate"], "notice": "no event data yet"}, "gate-b"))])
    assert result.new == 4 and not result.refused
    listed = store.device_commands("gate-a", now=NOW)
    assert [(c["command_id"], c["status"]) for c in listed] == [
        ("c3", "pending"),
        ("c2", "rejected: config refused, nothing changed: event 7 is not known on this device"),
        ("c1", "applied"),
        ("c4", "expired: no result after 7 days, not applied (the broker no longer keeps it for a device offline that "
               "long, the device refuses it as stale): send it again once the device is online")]
    assert listed[2]["args"] == {"mode": "entry_exit", "events": [1]} and listed[2]["answered_at"] >= NOW
    assert listed[0]["result"] is None and listed[0]["answered_at"] is None
    assert [c["status"] for c in store.device_commands("gate-b", now=NOW)] == ["applied (no event data yet)"]
    assert store.device_commands("gate-c") == []
