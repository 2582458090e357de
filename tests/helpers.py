"""Helpers shared by the tests (fixtures that need a broker or a store are in broker.py and sync_fixtures.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll `predicate` every `step` seconds until it is true or `timeout` seconds passed; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def kiosk_ui_log(level: int = 30) -> list[str]:
    """The app's log records (`kiosk_ui.*`, WARNING and up by default), each with its traceback, kept in the list
    returned from now on: a Kivy scenario's console log is off, so a failure can say what the app logged."""
    import logging

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record))
    kept: list[str] = []
    logging.getLogger("kiosk_ui").addHandler(Keep(level))
    return kept


def wait_for_line(proc, text: str, timeout: float = 30.0) -> bool:
    """Read the process's stdout (text mode) until a line containing `text`: True, or False once `timeout` seconds
    passed or its output ended. Bounded even when the process says nothing at all (a reader thread)."""
    import queue
    import threading
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
            if text in line:
                break
        lines.put(None)
    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            return False
        if line is None:
            return False
        if text in line:
            return True
    return False


def run_offscreen_scenario(script: str, *args: str, timeout: float = 180) -> None:
    """Run tests/SCRIPT (a Kivy scenario that renders screens and writes its results) in its own process with
    Kivy drawing offscreen; fails the test with the scenario's traceback (tests/scenario_main.py: Kivy swallows its
    stderr) and the end of its output if it exits non-zero, or with every thread's stack if it still runs after
    `timeout` seconds (then it is killed)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from tests.scenario_main import SCENARIO_TRACEBACK
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="scenario-") as tmp:
        trace = Path(tmp) / "traceback.txt"
        env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1",
                   **{SCENARIO_TRACEBACK: str(trace)})
        env.pop("DISPLAY", None)
        proc = subprocess.Popen([sys.executable, str(root / "tests" / script), *args], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)        # tests/scenario_main.py: every thread's stack, then killed
            stacks = Path(str(trace) + ".stacks")
            wait_for(lambda: stacks.exists() and "Thread" in stacks.read_text(), 10)
            proc.kill()
            stdout, stderr = proc.communicate()
            raise AssertionError(f"{script} {' '.join(args)} still running after {timeout:g} s (killed); its threads:\n"
                                 f"{stacks.read_text()[-6000:] if stacks.exists() else '(none written)'}\n"
                                 f"--- stdout (end) ---\n{stdout[-3000:]}--- stderr (end) ---\n{stderr[-3000:]}"
                                 ) from None
        told = trace.read_text() if trace.exists() else ""
    assert proc.returncode == 0, (f"{script} {' '.join(args)} exited {proc.returncode}\n"
                                  + (f"--- its traceback ---\n{told}" if told else "(no traceback written)\n")
                                  + f"--- stdout (end) ---\n{stdout[-3000:]}"
                                  + f"--- stderr (end) ---\n{stderr[-3000:]}")


def server_cmd(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ticketgate server --data DATA ARGS…` on that folder's SQLite store (never TICKETGATE_SERVER_DB's), run as
    the organiser runs it; asserted to succeed with no traceback."""
    proc = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, TICKETGATE_SERVER_DB=""))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stdout, proc.stderr)
    return proc


def fete(data: Path, *categories: str) -> int:
    """`server init` of organiser fest at `data` and its event "Fête" (2026-12-31 20:00, Europe/Paris) with
    `categories` (`1=Adulte`, …): the event's id."""
    server_cmd(data, "init", "--org", "fest", "--name", "Fest")
    return json.loads(server_cmd(data, "event", "create", "--name", "Fête", "--start", "2026-12-31 20:00", "--end",
                                 "2027-01-01 02:00", "--tz", "Europe/Paris",
                                 *(x for c in categories for x in ("--category", c)), "--json").stdout)["event_id"]


def server_refusals(data: Path) -> subprocess.CompletedProcess[str]:
    """`ticketgate server --data DATA refusals`, the organiser's list of refused uploads, run as its command."""
    return subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "refusals"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, wait: float = 20) -> int:
    """Stop a `ticketgate …` process as a user would (Ctrl-C by default), killing it if it does not end in `wait` s;
    its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(5)


def provision_serve(start: Callable[..., subprocess.Popen], *options: str, seconds: int,
                    zeroconf: bool = False) -> tuple[subprocess.Popen, int]:
    """`ticketgate provision serve` with its own broker on free loopback ports, for `seconds`, once its enrollment
    endpoint listens (`zeroconf`: and is advertised on 127.0.0.1): (the process, the endpoint's port). `start(*args)`
    runs a `ticketgate` command of the organiser (its HOME); `options` go before the ports (`--db …`). Stopped again
    if it never says it listens."""
    from tests.broker import free_port
    http_port, broker_port = free_port(), free_port()
    prov = start("provision", "serve", "--org", "acme", *options, "--start-broker", "--listen", "127.0.0.1", "--port",
                 str(http_port), "--advertise", "127.0.0.1", *([] if zeroconf else ["--no-zeroconf"]), "--broker-port",
                 str(broker_port), "--for", str(seconds))
    if not wait_for_line(prov, "advertised on zeroconf" if zeroconf else "enrollment endpoint", 30):
        stop_process(prov)
        raise AssertionError("`provision serve` never said its enrollment endpoint listens")
    return prov, http_port
