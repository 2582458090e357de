"""Playing feedback: sounds through Kivy's SoundLoader, vibration through Android's Vibrator (pyjnius).

Both are optional: on a desktop without audio, or off Android, the matching part is a no-op and `problems`
says why once (the door keeps working on colour alone)."""
from __future__ import annotations

from pathlib import Path

from drivers.feedback.mapping import Feedback
from drivers.feedback.sounds import ensure_sounds


class FeedbackPlayer:
    def __init__(self, sound_folder: Path, vibrator=None):
        self.problems: list[str] = []
        self._sounds = {}
        try:
            from kivy.core.audio import SoundLoader
            for kind, path in ensure_sounds(sound_folder).items():
                sound = SoundLoader.load(str(path))
                if sound is not None:
                    self._sounds[kind] = sound
            if not self._sounds:
                self.problems.append("no audio output: sounds are off")
        except Exception as exc:   # no Kivy audio provider here
            self.problems.append(f"sounds unavailable ({type(exc).__name__})")
        self._vibrator = vibrator if vibrator is not None else android_vibrator()

    def play(self, feedback: Feedback) -> None:
        sound = self._sounds.get(feedback.sound) if feedback.sound else None
        if sound is not None:
            sound.volume = feedback.volume
            sound.stop()
            sound.play()
        if feedback.vibration_ms and self._vibrator is not None:
            try:
                self._vibrator(feedback.vibration_ms)
            except Exception as exc:
                self.problems.append(f"vibration failed ({type(exc).__name__})")
                self._vibrator = None


def vibration_pattern(pattern_ms: tuple[int, ...]) -> list[int]:
    """Android's pattern is off, on, off, on…: a leading 0 starts at once."""
    return [0, *pattern_ms]


def android_vibrator():
    """A callable(pattern_ms) on Android (VibrationEffect on a device at API 26+, else vibrate(long[], -1)), else
    None. The device's level is Build.VERSION.SDK_INT (drivers.android_device), not the interpreter's build level."""
    from drivers.android_device import device_api_level, on_android
    if not on_android():
        return None
    try:
        from jnius import autoclass
        activity = autoclass("org.kivy.android.PythonActivity").mActivity
        context = autoclass("android.content.Context")
        vibrator = activity.getSystemService(context.VIBRATOR_SERVICE)
        if vibrator is None or not vibrator.hasVibrator():
            return None
        api = device_api_level()
        effect = autoclass("android.os.VibrationEffect") if api >= 26 else None

        def vibrate(pattern_ms: tuple[int, ...]) -> None:
            pattern = vibration_pattern(pattern_ms)
            if effect is not None:
                vibrator.vibrate(effect.createWaveform(pattern, -1))
            else:
                vibrator.vibrate(pattern, -1)
        return vibrate
    except Exception:
        return None
