"""Keyboard-wedge scanners seen as a Linux input device (evdev): key events -> characters -> WedgeAssembler.

`keys_to_chars` is pure (tested with recorded events); `EvdevSource` opens and grabs the device so scans do not
also land in whatever window has focus. Opening failing (missing device, no permission) raises ScannerError.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Iterable

from agent.errors import TicketgateError
from drivers.scanners.reads import Read
from drivers.scanners.wedge import WedgeAssembler

if TYPE_CHECKING:
    from evdev import InputDevice

EV_KEY, KEY_DOWN, KEY_HOLD = 1, 1, 2


class ScannerError(TicketgateError):
    """The scanner device cannot be used (missing, no permission, unplugged)."""


# US layout, which is what scanners emulate by default: ecodes name -> (plain, shifted)
_LETTERS = {f"KEY_{c}": (c.lower(), c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_DIGITS = dict(zip([f"KEY_{d}" for d in "1234567890"], zip("1234567890", "!@#$%^&*()")))
_OTHERS = {"KEY_MINUS": ("-", "_"), "KEY_EQUAL": ("=", "+"), "KEY_LEFTBRACE": ("[", "{"), "KEY_RIGHTBRACE": ("]", "}"),
           "KEY_SEMICOLON": (";", ":"), "KEY_APOSTROPHE": ("'", '"'), "KEY_GRAVE": ("`", "~"), "KEY_BACKSLASH": ("\\", "|"),
           "KEY_COMMA": (",", "<"), "KEY_DOT": (".", ">"), "KEY_SLASH": ("/", "?"), "KEY_SPACE": (" ", " "),
           "KEY_ENTER": ("\n", "\n"), "KEY_KPENTER": ("\n", "\n"), "KEY_TAB": ("\t", "\t"),
           "KEY_KPASTERISK": ("*", "*"), "KEY_KPPLUS": ("+", "+"), "KEY_KPMINUS": ("-", "-"), "KEY_KPDOT": (".", "."),
           "KEY_KPSLASH": ("/", "/")}
_SHIFTS = {"KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"}


def _keymap() -> dict[int, tuple[str, str]]:
    from evdev import ecodes
    table = {**_LETTERS, **_DIGITS, **_OTHERS}
    table.update({f"KEY_KP{d}": (d, d) for d in "0123456789"})
    return {ecodes.ecodes[name]: chars for name, chars in table.items() if name in ecodes.ecodes}


def keys_to_chars(events: Iterable[tuple[float, int, int, int]]) -> Iterable[tuple[str, float]]:
    """(time, type, code, value) key events -> (character, time). Shift state is tracked; other keys are skipped."""
    from evdev import ecodes
    keymap = _keymap()
    shift_codes = {ecodes.ecodes[n] for n in _SHIFTS}
    shift = False
    for at, etype, code, value in events:
        if etype != EV_KEY:
            continue
        if code in shift_codes:
            shift = value != 0
            continue
        if value not in (KEY_DOWN, KEY_HOLD):
            continue
        chars = keymap.get(code)
        if chars:
            yield chars[1] if shift else chars[0], at


class EvdevSource:
    def __init__(self, path: str, on_read: Callable[[Read], object], inter_key_timeout: float = 0.06, grab: bool = True):
        self.path, self.on_read, self.grab = path, on_read, grab
        self.wedge = WedgeAssembler(inter_key_timeout, source="evdev")
        self.error = ""
        self._device: InputDevice | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        try:
            from evdev import InputDevice
            device = InputDevice(self.path)
        except FileNotFoundError:
            raise ScannerError(f"scanner input device {self.path} not found (unplugged?)") from None
        except PermissionError:
            raise ScannerError(f"no permission to read {self.path}: add the user to the 'input' group") from None
        except OSError as exc:
            raise ScannerError(f"{self.path} is not an input device ({exc.strerror or exc})") from None
        if self.grab:
            try:
                device.grab()
            except OSError as exc:
                device.close()
                raise ScannerError(f"{self.path} is grabbed by another program ({exc.strerror or exc})") from None
        self._device = device

    def start(self) -> None:
        self.open()
        self._thread = threading.Thread(target=self._run, args=(self._device,), name="evdev-scanner", daemon=True)
        self._thread.start()

    def _run(self, device: InputDevice) -> None:
        try:
            events = ((e.timestamp(), e.type, e.code, e.value) for e in device.read_loop())
            for char, at in keys_to_chars(events):
                read = self.wedge.feed(char, at)
                if read is not None:
                    self.on_read(read)
        except OSError as exc:
            self.error = f"scanner {self.path} disconnected ({exc.strerror or exc})"

    def stop(self) -> None:
        """Release the device (its read loop then ends); like every scanner source's stop()."""
        if self._device is not None:
            try:
                self._device.close()
            except OSError:
                pass
            self._device = None
