"""What a scanner source delivers: a read to check, or an ignored read with its reason. Pure."""
from __future__ import annotations

from dataclasses import dataclass

MAX_SCAN_BYTES = 4096   # far above any ticket (512 chars); a stuck scanner or a binary blob beyond that is noise


@dataclass(frozen=True)
class ScanRead:
    text: str
    source: str                 # zebra | bluebird | keyboard | evdev | serial | camera
    symbology: str = ""         # e.g. LABEL-TYPE-QRCODE, QR
    raw: bytes = b""


@dataclass(frozen=True)
class IgnoredRead:
    reason: str
    source: str
    raw: bytes = b""


Read = ScanRead | IgnoredRead
_TRIM = b"\r\n\t\x00 "


def clean_scan(raw: bytes | str, source: str, symbology: str = "") -> Read:
    """Bytes from a scanner -> text, or an ignored read: empty, too long, not UTF-8, control characters."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_SCAN_BYTES:
        return IgnoredRead(f"read too long ({len(data)} bytes)", source, data[:64])
    trimmed = data.strip(_TRIM)
    if not trimmed:
        return IgnoredRead("empty read", source, data)
    try:
        text = trimmed.decode("utf-8")
    except UnicodeDecodeError:
        return IgnoredRead("garbage bytes (not UTF-8 text)", source, data)
    if any(ord(c) < 32 and c not in "\x1d\x1e\x04" or ord(c) == 0x7f for c in text):  # GS/RS/EOT: GS1 & ISO 15434
        return IgnoredRead("garbage bytes (control characters inside the read)", source, data)
    return ScanRead(text, source, symbology, data)
