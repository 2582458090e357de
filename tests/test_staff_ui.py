"""The staff login in the real app, rendered offscreen in English and French (tests/staff_ui_scenario.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from kiosk_ui.presenters.colours import ORANGE
from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "ui-staff"


@pytest.fixture(scope="module", params=["en", "fr"])
def res(request) -> tuple[str, dict]:
    out = OUT / request.param
    out.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("staff_ui_scenario.py", str(out), request.param)
    return request.param, json.loads((out / "staff_results.json").read_text())


WORDS = {"en": {"login": "LOG IN FIRST", "nobody": "Nobody on duty", "wrong": "Wrong PIN.", "on": "ON DUTY",
                "steward": "On duty: Léa Martin (Door steward)", "sup": "On duty: Sam Okafor (Supervisor)",
                "people": ["Léa Martin · Door steward", "Sam Okafor · Supervisor"], "accepted": "ACCEPTED",
                "not_allowed": "Léa Martin may not do this: call a supervisor.",
                "deactivated": "Old Hand is deactivated: ask the organiser.",
                "unknown": "Badge refused: Unknown staff badge."},
         "fr": {"login": "CONNECTEZ-VOUS D'ABORD", "nobody": "Personne en service", "wrong": "PIN incorrect.",
                "on": "EN SERVICE", "steward": "En service : Léa Martin (Contrôleur)",
                "sup": "En service : Sam Okafor (Superviseur)",
                "people": ["Léa Martin · Contrôleur", "Sam Okafor · Superviseur"], "accepted": "ACCEPTÉ",
                "not_allowed": "Léa Martin n'a pas le droit de faire ceci : appelez un superviseur.",
                "deactivated": "Old Hand est désactivé(e) : adressez-vous à l'organisateur.",
                "unknown": "Badge refusé : Badge du personnel inconnu."}}


def test_nobody_on_duty_scans_nothing(res):
    lang, r = res
    w = WORDS[lang]
    assert r["login_first"]["title"] == w["login"]
    assert r["login_first"]["bg"][:3] == pytest.approx(list(ORANGE[:3]), abs=0.01)
    assert r["outbox_after_refused_scan"] == 0                     # not judged, nothing queued
    img = Image.open(OUT / lang / "staff_scan_login_first.png").convert("RGB").resize((90, 160))
    target = [round(c * 255) for c in ORANGE[:3]]
    raw = img.tobytes()
    orange = sum(all(abs(raw[i + k] - target[k]) <= 14 for k in range(3)) for i in range(0, len(raw), 3))
    assert orange / (90 * 160) > 0.3


def test_login_screen_lists_active_staff_and_refuses_a_wrong_pin(res):
    lang, r = res
    w = WORDS[lang]
    assert r["login_screen"]["on_duty"].startswith(w["nobody"])
    assert r["login_screen"]["people"] == w["people"]               # the deactivated member is not offered
    assert r["login_screen"]["logout_disabled"] is True
    assert w["wrong"].split()[0] in r["wrong_pin"]
    assert r["after_login_screen"] == "scan"
    assert w["steward"] in r["status_strip"]
    assert r["steward_scan"].startswith(w["accepted"])
    assert r["steward_may_change_mode"] is False
    assert r["steward_undo"] == r["steward_refund"] == w["not_allowed"]


def test_a_badge_scanned_puts_the_supervisor_on_duty(res):
    lang, r = res
    w = WORDS[lang]
    assert r["badge"]["title"] == w["on"] and r["badge"]["reason"] == w["sup"]
    assert r["supervisor_may_change_mode"] is True
    assert r["on_duty_screen"] == {"on_duty": w["sup"], "logout_disabled": False}
    for name in ("staff_login", "staff_on_duty", "staff_pin_wrong", "staff_badge_on_duty"):
        assert Image.open(OUT / lang / f"{name}.png").size == (720, 1280)


def test_staff_refusals_are_in_the_screens_language(res):
    lang, r = res
    w = WORDS[lang]
    assert r["deactivated_pin"] == w["deactivated"]
    assert r["deactivated_badge"].endswith(w["deactivated"]) and r["deactivated_badge"] != w["deactivated"]
    assert r["unknown_badge"] == w["unknown"]
