"""The redrawn step's registration (drivers/camera/redraw.py): the code's outline chosen among the region's blobs, and
the registration refined on the modules every code has. Real signed tickets, real door frames
(drivers/testkit/door_conditions.py), the ground truth of drivers/testkit/qr_oracle.py, zxing-cpp in pure mode."""
from __future__ import annotations

import itertools

import cv2
import numpy as np
import zxingcpp

from drivers.camera import erasure, redraw
from drivers.camera import regions as R
from drivers.camera.chain import DecoderChain
from drivers.testkit.door_conditions import BEYOND, frame, frames

N = redraw.TICKET_MODULES


def _view(f) -> tuple[np.ndarray, np.ndarray, float]:
    """The strongest region's zoomed view, the code's true corners in it, and its true module width (view px)."""
    box = R.candidates(f.image, 1)[0]
    crop = R.crop(f.image, box)
    side = max(box.w, box.h) * (1 + 2 * 0.22) + 16                 # R.crop's square, to place the corners in it
    x0 = int(max(0, box.x + box.w / 2 - side / 2))
    y0 = int(max(0, box.y + box.h / 2 - side / 2))
    view = R.zoomed(crop)
    zoom = view.shape[1] / crop.shape[1]
    corners = (np.array(f.corners, float) - [x0, y0]) * zoom
    return view, corners, float(np.linalg.norm(corners[1] - corners[0])) / N


def _read(dark: np.ndarray) -> str | None:
    found = zxingcpp.read_barcode(redraw.picture(dark), is_pure=True)
    return found.text if found is not None and found.valid else None


def _decoded(reading: redraw.Modules) -> str | None:
    if reading.timing_wrong > redraw.TIMING_WRONG:
        return None
    fixed = erasure.corrected(reading.dark, reading.margin)
    return None if fixed is None else _read(fixed.dark)


def test_the_outline_is_the_code_not_the_larger_blob_of_scene_or_the_scene_a_crack_joins_it_to():
    """Cracked frames whose outline was not the code's: the blob of dark scene texture around the code larger than
    the code's (124, 261: 13-17 modules off at a corner), or the code joined to the scene by a crack across the quiet
    zone (16, 42: no code-sized outline at all). The solid blob is the code; a stronger opening cuts the crack."""
    for index, reads in ((124, True), (261, True), (42, True), (16, False)):
        f = frame("cracked", "tuning", index)
        view, corners, module = _view(f)
        quad = redraw.outline(view)
        assert quad is not None, index
        off = max(min(np.linalg.norm(q - c) for c in corners) for q in quad) / module
        assert off < 2.5, (index, off)         # the rest is the registration's (`readings`)
        assert (f.payload in {_decoded(r) for r in redraw.readings(view, quad, N)}) == reads, index


def test_a_registration_off_in_a_corner_is_refined_onto_the_code_s_own_patterns_and_read():
    """Glared and crumpled frames whose registration from the finders and alignment pattern as matched is off (a
    highlight over a pattern, paper bent under it): the modules as registered do not decode even with erasures;
    refined on the modules every code has, they do, and the redrawn step reads the ticket."""
    for condition, index in (("glare", 43), ("glare", 46), ("crumpled", 2), ("crumpled", 13)):
        f = frame(condition, "tuning", index)
        view, _, _ = _view(f)
        registered, refined = list(redraw.readings(view, redraw.outline(view), N))[:2]
        assert registered.corners is None and refined.corners is not None
        assert _decoded(registered) is None, (condition, index)
        assert _decoded(refined) == f.payload, (condition, index)
        assert zxingcpp.read_barcode(redraw.redrawn_code(view), is_pure=True).text == f.payload


def test_refining_a_clean_code_keeps_it_where_it_is():
    """A code the registration gets right: the refined grid has the same modules (the fit does not wander)."""
    for index in (0, 2):
        f = frame("tilt", "tuning", index)
        view, _, _ = _view(f)
        registered, refined = list(redraw.readings(view, redraw.outline(view), N))[:2]
        assert int((registered.dark != refined.dark).sum()) <= 3
        assert _decoded(refined) == f.payload


