"""The camera scanning loop: capture thread -> latest-frame slot -> decode thread -> on_text (e.g. Gate.scan).

Decoding never runs on the UI thread; callbacks run on the decode thread (the Kivy UI re-posts them with
Clock.schedule_once). A camera that fails or disappears puts the scanner in an error state with a clear
message (`state`, `error`, `on_state`) and stops the threads; nothing raises into the caller. The decode thread
keeps a `FrameCombiner` (combine.py): a code that no single frame reads is read from consecutive frames combined.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from drivers.camera.chain import DecoderChain, DecodeResult
from drivers.camera.combine import FrameCombiner
from drivers.camera.frames import CameraError, FrameSlot, FrameSource, Torch

IDLE, RUNNING, ERROR, STOPPED = "idle", "running", "error", "stopped"


@dataclass(frozen=True)
class CameraRead:
    text: str
    result: DecodeResult
    frame_age_ms: float        # from frame arrival to decoded text


class CameraScanner:
    def __init__(self, on_text: Callable[[CameraRead], None], chain: DecoderChain | None = None,
                 source: FrameSource | None = None, slot: FrameSlot | None = None,
                 on_state: Callable[[str, str], None] | None = None, same_text_pause: float = 1.5,
                 clock: Callable[[], float] = time.monotonic, torch: Torch | None = None):
        self.on_text, self.source = on_text, source
        self.chain = chain or DecoderChain()
        self.slot = slot or FrameSlot()
        self.torch = torch          # None: the source's, else the one a PushSource on this slot registered
        self.on_state = on_state or (lambda state, message: None)
        self.same_text_pause, self.clock = same_text_pause, clock
        self.state, self.error = IDLE, ""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seen: dict[str, float] = {}     # code -> when last read (codes read within the pause)
        self.frames_decoded = 0
        self.combiner = FrameCombiner()     # what the last frames showed of a code not read yet (combine.py)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Open the source (if any) and start the threads. False, with `error` set, when the camera cannot open.
        Also the way to retry after an error (a camera plugged back in)."""
        if self._threads:
            self.stop()
        self._stop.clear()
        if self.source is not None:
            try:
                self.source.open()
            except CameraError as exc:
                self._set_state(ERROR, str(exc))
                return False
            self._threads.append(threading.Thread(target=self._capture, args=(self.source,), name="camera-capture",
                                                  daemon=True))
        self._threads.append(threading.Thread(target=self._decode, name="camera-decode", daemon=True))
        self._set_state(RUNNING, "")
        for t in self._threads:
            t.start()
        return True

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)
        self._threads.clear()
        if self.source is not None:
            self.source.close()
        if self.state == RUNNING:
            self._set_state(STOPPED, "")

    def set_torch(self, on: bool) -> str:
        """Torch on/off; returns '' or a message for the UI (never raises)."""
        torch = self.torch or (self.source.torch if self.source is not None else None) or self.slot.torch
        if torch is None or not torch.available:
            return "this camera has no torch"
        try:
            torch.set(on)
            return ""
        except Exception as exc:
            return f"torch unavailable: {exc}"

    # -- threads -----------------------------------------------------------------------------------------------
    def _capture(self, source: FrameSource) -> None:
        while not self._stop.is_set():
            try:
                frame = source.read()
            except CameraError as exc:
                self._set_state(ERROR, str(exc))
                self._stop.set()
                return
            except Exception as exc:  # driver bug: same outcome, a clear state instead of a dead thread
                self._set_state(ERROR, f"camera failed: {type(exc).__name__}: {exc}")
                self._stop.set()
                return
            self.slot.put(frame)

    def _decode(self) -> None:
        while not self._stop.is_set():
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            frame, stamp = item
            try:
                result = self.chain.decode_live(frame, self.combiner)
            except Exception as exc:  # a malformed frame (wrong shape/dtype) is skipped, not fatal
                self.error = f"frame skipped: {type(exc).__name__}"
                continue
            self.frames_decoded += 1
            for text in result.texts:
                if self._fresh(text):
                    self._deliver(CameraRead(text, result, (time.perf_counter() - stamp) * 1000))

    def process(self, frame) -> list[CameraRead]:
        """Synchronous path (benchmarks, tests, single pictures): decode one frame and deliver what it reads."""
        stamp = time.perf_counter()
        result = self.chain.decode_live(frame, self.combiner)
        reads = [CameraRead(t, result, (time.perf_counter() - stamp) * 1000) for t in result.texts if self._fresh(t)]
        for read in reads:
            self._deliver(read)
        return reads

    def _fresh(self, text: str) -> bool:
        """The same code held in front of the camera is delivered once per pause, not 30 times a second. Every code
        read within the pause is remembered, not only the last: two tickets held together (one phone, one sheet)
        are read one then the other as the picture moves, and each must reach the gate once."""
        now = self.clock()
        self._seen = {t: at for t, at in self._seen.items() if now - at < self.same_text_pause}
        fresh = text not in self._seen
        self._seen[text] = now
        return fresh

    def _deliver(self, read: CameraRead) -> None:
        try:
            self.on_text(read)
        except Exception as exc:  # the consumer's bug must not kill scanning
            self.error = f"on_text failed: {type(exc).__name__}: {exc}"

    def _set_state(self, state: str, message: str) -> None:
        self.state, self.error = state, message
        try:
            self.on_state(state, message)
        except Exception:
            pass
