"""benchmarks/analyse_door_misses.py counts the misses of the chain the door runs: the app's construction
(kiosk_ui.adapters.camera.decoder_chain) with the scan screen's retry rule (agent.payload.plausible), so a retry
step's misread is a miss there too, not a read."""
from __future__ import annotations

import sys
from pathlib import Path

from drivers.testkit.door_conditions import frame

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_the_analysis_chain_drops_a_retry_steps_misread_as_the_door_does():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from analyse_door_misses import live_chain
    finally:
        sys.path.remove(str(BENCHMARKS))
    f = frame("small", "tuning", 226)        # a small code: the 3x3 median region reads "96200" (tests/test_camera_plausible.py)
    chain = live_chain(4.0)
    assert not chain.plausible("96200") and chain.plausible(f.payload)
    assert chain.decode(f.image).texts == (f.payload,)        # the misread dropped, a later step reads the ticket
