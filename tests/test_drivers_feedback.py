"""Feedback: the verdict -> sound/colour/vibration mapping, configuration, and the generated WAV files."""
from __future__ import annotations

import io
import wave

import pytest

from agent.verdicts import Code, Verdict
from drivers.feedback.mapping import ACCEPT, ATTENTION, REJECT, FeedbackConfig, feedback_for
from drivers.feedback.player import FeedbackPlayer, vibration_pattern
from drivers.feedback.sounds import TONES, ensure_sounds, wav_bytes


def test_every_verdict_code_has_a_kind():
    kinds = {code: feedback_for(Verdict(code)).kind for code in Code}
    assert kinds[Code.ACCEPTED] == ACCEPT
    assert {c for c, k in kinds.items() if k == ATTENTION} == {Code.UNPAID, Code.UNKNOWN_KEY, Code.MALFORMED}
    assert kinds[Code.FORGED] == kinds[Code.REVOKED] == kinds[Code.ALREADY_USED] == kinds[Code.WRONG_ZONE] == REJECT


def test_colours_sound_vibration_and_repeats():
    ok = feedback_for(Verdict(Code.ACCEPTED, direction="in"))
    assert (ok.colour, ok.sound, ok.vibration_ms) == ("#1e9e4a", "accept", (60,))
    assert feedback_for(Verdict(Code.ACCEPTED, direction="out")).colour == "#1565c0"
    repeat = feedback_for(Verdict(Code.UNPAID, repeat=True))
    assert repeat.kind == ATTENTION and repeat.sound is None and repeat.vibration_ms == ()
    loud = feedback_for(Verdict(Code.UNPAID, repeat=True), FeedbackConfig(silent_repeats=False))
    assert loud.sound == "attention"
    used = feedback_for(Verdict(Code.ALREADY_USED))
    assert (used.kind, used.colour, used.sound) == (REJECT, "#d32f2f", "reject")


def test_configuration_overrides_and_mutes():
    cfg = FeedbackConfig.from_json({"sound": False, "vibrate": False, "overrides": {"wrong_zone": "reject"},
                                    "colours": {"reject": "#ff00ff"}, "unknown_field": 1})
    fb = feedback_for(Verdict(Code.WRONG_ZONE), cfg)
    assert (fb.kind, fb.colour, fb.sound, fb.vibration_ms) == (REJECT, "#ff00ff", None, ())
    assert cfg.colours["accept"] == "#1e9e4a"                                  # the rest keeps its defaults
    odd = feedback_for(Verdict(Code.ACCEPTED), FeedbackConfig(overrides={"accepted": "party"}))
    assert odd.kind == REJECT                                                 # unknown kind: safest choice
    welcome = feedback_for(Verdict(Code.UNPAID), FeedbackConfig(overrides={"unpaid": "accept"}))
    assert welcome.kind == ATTENTION                                          # a refusal never sounds accepted


def test_generated_sounds_are_short_distinct_wavs(tmp_path):
    seen = set()
    for kind in TONES:
        data = wav_bytes(kind)
        with wave.open(io.BytesIO(data)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
            seconds = w.getnframes() / w.getframerate()
        assert 0.1 < seconds < 0.6 and len(data) < 30_000
        seen.add(data)
    assert len(seen) == 3
    with pytest.raises(ValueError):
        wav_bytes("fanfare")
    paths = ensure_sounds(tmp_path / "sounds")
    assert sorted(p.name for p in paths.values()) == ["accept.wav", "attention.wav", "reject.wav"]


def test_player_without_audio_or_vibrator_still_works(tmp_path):
    calls = []
    player = FeedbackPlayer(tmp_path / "s", vibrator=calls.append)
    player.play(feedback_for(Verdict(Code.FORGED)))
    assert calls == [(400,)] and vibration_pattern((120, 80, 120)) == [0, 120, 80, 120]

    def broken(pattern):
        raise OSError("no vibrator service")
    player = FeedbackPlayer(tmp_path / "s", vibrator=broken)
    player.play(feedback_for(Verdict(Code.FORGED)))
    player.play(feedback_for(Verdict(Code.FORGED)))
    assert sum("vibration failed" in p for p in player.problems) == 1


def test_every_verdict_has_a_title_in_both_languages():
    from agent.verdict_words import TITLES, verdict_title
    assert set(TITLES) == set(Code) - {Code.ACCEPTED}
    assert all(en.isupper() and fr.isupper() and en != fr for en, fr in TITLES.values())
    assert verdict_title(Verdict(Code.REVOKED), "fr") == "BILLET ANNULÉ"
    assert verdict_title(Verdict(Code.ACCEPTED, direction="out"), "en") == "EXIT — OK"
