"""Sounds and vibration through drivers.feedback (Kivy SoundLoader, Android Vibrator). The kind follows the
screen's colour so the ear and the eye agree: green -> accept, red -> reject, orange/purple -> attention."""
from __future__ import annotations

import tempfile
from pathlib import Path

_KIND = {"accept": "accept", "refuse": "reject", "attention": "attention"}


class DriverFeedback:
    def __init__(self, sound_folder: Path | None = None):
        from drivers.feedback.mapping import FeedbackConfig
        from drivers.feedback.player import FeedbackPlayer
        self.config = FeedbackConfig()
        self.player = FeedbackPlayer(Path(sound_folder or Path(tempfile.gettempdir()) / "ticketgate-sounds"))
        self.played: list[str] = []

    @property
    def problems(self) -> list[str]:
        return self.player.problems

    def play(self, kind: str) -> None:
        from drivers.feedback.mapping import Feedback
        k = _KIND.get(kind, "attention")
        self.played.append(kind)
        self.player.play(Feedback(k, self.config.colours.get(k, "#000000"), k if self.config.sound else None,
                                  self.config.vibration_ms.get(k, ()) if self.config.vibrate else (), self.config.volume))
