"""A stolen door leaves a retained message on its own upload topic (published with the retain flag, or as its Last
Will): the broker keeps it and sends it to `server serve` at every subscription, so at every restart. Set up as the
guides say (`provision serve` with its broker, `server serve`, `provision enroll`), attacked with a raw client."""
from __future__ import annotations

import json
import time
import uuid
from functools import partial
from pathlib import Path

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch
from tests.broker import mosquitto_binary
from tests.helpers import provision_serve, stop_process, wait_for
from tests.test_qa_attacks import _start, enroll, tg
from tests.test_qa_paths_k_trust import Client, device_login, server_login

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _serve(org: Path, log: Path):
    serve = _start(org, "server", "serve", log=log)
    assert wait_for(lambda: "sync server" in log.read_text(), 30), log.read_text()
    return serve


def _kept(org: Path, topic: str) -> list[bytes]:
    """The retained message the broker keeps on `topic` (none: [])."""
    fresh = Client(server_login(org, "push"), "fresh")
    fresh.subscribe(topic)
    time.sleep(1.0)
    fresh.close()
    return [p for _, p, retained in fresh.got if retained]


def _organiser_and_door(tmp_path):
    """The organiser's folder (organiser acme, one event) and an empty door folder."""
    org, door = tmp_path / "org", tmp_path / "door"
    org.mkdir(), door.mkdir()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme")
    tg(org, "server", "event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor", "--category",
       "1=Adult", "--start", "2026-01-01 18:00", "--end", "2026-01-01 23:00")
    return org, door


def test_attack_a_retained_upload_sent_while_the_server_runs_is_taken_once_and_cleared_at_once(tmp_path):
    """A door publishes a real scan retained on its upload topic while `server serve` runs, then its Last Will
    (retained there too). Before: each was taken in when sent and stayed in the broker (up to 4 MiB each, sent to
    every new subscription) until the next server start. Now the server's upload subscription keeps the sender's
    retain flag (MQTT 5 retain as published, on the shared subscription): the scan is taken in as any upload and
    cleared at once, logged with the device; the garbage Will refused once and cleared at once."""
    org, door = _organiser_and_door(tmp_path)
    prov, http_port = provision_serve(partial(_start, org), seconds=300)
    serve = None
    log = tmp_path / "serve1.log"
    try:
        serve = _serve(org, log)
        enroll(org, door, "north", http_port)
        login = device_login(door)
        me, up = login["device_id"], topics.up("acme", login["device_id"])
        entry = ActionItem(str(uuid.uuid4()), "entry", "pretix:K1", 1, "in", time.time(), me, "north").to_wire()
        batch = Batch.encode("acme", me, uuid.uuid4().hex, time.time(), [(1, "action", json.dumps(entry))])
        door_client = Client(login, me)
        assert door_client.publish(up, batch, retain=True) == "Success"
        door_client.close()
        assert wait_for(lambda: f"device {me} sent a retained upload ({len(batch)} bytes) on {up}: taken, cleared"
                        in log.read_text(), 30), log.read_text()[-2000:]
        assert wait_for(lambda: json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 1, 30), \
            log.read_text()[-2000:]
        assert wait_for(lambda: _kept(org, up) == [], 10), "still kept by the broker"
        will = Client(login, me, will=(up, b"retained-will"), loop=False)
        will.drop()
        assert wait_for(lambda: "rejected message on " + up in log.read_text(), 30), log.read_text()[-2000:]
        assert f"device {me} sent a retained upload (13 bytes)" in log.read_text()
        assert wait_for(lambda: _kept(org, up) == [], 10), "the Will still kept by the broker"
        stop_process(serve)
        again = tmp_path / "serve2.log"
        serve = _serve(org, again)
        time.sleep(2.0)
        assert "retained upload" not in again.read_text() and "rejected message" not in again.read_text(), \
            again.read_text()[-2000:]
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 1
        assert log.read_text().count("rejected message on " + up) == 1
        assert "Traceback" not in log.read_text() + again.read_text()
    finally:
        if serve is not None:
            stop_process(serve)
        stop_process(prov)


