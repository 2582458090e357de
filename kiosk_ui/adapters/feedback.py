"""Sounds and vibration through drivers.feedback (Kivy SoundLoader, Android Vibrator). The controller passes the
Feedback that `drivers.feedback.mapping.feedback_for` chose (overrides applied, repeats silent)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from drivers.feedback.mapping import Feedback


class DriverFeedback:
    def __init__(self, sound_folder: Path | None = None):
        from drivers.feedback.player import FeedbackPlayer
        self.player = FeedbackPlayer(Path(sound_folder or Path(tempfile.gettempdir()) / "ticketgate-sounds"))
        self.played: list[str] = []

    @property
    def problems(self) -> list[str]:
        return self.player.problems

    def play(self, feedback: Feedback) -> None:
        self.played.append(feedback.sound or "silent")
        self.player.play(feedback)
