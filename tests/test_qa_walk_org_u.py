"""The organiser's festival through the public commands (`ticketgate server …` subprocesses with their own HOME), on
SQLite and on a real PostgreSQL the tests start: an event in Europe/Paris typed from a shell in another time zone,
the night the clocks change, an event across midnight. Each test fails on the defect it names."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    both times and gives the --end to type."""
    tg(tmp_path, "server", *db, "init", "--org", "acme", "--name", "Acme")
    done = _server(tmp_path, db, "event", "create", "--name", "Night 1", "--start", "2026-07-03 22:00", "--end",
                   "2026-07-03 03:00", "--tz", "Europe/Paris", ok=False)
    assert done.returncode == 1, done
    assert ("the event ends (2026-07-03 03:00) before it starts (2026-07-03 22:00): an event across midnight ends "
            "the next day, e.g. --end '2026-07-04 03:00'") in done.stderr, done.stderr
    assert _events(tmp_path, db) == []
    _server(tmp_path, db, "event", "create", "--name", "Night 1", "--start", "2026-07-03 22:00", "--end",
            "2026-07-04 03:00", "--tz", "Europe/Paris")
    assert "2026-07-03 22:00 CEST -> 2026-07-04 03:00 CEST" in _server(tmp_path, db, "event", "list").stdout
