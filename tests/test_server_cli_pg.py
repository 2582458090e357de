"""`ticketgate server … --db postgresql://…` through the public command (subprocesses), on the test PostgreSQL:
the same commands, the rows in the database, the private keys in the data folder; the URL also from
$TICKETGATE_SERVER_DB; a bad URL or password is a clear refusal that never prints the password."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def tg(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "server", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, **(env or {})))


def test_server_commands_on_postgresql(tmp_path, pg_url, pg_server):
    data = str(tmp_path / "server")
    init = tg("--data", data, "--db", pg_url, "init", "--org", "fest", "--name", "Summer Fest", "--json")
    assert init.returncode == 0, init.stderr
    info = json.loads(init.stdout)
    assert info["database"].startswith("postgresql://tg@127.0.0.1:") and pg_server.password not in init.stdout
    ev = tg("--data", data, "--db", pg_url, "event", "create", "--name", "Night 1", "--start", "2026-12-31 20:00",
            "--end", "2027-01-01 03:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--json")
    assert ev.returncode == 0, ev.stderr
    event_id = json.loads(ev.stdout)["event_id"]
    env = {"TICKETGATE_SERVER_DB": pg_url}                     # the same database from the environment
    order = tg("--data", data, "order", "add", "--event", str(event_id), "--buyer", "Hélène Dupont",
               "--ticket", "zone=1", "--json", env=env)
    assert order.returncode == 0, order.stderr
    number = json.loads(order.stdout)["number"]
    found = tg("--data", data, "order", "find", "helene dup", "--json", env=env)
    assert [o["number"] for o in json.loads(found.stdout)] == [number]
    assert tg("--data", data, "device", "register", "door-1", "--gate", "north", "--events", str(event_id),
              env=env).returncode == 0
    devices = tg("--data", data, "devices", "--json", env=env)
    assert [d["device_id"] for d in json.loads(devices.stdout)] == ["door-1"]
    keys = tg("--data", data, "keys", "list", "--json", env=env)
    assert keys.returncode == 0 and len(json.loads(keys.stdout)) >= 1
    stats = tg("--data", data, "stats", "--json", env=env)
    assert stats.returncode == 0 and json.loads(stats.stdout)["entries"] == 0
    csv = tmp_path / "orders.csv"
    csv.write_text("buyer_name;email;zone;quantity\nZoë Martin;zoe@example.org;Floor;2\nBo;;1;1\n", encoding="utf-8")
    imported = tg("--data", data, "import-orders", str(csv), "--event", str(event_id), "--json", env=env)
    assert imported.returncode == 0 and json.loads(imported.stdout)["tickets"] == 3, imported.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("buyer_name;zone\nCy;Basement\n", encoding="utf-8")
    refused = tg("--data", data, "import-orders", str(bad), "--event", str(event_id), env=env)
    assert refused.returncode == 1 and "nothing imported" in refused.stderr
    zoe = json.loads(tg("--data", data, "order", "find", "zoe", "--json", env=env).stdout)[0]
    key = zoe["tickets"][0]["ticket_key"]
    assert tg("--data", data, "ticket", "block", key, "--reason", "lost", env=env).returncode == 0
    assert tg("--data", data, "order", "cancel", zoe["number"], env=env).returncode == 0
    assert tg("--data", data, "order", "validate", zoe["number"], env=env).returncode == 1   # cancelled stays so
    shown = json.loads(tg("--data", data, "order", "show", zoe["number"], "--json", env=env).stdout)
    assert shown["status"] == "cancelled" and all(t["revoked"] for t in shown["tickets"])
    with psycopg.connect(pg_url) as conn:                      # the rows are in PostgreSQL …
        assert conn.execute("SELECT buyer_name FROM orders WHERE number=%s", (number,)).fetchone() == ("Hélène Dupont",)
    assert not (tmp_path / "server" / "server.sqlite").exists()
    assert list((tmp_path / "server" / "keys" / "fest").glob("*.pem"))   # … the private keys are files here
    # without the URL this folder has no store: a clear error, not an empty SQLite file
    alone = tg("--data", data, "devices", env={"TICKETGATE_SERVER_DB": ""})
    assert alone.returncode == 3 and not (tmp_path / "server" / "server.sqlite").exists()


def test_bad_database_urls_are_refused_without_printing_the_password(tmp_path, pg_url, pg_server):
    data = str(tmp_path / "server")
    wrong = pg_url.replace(pg_server.password, "not-the-password")
    r = tg("--data", data, "--db", wrong, "init", "--org", "fest", "--name", "Fest")
    assert r.returncode == 3 and "cannot connect" in r.stderr and "not-the-password" not in r.stderr + r.stdout
    r = tg("--data", data, "--db", "mysql://u:secret@h/db", "devices")
    assert r.returncode == 3 and "postgresql://" in r.stderr and "secret" not in r.stderr
    r = tg("--data", data, "--db", pg_url, "devices")               # an empty database is not a store yet
    assert r.returncode == 3 and "init" in r.stderr and pg_server.password not in r.stderr
