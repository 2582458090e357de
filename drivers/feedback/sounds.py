"""The three door sounds, generated (16-bit mono WAV, 22.05 kHz, a few KB each) so nothing binary is shipped.

accept: two rising tones; reject: a low buzz; attention: three short mid beeps. Short fades avoid clicks."""
from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

RATE = 22050

# kind -> [(frequency Hz, duration s, square wave?), ...]; frequency 0 is a pause
TONES = {
    "accept": [(880, 0.08, False), (0, 0.02, False), (1320, 0.12, False)],
    "reject": [(220, 0.45, True)],
    "attention": [(660, 0.07, False), (0, 0.05, False), (660, 0.07, False), (0, 0.05, False), (660, 0.07, False)],
}


def _samples(freq: float, seconds: float, square: bool, volume: float) -> list[int]:
    n = int(RATE * seconds)
    fade = max(1, int(RATE * 0.005))
    out = []
    for i in range(n):
        if freq == 0:
            out.append(0)
            continue
        s = math.sin(2 * math.pi * freq * i / RATE)
        if square:
            s = 0.6 * (1.0 if s >= 0 else -1.0)
        env = min(1.0, i / fade, (n - 1 - i) / fade)
        out.append(int(32767 * volume * s * env))
    return out


def wav_bytes(kind: str, volume: float = 0.7) -> bytes:
    if kind not in TONES:
        raise ValueError(f"unknown sound {kind!r}; one of {', '.join(TONES)}")
    samples: list[int] = []
    for freq, seconds, square in TONES[kind]:
        samples += _samples(freq, seconds, square, volume)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buf.getvalue()


def ensure_sounds(folder: Path) -> dict[str, Path]:
    """Write the three WAV files into `folder` if missing; returns kind -> path (for Kivy's SoundLoader)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind in TONES:
        path = folder / f"{kind}.wav"
        if not path.exists():
            path.write_bytes(wav_bytes(kind))
        paths[kind] = path
    return paths
