"""Fonts for rendering tickets, badges and printer previews: DejaVu (Debian), Kivy's Roboto (Android builds),
else Pillow's built-in font (ASCII only)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_CANDIDATES = {
    "sans": ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "kivy:Roboto-Regular.ttf"],
    "bold": ["/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "kivy:Roboto-Bold.ttf"],
    "mono": ["/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "kivy:RobotoMono-Regular.ttf"],
}


def _resolve(candidate: str) -> Path | None:
    if candidate.startswith("kivy:"):
        try:
            import kivy
        except Exception:
            return None
        path = Path(kivy.__file__).parent / "data" / "fonts" / candidate[5:]
    else:
        path = Path(candidate)
    return path if path.exists() else None


@lru_cache(maxsize=64)
def font(size: int, style: str = "sans"):
    from PIL import ImageFont
    for candidate in _CANDIDATES.get(style, _CANDIDATES["sans"]):
        path = _resolve(candidate)
        if path:
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)
