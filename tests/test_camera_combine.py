"""Frame combination in the live camera loop (drivers/camera/combine.py): real signed tickets, real door frames and
presentations (drivers/testkit/door_conditions.py), the real DecoderChain and CameraScanner, zxing-cpp.

The chain runs with a budget no frame reaches (every step of the ladder runs), so what a single frame cannot read
does not depend on this machine's load."""
from __future__ import annotations

import numpy as np

from drivers.camera import combine, redraw
from drivers.camera import regions as R
from drivers.camera.chain import DecoderChain
from drivers.camera.combine import FrameCombiner
from drivers.camera.scanner import CameraScanner
from drivers.testkit.door_conditions import frame, no_code_frames, presentation

UNBOUNDED = 1000.0          # ms: every ladder step runs on every frame


def _chain() -> DecoderChain:
    return DecoderChain(live_budget_ms=UNBOUNDED)


def _reads(chain: DecoderChain, images, combiner: FrameCombiner | None = None) -> list[tuple[str, ...]]:
    return [chain.decode_live(image, combiner).texts for image in images]


def test_a_glared_code_no_single_frame_reads_is_read_from_the_frames_combined():
    chain = _chain()
    frames = list(presentation("glare", "validation", 55, 4))     # a highlight sliding over the code
    assert all(texts == () for texts in _reads(chain, [f.image for f in frames])), "a single frame reads it: not a combination case"
    got, seen = [], []
    scanner = CameraScanner(got.append, chain=chain)
    for f in frames:
        seen.append(scanner.combiner.held)
        if scanner.process(f.image):
            break
    assert [read.text for read in got] == [frames[0].payload]
    assert seen[-1] >= 1                    # read with the votes of the frames before it
    assert scanner.combiner.held == 0       # emptied once read


def test_two_tickets_held_up_one_after_the_other_are_each_read_as_themselves_never_mixed():
    chain = _chain()
    combiner = FrameCombiner()
    first = list(presentation("cracked", "validation", 47, 6))   # never read: its votes stay in the state
    second = list(presentation("glare", "validation", 55, 6))
    assert first[0].payload != second[0].payload
    texts = _reads(chain, [f.image for f in first], combiner)
    assert all(t in ((), (first[0].payload,)) for t in texts)
    held_before = combiner.held
    resets = combiner.resets
    after = []
    for f in second:
        after.append(chain.decode_live(f.image, combiner).texts)
        if after[-1]:
            break
    assert held_before >= 1 and combiner.resets == resets + 1      # the other code emptied the state
    assert after[-1] == (second[0].payload,) and all(t == () for t in after[:-1])


def test_votes_of_two_different_codes_disagree_and_of_one_code_agree():
    votes = []
    for condition, index in (("tilt", 0), ("tilt", 1)):
        f = frame(condition, "tuning", index)
        view = R.region_view(f.image, R.candidates(f.image, 1)[0])
        votes.append(combine._vote(next(redraw.readings(view, redraw.outline(view), combine.N))))
    same = combine._vote(_reading(frame("tilt", "tuning", 0, moment=3)))
    assert combine.oriented(votes[0], same) is not None
    assert combine.oriented(votes[0], votes[1]) is None
    assert combine.agreement(votes[0], votes[1]) < combine.SAME <= combine.agreement(votes[0], same)


def _reading(f) -> redraw.Modules:
    view = R.region_view(f.image, R.candidates(f.image, 1)[0])
    return next(redraw.readings(view, redraw.outline(view), combine.N))


def test_the_state_is_bounded_and_forgets_a_code_that_left_the_view():
    chain = _chain()
    combiner = FrameCombiner(depth=4)
    frames = list(presentation("cracked", "validation", 47, 8))
    for f in frames:
        chain.decode_live(f.image, combiner)
        assert combiner.held <= 4
    assert combiner.held >= 1
    for blank in no_code_frames(4):                 # the code left the view: 4 frames later nothing is kept
        assert chain.decode_live(blank, combiner).texts == ()
    assert combiner.held == 0 and combiner.soft().shape == (combine.N, combine.N) and not combiner.soft().any()


def test_frames_without_a_code_read_nothing_with_the_combiner():
    chain, combiner = _chain(), FrameCombiner()
    assert all(texts == () for texts in _reads(chain, no_code_frames(30), combiner))
    assert combiner.held == 0


def test_a_noise_grid_summed_over_frames_is_never_decoded():
    rng = np.random.default_rng(3)
    for _ in range(50):
        total = sum(rng.normal(0, 1, (combine.N, combine.N)).astype(np.float32) for _ in range(5))
        assert combine.decoded(total) is None
