"""Frame combination in the live camera loop (drivers/camera/combine.py): real signed tickets, real door frames and
presentations (drivers/testkit/door_conditions.py), the real DecoderChain and CameraScanner, zxing-cpp.

The chain runs with a budget no frame reaches (every step of the ladder runs), so what a single frame cannot read
does not depend on this machine's load."""
from __future__ import annotations

import time

import numpy as np

from agent.payload import plausible
from drivers.camera import combine, redraw, small_codes
from drivers.camera import regions as R
from drivers.camera.chain import DecoderChain
from drivers.camera.combine import NOMINAL_MS, FrameCombiner, PinnedCosts, StageCosts
from drivers.camera.scanner import CameraScanner
from drivers.testkit.door_conditions import frame, no_code_frames, presentation

UNBOUNDED = 1000.0          # ms: every ladder step runs on every frame
NEVER = 1e9                 # ms: a stage estimated this costly never fits


def _chain() -> DecoderChain:
    return DecoderChain(live_budget_ms=UNBOUNDED, live_limit_ms=UNBOUNDED)


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


def _without_small_code_step() -> DecoderChain:
    """The chain with no budget and without the small code step (`small_codes.py`), which reads every small code of
    the splits' presentations whose crops the combination reads averaged: the averaging on its own."""
    chain = _chain()
    chain.region_steps = [step for step in chain.region_steps or ()
                          if step[2] not in (small_codes.small_code, small_codes.small_code_refined)]
    return chain


def test_a_small_code_no_single_frame_reads_is_read_from_its_crops_averaged():
    chain = _without_small_code_step()
    frames = list(presentation("small", "validation", 23, 6))       # 1.5-1.8 px per module
    assert all(texts == () for texts in _reads(chain, [f.image for f in frames])), "not a combination case"
    got = []
    scanner = CameraScanner(got.append, chain=_without_small_code_step())
    for f in frames:
        if scanner.process(f.image):
            break
    assert [read.text for read in got] == [frames[0].payload]
    assert got[0].result.step == "region:combined"


def test_another_small_code_held_up_where_the_first_was_restarts_the_average_and_is_read_as_itself():
    chain, combiner = _without_small_code_step(), FrameCombiner()
    first = list(presentation("small", "validation", 70, 4))       # never read: its crops are averaged
    second = list(presentation("small", "validation", 23, 6))
    assert _reads(chain, [f.image for f in first], combiner) == [()] * 4 and combiner.averaging
    here, there = (R.candidates(f.image, 1)[0] for f in (first[0], second[0]))
    dx, dy = here.x + here.w // 2 - there.x - there.w // 2, here.y + here.h // 2 - there.y - there.h // 2
    moved = [np.roll(f.image, (dy, dx), axis=(0, 1)) for f in second]      # the other ticket at the same place
    texts = []
    for image in moved:
        texts.append(chain.decode_live(image, combiner).texts)
        if texts[-1]:
            break
    assert combiner.resets == 1 and texts[-1] == (second[0].payload,) and all(t == () for t in texts[:-1])


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
    chain = _without_small_code_step()
    combiner = FrameCombiner(depth=4)
    for f in presentation("cracked", "validation", 47, 8):
        chain.decode_live(f.image, combiner)
        assert 1 <= combiner.held <= 4 and combiner.nbytes <= 4 * 41 * 41 * 4
    for f in presentation("small", "validation", 70, 10):      # a small code: its crops averaged, 4 at most
        chain.decode_live(f.image, combiner)
        assert combiner.averaging and combiner.nbytes < 1_500_000
    wall = np.full((480, 640), 128, np.uint8)      # the code left the view: 4 frames later nothing is kept
    for _ in range(4):
        assert chain.decode_live(wall, combiner).texts == ()
    assert combiner.held == 0 and not combiner.soft().any() and not combiner.averaging


def test_frames_without_a_code_read_nothing_with_the_combiner_and_its_state_stays_bounded():
    chain, combiner = _chain(), FrameCombiner(depth=4)
    for image in no_code_frames(30):
        assert chain.decode_live(image, combiner).texts == ()
        assert combiner.held <= 2 * 4          # votes of a scene's blob, crops of a textured region: no text


def test_a_noise_grid_summed_over_frames_is_never_decoded():
    rng = np.random.default_rng(3)
    for _ in range(50):
        total = sum(rng.normal(0, 1, (combine.N, combine.N)).astype(np.float32) for _ in range(5))
        assert combine.decoded(total) is None


def _direct(chain: DecoderChain, combiner: FrameCombiner, image, costs: StageCosts, until: float) -> list[str]:
    """One frame through the combination alone (as the chain calls it on the strongest region), with `costs`."""
    combiner.next_frame()
    box = R.candidates(image, 1)[0]
    pure = next(d for _, d, f in chain.region_steps if f is redraw.redrawn_code)
    return combiner.read(image, box, R.region_view(image, box), pure, chain.combine_local, until, costs)


