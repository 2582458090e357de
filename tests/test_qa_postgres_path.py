"""The organiser on PostgreSQL, through the public commands with `--db` (docs/server.md, "Running on PostgreSQL"):
the technician provisions a door and the door's entries reach the organiser's database. Fails on the defect named."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
DAY = 86400


def test_provision_takes_the_database_the_server_commands_use(tmp_path, pg_url):
    """An organiser who moved to PostgreSQL runs every command with `--db` (as docs/server.md says after `copy-to`,
    which leaves the old server.sqlite in the data folder). `provision` took no `--db`: it registered the devices it
    enrolled in that stale SQLite file (or failed on a folder without one), and `server serve --db` refused every
    upload of the device as "not registered". Now `provision … --db` uses the same database."""
    home = tmp_path / "home"
    home.mkdir()
    db = ["--db", pg_url]
    now = time.time()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(now + d * DAY)) for d in (-1, 2))
    tg(home, "server", "init", "--org", "acme", "--name", "Acme")          # first on SQLite, then moved
    tg(home, "server", "event", "create", "--name", "Week", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(tg(home, "server", "order", "add", "--event", "1", "--buyer", "Ann Martin", "--ticket",
                          "category=Adult,zone=Floor", "--json").stdout)
    tg(home, "server", "copy-to", *db)
    payload = json.loads(tg(home, "server", *db, "ticket", "show", order["tickets"][0]["ticket_key"],
                            "--json").stdout)["payload"]
    with organiser_running(home, *db, seconds=120) as running:
        running.enroll(home, "north", "1")
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        devices = json.loads(tg(home, "provision", "devices", "--org", "acme", *db, "--json").stdout)
        assert device in json.dumps(devices)
        tg(home, "server", *db, "push")
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "agent", "scan", "--json", payload).stdout)["verdict"] == "accepted"
        tg(home, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"] == []
        assert json.loads(tg(home, "server", *db, "stats", "--json").stdout)["entries"] == 1
