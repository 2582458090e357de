"""Door staff's and kiosk operators' paths through the real app (session K, tests/qa_paths_k_app_scenario.py):
real screens offscreen, real ledger, the real camera decoder chain, Zebra / Bluebird broadcasts through the app's
LaserInput. Each test fails on the defect it names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_offscreen_scenario

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "qa-paths-k-app"


def _walk(part: str) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    run_offscreen_scenario("qa_paths_k_app_scenario.py", str(OUT), part)
    return json.loads((OUT / f"k_{part}.json").read_text())


@pytest.fixture(scope="module")
def door() -> dict:
    return _walk("door")


@pytest.fixture(scope="module")
def desk() -> dict:
    return _walk("desk")


def test_two_tickets_held_to_the_camera_are_each_admitted_once(door):
    """A couple shows both tickets on one phone; the decoder reads one code per frame, one then the other as the
    picture moves. The camera passed on a code unless it was the very last one read, so both went to the gate on
    every frame: "ALREADY READ", then after the re-read window a red "ALREADY USED" for two people just admitted,
    and 16 scans counted for 2 people. Now each code held in view is passed on once."""
    assert door["decoded_per_frame"] == [True, True]       # the premise: each frame reads one of the two codes
    shown = door["two_codes_shown"]
    assert shown[:2] == ["ACCEPTED — IN", "ACCEPTED — IN"], shown
    assert set(shown) == {"ACCEPTED — IN"}, shown
    assert door["two_codes_counters"] == [2, 2]