def test_a_frame_cut_short_keeps_its_vote_and_the_code_is_read_with_it_on_a_later_frame():
    chain = _chain()
    frames = [f.image for f in presentation("glare", "validation", 55, 4)]
    payload = next(iter(presentation("glare", "validation", 55, 1))).payload
    combiner = FrameCombiner()
    assert chain.decode_live(frames[0], combiner).texts == () and combiner.held == 1
    # frame 1: its decodings do not fit (alone, and summed): sampled, its vote kept, nothing decoded
    costs = StageCosts()
    costs.peak.update(corrected=NEVER, decoded=NEVER)
    assert _direct(chain, combiner, frames[1], costs, time.thread_time() + 10) == []
    assert combiner.held == 2 and "corrected" not in costs.recent and "decoded" not in costs.recent
    # frame 2: its deadline already past: only the outline (the chain admitted it), no registration, no vote
    costs = StageCosts()
    assert _direct(chain, combiner, frames[2], costs, time.thread_time() - 1) == []
    assert set(costs.recent) == {"outline"} and combiner.held == 2 and combiner.resets == 0
    assert chain.decode_live(frames[3], combiner).texts == (payload,)     # with frame 1's vote
    without = FrameCombiner()                  # the same frames without frame 1's vote: not read
    chain.decode_live(frames[0], without)
    without.next_frame()
    without.next_frame()
    assert chain.decode_live(frames[3], without).texts == ()


def test_a_small_codes_crop_not_aligned_in_time_is_left_out_and_one_not_read_in_time_is_kept():
    chain, combiner = _without_small_code_step(), FrameCombiner()
    shown = list(presentation("small", "validation", 23, 8))
    for f in shown[:2]:
        assert chain.decode_live(f.image, combiner).texts == ()
    assert combiner.averaging and combiner.held == 2
    costs = StageCosts()
    costs.peak["align"] = NEVER                 # its alignment does not fit: the average stays as it was
    assert _direct(chain, combiner, shown[2].image, costs, time.thread_time() + 10) == []
    assert combiner.held == 2 and combiner.averaging and not costs.recent
    costs = StageCosts()
    costs.peak["local"] = NEVER                 # aligned and added, its reading does not fit
    assert _direct(chain, combiner, shown[3].image, costs, time.thread_time() + 10) == []
    assert combiner.held == 3 and set(costs.recent) == {"align"}
    assert chain.decode_live(shown[4].image, combiner).texts == (shown[0].payload,)


def test_the_chain_admits_the_combination_only_if_its_first_stage_fits():
    chain, combiner = _chain(), FrameCombiner()
    image = next(iter(presentation("glare", "validation", 55, 1))).image
    chain.combine_costs.peak["outline"] = NEVER
    result = chain.decode_live(image, combiner)
    assert result.texts == () and combiner.held == 0            # not run: no vote
    assert chain.combine_costs.peak["outline"] == NEVER * 0.9   # its estimate decays while it is skipped
    chain.combine_costs.peak["outline"] = 0.0
    runs = len(chain.combine_costs.recent["outline"])      # its typical cost counted as runs (seeded)
    chain.decode_live(image, combiner)
    assert combiner.held == 1 and len(chain.combine_costs.recent["outline"]) == min(runs + 1, StageCosts.RECENT)


def test_a_stage_skipped_again_and_again_is_not_let_in_below_its_usual_cost():
    costs = StageCosts()
    for _ in range(StageCosts.SURE):
        costs.run("stage", _burn, 0.004)          # ~4 ms of CPU each
    usual = sorted(costs.recent["stage"])[StageCosts.SURE // 2]   # the median of its runs
    assert usual >= 3.5
    costs.peak["stage"] = 10 * usual           # one slow run
    skipped = 0
    while not costs.fits("stage", time.thread_time() + 2 * usual / 1000) and skipped < 100:
        skipped += 1
    assert 0 < skipped < 100                   # the peak decayed: in again
    for _ in range(100):                       # never with less time left than its usual cost
        assert not costs.fits("stage", time.thread_time() + usual / 2000)
    assert costs.estimate("stage") == usual


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class _AlignUnderEstimated(PinnedCosts):
    """The crops' alignment let in at 1 ms (as a peak decayed by skips lets it in) but taking 3.5 (what it costs)."""

    def run(self, stage, work, *args):
        try:
            return super().run(stage, work, *args)
        finally:
            if stage == "align":
                self.clock[0] += 2.5 / 1000


def _pinned_chain() -> DecoderChain:
    """The door's budget, steps admitted by pinned costs: the same reads on every run, whatever the load."""
    chain = DecoderChain(plausible=plausible, pinned_costs={**NOMINAL_MS, "align": 1.0})
    chain.region_steps = _without_small_code_step().region_steps      # the averaging's place in the ladder alone
    chain.combine_costs = _AlignUnderEstimated(chain.pinned_costs, chain.region_costs.clock)  # type: ignore[arg-type]
    return chain


def test_a_small_code_the_ladder_reads_on_its_second_frame_is_read_there_with_the_frames_combined():
    # frame 0 unread, its crop kept; on frame 1 the combination ran first (every other frame, until 2026-12-02): its
    # alignment took the budget and neither its reading nor the ladder's steps fitted; read on frame 8 only
    frames = [f.image for f in presentation("small", "validation", 27, 4)]
    payload = frame("small", "validation", 27).payload
    alone = _reads(_pinned_chain(), frames)
    assert alone[:2] == [(), (payload,)]
    combiner = FrameCombiner()
    assert _reads(_pinned_chain(), frames[:2], combiner) == [(), (payload,)]
    assert combiner.held == 0                   # emptied once read


def test_pinned_costs_give_the_same_reads_whatever_the_frames_before():
    frames = [f.image for f in presentation("small", "validation", 52, 4)]
    busy = _pinned_chain()
    for f in presentation("cracked", "validation", 3, 6):       # other work first: the learned costs would move
        busy.decode_live(f.image, FrameCombiner())
    assert _reads(busy, frames, FrameCombiner()) == _reads(_pinned_chain(), frames, FrameCombiner())
    assert busy.region_costs.estimate("region:zxing-cpp+zoom") == NOMINAL_MS["region:zxing-cpp+zoom"]
