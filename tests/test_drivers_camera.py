"""Camera decoding: the corpus rate of our chain, the latest-frame slot, sources that fail or end, frame -> verdict."""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera.chain import DecoderChain
from drivers.camera.corpus import corpus_dir, load_gray, samples
from drivers.camera.frames import CameraError, FrameSlot, PushSource, VideoCaptureSource
from drivers.camera.scanner import ERROR, RUNNING, CameraScanner
from drivers.testkit.tickets import Issuer, qr_gray
from tests.helpers import wait_for

CORPUS = corpus_dir(Path(__file__).resolve().parents[1].parent / "shared/corpus/qr")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"QR corpus not found at {CORPUS} (set TICKETGATE_QR_CORPUS)")
def test_chain_reads_every_image_of_the_corpus():
    found = samples(CORPUS)
    assert len(found) >= 80
    chain = DecoderChain()
    missed = [s.path.name for s in found if s.expected not in chain.decode(load_gray(s.path)).texts]
    assert missed == []             # 82 of 82 since the region steps (docs/performance.md)


def test_chain_reads_a_signed_ticket_in_a_640x480_frame_and_finds_nothing_in_a_blank_one():
    issuer = Issuer.create()
    payload = issuer.payload()
    frame = qr_gray(payload, scale=3, canvas=(640, 480), at=(200, 100))
    chain = DecoderChain()
    assert chain.decode(frame).texts == (payload,)
    assert chain.decode_live(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)).texts == (payload,)
    blank = np.full((480, 640), 255, np.uint8)
    result = chain.decode(blank)
    assert not result.found and result.steps_tried == len(chain.steps) + 1


def test_live_mode_runs_region_steps_while_they_fit_in_its_budget():
    from drivers.camera import regions
    rng = np.random.default_rng(4)
    scene = np.full((480, 640), 200, np.uint8)
    scene[100:260, 200:360] = rng.integers(0, 2, (160, 160), dtype=np.uint8) * 255   # code-like, but no code
    boxes = regions.candidates(scene, 2)
    assert boxes and boxes[0].x <= 230 <= boxes[0].x + boxes[0].w
    chain = DecoderChain(live_budget_ms=1000.0)
    sized = sum(getattr(f, "min_side", 0) <= max(box.w, box.h) < getattr(f, "max_side", np.inf)   # steps for its size
                for box in boxes for _, _, f in chain.region_steps or ())
    assert chain.decode_live(scene).steps_tried == 1 + sized
    names = [name for name, _, _ in chain.region_steps]
    assert all(chain.region_costs.estimate(name) > 0 for name in names)     # every step measured
    chain.region_costs.peak.update({name: 1e9 for name in names})           # all "too slow" now: first pass only
    assert chain.decode_live(scene).steps_tried == 1
    chain.region_costs.peak[names[1]] = 0.0
    assert chain.decode_live(scene).steps_tried == 1 + len(boxes)    # the one that fits, on each region


def test_frame_slot_keeps_only_the_latest_frame():
    slot = FrameSlot()
    for i in range(5):
        slot.put(np.full((2, 2), i, np.uint8))
    frame, _ = slot.take(timeout=0.1)
    assert frame[0, 0] == 4 and slot.dropped == 4
    assert slot.take(timeout=0.05) is None


def test_missing_camera_device_is_a_clear_error_state():
    states = []
    scanner = CameraScanner(on_text=lambda r: None, source=VideoCaptureSource(device=97),
                            on_state=lambda s, m: states.append((s, m)))
    assert scanner.start() is False
    assert scanner.state == ERROR and "cannot be opened" in scanner.error
    assert states == [(ERROR, scanner.error)]
    assert "no torch" in scanner.set_torch(True)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    writer.release()


def test_video_source_through_the_real_gate_then_end_of_stream_is_an_error_state(tmp_path):
    issuer = Issuer.create()
    payload = issuer.payload(ticket_id=4242)
    gate = issuer.gate(tmp_path)
    blank = np.full((480, 640), 255, np.uint8)
    code = qr_gray(payload, scale=3, canvas=(640, 480), at=(150, 90))
    video = tmp_path / "door.avi"
    _write_video(video, [blank] * 3 + [code] * 20 + [blank] * 3)
    verdicts, states = [], []
    scanner = CameraScanner(on_text=lambda read: verdicts.append(gate.scan(read.text)), source=VideoCaptureSource(str(video)),
                            on_state=lambda s, m: states.append(s))
    assert scanner.start()
    assert wait_for(lambda: scanner.state == ERROR)
    assert "video ended" in scanner.error
    assert wait_for(lambda: verdicts)
    scanner.stop()
    assert [v.code.value for v in verdicts] == ["accepted"]        # one delivery for a code held in view
    assert gate.ledger.history("4242").entries                      # durable in the ledger
    assert states[0] == RUNNING and states[-1] == ERROR


