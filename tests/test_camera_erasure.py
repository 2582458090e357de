"""Erasure decoding in the redrawn step (drivers/camera/erasure.py, reed_solomon.py, qr_grid.py): real signed tickets,
real QR encoding (segno, as tickets are drawn), real door frames (drivers/testkit/door_conditions.py) with a saturated
highlight painted over a known part of the code, read through the real DecoderChain and zxing-cpp."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from drivers.camera import erasure, redraw
from drivers.camera import qr_grid as G
from drivers.camera import reed_solomon as RS
from drivers.camera import regions as R
from drivers.camera.chain import DecoderChain
from drivers.testkit.door_conditions import BEYOND, frame, frames, no_code_frames
from drivers.testkit.qr_oracle import truth

VERSION, N = 6, 41


def _codewords(dark: np.ndarray) -> np.ndarray:
    """The interleaved codeword stream of a clean grid, unmasked with the mask its format information names."""
    mask, wrong = erasure.read_format(dark)
    assert wrong == 0
    plain = dark ^ (G.data_mask(mask, N) & ~G.function_modules(VERSION))
    bits = G.bit_map(VERSION)
    stream = np.zeros(G.codewords(VERSION) * 8, np.uint8)
    stream[bits[bits >= 0]] = plain[bits >= 0]
    return np.packbits(stream)


def _pure(dark: np.ndarray) -> str | None:
    """What zxing-cpp reads from a grid drawn clean, in pure mode (None if nothing valid)."""
    found = zxingcpp.read_barcode(redraw.picture(dark), is_pure=True)
    return found.text if found is not None and found.valid else None


def _blocks(dark: np.ndarray) -> np.ndarray:
    return _codewords(dark)[G.block_positions(VERSION)]


def test_a_ticket_s_code_has_the_standard_layout_and_its_blocks_are_reed_solomon_codewords():
    dark = truth(frame("tilt", "tuning", 0))
    assert dark.shape == (N, N) and G.codewords(VERSION) == 172 and G.EC_M[VERSION] == (4, 16)
    assert G.codeword_map(VERSION).max() == 171 and G.block_of(5, VERSION) == 1
    assert erasure.read_format(dark)[1] == 0
    blocks = _blocks(dark)
    assert blocks.shape == (4, 43) and not RS.syndromes(blocks, 16).any()
    assert RS.syndromes(blocks ^ np.eye(4, 43, 7, np.uint8), 16).any(axis=1).all()


@pytest.mark.parametrize("errors, erased", [(8, 0), (0, 16), (3, 10), (6, 4), (1, 14)])
def test_reed_solomon_corrects_errors_and_erasures_within_2e_plus_f_of_16(errors, erased):
    rng = np.random.default_rng(errors * 100 + erased)
    for block in _blocks(truth(frame("glare", "tuning", 1))):
        bad = block.copy()
        where = rng.choice(43, errors + erased, replace=False)
        bad[where] ^= rng.integers(1, 256, errors + erased).astype(np.uint8)
        fixed = RS.decode(bad, 16, [int(p) for p in where[:erased]])
        assert fixed is not None and np.array_equal(fixed[0], block) and fixed[1] == errors


def test_reed_solomon_past_its_reach_finds_no_codeword_or_says_how_far_it_went():
    rng = np.random.default_rng(7)
    block = _blocks(truth(frame("glare", "tuning", 1)))[0]
    for _ in range(200):
        bad = block.copy()
        where = rng.choice(43, 9, replace=False)
        bad[where] ^= rng.integers(1, 256, 9).astype(np.uint8)
        fixed = RS.decode(bad, 16)
        assert fixed is None or (not np.array_equal(fixed[0], block) and 2 * fixed[1] <= 16)


def test_the_format_information_is_read_with_its_bch_code():
    dark = truth(frame("tilt", "tuning", 2))
    mask, _ = erasure.read_format(dark)
    first, second = G.format_cells(N)
    broken = dark.copy()
    for r, c in first[:3] + second[5:8]:           # 3 wrong bits in each copy: still read
        broken[r, c] ^= True
    assert erasure.read_format(broken) == (mask, 3)
    for r, c in first[3:6] + second[:3]:            # 6 in each: past the code's reach
        broken[r, c] ^= True
    assert erasure.read_format(broken) is None


def _with_codewords_wrong(dark: np.ndarray, block: int, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """`count` codewords of `block` made wrong (one module each), their modules marked unreliable."""
    bad, margin = dark.copy(), np.full(dark.shape, 40.0, np.float32)
    cw = G.codeword_map(VERSION)
    for c in rng.choice(G.block_positions(VERSION)[block], count, replace=False):
        ys, xs = np.nonzero(cw == c)
        bad[ys[0], xs[0]] ^= True
        margin[ys, xs] = 1.0
    return bad, margin


def test_unreliable_codewords_are_erased_up_to_the_margin_and_no_further():
    f = frame("tilt", "tuning", 0)
    dark = truth(f)
    rng = np.random.default_rng(3)
    for count, readable in ((9, True), (12, True), (13, False)):
        bad, margin = _with_codewords_wrong(dark, 2, count, rng)
        assert _pure(bad) is None                   # hard decisions: past the 8 errors a block corrects
        fixed = erasure.corrected(bad, margin)
        assert (fixed is not None) == readable, count
        if fixed is not None:
            assert np.array_equal(fixed.dark, dark) and fixed.fixed == count and fixed.erased > 0
            assert _pure(fixed.dark) == f.payload
    # the same wrong codewords without knowing where they are: errors alone, 8 at most
    bad, _ = _with_codewords_wrong(dark, 2, 9, rng)
    assert erasure.corrected(bad, np.full(dark.shape, 40.0)) is None


def test_grids_of_noise_are_never_corrected_into_a_code():
    rng = np.random.default_rng(11)
    dark = truth(frame("tilt", "tuning", 0))
    func = G.function_modules(VERSION)
    for _ in range(300):
        noise = np.where(func, dark, rng.random((N, N)) < 0.5)      # a valid format, junk data
        assert erasure.corrected(noise, rng.random((N, N)).astype(np.float32) * 30) is None


def _highlighted(f, x0: float, y0: float, side: float):
    """The door frame with a saturated highlight (a soft-edged reflection, +300 grey levels) over modules
    [x0, x0 + side) x [y0, y0 + side) of its code; and the codewords it covers, per block."""
    corners = np.array(f.corners, np.float32)
    h = cv2.getPerspectiveTransform(np.array([[0, 0], [N, 0], [N, N], [0, N]], np.float32), corners)
    box = np.array([[[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]]], np.float32)
    mask = np.zeros(f.image.shape, np.float32)
    cv2.fillPoly(mask, [np.round(cv2.perspectiveTransform(box, h)[0] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    module = np.linalg.norm(corners[1] - corners[0]) / N
    mask = cv2.GaussianBlur(mask, (0, 0), 0.3 * module)
    image = np.clip(f.image.astype(np.float32) + 300 * mask, 0, 255).astype(np.uint8)
    cw = G.codeword_map(VERSION)[int(y0):int(y0 + side), int(x0):int(x0 + side)]
    covered = np.unique(cw[cw >= 0])
    per_block = np.bincount([G.block_of(int(c), VERSION) for c in covered], minlength=4)
    return image, per_block


def _views(image):
    return [R.region_view(image, b) for b in R.candidates(image, 2)]


def test_a_saturated_highlight_over_12_codewords_of_a_block_is_read_with_erasures_only():
    f = frame("tilt", "tuning", 0)
    image, per_block = _highlighted(f, 13, 11, 16)
    assert sorted(per_block) == [8, 8, 12, 12]
    assert [b.text for b in zxingcpp.read_barcodes(image) if b.valid] == []
    hard = [_pure(reading.dark) for v in _views(image) if redraw.outline(v) is not None
            for reading in redraw.readings(v, redraw.outline(v), N)]
    assert hard and set(hard) == {None}         # hard decisions, every registration: past 8 errors a block
    without = DecoderChain(live_budget_ms=1000.0)
    result = without.decode_live(image)
    assert result.texts == (f.payload,) and result.step == "region:zxing-cpp/pure+redrawn_code"
    erasure_off = erasure.ERASED
    try:
        erasure.ERASED = ()
        assert DecoderChain(live_budget_ms=1000.0).decode_live(image).texts == ()
    finally:
        erasure.ERASED = erasure_off


def test_a_highlight_past_what_erasures_correct_reads_nothing_rather_than_a_wrong_text():
    f = frame("tilt", "tuning", 0)
    image, per_block = _highlighted(f, 10, 10, 21)
    assert per_block.min() >= 14
    chain = DecoderChain(live_budget_ms=1000.0)
    assert chain.decode_live(image).texts == () and chain.decode(image).texts == ()


def test_no_wrong_text_on_frames_without_a_code_or_past_the_conditions():
    chain = DecoderChain(live_budget_ms=1000.0)
    for img in no_code_frames(20, seed=5):
        for view in _views(img):
            found = zxingcpp.read_barcode(redraw.redrawn_code(view), is_pure=True)
            assert found is None or not found.valid
    for condition in ("cracked", "glare", "crumpled"):
        for f in frames(condition, BEYOND, 8):
            assert chain.decode_live(f.image).texts in ((), (f.payload,)), (condition, f.index)


def test_the_ground_truth_tells_errors_alone_from_errors_and_erasures():
    """Tuning frames past error level M for an ideal sampler's hard decisions (a block with 9-10 wrong codewords)
    that the erasure decoder corrects once the ideal sampler's least reliable codewords are erased; and one past
    both (benchmarks/analyse_door_misses.py reports both bounds)."""
    from drivers.testkit.qr_oracle import analyse
    for index in (120, 192, 282):
        found = analyse(frame("cracked", "tuning", index))
        assert max(found.wrong_per_block) in (9, 10) and not found.correctable and found.with_erasures
    past = analyse(frame("cracked", "tuning", 230))
    assert not past.correctable and not past.with_erasures
    assert analyse(frame("cracked", "tuning", 0)).with_erasures


def test_the_multiplication_table_is_carry_less_multiplication_modulo_the_qr_polynomial():
    def slow(a: int, b: int) -> int:         # shift and add, reduced by x^8 + x^4 + x^3 + x^2 + 1 (0x11D)
        out = 0
        while b:
            if b & 1:
                out ^= a
            a, b = a << 1, b >> 1
            if a & 0x100:
                a ^= 0x11D
        return out
    assert all(RS.MUL[a][b] == slow(a, b) for a in range(256) for b in range(256))
