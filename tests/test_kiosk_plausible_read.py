"""What the camera may take from a retry step (a filtered image), per screen of the real app rendered offscreen
(tests/plausible_read_scenario.py): a ticket or badge on the scan screen, an enrollment QR on the set-up screen, any
text elsewhere (a promo code at the desk). A misread of the wrong shape is dropped and the camera reads on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "plausible-read"


@pytest.fixture(scope="module")
def res() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("plausible_read_scenario.py", str(OUT))
    return json.loads((OUT / "plausible_results.json").read_text())


def test_the_scan_screen_takes_only_the_shape_of_a_ticket(res):
    assert res["screens"]["scan"] == {"ticket": True, "enrollment_qr": False, "qr_misread": False, "ean13": False,
                                      "promo": False}


def test_the_setup_screen_takes_only_the_shape_of_an_enrollment_qr(res):
    assert res["screens"]["setup"] == {"ticket": False, "enrollment_qr": True, "qr_misread": False, "ean13": False,
                                       "promo": False}


def test_the_sell_screen_takes_any_text(res):
    assert all(res["screens"]["sell"].values()), res["screens"]["sell"]


def test_the_setup_screen_s_camera_is_started_with_that_rule(res):
    assert res["setup_camera"] == res["screens"]["setup"]