def test_push_source_nv21_frames_are_decoded_off_the_caller_thread():
    issuer = Issuer.create()
    payload = issuer.payload(seat="R1-12")
    reads, threads = [], []
    scanner = CameraScanner(on_text=lambda r: (reads.append(r.text), threads.append(threading.current_thread().name)))
    push = PushSource(scanner.slot)
    assert scanner.start()
    gray = qr_gray(payload, scale=3, canvas=(640, 480), at=(10, 10))
    uv = bytes(640 * 480 // 2)
    push.push_nv21(gray.tobytes() + uv, 640, 480)
    assert wait_for(lambda: reads)
    scanner.stop()
    assert reads == [payload] and threads == ["camera-decode"]
    with pytest.raises(CameraError, match="short frame"):
        push.push_nv21(b"\x00" * 100, 640, 480)


def test_a_bad_frame_is_skipped_and_a_failing_consumer_does_not_stop_scanning():
    calls = []

    def consumer(read):
        calls.append(read.text)
        raise RuntimeError("ui went away")

    scanner = CameraScanner(on_text=consumer, same_text_pause=0)
    assert scanner.start()
    scanner.slot.put(np.zeros((0,), np.uint8))            # not an image
    assert wait_for(lambda: "frame skipped" in scanner.error)
    scanner.slot.put(qr_gray("hello door"))
    assert wait_for(lambda: calls == ["hello door"])
    assert wait_for(lambda: "on_text failed" in scanner.error)
    scanner.slot.put(qr_gray("second"))
    assert wait_for(lambda: calls == ["hello door", "second"])
    scanner.stop()


def test_torch_where_the_platform_has_one_and_restart_after_an_error():
    class RecordedTorch:                      # the Android CameraManager edge, as the platform answers it
        available = True

        def __init__(self):
            self.calls = []

        def set(self, on):
            if len(self.calls) == 2:
                raise RuntimeError("CAMERA_IN_USE")
            self.calls.append(on)

    torch = RecordedTorch()
    scanner = CameraScanner(on_text=lambda r: None, torch=torch)
    assert scanner.set_torch(True) == "" and scanner.set_torch(False) == "" and torch.calls == [True, False]
    assert "torch unavailable: CAMERA_IN_USE" in scanner.set_torch(True)
    failing = CameraScanner(on_text=lambda r: None, source=VideoCaptureSource(device=96))
    assert not failing.start() and not failing.start() and failing.state == ERROR


def test_decode_corpus_mode_of_the_cli(tmp_path, capsys):
    import json
    from PIL import Image
    from agent.cli import main as ticketgate
    for name, text in (("a", "first code"), ("b", "TG1:NOT-A-REAL-TICKET")):
        Image.fromarray(qr_gray(text)).save(tmp_path / f"{name}.png")
        (tmp_path / f"{name}.txt").write_text(text)
    assert ticketgate(["decode", "--corpus", str(tmp_path), "--json"]) == 0
    rows = {r["decoder"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["chain (ours)"]["read"] == 2 and rows["zxing-cpp"]["total"] == 2


def test_numpy_only_retries_match_opencv_and_a_pyzbar_only_chain_reads_tickets():
    from drivers.camera import variants as V
    from drivers.camera.decoders import ZbarDecoder
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (61, 83), dtype=np.uint8)
    assert np.array_equal(V.np_dark_grown(gray), V.dark_grown(gray))
    assert np.array_equal(V.np_light_threshold(gray), V.light_threshold(gray))
    assert np.array_equal(V.np_inverted(gray), V.inverted(gray)) and V.np_padded(gray).shape == V.padded(gray).shape
    assert V.np_half(gray).shape == (30, 41)
    zbar = ZbarDecoder()                               # the Android build: no zxing-cpp recipe, maybe no OpenCV
    chain = DecoderChain(primary=zbar, live_primary=zbar, fallbacks=(zbar,), retry_decoders=(zbar,),
                         variants=V.NUMPY_VARIANTS)
    payload = Issuer.create().payload()
    frame = qr_gray(payload, scale=3, canvas=(640, 480), at=(100, 50))
    rgba = np.dstack([frame, frame, frame, np.full_like(frame, 255)])
    assert chain.decode_live(rgba).texts == (payload,)
    assert chain.decode(255 - frame).texts == (payload,)          # inverted screen: found by a numpy retry


def test_a_push_source_registers_its_torch_for_the_scanner_on_its_slot():
    class Flash:
        available = True
        state = None

        def set(self, on):
            self.state = on

    slot, flash = FrameSlot(), Flash()
    scanner = CameraScanner(on_text=lambda r: None, slot=slot)
    PushSource(slot, flash)
    assert scanner.set_torch(True) == "" and flash.state is True


def test_the_chain_imports_and_reads_without_opencv():
    import subprocess
    import sys
    code = ("import sys; sys.modules['cv2'] = None\n"
            "from drivers.camera import variants as V; assert V.cv2 is None and V.DEFAULT_VARIANTS == V.NUMPY_VARIANTS\n"
            "from drivers.camera.chain import DecoderChain\n"
            "from drivers.testkit.tickets import qr_gray\n"
            "import numpy as np\n"
            "f = qr_gray('hello door')\n"
            "print(DecoderChain().decode(np.dstack([255 - f] * 3)).texts)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('hello door',)"
