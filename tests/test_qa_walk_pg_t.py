"""The organiser whose data lives in PostgreSQL, through the public commands (`ticketgate …` subprocesses with their
own HOME, `--db postgresql://…`) on a real PostgreSQL the tests start: what breaks, misleads or differs from the
same walk on SQLite. Each test fails on the defect it names."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.qa_organiser import ROOT, _env


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


def _tg(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`tg` with extra environment variables (the database URL from $TICKETGATE_SERVER_DB), any exit code."""
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=dict(_env(home), **env),
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc
