"""Small codes (a ticket at arm's length, 1.5-2 px per module): sampled with the optics' blur subtracted
(drivers/camera/small_codes.py). Real signed tickets in real door frames (drivers/testkit/door_conditions.py), the
real DecoderChain with the door's budget admitted by pinned costs (`combine.NOMINAL_MS`: the same reads whatever this
machine's load), zxing-cpp; `ticketgate decode` on a photo."""
from __future__ import annotations

import json

import cv2
import numpy as np

from agent.cli import main as ticketgate
from agent.payload import plausible
from drivers.camera import erasure, redraw, small_codes
from drivers.camera import regions as R
from drivers.camera.chain import DecoderChain
from drivers.camera.combine import NOMINAL_MS
from drivers.camera.decoders import ZxingDecoder
from drivers.testkit import qr_oracle
from drivers.testkit.door_conditions import frame, frames, issuer, no_code_frames

SMALL_STEP = "region:zxing-cpp/pure+small_code"
# Tuning frames of small codes neither the live chain (within its budget) nor `decode()` (every step) read before
# (2026-12-02): zxing-cpp locates most of them and fails on their checksums
LADDER_MISSED = (30, 77, 84)
N = redraw.TICKET_MODULES
PURE = ZxingDecoder(try_harder=False, single=True, is_pure=True)


def _door_chain() -> DecoderChain:
    return DecoderChain(plausible=plausible, pinned_costs=NOMINAL_MS)


def test_a_small_code_the_ladder_missed_is_read_in_one_frame():
    for index in LADDER_MISSED:
        f = frame("small", "tuning", index)
        result = _door_chain().decode_live(f.image)
        assert (result.texts, result.step) == ((f.payload,), SMALL_STEP), (index, result)


def test_ticketgate_decode_reads_a_photo_of_a_small_code(tmp_path, capsys):
    """Support reads a buyer's photo of a ticket taken from afar: `decode()` runs every step, and none read these."""
    ring = tmp_path / "keyring.json"
    issuer().keyring.save(ring)
    files = []
    for index in LADDER_MISSED:
        files.append(tmp_path / f"small-{index}.png")
        cv2.imwrite(str(files[-1]), frame("small", "tuning", index).image)
    assert ticketgate(["decode", "--json", "--keyring", str(ring), *map(str, files)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for index, found in zip(LADDER_MISSED, out):
        assert found["texts"] == [frame("small", "tuning", index).payload], index
        assert found["codes"][0]["verdict"]["status"] == "ok", index


def test_the_blur_subtracted_reads_where_a_local_threshold_cannot_even_through_the_true_corners():
    """The decision, not the registration: each frame's modules sampled at their true centres (qr_oracle.sample), told
    dark or light by the local threshold (`redraw._decide`) or with the neighbours' blur subtracted (`equalized`),
    then corrected with erasures as the step does."""
    def reads(decide, f) -> bool:
        modules = decide(qr_oracle.sample(f).astype(np.float32), N)
        fixed = erasure.corrected(modules.dark, modules.margin)
        return fixed is not None and bool((fixed.dark == qr_oracle.truth(f)).all())
    fs = [frame("small", "tuning", index) for index in LADDER_MISSED]
    assert [reads(small_codes.equalized, f) for f in fs] == [True] * len(fs)
    assert not any(reads(redraw._decide, f) for f in fs)


def test_the_step_runs_on_small_regions_only_and_reads_no_scene():
    """Regions of 160 px and more keep the redrawn step (cracked screens, glare); on frames without a code the step
    finds nothing to read."""
    assert small_codes.small_code.max_side == redraw.redrawn_code.min_side    # type: ignore[attr-defined]
    chain = _door_chain()
    for f in frames("cracked", "tuning", 8):
        if max(max(b.w, b.h) for b in R.candidates(f.image, 1)) >= small_codes.SMALL_UP_TO:
            assert chain.decode_live(f.image).step != SMALL_STEP, f.index
    for image in no_code_frames(30):
        assert chain.decode_live(image).texts == ()
        for box in R.candidates(image, 2):
            assert PURE(small_codes.small_code(R.region_view(image, box))) == []
