"""Scanners on a serial port (RS-232, USB CDC-ACM in "serial" mode): bytes until CR/LF, via pyserial.

Garbage bytes and a code cut short (no terminator before `inter_byte_timeout`) become ignored reads with a
reason; a port that cannot open or goes away sets a clear error. Reading is bounded (read timeout) so `stop()`
always returns."""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

from drivers.scanners.evdev_source import ScannerError
from drivers.scanners.reads import IgnoredRead, Read, clean_scan

if TYPE_CHECKING:
    from serial import Serial

TERMINATORS = b"\r\n"


class SerialFramer:
    """Pure: bytes in (with their arrival time), reads out."""

    def __init__(self, inter_byte_timeout: float = 0.2, source: str = "serial", max_bytes: int = 4096):
        self.timeout, self.source, self.max_bytes = inter_byte_timeout, source, max_bytes
        self._buf = bytearray()
        self._last = 0.0

    def feed(self, data: bytes, at: float) -> list[Read]:
        out: list[Read] = []
        stale = self.poll(at)
        if stale:
            out.append(stale)
        for byte in data:
            if byte in TERMINATORS:
                if self._buf:
                    out.append(clean_scan(bytes(self._buf), self.source))
                    self._buf.clear()
                continue
            self._buf.append(byte)
            if len(self._buf) > self.max_bytes:
                out.append(IgnoredRead(f"read too long (over {self.max_bytes} bytes without a terminator)", self.source,
                                       bytes(self._buf[:64])))
                self._buf.clear()
        self._last = at
        return out

    def poll(self, now: float) -> IgnoredRead | None:
        if self._buf and now - self._last > self.timeout:
            data = bytes(self._buf)
            self._buf.clear()
            return IgnoredRead(f"incomplete code ({len(data)} bytes, no terminator): ignored", self.source, data)
        return None


class SerialSource:
    def __init__(self, port: str, on_read: Callable[[Read], object], baudrate: int = 9600, inter_byte_timeout: float = 0.2):
        self.port, self.baudrate, self.on_read = port, baudrate, on_read
        self.framer = SerialFramer(inter_byte_timeout)
        self.error = ""
        self._serial: Serial | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        import serial
        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=0.05)
        except serial.SerialException as exc:
            raise ScannerError(f"serial scanner {self.port} cannot be opened: {exc}") from None

    def start(self) -> None:
        self.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(self._serial,), name="serial-scanner", daemon=True)
        self._thread.start()

    def _run(self, port: Serial) -> None:
        import serial
        while not self._stop.is_set():
            try:
                data = port.read(256)
            except (serial.SerialException, OSError) as exc:
                self.error = f"serial scanner {self.port} disconnected ({exc})"
                return
            now = time.monotonic()
            for read in (self.framer.feed(data, now) if data else filter(None, [self.framer.poll(now)])):
                self.on_read(read)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._serial is not None:
            self._serial.close()
            self._serial = None
