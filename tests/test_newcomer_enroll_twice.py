"""Two `ticketgate provision enroll` at once in one device folder (two terminals, or a terminal beside the app's
Set-up), through the public commands with the organiser's `provision serve` and its real broker. Both used one key
file in turns: the second died on a traceback after the server had enrolled it — a code spent, a device in
`provision devices` that nobody holds. Now one enrolls and the other is refused before it sends anything."""
from __future__ import annotations

import subprocess
import sys

import pytest

from agent import pid_lock
from tests.broker import mosquitto_binary
from tests.qa_organiser import ROOT, _env, organiser_running, tg

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _codes(home, count: int) -> list[str]:
    sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", str(count), "--gate", "north",
               "--out", str(home / "doors.pdf")).stdout
    return [line.split("code ")[1].split()[0] for line in sheet.splitlines() if line.strip().startswith("code ")]


def _enrolled_ids(home) -> list[str]:
    return [line.split()[0] for line in tg(home, "provision", "devices", "--org", "acme").stdout.splitlines()
            if line.startswith("dev-")]


@needs_broker
def test_an_enrollment_under_way_refuses_a_second_one_which_spends_nothing(tmp_path):
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme")
    with organiser_running(tmp_path, serve=False) as org:
        server = f"127.0.0.1:{org.http_port}"
        first, second = _codes(tmp_path, 2)
        device = tmp_path / "device"
        device.mkdir(mode=0o700)
        held = pid_lock.take(device / "enroll.lock")      # what an enrollment under way holds (the app's, here)
        try:
            proc = tg(tmp_path, "provision", "enroll", "--code", first, "--server", server, ok=False)
        finally:
            held.close()
        assert proc.returncode == 1
        assert "another enrollment of this device is under way" in proc.stderr and "the code is not used" in \
            proc.stderr, proc.stderr
        assert _enrolled_ids(tmp_path) == []                                     # nothing reached the server

        racing = [subprocess.Popen([sys.executable, "-m", "agent", "provision", "enroll", "--code", code, "--server",
                                    server], cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for code in (first, second)]
        said = [p.communicate(timeout=60) for p in racing]
        codes = sorted(p.returncode for p in racing)
        assert codes == [0, 1], said
        assert not any("Traceback" in err for _, err in said), said
        loser = next(err for p, (_, err) in zip(racing, said) if p.returncode == 1)
        assert "already enrolled" in loser or "under way" in loser, loser
        device_id = tg(tmp_path, "provision", "status").stdout.split()[1]
        assert _enrolled_ids(tmp_path) == [device_id]          # no device enrolled that nobody holds
