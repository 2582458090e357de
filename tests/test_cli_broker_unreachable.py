"""A broker address where nothing listens: the organiser's commands that take --broker (`server push`, `server device
configure`) and the technician's `provision enroll` say at once which broker, "connection refused" and what to
check, exit 1, and change nothing. They waited 10 s and said only "no broker answered" (or "[Errno 111]")."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.cli import main as ticketgate
from tests.broker import free_port
from tests.helpers import stop_process, wait_for_line

ROOT = Path(__file__).resolve().parent.parent


def _organiser(data: Path, capsys) -> None:
    def server(*argv: str) -> None:
        assert ticketgate(["server", "--data", str(data), *argv]) == 0
    server("init", "--org", "fest", "--name", "Fest")
    server("event", "create", "--name", "Night", "--start", "2026-12-31 20:00", "--end", "2027-01-01 03:00",
           "--tz", "Europe/Paris")
    server("device", "register", "door-1", "--events", "1")
    capsys.readouterr()


def test_push_and_configure_to_a_closed_port_say_connection_refused(tmp_path, capsys):
    data, port = tmp_path / "server", free_port()        # bound once and released: nothing listens there
    _organiser(data, capsys)
    where = f"127.0.0.1:{port}"
    assert ticketgate(["server", "--data", str(data), "push", "--broker", where]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the broker at {where}: connection refused" in err, err
    assert "--broker HOST:PORT" in err and "provision serve --start-broker" in err and len(err.splitlines()) == 1

    assert ticketgate(["server", "--data", str(data), "device", "configure", "door-1", "--mode", "entry_exit",
                       "--broker", where]) == 1
    err = capsys.readouterr().err
    assert f"not sent: cannot reach the broker at {where}: connection refused" in err, err
    assert ticketgate(["server", "--data", str(data), "device", "commands", "door-1"]) == 0
    assert "0 command(s) sent to door-1" in capsys.readouterr().out      # nothing recorded as sent


def test_enroll_with_the_broker_down_says_connection_refused(tmp_path):
    """The enrollment endpoint answers, the broker it hands out does not listen: the device is enrolled and the
    technician reads which broker refused and what to do."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def tg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    data, http_port, broker_port = tmp_path / "server", free_port(), free_port()
    assert tg("server", "--data", str(data), "init", "--org", "fest", "--name", "Fest").returncode == 0
    serve = subprocess.Popen([sys.executable, "-m", "agent", "provision", "serve", "--data", str(data), "--org", "fest",
                              "--listen", "127.0.0.1", "--port", str(http_port), "--advertise", "127.0.0.1",
                              "--broker-port", str(broker_port), "--no-zeroconf", "--for", "60"],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_line(serve, "enrollment endpoint", 30)
        tokens = tg("provision", "tokens", "create", "--data", str(data), "--org", "fest", "--count", "1",
                    "--out", str(tmp_path / "sheet.png"))
        code = [line.split()[-1] for line in tokens.stdout.splitlines() if line.strip().startswith("code ")][0]
        enrolled = tg("provision", "enroll", "--code", code, "--server", f"127.0.0.1:{http_port}",
                      "--dir", str(tmp_path / "door"))
    finally:
        stop_process(serve)
    assert enrolled.returncode == 1
    assert f"cannot reach the broker at 127.0.0.1:{broker_port}: connection refused" in enrolled.stderr, enrolled.stderr
    assert "Errno" not in enrolled.stderr and "provision serve --start-broker" in enrolled.stderr
    assert tg("provision", "status", "--dir", str(tmp_path / "door")).returncode == 0     # enrolled all the same


def test_agent_sync_to_a_closed_port_says_connection_refused_at_once(tmp_path):
    """An enrolled door whose broker does not listen: `agent sync --until-idle` said only "no broker answered" after
    waiting its whole --for; it now says which broker refused, at once, and that the device keeps working offline."""
    import json
    import time
    from agent.home import Broker, Credentials
    port = free_port()
    creds = Credentials("door-1", "fest", "", "north", (1,), "door-1", "pw", Broker("127.0.0.1", port), b"k" * 32,
                        1.0, "door")
    home = tmp_path / "door"
    home.mkdir()
    (home / "credentials.json").write_text(json.dumps(creds.to_json()))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home))
    started = time.monotonic()
    synced = subprocess.run([sys.executable, "-m", "agent", "agent", "sync", "--until-idle", "--for", "120"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=240)
    assert synced.returncode == 1
    assert f"cannot reach the broker at 127.0.0.1:{port}: connection refused" in synced.stderr, synced.stderr
    assert "keeps working offline" in synced.stderr and "Traceback" not in synced.stderr
    assert time.monotonic() - started < 60          # not the whole --for (a start-up on a loaded host: seconds)
