"""What scanners add around the code they read, taken off before a ticket or a staff badge is recognised. Pure.

Scanners append CR/LF or pad with spaces (a QR alphanumeric payload never ends in whitespace). A scanner set to
transmit the AIM symbology identifier puts `]Q1` (QR, `]Q0`..`]Q6`) in front, one with ECI transmission an ECI
designator (`\\000026`): neither `]` nor `\\` is in base45 or base64, so no ticket nor badge ever starts with them.
"""
from __future__ import annotations

import re

_SCANNER_PREFIX = re.compile(r"\A(?:\]Q[0-6])?(?:\\[0-9]{6})*")


def unframed(text: str) -> str:
    """The code without the scanner's padding, line end, AIM identifier and ECI designators."""
    return _SCANNER_PREFIX.sub("", text.strip("\r\n\t\x00 "), count=1)
