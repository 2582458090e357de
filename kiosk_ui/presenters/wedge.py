"""Keyboard-wedge / laser scanners type the code then Enter: collect keystrokes into payloads."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WedgeBuffer:
    max_length: int = 2048
    _chars: list[str] = field(default_factory=list)

    def feed(self, text: str) -> list[str]:
        """Feed typed text (may hold several codes and line ends); returns the completed payloads."""
        done = []
        for ch in text:
            if ch in "\r\n":
                code = "".join(self._chars).strip()
                self._chars.clear()
                if code:
                    done.append(code)
            elif len(self._chars) < self.max_length:
                self._chars.append(ch)
        return done

    def clear(self) -> None:
        self._chars.clear()
