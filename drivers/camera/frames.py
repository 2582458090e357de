"""Frame sources and the latest-frame-wins slot between the camera and the decoder.

The camera never waits for the decoder and the decoder never sees a stale frame: a new frame replaces the one
waiting in the slot (counted as dropped). Sources:
  * VideoCaptureSource: OpenCV (USB / laptop cameras, or a video file for tests and replays);
  * PushSource: the Kivy / Android camera pushes frames (the Y plane of NV21 is already grayscale).
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

import numpy as np

from agent.errors import TicketgateError

if TYPE_CHECKING:
    import cv2


class CameraError(TicketgateError):
    """The camera cannot be opened or went away (unplugged, permission revoked, stream ended)."""


class FrameSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._stamp = 0.0
        self.torch: "Torch | None" = None      # set by a PushSource that has one (the platform camera's flash)
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: np.ndarray, stamp: float | None = None) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame, self._stamp = frame, time.perf_counter() if stamp is None else stamp
            self._cond.notify()

    def take(self, timeout: float) -> tuple[np.ndarray, float] | None:
        """The newest frame and when it arrived, or None after `timeout` seconds without one."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None, timeout)
            frame, stamp, self._frame = self._frame, self._stamp, None
            if frame is None:
                return None
            self.delivered += 1
            return frame, stamp


class Torch(Protocol):
    available: bool

    def set(self, on: bool) -> None: ...


class NoTorch:
    available = False

    def set(self, on: bool) -> None:
        raise CameraError("this camera has no torch")


class FrameSource(Protocol):
    torch: Torch

    def open(self) -> None: ...
    def read(self) -> np.ndarray: ...      # raises CameraError when the camera is gone
    def close(self) -> None: ...


class VideoCaptureSource:
    """OpenCV VideoCapture on a device index or a file/URL. `read()` raises CameraError once the device stops
    delivering (after `max_failures` consecutive empty reads) or the file ends."""

    def __init__(self, device: int | str = 0, width: int = 640, height: int = 480, max_failures: int = 5):
        self.device, self.width, self.height, self.max_failures = device, width, height, max_failures
        self._cap: cv2.VideoCapture | None = None
        self.torch: Torch = NoTorch()

    def open(self) -> None:
        import cv2
        cap = cv2.VideoCapture(self.device) if isinstance(self.device, str) else cv2.VideoCapture(self.device, cv2.CAP_ANY)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"camera {self.device!r} cannot be opened (unplugged, busy, or no permission)")
        if isinstance(self.device, int):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)   # do not let the driver queue stale frames either
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError("camera is not open")
        for _ in range(self.max_failures):
            ok, frame = self._cap.read()
            if ok and frame is not None:
                return frame
        what = "the video ended" if isinstance(self.device, str) else "the camera stopped sending frames (disconnected?)"
        raise CameraError(f"camera {self.device!r}: {what}")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class PushSource:
    """Frames pushed by the platform camera (Kivy `Camera` texture callback, Android Camera2 ImageReader)."""

    def __init__(self, slot: FrameSlot, torch: Torch | None = None):
        self.slot = slot
        self.torch = torch or NoTorch()
        if torch is not None:
            slot.torch = torch                 # so a CameraScanner on this slot can switch it

    def push_gray(self, frame: np.ndarray) -> None:
        self.slot.put(frame)

    def push_nv21(self, data: bytes, width: int, height: int) -> None:
        """Android preview frames: the first width*height bytes (Y plane) are the grayscale image."""
        if len(data) < width * height:
            raise CameraError(f"short frame: {len(data)} bytes for {width}x{height}")
        self.slot.put(np.frombuffer(data, np.uint8, width * height).reshape(height, width))

    def push_rgba(self, data: bytes, width: int, height: int) -> None:
        """Kivy texture pixels (RGBA); converted to gray on the decoder thread, not here."""
        if len(data) < width * height * 4:
            raise CameraError(f"short frame: {len(data)} bytes for {width}x{height} RGBA")
        rgba = np.frombuffer(data, np.uint8, width * height * 4).reshape(height, width, 4)
        self.slot.put(rgba)
