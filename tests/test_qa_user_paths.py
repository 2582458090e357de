"""Paths a user walks through the public commands (`ticketgate …` in subprocesses, fresh HOME), found broken by
outside testing: each test fails on the defect it names."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

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


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture
def organiser(tmp_path):
    """The organiser's guide, first commands: init, an event with zones and categories, an order."""
    home = tmp_path / "home"
    home.mkdir()
    tg(home, "server", "init", "--org", "acme", "--name", "Acme Festival")
    tg(home, "server", "event", "create", "--name", "Opening night", "--start", "2026-07-01 18:00", "--end",
       "2026-07-02 02:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--category", "1=Adult")
    tg(home, "server", "order", "add", "--event", "1", "--buyer", "Ann Martin", "--email", "ann@example.org",
       "--quantity", "2", "--ticket", "category=Adult,zone=Floor")
    return home


def test_secret_sheets_and_etickets_are_0600(organiser, tmp_path):
    """Token sheets (a code enrolls a device), the Wi-Fi QR (the hotspot password) and e-tickets (a signed QR gets
    its holder in, with the buyer's name and e-mail) were written 0644, readable by every user of the laptop."""
    home = organiser
    out = tmp_path / "out"
    out.mkdir()
    tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "2", "--gate", "north", "--events", "1",
       "--out", str(out / "doors.pdf"))
    tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "desk", "--role", "kiosk",
       "--events", "1", "--out", str(out / "kiosks.png"))
    tg(home, "provision", "wifi-qr", "--ssid", "Door Net", "--password", "event-2026", "--out", str(out / "wifi.png"))
    tg(home, "provision", "wifi-qr", "--ssid", "Door Net", "--password", "event-2026", "--out", str(out / "wifi.svg"))
    tg(home, "server", "export-etickets", "--event", "1", "--out", str(out / "etickets"), "--format", "both")
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.suffix for p in files} == {".pdf", ".png", ".svg"} and len(files) >= 7, files
    assert [p.name for p in files if not _private(p)] == []
    assert (out / "doors.pdf").read_bytes().startswith(b"%PDF")
    assert (out / "wifi.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (out / "wifi.svg").read_bytes()
