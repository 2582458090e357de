"""Laser / imager scanners through drivers.scanners, chosen by the ledger setting `scanner` (drivers.scanners.settings):
Zebra DataWedge or Bluebird broadcasts (Android), a serial scanner or an evdev keyboard wedge (Linux). A plain
keyboard wedge needs nothing here: the scan screen reads typed lines itself.

Reads arrive on a platform thread; `on_payload` must re-post them to the UI thread (the app uses Clock).
Ignored reads (garbage, half codes) are kept with their reason in `ignored`, never raised.
"""
from __future__ import annotations

from collections import deque
from typing import Callable


class LaserInput:
    def __init__(self, settings_store, register=None, api: int | None = None):
        from drivers.scanners import settings as scanner_settings
        self.settings = scanner_settings.load(settings_store)
        self.register, self.api = register, api
        self.source = None
        self.ignored: deque[tuple[str, str]] = deque(maxlen=50)      # (source, reason)
        self.error = ""

    @property
    def mode(self) -> str:
        return self.settings.mode

    def start(self, on_payload: Callable[[str], None]) -> bool:
        """True when a scanner source runs; False (with `error`) when this mode needs none or it cannot start."""
        from drivers.scanners.reads import ScanRead

        def deliver(read) -> None:
            if isinstance(read, ScanRead):
                on_payload(read.text)
            else:
                self.ignored.append((read.source, read.reason))
        s = self.settings
        try:
            if s.mode in ("zebra", "bluebird"):
                self.source = self._receiver(deliver)
            elif s.mode == "keyboard" and s.serial_port:
                from drivers.scanners.serial_source import SerialSource
                self.source = SerialSource(s.serial_port, deliver)
            elif s.mode == "keyboard" and s.evdev_path:
                from drivers.scanners.evdev_source import EvdevSource
                self.source = EvdevSource(s.evdev_path, deliver, s.inter_key_timeout)
            else:
                return False
            self.source.start()
            return True
        except Exception as exc:     # unplugged, no permission, not on Android: the keyboard / camera still work
            self.error = f"{s.mode} scanner not started: {exc}"
            self.source = None
            return False

    def _receiver(self, deliver):
        from drivers.scanners import bluebird, datawedge
        from drivers.scanners.android import ScannerReceiver
        from drivers.scanners.settings import receiver_actions
        s = self.settings
        if s.mode == "zebra":
            parse = lambda action, extras: datawedge.parse_scan_intent(action, extras, s.datawedge_action)  # noqa: E731
        else:
            parse = bluebird.parse_broadcast
        kw = {"register": self.register} if self.register is not None else {}
        return ScannerReceiver(receiver_actions(s), lambda action, extras: deliver(parse(action, extras)),
                               api=self.api, **kw)

    def stop(self) -> None:
        if self.source is not None:
            self.source.stop()
            self.source = None
