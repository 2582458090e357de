"""The organiser whose data lives in PostgreSQL, through the public commands (`ticketgate …` subprocesses with their
own HOME, `--db postgresql://…`) on a real PostgreSQL the tests start: what breaks, misleads or differs from the
same walk on SQLite. Each test fails on the defect it names."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import ROOT, _env, _start, organiser_running, tg

DAY = 86400


@pytest.mark.parametrize("command", [("server", "DB", "init", "--org", "acme", "--name", "Acme"),
                                     ("provision", "devices", "--org", "acme", "DB")])
def test_a_password_the_driver_cannot_parse_is_never_printed(tmp_path, pg_server, command):
    """A password holding a `%` not followed by two hex digits (`s3cret%zz`, as typed from a password manager):
    libpq refuses the URL quoting the token, and the message printed it — 'invalid percent-encoded token:
    "…%zz"', the whole password on the terminal and in any log that keeps stderr. Now the password is taken out of
    every driver message, and the message says how to write such a password (or to keep it in ~/.pgpass)."""
    password = pg_server.password
    (tmp_path / ".local" / "share" / "ticketgate" / "server").mkdir(parents=True)     # the data folder (its keys)
    for url in (f"postgresql://tg:{password}%zz@127.0.0.1:{pg_server.port}/tg",
                f"postgresql://tg@127.0.0.1:{pg_server.port}/tg?password={password}%zz"):
        for by in (["--db", url], []):
            env_url = {} if by else {"TICKETGATE_SERVER_DB": url}
            argv = [a for c in command for a in (by if c == "DB" else [c])]
            done = _tg(tmp_path, *argv, env=env_url)
            assert done.returncode in (1, 3), done
            assert password not in done.stdout + done.stderr, done.stderr
            assert "percent-encoded" in done.stderr and "%25" in done.stderr and "~/.pgpass" in done.stderr


def test_a_database_that_does_not_exist_is_named_with_what_to_do(tmp_path, pg_server):
    """`server init --db postgresql://…/fest2027` before the database was created: the message ended on libpq's
    'FATAL: database "fest2027" does not exist' and said nothing of what to do. Now it says to create it (the command,
    as docs/server.md gives it) or to correct the name; the password is not printed; nothing is initialised."""
    url = pg_server.url("fest2027")
    done = _tg(tmp_path, "server", "--db", url, "init", "--org", "acme", "--name", "Acme", env={})
    assert done.returncode == 3 and 'database "fest2027" does not exist' in done.stderr, done.stderr
    assert "sudo -u postgres createdb --owner USER fest2027" in done.stderr
    assert pg_server.password not in done.stdout + done.stderr
    assert not list((tmp_path / ".local" / "share" / "ticketgate" / "server").glob("keys/*"))


def _tg(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`tg` with extra environment variables (the database URL from $TICKETGATE_SERVER_DB), any exit code."""
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=dict(_env(home), **env),
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(params=["sqlite", "postgresql"])
def store_options(request) -> list[str]:
    return ["--db", request.getfixturevalue("pg_url")] if request.param == "postgresql" else []


@pytest.fixture
def own_pg():
    """A PostgreSQL of this test alone (it is stopped and started again mid-run), with one database."""
    from tests.pg import PostgresServer
    with PostgresServer() as server:
        yield server, server.create_database()


