"""Bluebird (BBAPI) scanners: the decoding broadcast, and the open/close/trigger control intents. Pure Python."""
from __future__ import annotations

from drivers.scanners.reads import IgnoredRead, Read, clean_scan

PREFIX = "kr.co.bluebird.android.bbapi.action."
ACTION_DECODING_DATA = PREFIX + "BARCODE_CALLBACK_DECODING_DATA"
ACTION_REQUEST_SUCCESS = PREFIX + "BARCODE_CALLBACK_REQUEST_SUCCESS"
ACTION_REQUEST_FAILED = PREFIX + "BARCODE_CALLBACK_REQUEST_FAILED"
ACTION_OPEN = PREFIX + "BARCODE_OPEN"
ACTION_CLOSE = PREFIX + "BARCODE_CLOSE"
ACTION_SET_TRIGGER = PREFIX + "BARCODE_SET_TRIGGER"
EXTRA_DATA = "EXTRA_BARCODE_DECODING_DATA"
EXTRA_SYMBOLOGY = "EXTRA_BARCODE_DECODING_SYMBOLE"   # sic: Bluebird's spelling
EXTRA_INT_DATA2 = "EXTRA_INT_DATA2"
EXTRA_INT_DATA3 = "EXTRA_INT_DATA3"
RECEIVE_ACTIONS = (ACTION_DECODING_DATA, ACTION_REQUEST_SUCCESS, ACTION_REQUEST_FAILED)


def parse_broadcast(action: str, extras: dict) -> Read:
    if action != ACTION_DECODING_DATA:
        return IgnoredRead(f"not a Bluebird decoding broadcast ({action})", "bluebird")
    data = extras.get(EXTRA_DATA)
    if data is None:
        return IgnoredRead("Bluebird broadcast without data", "bluebird")
    try:
        raw = bytes(b & 0xFF for b in data) if not isinstance(data, (bytes, bytearray)) else bytes(data)
    except TypeError:
        return IgnoredRead("Bluebird data is not a byte array", "bluebird")
    return clean_scan(raw, "bluebird", str(extras.get(EXTRA_SYMBOLOGY, "")))   # trimmed of NUL/CR/LF padding


class BluebirdControl:
    """Open / close the scanner and press the trigger in software, with a sequence id per request."""

    def __init__(self, send_broadcast):
        self.send, self.seq = send_broadcast, 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def open(self) -> int:
        seq = self._next()
        self.send(ACTION_OPEN, {EXTRA_INT_DATA3: seq})
        return seq

    def close(self) -> int:
        seq = self._next()
        self.send(ACTION_CLOSE, {EXTRA_INT_DATA3: seq})
        return seq

    def trigger(self, on: bool) -> int:
        seq = self._next()
        self.send(ACTION_SET_TRIGGER, {EXTRA_INT_DATA2: 1 if on else 0, EXTRA_INT_DATA3: seq})
        return seq


def parse_request_result(action: str, extras: dict) -> tuple[int, bool, str]:
    """(sequence id, ok, message) from the success/failed callbacks."""
    seq = int(extras.get(EXTRA_INT_DATA3, -1))
    if action == ACTION_REQUEST_SUCCESS:
        return seq, True, "ok"
    return seq, False, f"Bluebird scanner refused request {seq} (error {extras.get(EXTRA_INT_DATA2, '?')})"
