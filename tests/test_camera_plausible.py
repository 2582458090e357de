"""A text the camera reads only on a retry step (a filtered, redrawn or combined region) counts only if it has the
shape of a code the door reads (`agent.payload.plausible`): a misread is a red verdict for a valid ticket, while the
next step, or the next frame, would likely read it. The first pass over the plain frame reports any text."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.payload import MALFORMED, plausible
from agent.staff import make_badge
from agent.verdicts import Code
from drivers.camera import small_codes
from drivers.camera.chain import DecoderChain
from drivers.testkit.door_conditions import frame
from drivers.testkit.tickets import Issuer, qr_gray

UNBOUNDED = 1000.0          # ms: every step runs, whatever the machine's load
VECTORS = Path(__file__).resolve().parent / "vectors"


def _vectors(name: str, text: str) -> list[tuple[str, str]]:
    data = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return [(v[text], v.get("status", "")) for v in data["vectors"]]


def test_a_retry_steps_wrong_text_is_dropped_and_the_next_step_reads_the_ticket():
    f = frame("small", "tuning", 226)       # a small code: the 3x3 median region reads "96200"
    assert DecoderChain(region_steps=[]).decode_live(f.image).texts == ()          # the first pass misses it
    # the ladder without the small code step, which reads this code before the median runs (small_codes.py)
    ladder = [step for step in DecoderChain().region_steps or ()
              if step[2] not in (small_codes.small_code, small_codes.small_code_refined)]
    any_text = DecoderChain(live_budget_ms=UNBOUNDED, live_limit_ms=UNBOUNDED, region_steps=ladder)
    wrong = any_text.decode_live(f.image)
    assert wrong.texts == ("96200",) and wrong.step == "region:zxing-cpp+despeckled"
    chain = DecoderChain(live_budget_ms=UNBOUNDED, live_limit_ms=UNBOUNDED, plausible=plausible, region_steps=ladder)
    read = chain.decode_live(f.image)
    assert read.texts == (f.payload,)
    assert read.steps_tried > wrong.steps_tried and read.step != wrong.step
    assert "96200" not in chain.decode(f.image).texts       # still images: the same rule after the first step


def test_the_first_pass_still_reports_a_foreign_code_as_not_a_ticket(tmp_path):
    url = "https://example.org/not-a-ticket"
    image = qr_gray(url, scale=3, canvas=(640, 480), at=(200, 100))
    chain = DecoderChain(plausible=plausible)
    result = chain.decode_live(image)
    assert not plausible(url) and result.texts == (url,) and result.step == chain.live_primary.name
    assert chain.decode(image).texts == (url,)
    assert Issuer.create().gate(tmp_path).scan(url).code is Code.MALFORMED


@pytest.mark.parametrize("text, status", _vectors("ticketgate-v1.json", "payload") +
                         _vectors("pretix-sig1.json", "secret") + _vectors("ticketgate-tg2.json", "payload"))
def test_plausible_is_what_the_door_parses(text, status):
    """Every published vector: plausible unless the door finds it malformed (a forged or unknown-key ticket has the
    shape of one: its verdict is the door's business, not the camera's)."""
    assert plausible(text) is (status != MALFORMED)


def test_plausible_texts_and_not():
    issuer = Issuer.create()
    badge = make_badge("org-1", "s1", 1, lambda data: b"\x01" * 64)
    assert plausible(issuer.payload()) and plausible(issuer.payload() + "\r\n") and plausible(badge)
    for text in ("96200", "", "tg1:" + issuer.payload()[4:], issuer.payload()[:-3], "TGB1:no-dot", "SPRING"):
        assert not plausible(text), text
