"""One entry for every scanner: reads from any source -> Gate.scan -> verdict listeners; ignored reads counted
with their reason. The kiosk UI and the agent wire sources to a ReadRouter and listen to verdicts.

    router = ReadRouter(gate.scan, on_verdict=ui.show, on_ignored=ui.note)
    receiver = laser_receiver(settings, router)        # zebra / bluebird on Android
    LaserControl(settings, send_broadcast, package).start()   # DataWedge profile / Bluebird BARCODE_OPEN
    CameraScanner(on_text=router.camera, ...)           # camera
    WedgeAssembler → router.handle                      # keyboard wedge (Kivy key events, evdev, serial)
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

from drivers.scanners import bluebird, datawedge
from drivers.scanners.reads import IgnoredRead, Read, ScanRead
from drivers.scanners.settings import ScannerSettings, receiver_actions


class ReadRouter:
    def __init__(self, scan: Callable[[str], object], on_verdict: Callable[[object, ScanRead], None] | None = None,
                 on_ignored: Callable[[IgnoredRead], None] | None = None):
        self.scan, self.on_verdict, self.on_ignored = scan, on_verdict, on_ignored
        self.ignored: Counter[str] = Counter()
        self.errors: list[str] = []
        self.notes: list[str] = []          # e.g. "DataWedge SET_CONFIG applied"

    def handle(self, read: Read | None) -> object | None:
        """Returns the verdict for a read, None for an ignored one. Never raises."""
        if read is None:
            return None
        if isinstance(read, IgnoredRead):
            self.ignored[read.reason] += 1
            self._call(self.on_ignored, read)
            return None
        try:
            verdict = self.scan(read.text)
        except Exception as exc:   # the ledger or keyring failing is shown, the scanner keeps running
            self.errors.append(f"scan failed: {type(exc).__name__}: {exc}")
            return None
        self._call(self.on_verdict, verdict, read)
        return verdict

    def camera(self, camera_read) -> object | None:
        return self.handle(ScanRead(camera_read.text, "camera", "QR"))

    def broadcast(self, settings: ScannerSettings) -> Callable[[str, dict], None]:
        """The (action, extras) callback for the Android receiver in this laser mode."""
        if settings.mode == "zebra":
            def on_zebra(action, extras):
                if action == datawedge.RESULT_ACTION:
                    ok, message = datawedge.parse_result(extras)
                    (self.notes if ok else self.errors).append(message)
                else:
                    self.handle(datawedge.parse_scan_intent(action, extras, settings.datawedge_action))
            return on_zebra
        if settings.mode == "bluebird":
            def on_bluebird(action, extras):
                if action == bluebird.ACTION_DECODING_DATA:
                    self.handle(bluebird.parse_broadcast(action, extras))
                elif action == bluebird.ACTION_REQUEST_FAILED:
                    self.errors.append(bluebird.parse_request_result(action, extras)[2])
            return on_bluebird
        raise ValueError(f"no broadcasts in {settings.mode} mode")

    def _call(self, fn, *args) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception as exc:
            self.errors.append(f"listener failed: {type(exc).__name__}: {exc}")


def laser_receiver(settings: ScannerSettings, router: ReadRouter, register=None, api: int | None = None):
    """The Android receiver for zebra / bluebird mode (exported on API 33+), not yet started; None otherwise."""
    from drivers.scanners.android import ScannerReceiver
    actions = receiver_actions(settings)
    if not actions:
        return None
    return ScannerReceiver(actions, router.broadcast(settings), register=register, api=api)


class LaserControl:
    """What the app tells the scanner service when a laser mode starts, so a device works without being set up by
    hand: Zebra — DataWedge's SET_CONFIG creates our profile if missing (bound to this app, Intent output to our
    action, keystrokes off); Bluebird — BARCODE_OPEN opens the scanner (BARCODE_CLOSE on stop).

    `send(action, extras)` is `drivers.scanners.android.send_broadcast` on a device; `package` is this app's."""

    def __init__(self, settings: ScannerSettings, send: Callable[[str, dict], None], package: str):
        self.settings, self.send, self.package = settings, send, package
        self.bluebird: bluebird.BluebirdControl | None = None

    def start(self) -> None:
        if self.settings.mode == "zebra":
            self.send(*datawedge.set_config_intent(self.package, output_action=self.settings.datawedge_action))
        elif self.settings.mode == "bluebird":
            self.bluebird = bluebird.BluebirdControl(self.send)
            self.bluebird.open()

    def stop(self) -> None:
        if self.bluebird is not None:
            self.bluebird.close()
            self.bluebird = None
