"""The public commands as tests walk them: `tg` runs one `ticketgate …` command of a HOME, `Organiser` keeps the
organiser's servers running (`provision serve` with its broker, `server serve`) and enrols doors with printed codes."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from tests.helpers import provision_serve, stop_process, wait_for_line

ROOT = Path(__file__).resolve().parent.parent


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE")}
    return dict(env, HOME=str(home), PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home / "device"))


def tg(home: Path, *args: str, stdin: str = "", ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_env(home), input=stdin,
                          capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _start(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


class Organiser:
    """The organiser at `home` with `provision serve` (its broker, the enrolment endpoint) running; `server serve`
    once `start_serve` is called. `store` options (`--db URL`) go to every server command."""

    def __init__(self, home: Path, *store: str, seconds: int = 150) -> None:
        self.home, self.store = home, store
        self.prov, self.http_port = provision_serve(partial(_start, home), *store, seconds=seconds)
        self.serve: subprocess.Popen | None = None

    def start_serve(self, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """`server serve` (stopping one already running), or `command` in its place (another clock, a patched
        server), once it says it runs."""
        self.stop_serve()
        self.serve = (subprocess.Popen(list(command), cwd=ROOT, env=env or _env(self.home), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
                      if command else _start(self.home, "server", *self.store, "serve"))
        assert wait_for_line(self.serve, "sync server", 30)
        return self.serve

    def stop_serve(self) -> None:
        if self.serve is not None:
            stop_process(self.serve)
            self.serve = None

    def enroll(self, device_home: Path, gate: str = "north", events: str = "", role: str = "door",
               device: Callable[..., subprocess.CompletedProcess] = tg) -> None:
        """The organiser prints one enrolment code for `gate` (on `events`, else every event); the technician enrols
        `device_home`'s device with it (by `device`, a `tg`-like runner: e.g. the device's own clock)."""
        sheet = tg(self.home, "provision", "tokens", "create", "--org", "acme", *self.store, "--count", "1", "--gate",
                   gate, *(["--events", events] if events else []), "--role", role,
                   "--out", str(self.home / f"{gate}.pdf")).stdout
        device(device_home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
               f"127.0.0.1:{self.http_port}")

    def close(self) -> None:
        self.stop_serve()
        stop_process(self.prov)


@contextlib.contextmanager
def organiser_running(home: Path, *store: str, seconds: int = 150, serve: bool = True) -> Iterator[Organiser]:
    """`provision serve` and (unless told) `server serve` of the organiser at `home`, both stopped at the end."""
    running = Organiser(home, *store, seconds=seconds)
    try:
        if serve:
            running.start_serve()
        yield running
    finally:
        running.close()