def test_attack_a_retained_upload_is_not_taken_again_at_each_restart(tmp_path):
    """A door leaves a retained upload while `server serve` is stopped. Before: the broker sent it to every new
    `server serve`, which took it in again (one more refused message and log line per restart, forever, up to the
    4 MiB message limit each time). Now the server takes it once (the broker kept it for the server's session, as
    any upload sent while it was away), clears it, logs the device; the copy the broker kept retained is not taken
    (read once at each connection: `left a retained upload`); nothing is taken at the following start."""
    org, door = _organiser_and_door(tmp_path)
    prov, http_port = provision_serve(partial(_start, org), seconds=300)
    serve = None
    try:
        serve = _serve(org, tmp_path / "serve1.log")
        enroll(org, door, "north", http_port)
        login = device_login(door)
        me, up = login["device_id"], topics.up("acme", login["device_id"])
        stop_process(serve)
        thief = Client(login, me)
        assert thief.publish(up, b"retained-garbage", retain=True) == "Success"
        thief.close()
        second = tmp_path / "serve2.log"
        serve = _serve(org, second)
        assert wait_for(lambda: f"device {me} left a retained upload (16 bytes)" in second.read_text(), 30), \
            second.read_text()[-2000:]
        assert wait_for(lambda: "rejected message on " + up in second.read_text(), 30), second.read_text()[-2000:]
        assert wait_for(lambda: _kept(org, up) == [], 10)
        stop_process(serve)
        third = tmp_path / "serve3.log"
        serve = _serve(org, third)
        time.sleep(2.0)
        assert _kept(org, up) == []
        for log in (second, third):     # taken in once, never again
            text = log.read_text()
            assert text.count("rejected message on " + up) == (1 if log is second else 0), text[-2000:]
            assert "Traceback" not in text
        assert "retained upload" not in third.read_text()
    finally:
        if serve is not None:
            stop_process(serve)
        stop_process(prov)


def test_attack_a_refused_retained_presence_is_cleared_not_refused_at_each_restart(tmp_path):
    """Presences are retained by design, so a stolen door's own presence topic keeps what it last published. Before:
    a presence the server refuses (not JSON, or 1 MiB of padding) stayed retained, and every `server serve` start
    refused it again (a log line and a `server refusals` row per restart, forever; the padded one parsed each time).
    Now the server clears a presence it refuses (the device publishes its own again when it connects) and takes the
    empty message that clears it as nothing."""
    org, door = _organiser_and_door(tmp_path)
    prov, http_port = provision_serve(partial(_start, org), seconds=300)
    serve = None
    try:
        serve = _serve(org, tmp_path / "serve1.log")
        enroll(org, door, "north", http_port)
        login = device_login(door)
        me, status = login["device_id"], topics.device_status("acme", login["device_id"])
        thief = Client(login, me)
        padded = b'{"state": "online", "pad": "' + b"x" * (1 << 20) + b'"}'
        first = tmp_path / "serve1.log"
        too_big = f"device presence of {len(padded)} bytes"
        for bad, why in ((b"not-json", "malformed device presence"), (padded, too_big)):
            assert thief.publish(status, bad, retain=True) == "Success"
            assert wait_for(lambda: f"rejected message on {status}: {why}" in first.read_text(), 30), \
                first.read_text()[-2000:]
            assert wait_for(lambda: _kept(org, status) == [], 10)
        thief.close()
        stop_process(serve)
        second = tmp_path / "serve2.log"
        serve = _serve(org, second)
        time.sleep(2.0)
        text = first.read_text() + second.read_text()
        assert f"rejected message on {status}" not in second.read_text(), text[-2000:]
        assert text.count(f"rejected message on {status}") == 2, text[-3000:]     # the empty clearings: nothing
        assert "Traceback" not in text
    finally:
        if serve is not None:
            stop_process(serve)
        stop_process(prov)
