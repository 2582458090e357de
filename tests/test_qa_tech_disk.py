"""The organiser's laptop with its disk full (the technician's day: a screen recording, a photo library filled it)
while devices enrol. The device was told 'server refused (500): the server could not finish this request; try
again' and `provision serve` printed a traceback (whose last line, 'cannot rollback - no transaction is active',
hid the full disk). Now the device is told the organiser's machine has no disk space left and to try the same code
again, serve says it in one line, and the same code enrols once space is freed. Through the public commands, the
organiser's data folder on a small tmpfs (real files on a real full disk; mounting one needs root)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process
from tests.qa_organiser import organiser_running, tg
from tests.test_qa_skew import _event_now


def _small_disk(folder: Path) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_enrolment_on_a_laptop_with_its_disk_full_says_so_and_the_same_code_works_once_space_is_freed(tmp_path):
    disk = tmp_path / "disk"
    if not _small_disk(disk):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        home, door = disk / "org", tmp_path / "door"
        home.mkdir()
        door.mkdir()
        _event_now(home)
        with organiser_running(home, serve=False) as running:
            sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                       "--out", str(home / "north.pdf")).stdout
            code = sheet.split("code ")[-1].split()[0]
            filler = disk / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True)
            refused = tg(door, "provision", "enroll", "--code", code, "--server", f"127.0.0.1:{running.http_port}",
                         ok=False)
            assert refused.returncode == 1 and ("the organiser's machine has no disk space left; nothing was used "
                                                "up: free some space there, then try the same code again") \
                in refused.stderr, refused.stderr
            assert not (door / "device" / "credentials.json").exists()
            filler.unlink()
            tg(door, "provision", "enroll", "--code", code, "--server", f"127.0.0.1:{running.http_port}")
            assert json.loads((door / "device" / "credentials.json").read_text())["device_id"]
            stop_process(running.prov)
            said = running.prov.stderr.read() if running.prov.stderr else ""
            assert "Traceback" not in said and ("enrollment endpoint: /v1/enroll refused: the disk of the "
                                                "organiser's data is full") in said, said
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