def _event_with_tickets(home: Path, db: list[str], count: int) -> list[str]:
    """Event 1, open from yesterday, with one paid order of `count` tickets: their QR payloads."""
    now = time.time()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(now + d * DAY)) for d in (-1, 3))
    tg(home, "server", *db, "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", *db, "event", "create", "--name", "Week", "--start", f"{start} 10:00", "--end", f"{end} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(tg(home, "server", *db, "order", "add", "--event", "1", "--buyer", "Ann Martin", "--quantity",
                          str(count), "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    return [json.loads(tg(home, "server", *db, "ticket", "show", t["ticket_key"], "--json").stdout)["payload"]
            for t in order["tickets"]]


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_a_database_that_stops_mid_run_and_comes_back_loses_nothing(tmp_path, own_pg):
    """PostgreSQL restarted (an upgrade, a failover) while the doors scan. `provision serve` died of it with a
    traceback (its check for revoked devices read the database) and took its broker down with it: every door lost
    its broker, `server serve` said only 'lost the broker', and once the database was back nothing was ever uploaded
    again — and `serve` printed a traceback every 20 ms meanwhile. A device enrolled meanwhile was told 'the server
    could not finish this request' (and a traceback logged). Now both say once that the database is unreachable and
    once that it is back; the broker stays up; the entries made during the outage reach the database; the device
    enrolling is told the database is unreachable for the moment and to try the same code again, which then works."""
    pg, url = own_pg
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir()
    door.mkdir()
    db = ["--db", url]
    payloads = _event_with_tickets(home, db, 3)
    with organiser_running(home, *db, seconds=240) as running:
        running.enroll(door, "north", "1")
        tg(home, "server", *db, "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(door, "agent", "scan", "--json", payloads[0]).stdout)["accepted"]
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        kiosk, endpoint = tmp_path / "kiosk", f"127.0.0.1:{running.http_port}"         # enrolled during the outage
        kiosk.mkdir()
        code = tg(home, "provision", "tokens", "create", "--org", "acme", *db, "--count", "1", "--gate", "desk",
                  "--role", "kiosk", "--out", str(home / "desk.pdf")).stdout.split("code ")[-1].split()[0]
        pg.halt()
        try:
            assert json.loads(tg(door, "agent", "scan", "--json", payloads[1]).stdout)["accepted"]
            down = tg(door, "agent", "sync", "--until-idle", "--for", "8", ok=False)
            assert "waiting 1" in down.stdout, down.stdout               # kept on the door, not acknowledged
            early = tg(kiosk, "provision", "enroll", "--code", code, "--server", endpoint, ok=False)
            assert early.returncode == 1 and "database is unreachable for the moment" in early.stderr, early.stderr
            assert "try the same code again in a minute" in early.stderr
            stats = tg(home, "server", *db, "stats", ok=False)
            assert stats.returncode == 3 and "cannot connect to postgresql://tg@127.0.0.1" in stats.stderr
            time.sleep(3)                                                 # `provision serve` looks every 2 s
            assert running.prov.poll() is None, "provision serve (and its broker) ended with the database"
        finally:
            pg.resume()
        tg(kiosk, "provision", "enroll", "--code", code, "--server", endpoint)     # the same code, once it is back
        assert json.loads(tg(door, "agent", "scan", "--json", payloads[2]).stdout)["accepted"]
        tg(door, "agent", "sync", "--until-idle", "--for", "60")
        assert json.loads(tg(door, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0
        assert json.loads(tg(home, "server", *db, "stats", "--json").stdout)["entries"] == 3
        time.sleep(3)
        serve, prov = running.serve, running.prov
        assert serve is not None
        running.close()
        serve_said, prov_said = serve.stderr.read(), prov.stdout.read() + prov.stderr.read()
    assert pg.password not in serve_said + prov_said
    where = f"the database postgresql://tg@127.0.0.1:{pg.port}/"
    assert serve_said.count(where) == 1 and serve_said.count("is unreachable") == 1, serve_said[-3000:]
    assert prov_said.count("revocations and event changes are applied once it is back") == 1, prov_said[-3000:]
    assert prov_said.count("/v1/enroll refused: " + where) == 1       # the one enrolment: one line, no traceback
    for said in (serve_said, prov_said):
        assert said.count("the database is reachable again") == 1
    assert "Traceback" not in serve_said + prov_said, (serve_said + prov_said)[-3000:]


def test_a_second_serve_machine_without_the_keys_is_refused_at_start(tmp_path, pg_url):
    """docs/server.md: a second `serve` process on the same PostgreSQL (another machine, `--first-worker 3`) needs the
    data folder's keys/. Started on a data folder without them it said 'sync server on …: 2 worker(s) for acme' and
    ran; every acknowledgement it had to sign failed (the uploads it took stored, never acknowledged: the doors sent
    them again and again, to whichever worker). Now it stops at once, exit 1, naming the missing key file and what to
    copy."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (second / ".local" / "share" / "ticketgate" / "server").mkdir(parents=True)     # its data folder, no keys/
    db = ["--db", pg_url]
    _event_with_tickets(first, db, 1)
    proc = subprocess.Popen([sys.executable, "-m", "agent", "server", *db, "serve", "--first-worker", "3",
                             "--workers", "2", "--broker", "127.0.0.1:1"], cwd=ROOT, env=_env(second),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"serve ran without the server key: {out} {err}")
    assert proc.returncode == 1 and "sync server on" not in out, (out, err)
    assert "keys/acme/server-" in err and "is missing" in err and "needs a copy of the data folder's keys/" in err


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_the_organisers_day_gives_the_same_answers_on_both_stores(tmp_path, store_options):
    """The whole walk with every command on the store (`--db` for PostgreSQL): catalogue, orders added and imported
    (CSV, XLSX), staff, `provision serve`, a door and a kiosk enrolled, two `serve` processes sharing the uploads
    (workers 1 and 3–4), entries, a payment and an exchange at the kiosk, then the office's views, reports, Z report,
    device configure and revoke, event remove: the same answers on SQLite and on PostgreSQL."""
    home, door, kiosk = tmp_path / "org", tmp_path / "door", tmp_path / "kiosk"
    for folder in (home, door, kiosk):
        folder.mkdir()
    db = store_options

    def server(*args: str, **kw) -> subprocess.CompletedProcess:
        return tg(home, "server", *db, *args, **kw)

    payloads = _event_with_tickets(home, db, 3)
    server("event", "create", "--name", "Other", "--start", "2026-01-01 10:00", "--end", "2026-01-01 23:00")
    server("price", "set", "1", "--category", "1", "--cents", "1500")
    pending = json.loads(server("order", "add", "--event", "1", "--buyer", "Bob Roy", "--pending", "--ticket",
                                "category=Adult,zone=Floor", "--json").stdout)
    (tmp_path / "o.csv").write_text("buyer_name;email;category;zone;quantity\n"
                                    "Zoë Martin;zoe@example.org;Adult;Floor;2\n")
    assert "imported 1 order(s), 2 ticket(s)" in server("import-orders", str(tmp_path / "o.csv"), "--event", "1").stdout
    import openpyxl
    book = openpyxl.Workbook()
    book.active.append(["buyer_name", "email", "category", "zone", "quantity"])
    book.active.append(["Yan Li", "yan@example.org", "Adult", "Floor", 1])
    book.save(tmp_path / "o.xlsx")
    imported = server("import-orders", str(tmp_path / "o.xlsx"), "--event", "1").stdout
    assert "imported 1 order(s), 1 ticket(s)" in imported
    server("staff", "add", "--name", "Léa Martin", "--role", "door", "--pin", stdin="1234\n")
    server("staff", "add", "--name", "Sam Boss", "--role", "supervisor", "--pin", stdin="5678\n")
    exchanged = json.loads(server("order", "find", "yan", "--json").stdout)[0]["tickets"][0]["ticket_key"]
    with organiser_running(home, *db, seconds=240) as running:
        other = _start(home, "server", *db, "serve", "--first-worker", "3", "--workers", "2")
        try:
            assert wait_for_line(other, "2 worker(s) for acme", 30)
            running.enroll(door, "north", "1")
            running.enroll(kiosk, "desk", "1", role="kiosk")
            kiosk_id = json.loads((kiosk / "device" / "credentials.json").read_text())["device_id"]
            door_id = json.loads((door / "device" / "credentials.json").read_text())["device_id"]
            assert "to 2 device(s), 2 delivered" in server("push").stdout
            for device, who, pin in ((door, "Léa Martin", "1234"), (kiosk, "Sam Boss", "5678")):
                tg(device, "agent", "sync", "--until-idle", "--for", "40")
                tg(device, "agent", "login", "--staff", who, "--pin", stdin=f"{pin}\n")
            verdicts = [json.loads(tg(door, "agent", "scan", "--json", p, ok=False).stdout)["verdict"]
                        for p in (payloads[0], payloads[0], payloads[1])]
            assert verdicts == ["accepted", "already_used", "accepted"], verdicts
            server("till", "open", kiosk_id, "--float-cents", "10000")
            tg(kiosk, "agent", "pay", pending["number"], "--payment", "card", "--reference", "AUTH-3")
            tg(kiosk, "agent", "exchange", exchanged, "--reason", "torn")
            for device in (door, kiosk):
                tg(device, "agent", "sync", "--until-idle", "--for", "40")
                assert json.loads(tg(device, "agent", "status", "--json").stdout)["refused_uploads"] == []
            stats = json.loads(server("stats", "--json").stdout)
            assert stats["entries"] == 2 and stats["entries_per_gate"] == {"north": 2}
            assert "entries: 2" in server("stats").stdout
            devices = {d["device_id"]: d for d in json.loads(server("devices", "--json").stdout)}
            assert devices[door_id]["role"] == "door" and devices[kiosk_id]["role"] == "kiosk"
            assert "no conflicts" in server("conflicts").stdout
            assert "no refused uploads" in server("refusals").stdout
            assert json.loads(server("order", "show", pending["number"], "--json").stdout)["status"] == "paid"
            assert len(json.loads(server("order", "find", "yan", "--json").stdout)[0]["tickets"]) == 2
            entries = server("report", "entries", "--event", "1", "--format", "csv").stdout
            assert "gate,,north,2," in entries and "event,1,1,2,2," in entries, entries
            assert pending["number"] in server("report", "sales", "--format", "csv").stdout
            assert "Zoë Martin" in server("report", "participants", "--event", "1", "--format", "csv").stdout
            z = server("till", "z-report", "1").stdout
            assert "Pending orders paid        1: 15.00 EUR" in z and "Exchanges                  1" in z, z
            assert "sent to" in server("device", "configure", door_id, "--mode", "entry_exit").stdout
            tg(door, "agent", "sync", "--until-idle", "--for", "40")
            assert "applied" in server("device", "commands", door_id).stdout
            server("device", "revoke", kiosk_id)
            revoked = {d["device_id"]: d["revoked"] for d in json.loads(server("devices", "--json").stdout)}
            assert revoked == {door_id: False, kiosk_id: True}
            assert "removed" in server("event", "remove", "2").stdout
            assert [e["event_id"] for e in json.loads(server("event", "list", "--json").stdout)] == [1]
            assert other.poll() is None
        finally:
            stop_process(other)


def test_stats_watch_outlives_a_database_restart(tmp_path, own_pg):
    """`server stats --watch 1 --json` on the office's wall screen: PostgreSQL restarted and the watch ended with a
    traceback (exit 1); the screen stayed on its last figures. Now it says once that the database is unreachable,
    keeps watching, says when it is back and goes on with the figures."""
    pg, url = own_pg
    home = tmp_path / "org"
    home.mkdir()
    _event_with_tickets(home, ["--db", url], 1)
    watch = _start(home, "server", "--db", url, "stats", "--watch", "1", "--json")
    try:
        time.sleep(3)
        pg.halt()
        try:
            time.sleep(4)
            assert watch.poll() is None, "the watch ended with the database"
        finally:
            pg.resume()
        resumed = time.time()
        time.sleep(4)
        assert watch.poll() is None
    finally:
        code = stop_process(watch)
    out, err = watch.communicate()
    assert code == 0 and "Traceback" not in err, err[-3000:]
    assert err.count("is unreachable") == 1 and "still watching" in err and err.count("reachable again") == 1, err
    assert pg.password not in out + err
    after = [json.loads(line) for line in out.splitlines() if json.loads(line)["generated_at"] > resumed]
    assert after and all(s["entries"] == 0 for s in after)
