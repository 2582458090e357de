"""`ticketgate server copy-to --db postgresql://…`: an organiser's SQLite store, built through the public commands,
copied into the test PostgreSQL; the copy answers stats, order find and ticket show like the original, new ids
continue past the copied ones, the key files stay where they are; a second copy (non-empty target) and an
outdated source are refused and change nothing."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def tg(*argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TICKETGATE_SERVER_DB"}
    return subprocess.run([sys.executable, "-m", "agent", "server", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def ok(*argv: str):
    done = tg(*argv, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _build(data: str) -> dict:
    ok("--data", data, "init", "--org", "fest", "--name", "Summer Fest")
    event = ok("--data", data, "event", "create", "--name", "Night 1", "--start", "2026-12-31 20:00",
               "--end", "2027-01-01 03:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--zone", "2=Balcony:Stairs",
               "--category", "0=Adult", "--category", "1=VIP:Lounge")["event_id"]
    a = ok("--data", data, "order", "add", "--event", str(event), "--buyer", "Hélène Dupont", "--email",
           "helene@example.org", "--ticket", "category=1,zone=1", "--ticket", "category=0,zone=2")
    b = ok("--data", data, "order", "add", "--event", str(event), "--buyer", "Bo Martin", "--quantity", "2")
    ok("--data", data, "order", "cancel", b["number"], "--reason", "changed plans")
    ok("--data", data, "ticket", "block", a["tickets"][1]["ticket_key"], "--reason", "lost wristband")
    ok("--data", data, "ticket", "reset", a["tickets"][0]["ticket_key"], "--reason", "re-entry allowed")  # a scans row
    ok("--data", data, "device", "register", "door-1", "--gate", "north", "--events", str(event))
    return {"event": event, "a": a, "b": b}


def _views(data: str, built: dict, *db: str) -> dict:
    key = built["a"]["tickets"][0]["ticket_key"]
    cancelled = built["b"]["tickets"][0]["ticket_key"]
    stats = ok("--data", data, *db, "stats")
    stats.pop("generated_at")                                      # when it was asked, not what it says
    return {"stats": stats,
            "find": ok("--data", data, *db, "order", "find", "helene dup"),
            "show_a": ok("--data", data, *db, "order", "show", built["a"]["number"]),
            "show_b": ok("--data", data, *db, "order", "show", built["b"]["number"]),
            "ticket": ok("--data", data, *db, "ticket", "show", key),
            "blocked": ok("--data", data, *db, "ticket", "show", built["a"]["tickets"][1]["ticket_key"]),
            "cancelled": ok("--data", data, *db, "ticket", "show", cancelled),
            "devices": [{k: v for k, v in d.items() if k != "last_seen"} for d in ok("--data", data, *db, "devices")],
            "keys": ok("--data", data, *db, "keys", "list")}


def _counts(url: str) -> dict:
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema=current_schema() ORDER BY 1")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_copy_to_postgresql_keeps_what_the_commands_show(tmp_path, pg_url):
    data = str(tmp_path / "server")
    built = _build(data)
    before = _views(data, built)
    keys_before = sorted(p.name for p in (tmp_path / "server" / "keys").rglob("*"))

    copied = ok("--data", data, "copy-to", "--db", pg_url)
    assert copied["rows"] > 0 and copied["tables"]["orders"] == 2 and copied["tables"]["tickets"] == 4
    assert copied["tables"]["blocks"] == 1 and copied["tables"]["scans"] == 1
    assert copied["tables"]["devices"] == 1 and "orders_fts" not in copied["tables"]

    after = _views(data, built, "--db", pg_url)
    assert after == before
    assert after["show_b"]["status"] == "cancelled" and after["stats"]["devices"]
    assert sorted(p.name for p in (tmp_path / "server" / "keys").rglob("*")) == keys_before   # keys not moved

    # identities continue past the copied ids: a new order and event on the copy get fresh ones
    event2 = ok("--data", data, "--db", pg_url, "event", "create", "--name", "Night 2", "--start", "2027-01-01 20:00",
                "--end", "2027-01-02 03:00")["event_id"]
    assert event2 > built["event"]
    c = ok("--data", data, "--db", pg_url, "order", "add", "--event", str(event2), "--buyer", "Lou")
    assert c["number"] not in (built["a"]["number"], built["b"]["number"])
    # (`find` also matches an order number's start: 'lou' cannot start one, 'cy' started a random one 1 run in 330)
    assert ok("--data", data, "--db", pg_url, "order", "find", "lou")[0]["number"] == c["number"]

    # a second copy into the now non-empty database is refused and changes nothing
    counts = _counts(pg_url)
    again = tg("--data", data, "copy-to", "--db", pg_url)
    assert again.returncode == 1 and "already holds server data" in again.stderr, again.stderr
    assert _counts(pg_url) == counts


def test_copy_to_refuses_an_outdated_store_and_a_missing_one(tmp_path, pg_url):
    data = tmp_path / "server"
    ok("--data", str(data), "init", "--org", "fest", "--name", "Summer Fest")
    with sqlite3.connect(data / "server.sqlite") as conn:
        latest = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version={latest - 1}")
    old = tg("--data", str(data), "copy-to", "--db", pg_url)
    assert old.returncode == 1 and "open it with this version first" in old.stderr, old.stderr
    with sqlite3.connect(data / "server.sqlite") as conn:
        conn.execute(f"PRAGMA user_version={latest + 1}")
    newer = tg("--data", str(data), "copy-to", "--db", pg_url)
    assert newer.returncode == 1 and "newer than this ticketgate" in newer.stderr, newer.stderr
    assert _counts(pg_url) == {}                                   # the target was not even opened
    missing = tg("--data", str(tmp_path / "nowhere"), "copy-to", "--db", pg_url)
    assert missing.returncode == 1 and "no SQLite server store" in missing.stderr
    no_target = tg("--data", str(data), "copy-to")
    assert no_target.returncode == 1 and "--db postgresql://" in no_target.stderr


def test_a_copy_that_fails_midway_leaves_the_target_without_rows(tmp_path, pg_url):
    """Tickets are copied after organisers, catalogue, events and orders: a column PostgreSQL lacks, met there,
    rolls back everything already inserted (one transaction)."""
    data = tmp_path / "server"
    _build(str(data))
    with sqlite3.connect(data / "server.sqlite") as conn:
        conn.execute("ALTER TABLE tickets ADD COLUMN colour TEXT")
    failed = tg("--data", str(data), "copy-to", "--db", pg_url)
    assert failed.returncode == 1 and "colour" in failed.stderr and "nothing was copied" in failed.stderr
    assert {t: n for t, n in _counts(pg_url).items() if n} == {"tg_schema": 1}    # the schema only, no rows


def test_scan_path_and_store_do_not_import_sqlite_utils():
    code = ("import sys, server_stub.store, server_stub.cli_commands, agent.gate; "
            "print('sqlite_utils' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