def test_too_much_damage_reads_nothing_never_a_wrong_text():
    """Past the conditions (the beyond split: more and wider cracks, a clipped highlight over a finder pattern,
    deeper folds) every registration, refined or not, decodes to the ticket or to nothing."""
    chain = DecoderChain(live_budget_ms=1000.0)
    nothing = 0
    for condition in ("cracked", "glare", "crumpled"):
        for f in frames(condition, BEYOND, 12):
            view, _, _ = _view(f)
            quad = redraw.outline(view)
            texts = {_decoded(r) for r in redraw.readings(view, quad, N)} if quad is not None else set()
            assert texts <= {None, f.payload}, (condition, f.index, texts)
            assert chain.decode_live(f.image).texts in ((), (f.payload,)), (condition, f.index)
            nothing += texts <= {None}
    assert nothing >= 12            # most of them: it is past what one frame holds, not a test that cannot fail


def _squared(view: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As `redraw.readings` squares the code on its outline: the median-filtered picture, and the homography of the
    outline alone (module units -> square px), a registration that only the refinement puts on the patterns."""
    k, margin = redraw.K, 2
    side = (N + 2 * margin) * k
    target = np.array([[0, 0], [N, 0], [N, N], [0, N]], np.float32) * k + margin * k
    square = cv2.warpPerspective(view, cv2.getPerspectiveTransform(quad, target), (side, side),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    grid = np.array([[0, 0], [N, 0], [N, N], [0, N]], np.float32)
    return cv2.medianBlur(square, 3), cv2.getPerspectiveTransform(grid, target)


def test_the_refinement_moves_the_corner_without_a_finder_at_most_its_reach():
    """Only the alignment pattern fits near the corner without a finder; where a highlight or a crack washes it out,
    the search drifted there by 2-8 modules for the little its weight adds to the other corners' modules. On damaged
    frames the refined grid's finder-less corner stays within CORNER_REACH modules of where it started, while the
    three other corners go as far as the fit takes them (more than that reach on some frames)."""
    reach = redraw.CORNER_REACH * redraw.K + 1e-3
    others = 0.0
    for condition in ("glare", "cracked"):
        for f in frames(condition, "tuning", 12):
            view, _, _ = _view(f)
            quad = redraw.outline(view)
            if quad is None:
                continue
            smooth, to_square = _squared(view, quad)
            start = cv2.perspectiveTransform(redraw._centres(N)[None], to_square)[0]
            refined, _ = redraw._Fit(smooth, N).refined(start, to_square)
            corners = np.linalg.lstsq(redraw._all_weights(N), refined - start, rcond=None)[0]   # the field's 4 moves
            moved = np.abs(corners).max(axis=1)                    # px, along either axis (the search's steps)
            assert moved[3] <= reach, (condition, f.index, moved)
            others = max(others, float(moved[:3].max()))
    assert others > reach


def test_after_the_registration_as_found_the_best_fitting_one_is_refined_first():
    """The worst-matching finder is not always the missing corner (a crack or a highlight over a finder), nor is the
    first registration's alignment pattern always right: of the frames the registration as found does not decode,
    the second reading (refined; the registration whose known modules fit best, first) decodes more than the first
    registration refined did (12 of the first 100 tuning frames of glare, cracked and crumpled paper)."""
    second = 0
    for condition in ("glare", "cracked", "crumpled"):
        for f in frames(condition, "tuning", 100):
            view, _, _ = _view(f)
            quad = redraw.outline(view)
            if quad is None:
                continue
            registered, *refined = itertools.islice(redraw.readings(view, quad, N), 2)
            if _decoded(registered) != f.payload:
                assert not refined or _decoded(refined[0]) in (None, f.payload)
                second += bool(refined) and _decoded(refined[0]) == f.payload
    assert second >= 17


def test_a_blob_big_enough_for_the_outline_has_the_outline_points_its_prefilter_asks_for():
    """`outline` measures only the blobs whose contour has len^2 >= 6 (side / 5)^2 points (a closed curve's area is at
    most its length^2 / 4 pi, a step of a contour at most sqrt 2 px): so no blob of (side / 5)^2 px or more is left
    out. Checked on every blob of door frames' regions, dark and light, codes and scenes: area <= len^2 / 6."""
    checked = 0
    for f in frames("cracked", "tuning", 4) + frames("glare", "validation", 4) + frames("small", "tuning", 4):
        view = R.region_view(f.image, R.candidates(f.image, 1)[0])
        for flip in (cv2.THRESH_BINARY, cv2.THRESH_BINARY_INV):
            binary = cv2.adaptiveThreshold(view, 255, cv2.ADAPTIVE_THRESH_MEAN_C, flip, 15, 5)
            contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            for contour in contours:
                assert cv2.contourArea(contour) <= len(contour) ** 2 / 6, (f.condition, f.index, len(contour))
                checked += 1
    assert checked > 1000
