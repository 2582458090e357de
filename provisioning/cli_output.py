"""How `ticketgate provision …` says it refused: one line on stderr, exit code 1."""
from __future__ import annotations

import sys

from agent.safe_text import printable


def fail(message: str) -> int:
    print(f"ticketgate provision: {printable(message)}", file=sys.stderr)
    return 1
