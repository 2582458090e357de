"""The camera through drivers.camera: a CameraScanner (capture thread -> latest frame -> decoder thread).

Desktop: OpenCV `VideoCaptureSource` (USB / laptop camera). Android: a `PushSource` fed from Kivy's Camera
texture (`push_rgba`) by the scan screen's preview; the torch through `drivers.camera.android_torch`.
Decoded texts arrive on the decoder thread; the app re-posts them to the UI thread (Clock.schedule_once).
"""
from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from drivers.camera.frames import PushSource
    from drivers.camera.scanner import CameraScanner

CAMERA_PERMISSION = "android.permission.CAMERA"


class CameraPermission:
    """The Android camera permission, granted asynchronously: the first preview is opened before the person has
    answered Android's dialog and fails, so whoever needs the camera asks to be called again once it is granted.

    `answer` has the signature of python-for-android's request_permissions callback `(permissions, grant_results)`
    (android/permissions.py: grant_results are booleans) and runs on Android's UI thread, not Kivy's: listeners
    must re-post to Kivy (the app uses Clock.schedule_once)."""

    def __init__(self):
        self.granted: bool | None = None           # None: not answered yet
        self._waiting: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def when_granted(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if not self.granted:
                self._waiting.append(fn)
                return
        fn()

    def answer(self, permissions: list[str], grant_results: list[bool]) -> None:
        answers = dict(zip((str(p) for p in permissions), grant_results))
        if CAMERA_PERMISSION not in answers:
            return
        with self._lock:
            self.granted = bool(answers[CAMERA_PERMISSION])
            waiting, self._waiting = (self._waiting, []) if self.granted else ([], self._waiting)
        for fn in waiting:
            fn()


camera_permission = CameraPermission()


def decoder_chain(plausible: Callable[[str], bool] | None = None, **options):
    """zxing-cpp first where it is installed; pyzbar alone where it is not (Android: python-for-android has a
    pyzbar/libzbar recipe and no zxing-cpp one). `plausible`: what a retry step's text must look like (None: any).
    `options`: other DecoderChain fields (a benchmark's live budget); the app gives none."""
    from drivers.camera.chain import DecoderChain, any_text
    from drivers.camera.decoders import ZbarDecoder
    kept = plausible or any_text
    try:
        import zxingcpp  # noqa: F401
        return DecoderChain(plausible=kept, **options)
    except ImportError:
        zbar = ZbarDecoder()
        return DecoderChain(**{"primary": zbar, "live_primary": zbar, "fallbacks": (zbar,), "retry_decoders": (zbar,),
                               "plausible": kept, **options})


class DriverCamera:
    def __init__(self, device: int | str = 0, platform: str = sys.platform):
        self.device, self.platform = device, platform
        self.scanner: CameraScanner | None = None
        self.push: PushSource | None = None     # on Android: the preview widget pushes frames here
        self.available = False
        self.torch_supported = False
        self.error = ""

    def start(self, on_payload: Callable[[str], None], plausible: Callable[[str], bool] | None = None) -> bool:
        from drivers.camera.frames import FrameSlot, PushSource, VideoCaptureSource
        from drivers.camera.scanner import CameraScanner
        if self.scanner is not None:
            self.stop()
        slot = FrameSlot()
        source: PushSource | VideoCaptureSource
        if "ANDROID_ARGUMENT" in __import__("os").environ:
            from drivers.camera.android_torch import android_torch
            source = self.push = PushSource(slot, android_torch())
            scanner = CameraScanner(lambda read: on_payload(read.text), chain=decoder_chain(plausible), slot=slot)
        else:
            source = VideoCaptureSource(self.device)
            scanner = CameraScanner(lambda read: on_payload(read.text), chain=decoder_chain(plausible), source=source,
                                    slot=slot)
        self.scanner = scanner
        self.available = scanner.start()
        self.error = scanner.error
        self.torch_supported = self.available and source.torch.available
        return self.available

    def stop(self) -> None:
        if self.scanner is not None:
            self.scanner.stop()
            self.scanner = None
        self.available = False

    def set_torch(self, on: bool) -> bool:
        return self.scanner is not None and self.scanner.set_torch(on) == ""
