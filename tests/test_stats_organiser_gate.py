"""`server stats` names each device's gate and mode as the organiser set them (`server device configure`), as
`server devices` does, not the gate of its scans. Walked through the public commands: `server init`, `provision
serve` with its broker, `server serve`, a door enrolled with a printed code; real SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading
import time

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for
from tests.qa_organiser import _start, organiser_running, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _door_line(text: str, device: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"device {device}"))


def _watched_json(home, db: list[str]) -> dict:
    """The first refresh of `server stats --watch 1 --json` (one JSON object a line)."""
    watch = _start(home, "server", *db, "stats", "--watch", "1", "--json")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(watch.stdout), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: bool(lines), 60), watch.stderr
    finally:
        stop_process(watch)
    reader.join(10)
    return json.loads(lines[0])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stats_show_the_gate_and_mode_the_organiser_set_not_the_gate_of_the_last_scan(tmp_path, backend, request):
    """The north door admits Ann; the organiser moves it to gate "east" in normal mode. Before: `server stats` (text,
    --json, --watch) gave the door the gate of its scans, north, and no mode, as if nothing had changed (`server
    devices` said east). Now it says gate east, mode normal and, until the door applied it, that it was sent and not
    applied yet, in `server devices`'s words; the entry stays counted at north, where it was made."""
    db = ["--db", request.getfixturevalue("pg_url")] if backend == "postgresql" else []
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir(), door.mkdir()
    fmt, now = "%Y-%m-%d %H:%M", time.time()
    tg(home, "server", *db, "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", *db, "event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor", "--category",
       "1=Adult", "--start", time.strftime(fmt, time.gmtime(now - 3600)),
       "--end", time.strftime(fmt, time.gmtime(now + 6 * 3600)))
    tg(home, "server", *db, "order", "add", "--event", "1", "--buyer", "Ann", "--ticket", "category=Adult,zone=Floor")
    (order,) = json.loads(tg(home, "server", *db, "order", "find", "Ann", "--json").stdout)
    ann = json.loads(tg(home, "server", *db, "ticket", "show", order["tickets"][0]["ticket_key"], "--json").stdout)
    with organiser_running(home, *db) as running:
        running.enroll(door, "north", "1")
        tg(home, "server", *db, "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        device = json.loads((door / "device" / "credentials.json").read_text())["device_id"]
        assert json.loads(tg(door, "agent", "scan", "--json", ann["payload"]).stdout)["verdict"] == "accepted"
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        assert wait_for(lambda: json.loads(tg(home, "server", *db, "stats", "--json").stdout)["entries"] == 1, 30)
        tg(home, "server", *db, "device", "configure", device, "--gate", "east", "--mode", "normal")

        stats = json.loads(tg(home, "server", *db, "stats", "--json").stdout)
        watched = _watched_json(home, db)
        for s in (stats, watched):
            d = s["devices"][device]
            assert (d["gate"], d["mode"], d["enrolled_gate"], d["setting"]) == ("east", "normal", "north", "pending"), d
            assert s["entries_per_gate"] == {"north": 1}, s          # where the entry was made
        line = _door_line(tg(home, "server", *db, "stats").stdout, device)
        assert "gate east" in line and "mode normal" in line and "gate/mode sent, not applied yet" in line, line

        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        assert wait_for(lambda: json.loads(tg(home, "server", *db, "stats", "--json").stdout)["devices"][device]
                        ["setting"] == "applied", 30)
        line = _door_line(tg(home, "server", *db, "stats").stdout, device)
        assert "gate east" in line and "mode normal" in line and "gate/mode" not in line, line
