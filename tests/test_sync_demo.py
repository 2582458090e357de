"""`ticketgate demo` tells an organiser the whole evening in plain words (French or English), with the app's words
for verdicts, and ends with commands that work; it says how to get mosquitto when it is missing."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server_stub.model import ORDER_NUMBER

ROOT = Path(__file__).resolve().parent.parent

# what an organiser evaluating the product should never have to read
ENGINEER_WORDS = re.compile(r"outbox|bundle|\bv\d+\b|KiB|\bpid\b|127\.0\.0\.1|mosquitto|broker|[{}\[\]]|"
                            r"\b(?:zone|category|event) \d|(?-i:REVOKED|\bNone\b|\bTrue\b|\bFalse\b)|_|tablet-south|kiosk-desk|"
                            r"\bdevice_id\b|ticket \d{6,}", re.IGNORECASE)

ORDER_NUMBER_IN_TEXT = re.compile(r"\b" + ORDER_NUMBER.pattern.strip("^$") + r"\b")


def demo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "demo", "--tickets", "30", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180, env=env)


def story(out: str) -> str:
    """The demo's text before its "what to try next" commands (which name folders and options on purpose), with its
    random order numbers (`V234-Q6`, `K7M2-V6`) blanked: they are the organiser's words, not a version `v6`."""
    text = re.split(r"\n(What to try next|À essayer ensuite)\n", out)[0]
    return ORDER_NUMBER_IN_TEXT.sub("ORDER", text)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_demo_tells_the_evening_in_plain_words(lang, tmp_path):
    proc = demo("--lang", lang, "--keep", str(tmp_path / "kept"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    text = story(out)
    assert ENGINEER_WORDS.findall(text) == [], text
    if lang == "fr":
        for expected in ("ACCEPTÉ — ENTRÉE", "DÉJÀ UTILISÉ", "BILLET ANNULÉ", "Double entrée", "porte Nord",
                         "Rien de perdu", "À essayer ensuite", "Soirée d'ouverture"):
            assert expected in out, out
        assert "ACCEPTED" not in out and "USED" not in out
    else:
        for expected in ("ACCEPTED — IN", "ALREADY USED", "TICKET CANCELLED", "Double entry", "North gate",
                         "Nothing lost", "What to try next", "Opening night"):
            assert expected in out, out


def test_demo_words_are_the_apps(tmp_path):
    """The verdict words of the demo are those the door screen shows (one definition: agent.verdict_words)."""
    from agent.verdicts import Code, Verdict
    from kiosk_ui import i18n
    from kiosk_ui.presenters.verdict import present

    class NoNames:
        def event(self, *_): return None
        def zone(self, *_): return None
        def category(self, *_): return None
        def ticket(self, *_): return None

    out = demo("--lang", "fr").stdout
    try:
        i18n.set_language("fr")
        for code in (Code.REVOKED, Code.ALREADY_USED):
            assert present(Verdict(code), NoNames()).title in out
        assert present(Verdict(Code.ACCEPTED, direction="in"), NoNames()).title in out
    finally:
        i18n.set_language("en")


def test_what_to_try_next_works(tmp_path):
    """The demo ends with the exact commands to open the app on its data: they run."""
    kept = tmp_path / "kept"
    out = demo("--lang", "en", "--keep", str(kept)).stdout
    commands = [line.strip() for line in out.split("What to try next\n", 1)[1].splitlines()
                if re.match(r"\s+\S*ticketgate ", line)]
    app = [c for c in commands if " kiosk --home " in c][0]
    stats = [c for c in commands if " server stats " in c][0]
    assert str(kept / "tablet-north") in app and str(kept / "server") in stats
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1")
    shot = tmp_path / "north.png"
    args = app.split()[1:] + ["--screenshot", str(shot), "--screen", "search"]
    run = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0 and shot.stat().st_size > 10_000, run.stderr[-2000:]
    figures = subprocess.run([sys.executable, "-m", "agent", *stats.split()[1:]], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert figures.returncode == 0 and "double entries: 1" in figures.stdout, figures.stdout + figures.stderr


def test_demo_without_mosquitto_says_how_to_get_it():
    proc = demo(env=dict(os.environ, TICKETGATE_MOSQUITTO="/nonexistent/mosquitto"))
    assert proc.returncode == 1
    assert "apt-get install" in proc.stderr
