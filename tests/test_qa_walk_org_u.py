"""The organiser's festival through the public commands (`ticketgate server …` subprocesses with their own HOME), on
SQLite and on a real PostgreSQL the tests start: an event in Europe/Paris typed from a shell in another time zone,
the night the clocks change, an event across midnight. Each test fails on the defect it names."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import ROOT, _env, tg

TZ_OF_THE_SHELL = "America/New_York"        # the organiser types Paris times from New York


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request) -> list[str]:
    return ["--db", request.getfixturevalue("pg_url")] if request.param == "postgresql" else []


def _server(home: Path, db: list[str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """`ticketgate server …` run from a shell in TZ_OF_THE_SHELL."""
    proc = subprocess.run([sys.executable, "-m", "agent", "server", *db, *args], cwd=ROOT,
                          env=dict(_env(home), TZ=TZ_OF_THE_SHELL), capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def _events(home: Path, db: list[str]) -> list[dict]:
    return json.loads(_server(home, db, "event", "list", "--json").stdout)


def test_a_time_the_clocks_skip_or_show_twice_is_refused_saying_what_to_give(tmp_path, db):
    """The festival's last night is 24-25 October in Paris, the night the clocks go back: '--end "2026-10-25
    02:30"' happens twice (02:30 CEST, then 02:30 CET an hour later) and was taken silently as the first; on the
    spring night '2026-03-29 02:30' never happens and was taken silently as 03:30 CEST, an hour off what the
    organiser typed (the doors close an hour early, e-tickets print 03:30). Now both are refused, nothing created,
    saying what to give: the offset of the one meant, or the time the clocks show; given so, it is taken."""
    tg(tmp_path, "server", *db, "init", "--org", "acme", "--name", "Acme")
    twice = _server(tmp_path, db, "event", "create", "--name", "Closing night", "--start", "2026-10-24 22:00",
                    "--end", "2026-10-25 02:30", "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult",
                    ok=False)
    assert twice.returncode == 1, twice
    assert "2026-10-25 02:30 happens twice in Europe/Paris: the clocks go back that night" in twice.stderr
    assert "'2026-10-25 02:30+02:00' (the first, CEST)" in twice.stderr
    assert "'2026-10-25 02:30+01:00' (the second, CET)" in twice.stderr
    skipped = _server(tmp_path, db, "event", "create", "--name", "Spring night", "--start", "2026-03-28 22:00",
                      "--end", "2026-03-29 02:30", "--tz", "Europe/Paris", ok=False)
    assert skipped.returncode == 1, skipped
    assert "2026-03-29 02:30 does not exist in Europe/Paris: the clocks go forward that night" in skipped.stderr
    assert "'2026-03-29 03:30' (CEST)" in skipped.stderr
    assert _events(tmp_path, db) == []
    _server(tmp_path, db, "event", "create", "--name", "Closing night", "--start", "2026-10-24 22:00",
            "--end", "2026-10-25 02:30+01:00", "--tz", "Europe/Paris")
    (event,) = _events(tmp_path, db)
    assert event["ends_at"] == 1792891800.0          # 2026-10-25 01:30 UTC: 02:30 CET, the second one
    listed = _server(tmp_path, db, "event", "list").stdout
    assert "2026-10-24 22:00 CEST -> 2026-10-25 02:30 CET" in listed, listed


def test_an_event_across_midnight_typed_on_one_date_says_it_ends_the_next_day(tmp_path, db):
    """An evening from 22:00 to 03:00 typed with one date ('--end "2026-07-03 03:00"'): refused with 'an event must
    end after it starts', which the organiser had written: it did not say the end is the next day's. Now it names
    both times and gives the --end to type; the event created says its times as the event's clocks show them
    (it said only its name: from a shell in New York, nothing confirmed the times were taken in Paris's)."""
    tg(tmp_path, "server", *db, "init", "--org", "acme", "--name", "Acme")
    done = _server(tmp_path, db, "event", "create", "--name", "Night 1", "--start", "2026-07-03 22:00", "--end",
                   "2026-07-03 03:00", "--tz", "Europe/Paris", ok=False)
    assert done.returncode == 1, done
    assert ("the event ends (2026-07-03 03:00) before it starts (2026-07-03 22:00): an event across midnight ends "
            "the next day, e.g. --end '2026-07-04 03:00'") in done.stderr, done.stderr
    assert _events(tmp_path, db) == []
    created = _server(tmp_path, db, "event", "create", "--name", "Night 1", "--start", "2026-07-03 22:00", "--end",
                      "2026-07-04 03:00", "--tz", "Europe/Paris").stdout
    assert created == "event 1 created: Night 1  2026-07-03 22:00 CEST -> 2026-07-04 03:00 CEST\n", created
    assert "2026-07-03 22:00 CEST -> 2026-07-04 03:00 CEST" in _server(tmp_path, db, "event", "list").stdout


# -- the night the clocks go back, at the doors -------------------------------------------------------------------
CLOSING_NIGHT = 1824943200.0     # 2027-10-31 00:40 UTC: 02:40 CEST, twenty minutes before the clocks go back


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def _faked(home: Path, clock: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a `ticketgate …` process of the organiser whose wall clock is `clock`
    (libfaketime's '+28000000s', preloaded: Ctrl-C reaches the process itself)."""
    return ([sys.executable, "-m", "agent"], dict(_env(home), TZ=TZ_OF_THE_SHELL, LD_PRELOAD=FAKETIME_LIB,
                                                  FAKETIME=clock))


def _run_at(home: Path, clock: str, *args: str) -> subprocess.CompletedProcess:
    argv, env = _faked(home, clock)
    proc = subprocess.run([*argv, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stdout, proc.stderr)
    return proc


def _start_at(home: Path, clock: str, *args: str) -> subprocess.Popen:
    argv, env = _faked(home, clock)
    return subprocess.Popen([*argv, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _organiser_at(home: Path, clock: str, db: list[str], ports: tuple[int, int]) -> tuple[subprocess.Popen, ...]:
    """`provision serve` (its broker on `ports`) and `server serve` of the organiser, their clocks at `clock`."""
    prov = _start_at(home, clock, "provision", "serve", "--org", "acme", *db, "--start-broker", "--listen",
                     "127.0.0.1", "--port", str(ports[0]), "--advertise", "127.0.0.1", "--no-zeroconf",
                     "--broker-port", str(ports[1]), "--for", "240")
    assert wait_for_line(prov, "enrollment endpoint", 30), "provision serve never listened"
    serve = _start_at(home, clock, "server", *db, "serve")
    assert wait_for_line(serve, "sync server", 30), "server serve never ran"
    return prov, serve


@pytest.mark.skipif(mosquitto_binary() is None or not Path(FAKETIME_LIB).exists(),
                    reason="mosquitto or libfaketime not installed")
def test_the_two_hours_the_clocks_show_twice_are_two_rows_told_apart(tmp_path, db):
    """The last night of the festival is the night the clocks go back in Paris (31 October 2027). A guest let in at
    02:40 summer time and one at 02:40 winter time, an hour later: `server stats` listed two hours both labelled
    '2027-10-31 02:00', and `report entries` wrote two 'hour' rows with one key, which a spreadsheet's pivot adds up
    as one hour of 2 entries. Now each names its zone ('02:00 CEST', '02:00 CET') in the text, the JSON and the
    report's CSV and XLSX, the same figures everywhere. The organiser's servers run on the festival night's clock
    (libfaketime), the door on the true one (it learns the server's time at each sync, as a door does)."""
    import openpyxl
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir()
    door.mkdir()
    first = int(CLOSING_NIGHT - time.time())
    at, hour_later = f"+{first}s", f"+{first + 3600}s"
    org = partial(_run_at, home, at)
    org("server", *db, "init", "--org", "acme", "--name", "Acme")
    org("server", *db, "event", "create", "--name", "Closing night", "--start", "2027-10-30 22:00", "--end",
        "2027-10-31 04:00+01:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult")
    order = json.loads(org("server", *db, "order", "add", "--event", "1", "--buyer", "Ann Martin", "--quantity", "2",
                           "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    payloads = [json.loads(org("server", *db, "ticket", "show", t["ticket_key"], "--json").stdout)["payload"]
                for t in order["tickets"]]
    ports = (free_port(), free_port())
    running = _organiser_at(home, at, db, ports)
    try:
        sheet = org("provision", "tokens", "create", "--org", "acme", *db, "--count", "1", "--gate", "north",
                    "--events", "1", "--role", "door", "--out", str(home / "north.pdf")).stdout
        tg(door, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
           f"127.0.0.1:{ports[0]}")
        org("server", *db, "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(door, "agent", "scan", "--json", payloads[0]).stdout)["accepted"]      # 02:4x CEST
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        for process in reversed(running):
            stop_process(process)
        running = _organiser_at(home, hour_later, db, ports)                                      # an hour later
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        assert json.loads(tg(door, "agent", "scan", "--json", payloads[1]).stdout)["accepted"]      # 02:4x CET
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        hours = [("2027-10-31 02:00 CEST", 1), ("2027-10-31 02:00 CET", 1)]
        stats = json.loads(org("server", *db, "stats", "--json").stdout)
        assert [(h["hour"], h["entries"]) for h in stats["entries_per_hour"]] == hours, stats["entries_per_hour"]
        text = org("server", *db, "stats").stdout
        assert "  2027-10-31 02:00 CEST  event 1 " in text and "  2027-10-31 02:00 CET   event 1 " in text, text
        org("server", *db, "report", "entries", "--out", str(tmp_path / "entries.xlsx"))
        org("server", *db, "report", "entries", "--out", str(tmp_path / "entries.csv"))
    finally:
        for process in reversed(running):
            stop_process(process)
    rows = list(openpyxl.load_workbook(tmp_path / "entries.xlsx").active.iter_rows(values_only=True))
    assert [(r[2], r[3]) for r in rows if r[0] == "hour"] == hours, rows
    with open(tmp_path / "entries.csv", encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    assert [line for line in lines if line.startswith("hour")] == [
        "hour,1,2027-10-31 02:00 CEST,1,,,", "hour,1,2027-10-31 02:00 CET,1,,,"], lines


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_who_is_inside_now_per_zone_is_answered_by_stats_and_the_entries_report(tmp_path, db):
    """A door in entry/exit mode between the Floor and the Balcony: a Floor guest comes in and goes out again, a
    Balcony guest comes in. The organiser asks how many are in each zone now, and how many went out at each gate:
    `server stats` gave entries per zone and gate only ('1/1: 1, 1/2: 1', both zones alike though the Floor is
    empty; the exit nowhere but on the device's line), while the door's own Statistics screen counts exits per zone
    and gate; `report entries` left the zone rows' inside_now blank and had no exits at all. Now each zone says its
    exits and who is inside it now, each gate its exits, the same in the JSON, the text and the report's XLSX (an
    `exits` column, last); the event's inside now is the zones' sum."""
    import openpyxl
    from tests.qa_organiser import organiser_running
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir()
    door.mkdir()
    now = time.time()
    start, end = (time.strftime("%Y-%m-%d", time.gmtime(now + d * 86400)) for d in (-1, 2))
    tg(home, "server", *db, "init", "--org", "acme", "--name", "Acme")
    tg(home, "server", *db, "event", "create", "--name", "Festival", "--start", f"{start} 10:00", "--end",
       f"{end} 23:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--zone", "2=Balcony", "--category", "1=Adult")
    payloads = []
    for zone in ("Floor", "Balcony"):
        order = json.loads(tg(home, "server", *db, "order", "add", "--event", "1", "--buyer", f"Guest {zone}",
                              "--quantity", "1", "--ticket", f"category=Adult,zone={zone}", "--json").stdout)
        payloads.append(json.loads(tg(home, "server", *db, "ticket", "show", order["tickets"][0]["ticket_key"],
                                      "--json").stdout)["payload"])
    with organiser_running(home, *db) as running:
        running.enroll(door, "north", "1")
        tg(home, "server", *db, "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        tg(door, "agent", "configure", "--mode", "entry_exit")
        moves = [json.loads(tg(door, "agent", "scan", "--json", p).stdout) for p in
                 (payloads[0], payloads[1], payloads[0])]
        assert [(m["accepted"], m["direction"]) for m in moves] == [(True, "in"), (True, "in"), (True, "out")], moves
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        stats = json.loads(tg(home, "server", *db, "stats", "--json").stdout)
        text = tg(home, "server", *db, "stats").stdout
        tg(home, "server", *db, "report", "entries", "--out", str(tmp_path / "entries.xlsx"))
    assert [(z["zone"], z["entries"], z["exits"], z["inside_now"]) for z in stats["entries_per_zone"]] == [
        (1, 1, 1, 0), (2, 1, 0, 1)]
    assert stats["inside_now"] == {"1": 1}
    assert stats["entries_per_gate"] == {"north": 2} and stats["exits_per_gate"] == {"north": 1}
    assert "per zone:  1/1: 1 (1 exit, 0 inside now), 1/2: 1 (1 inside now)" in text, text
    assert "per gate:  north: 2 (1 exit)" in text, text
    header, *cells = openpyxl.load_workbook(tmp_path / "entries.xlsx").active.iter_rows(values_only=True)
    rows = [dict(zip(header, r)) for r in cells]
    assert [(r["key"], r["entries"], r["exits"], r["inside_now"]) for r in rows if r["per"] == "zone"] == [
        (1, 1, 1, 0), (2, 1, 0, 1)], rows
    assert [(r["key"], r["entries"], r["exits"]) for r in rows if r["per"] in ("gate", "device")][0] == ("north", 2, 1)
