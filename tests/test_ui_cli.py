"""`ticketgate kiosk`: the screenshot mode, the real app's start (first screen), bad inputs. One process each."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def kiosk(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1",
               KIVY_HOME=str(tmp / "kivy"), TICKETGATE_HOME=str(tmp / "agent"))
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "agent.cli", "kiosk", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_screenshot_of_a_screen_in_french_landscape(tmp_path, artifacts):
    out = artifacts / "ui" / "cli_menu_fr_landscape.png"
    proc = kiosk("--demo", "--screenshot", str(out), "--screen", "menu", "--lang", "fr", "--size", "1280x800",
                 tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    img = Image.open(out)
    assert img.size == (1280, 800)
    raw = img.convert("RGB").resize((64, 40)).tobytes()
    assert len({raw[i:i + 3] for i in range(0, len(raw), 3)}) > 5


def test_real_app_starts_on_the_scan_screen(tmp_path):
    """The app itself (App.run, not the harness) on an empty agent folder: first screen drawn, then quits."""
    proc = kiosk("--smoke", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(line.startswith("first-screen scan ") for line in proc.stdout.splitlines()), proc.stdout
    assert (tmp_path / "agent" / "ledger.sqlite").exists()


def test_bad_size_is_a_clear_error(tmp_path):
    proc = kiosk("--size", "big", "--screenshot", str(tmp_path / "x.png"), tmp=tmp_path)
    assert proc.returncode != 0 and "--size takes WxH" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_unknown_screen_is_refused(tmp_path):
    proc = kiosk("--screen", "nope", tmp=tmp_path)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_foreign_ledger_is_left_alone(tmp_path):
    home = tmp_path / "agent"
    home.mkdir()
    (home / "ledger.sqlite").write_bytes(b"this is not a database" * 100)
    proc = kiosk("--screenshot", str(tmp_path / "x.png"), tmp=tmp_path)
    assert proc.returncode == 3 and "left untouched" in proc.stderr
    assert (home / "ledger.sqlite").read_bytes() == b"this is not a database" * 100
