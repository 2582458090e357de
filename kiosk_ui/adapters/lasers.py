"""Laser / imager scanners through drivers.scanners, chosen by the ledger setting `scanner` (drivers.scanners.settings):
Zebra DataWedge or Bluebird broadcasts (Android), a serial scanner or an evdev keyboard wedge (Linux). A plain
keyboard wedge needs nothing here: the scan screen reads typed lines itself.

Every read goes through the one `drivers.scanners.router.ReadRouter`; Zebra/Bluebird use its `laser_receiver` and
`LaserControl` (the DataWedge profile / BARCODE_OPEN are sent when the mode starts). Reads arrive on a platform
thread; `on_payload` must re-post them to the UI thread (the app uses Clock). Ignored reads (garbage, half codes)
are kept with their reason in `ignored`; a scanner that cannot start leaves a plain `error` for the screen.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from drivers.scanners.router import LaserControl, ReadRouter


class _Source(Protocol):
    """A running scanner source: the Android receiver, a serial port, an evdev device."""
    def start(self) -> None: ...
    def stop(self) -> None: ...


class LaserInput:
    def __init__(self, settings_store, register=None, api: int | None = None,
                 send: Callable[[str, dict], None] | None = None, package: str | None = None):
        """register/api/send/package default to the device's (pyjnius); tests hand Android stand-ins."""
        from drivers.scanners import settings as scanner_settings
        self.settings = scanner_settings.load(settings_store)
        self.register, self.api, self.send, self.package = register, api, send, package
        self.source: _Source | None = None
        self.control: LaserControl | None = None
        self.router: ReadRouter | None = None
        self.ignored: deque[tuple[str, str]] = deque(maxlen=50)      # (source, reason)
        self.error = ""

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def problems(self) -> list[str]:
        """The start error, then what the scanner service refused later (DataWedge / Bluebird results)."""
        return ([self.error] if self.error else []) + (list(self.router.errors) if self.router is not None else [])

    def start(self, on_payload: Callable[[str], None]) -> bool:
        """True when a scanner source runs; False (with `error`) when this mode needs none or it cannot start."""
        from drivers.scanners.router import ReadRouter
        self.error = ""
        router = self.router = ReadRouter(on_payload,
                                          on_ignored=lambda read: self.ignored.append((read.source, read.reason)))
        s = self.settings
        source: _Source
        try:
            if s.mode in ("zebra", "bluebird"):
                self._start_android(router)
                return True
            if s.mode == "keyboard" and s.serial_port:
                from drivers.scanners.serial_source import SerialSource
                source = self.source = SerialSource(s.serial_port, router.handle)
            elif s.mode == "keyboard" and s.evdev_path:
                from drivers.scanners.evdev_source import EvdevSource
                source = self.source = EvdevSource(s.evdev_path, router.handle, s.inter_key_timeout)
            else:
                return False
            source.start()
            return True
        except Exception as exc:     # unplugged, refused by Android, not on Android: keyboard / camera still work
            self.error = f"{s.mode} scanner not started: {exc}"
            self.stop()
            return False

    def _start_android(self, router: ReadRouter) -> None:
        from drivers.scanners import android
        from drivers.scanners.router import LaserControl, laser_receiver
        kw = {"register": self.register} if self.register is not None else {}
        source = self.source = laser_receiver(self.settings, router, api=self.api, **kw)
        source.start()               # ScannerStartError (e.g. SecurityException) -> self.error
        control = self.control = LaserControl(self.settings, self.send or android.send_broadcast,
                                              self.package or android.app_package())
        control.start()

    def stop(self) -> None:
        if self.control is not None:
            try:
                self.control.stop()
            except Exception as exc:
                self.error = self.error or f"{self.mode} scanner not closed: {exc}"
            self.control = None
        if self.source is not None:
            self.source.stop()
            self.source = None
