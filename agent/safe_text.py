"""One rule for showing untrusted text (buyer names, e-mails, reasons, device names) on a terminal or a printout:
control characters are escaped, never interpreted. ESC[2J in a buyer's name prints as the text `\\x1b[2J`."""
from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

# C0 and C1 controls, DEL, and the Unicode bidi overrides/isolates that reorder what a reader sees
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """One line of untrusted text, safe to print: every control character (newline and tab included) escaped."""
    return _UNSAFE.sub(_escape, str(text))


def printable_lines(text: str) -> str:
    """Multi-line output we composed (tables, reports) around untrusted values: line breaks kept, the rest escaped."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable_json(text: str) -> str:
    """JSON text (json.dumps with ensure_ascii=False) safe to print: C0 controls are escaped by JSON already; DEL, C1
    controls and bidi overrides are escaped as \\uXXXX too (still valid JSON, same values once parsed)."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def timestamp(ts: float, fmt: str, tz: tzinfo = timezone.utc) -> str:
    """A time that came from a device or a message (a clock years off, a forged date) in `fmt`, or `?` with its raw
    seconds when no calendar date holds it (year past 9999, NaN): shown, never a crash."""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).astimezone(tz).strftime(fmt)
    except (OverflowError, ValueError, OSError):
        return f"? ({ts:.12g} s)"
