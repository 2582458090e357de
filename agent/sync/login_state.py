"""What the device knows of its broker login: connected, or refused with the broker's reason (`link.json` in the
device home, 0600). Written by provisioning's DeviceLink; shown by `ticketgate agent status`, `ticketgate provision
status` and the app's sync line."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.language import translate
from agent.private_files import write_private


@dataclass
class LoginState:
    state: str = "unknown"       # unknown | connected | refused (of the last login, not a live link)
    reason: str = ""             # the broker's CONNACK reason of the last refusal
    refusals: int = 0            # refusals in a row
    since: float = 0.0           # first refusal in a row (epoch seconds)
    last: float = 0.0            # connected: the last connection; refused: the last refusal
    revocation: str = ""         # what the last revocation check found

    @classmethod
    def load(cls, path: Path) -> "LoginState":
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{k: data[k] for k in asdict(cls()) if k in data})
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        if Path(path).parent.exists():
            write_private(path, json.dumps(asdict(self)))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, lang: str = "en") -> str:
        """The last login in words, in `lang` (agent.language); the broker's reason as the broker gave it."""
        def say(text: str, **fmt: object) -> str:
            return translate(lang, text, **fmt)
        if self.state == "connected":     # the last login's outcome, not a live link: say when it was
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.last)) if self.last else ""
            return say("accepted (last connected {when})", when=when) if when else say("accepted")
        if self.state != "refused":
            return say(self.state)
        when = time.strftime("%H:%M:%S", time.localtime(self.since))
        line = say("refused by the broker: {reason} ({n}x since {when}); retrying with backoff", reason=self.reason,
                   n=self.refusals, when=when)
        return line + (f"; {self.revocation}" if self.revocation else "")
