"""Printer status replies -> a clear state. Pure: ESC/POS DLE EOT bytes and the ZPL ~HS host status string.

A printer language that answers status queries over raw TCP describes it as a `StatusProtocol` (query bytes,
when the reply is complete, how to read it, and what a printer in a given state answers, for the test printer)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

ESCPOS_QUERY = b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"     # printer, offline cause, paper roll sensor
ESCPOS_REPLY_LEN = 3
ZPL_QUERY = b"~HS"


@dataclass(frozen=True)
class PrinterStatus:
    ready: bool
    message: str
    paper_near_end: bool = False
    busy: bool = False             # a job still in the printer's buffer, not printed yet (ZPL ~HS: formats, batch)


READY = PrinterStatus(True, "ready")


def parse_escpos(reply: bytes) -> PrinterStatus:
    """Three bytes answering DLE EOT 1, 2 and 4 (fixed bits: bit 1 and bit 4 set, bit 0 and bit 7 clear)."""
    if len(reply) < ESCPOS_REPLY_LEN:
        return PrinterStatus(False, "printer did not answer the status query (offline, or not an ESC/POS printer)")
    printer, offline, paper = reply[-3:]
    if any(b & 0x93 != 0x12 for b in (printer, offline, paper)):
        return PrinterStatus(False, f"unexpected status reply {reply[-3:].hex()} (is this an ESC/POS printer?)")
    near_end = bool(paper & 0x0C)
    if paper & 0x60 or offline & 0x20:
        return PrinterStatus(False, "out of paper: load a new roll", near_end)
    if offline & 0x04:
        return PrinterStatus(False, "cover open: close the printer cover", near_end)
    if offline & 0x40:
        return PrinterStatus(False, "printer error (cutter jam or overheating): open, clear, close the cover", near_end)
    if printer & 0x08:
        return PrinterStatus(False, "printer is offline (feed button held, or paper being fed)", near_end)
    return PrinterStatus(True, "ready, paper running low" if near_end else "ready", near_end)


def _count(field: str) -> int:
    return int(field) if field.strip().isdigit() else 0


def parse_zpl(reply: bytes) -> PrinterStatus:
    """~HS answer: three STX…ETX strings of comma-separated fields (ZPL II programming guide). A Zebra answers ~HS
    as soon as it reads it, ahead of the labels in its buffer: `busy` while formats wait in its receive buffer
    (string 1, field 5) or labels remain in the batch (string 2, field 9)."""
    parts = [p.split(b"\x03", 1)[0].decode("ascii", "replace") for p in reply.split(b"\x02")[1:]]
    if len(parts) < 2:
        return PrinterStatus(False, "printer did not answer the status query (offline, or not a ZPL printer)")
    s1, s2 = parts[0].split(","), parts[1].split(",")
    if len(s1) < 3 or len(s2) < 4:
        return PrinterStatus(False, "unexpected ZPL status reply")
    if s1[1] == "1":
        return PrinterStatus(False, "out of labels: load the label roll")
    if s2[2] == "1":
        return PrinterStatus(False, "print head open: close the head")
    if s2[3] == "1":
        return PrinterStatus(False, "ribbon out: load a ribbon")
    if s1[2] == "1":
        return PrinterStatus(False, "printer is paused: press the pause button")
    busy = _count(s1[4]) > 0 if len(s1) > 4 else False
    busy = busy or (_count(s2[8]) > 0 if len(s2) > 8 else False)
    return PrinterStatus(True, "ready", busy=busy) if busy else READY


def zpl_reply_complete(reply: bytes) -> bool:
    return reply.count(b"\x03") >= 3


def escpos_reply(printer_offline=False, cover_open=False, paper_out=False, near_end=False) -> bytes:
    """The bytes a printer in that state answers to ESCPOS_QUERY (used by the local test printer)."""
    return bytes([0x12 | (0x08 if printer_offline or cover_open or paper_out else 0),
                  0x12 | (0x04 if cover_open else 0) | (0x20 if paper_out else 0),
                  0x12 | (0x60 if paper_out else 0) | (0x0C if near_end or paper_out else 0)])


def zpl_reply(paper_out=False, head_open=False, paused=False, formats_in_buffer=0) -> bytes:
    return (f"\x02030,{int(paper_out)},{int(paused)},1245,{formats_in_buffer:03d},0,0,0,000,0,0,0\x03\r\n"
            f"\x02000,0,{int(head_open)},0,0,2,4,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n").encode()


@dataclass(frozen=True)
class StatusProtocol:
    query: bytes                                   # sent before and after a job
    complete: Callable[[bytes], bool]              # the reply read so far is whole
    parse: Callable[[bytes], PrinterStatus]
    sample_reply: Callable[..., bytes]             # (paper_out=…) -> what such a printer answers (test printer)


ESCPOS = StatusProtocol(ESCPOS_QUERY, lambda reply: len(reply) >= ESCPOS_REPLY_LEN, parse_escpos, escpos_reply)
ZPL = StatusProtocol(ZPL_QUERY, zpl_reply_complete, parse_zpl, zpl_reply)
