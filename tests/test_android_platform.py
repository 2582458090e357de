"""The app's pyjnius code run against pyjnius/Android stand-ins (tests/android_standins.py, each behaviour taken from
pyjnius 1.7.0, Android and python-for-android sources): the device's API level, the Android 14 receiver rule,
byte[] extras from Zebra DataWedge and Bluebird, the intents sent when a laser mode starts, the camera permission
answered late, and the desktop display settings kept off Android."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from drivers.scanners import bluebird, datawedge
from drivers.scanners import settings as scanner_settings
from kiosk_ui.adapters import build_services
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed
from tests.android_standins import ArrayList, Bundle, ByteArray, Intent, JByteArray, StandInAndroid

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def device(monkeypatch, tmp_path):
    """An Android 14 handheld: the app's process (ANDROID_ARGUMENT), CPython built for minapi 24."""
    def make(sdk_int: int = 34) -> StandInAndroid:
        monkeypatch.setenv("ANDROID_ARGUMENT", str(tmp_path / "app"))
        monkeypatch.setattr(sys, "getandroidapilevel", lambda: 24, raising=False)   # the BUILD level, not the device's
        standin = StandInAndroid(sdk_int, storage=tmp_path / "storage")
        for name, module in standin.modules().items():
            monkeypatch.setitem(sys.modules, name, module)
        return standin
    return make


def test_the_stand_in_byte_array_behaves_like_pyjnius():
    arr = ByteArray([84, 71, -1, 0])                 # signed Java bytes in, unsigned out (unsigned char buffer)
    assert len(arr) == 4 and arr[2] == 255 and arr[1:3] == [71, 255] and arr.tolist() == [84, 71, 255, 0]
    assert arr.tostring() == b"TG\xff\x00" and bytes(arr) == b"TG\xff\x00"      # iterable through __getitem__
    assert not hasattr(arr, "getClass") and not isinstance(arr, (bytes, bytearray, list, tuple))
    with pytest.raises(TypeError):
        memoryview(arr)                              # no buffer protocol


def test_the_api_level_is_the_device_s_not_the_interpreter_s(device):
    from drivers.android_device import device_api_level
    from drivers.scanners.android import RECEIVER_EXPORTED, ScannerReceiver
    device(34)
    assert sys.getandroidapilevel() == 24 and device_api_level() == 34
    rx = ScannerReceiver(("ch.ticketgate.SCAN",), lambda a, e: None, register=lambda *a: (lambda: None))
    assert rx.api == 34 and rx.flags == RECEIVER_EXPORTED


def test_android14_receiver_is_registered_exported_and_a_refusal_is_a_clear_error(device, tmp_path):
    from drivers.scanners.android import ScannerReceiver, ScannerStartError, jnius_register
    android = device(34)
    got = []
    rx = ScannerReceiver(("ch.ticketgate.SCAN",), lambda a, e: got.append((a, e)))      # the real jnius_register
    rx.start()
    assert [flags for _, _, flags in android.activity.receivers] == [0x2]
    assert android.activity.deliver(Intent("ch.ticketgate.SCAN", {"k": "v"})) == 1 and got == [("ch.ticketgate.SCAN", {"k": "v"})]
    rx.stop()
    assert android.activity.receivers == []

    # what Android 14 does to the two-argument call (the old code's path): surfaced, not swallowed
    old_style = ScannerReceiver(("ch.ticketgate.SCAN",), lambda a, e: None, register=jnius_register, api=24)
    with pytest.raises(ScannerStartError, match="SecurityException") as err:
        old_style.start()
    assert "API 24" in str(err.value) and "two-argument" in str(err.value) and not old_style.active


def test_vibration_uses_the_device_level(device):
    from drivers.feedback.player import android_vibrator
    android = device(34)
    calls = []
    effect = type("VibrationEffect", (), {"createWaveform": staticmethod(lambda pattern, repeat: ("effect", pattern, repeat))})
    vibrator = type("Vibrator", (), {"hasVibrator": lambda self: True,
                                     "vibrate": lambda self, *args: calls.append(args)})()
    base = android.autoclass

    def autoclass(name):
        if name == "android.os.VibrationEffect":
            return effect
        cls = base(name)
        if name == "org.kivy.android.PythonActivity":
            cls.mActivity.getSystemService = lambda service: vibrator if service == "vibrator" else None
        return cls
    sys.modules["jnius"].autoclass = autoclass
    vibrate = android_vibrator()
    vibrate((80, 40, 80))
    assert calls == [(("effect", [0, 80, 40, 80], -1),)]          # API 26+ form, chosen from SDK_INT 34


def _datawedge_intent(payload: str) -> Intent:
    """A DataWedge Intent-output broadcast: decode_data is an ArrayList of byte[] (the exact bytes)."""
    raw = payload.encode() + b"\r\n"
    return Intent("ch.ticketgate.SCAN", {datawedge.SOURCE: "scanner", datawedge.LABEL_TYPE: "LABEL-TYPE-QRCODE",
                                         datawedge.DATA_STRING: payload,
                                         datawedge.DECODE_DATA: ArrayList([JByteArray(raw)])})


def test_byte_array_extras_survive_bundle_conversion(device):
    from drivers.scanners.android import bundle_to_dict
    device(34)
    raw = "TG1:ÉTÉ".encode() + b"\x00"
    extras = Bundle({bluebird.EXTRA_DATA: JByteArray(raw), bluebird.EXTRA_SYMBOLOGY: 28, "flag": True,
                     datawedge.DECODE_DATA: ArrayList([JByteArray(b"AB"), JByteArray(b"\xffC")]),
                     "nested": Bundle({"RESULT_CODE": "OK"})})
    assert bundle_to_dict(extras) == {bluebird.EXTRA_DATA: raw, bluebird.EXTRA_SYMBOLOGY: 28, "flag": True,
                                      datawedge.DECODE_DATA: [b"AB", b"\xffC"], "nested": {"RESULT_CODE": "OK"}}


def test_zebra_and_bluebird_on_a_device_configure_the_scanner_and_reach_the_gate(device, tmp_path):
    from kiosk_ui.adapters.lasers import LaserInput
    android = device(34)
    demo = seed(tmp_path / "device")
    ctl = Controller(demo.door, build_services(demo.door, tmp_path / "device"))
    views = []

    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="zebra"))
    zebra = LaserInput(demo.door.ledger)                     # everything from the device: jnius, SDK_INT, package
    assert zebra.start(lambda text: views.append(ctl.scan(text))), zebra.error
    (action, extras), = android.activity.sent                # SET_CONFIG sent at start, bound to this app
    config = extras[datawedge.EXTRA_SET_CONFIG]
    assert action == datawedge.API_ACTION and config["PROFILE_NAME"] == "ticketgate"
    assert config["APP_LIST"] == [{"PACKAGE_NAME": "org.ticketgate.ticketgate", "ACTIVITY_LIST": ["*"]}]
    intent_plugin = next(p for p in config["PLUGIN_CONFIG"] if p["PLUGIN_NAME"] == "INTENT")
    assert intent_plugin["PARAM_LIST"]["intent_action"] == "ch.ticketgate.SCAN"
    assert android.activity.deliver(_datawedge_intent(demo.ticket(1001))) == 1
    android.activity.deliver(Intent(datawedge.RESULT_ACTION, {"RESULT": "FAILURE", "COMMAND": datawedge.EXTRA_SET_CONFIG,
                                                              "RESULT_INFO": Bundle({"RESULT_CODE": "APP_ALREADY_ASSOCIATED"})}))
    assert zebra.problems == ["DataWedge refused SET_CONFIG: APP_ALREADY_ASSOCIATED"]
    zebra.stop()

    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="bluebird"))
    android.activity.sent.clear()
    bb = LaserInput(demo.door.ledger)
    assert bb.start(lambda text: views.append(ctl.scan(text))), bb.error
    assert android.activity.sent == [(bluebird.ACTION_OPEN, {bluebird.EXTRA_INT_DATA3: 1})]
    data = JByteArray(demo.ticket(1002).encode() + b"\x00\x00")
    android.activity.deliver(Intent(bluebird.ACTION_DECODING_DATA, {bluebird.EXTRA_DATA: data,
                                                                   bluebird.EXTRA_SYMBOLOGY: 28}))
    bb.stop()
    assert android.activity.sent[-1] == (bluebird.ACTION_CLOSE, {bluebird.EXTRA_INT_DATA3: 2})
    assert [v.title for v in views] == ["ACCEPTED — IN", "ACCEPTED — IN"]
    demo.door.close()


def test_a_refused_receiver_is_the_laser_s_error_not_silence(device, tmp_path):
    from kiosk_ui.adapters.lasers import LaserInput
    android = device(34)
    demo = seed(tmp_path / "device")
    scanner_settings.save(demo.door.ledger, scanner_settings.ScannerSettings(mode="zebra"))
    laser = LaserInput(demo.door.ledger, api=24)      # as if the level came from sys.getandroidapilevel()
    assert laser.start(lambda text: None) is False
    assert "zebra scanner not started" in laser.error and "SecurityException" in laser.error
    assert laser.problems[0] == laser.error and android.activity.sent == []   # no profile for a dead receiver
    demo.door.close()


def test_camera_permission_granted_late_reopens_the_preview(device, tmp_path, monkeypatch):
    from kiosk_ui import android_main
    from kiosk_ui.adapters.camera import CameraPermission
    android = device(34)
    permission = CameraPermission()
    reopened = []
    permission.when_granted(lambda: reopened.append(threading.current_thread().name))
    import kiosk_ui.adapters.camera as camera_module
    monkeypatch.setattr(camera_module, "camera_permission", permission)
    monkeypatch.delenv("TICKETGATE_HOME", raising=False)
    android_main._android_setup()
    (asked, callback), = android.permission_requests
    assert "android.permission.CAMERA" in asked and android.multicast_locks == ["ticketgate-mdns"]
    assert os.environ["TICKETGATE_HOME"] == str(tmp_path / "storage" / "agent")
    callback(["android.permission.VIBRATE"], [True])          # an answer about something else: still waiting
    assert reopened == [] and permission.granted is None
    worker = threading.Thread(target=callback, args=(asked, [True] * len(asked)), name="android-ui")
    worker.start(), worker.join()                             # p4a calls back on Android's UI thread
    assert reopened == ["android-ui"] and permission.granted is True
    permission.when_granted(lambda: reopened.append("later"))  # asked after the grant: at once
    assert reopened[-1] == "later"
    denied = CameraPermission()
    denied.when_granted(lambda: reopened.append("never"))
    denied.answer(["android.permission.CAMERA"], [False])
    assert "never" not in reopened and denied.granted is False


def test_desktop_display_settings_stay_off_android(tmp_path):
    code = ("import os; from kiosk_ui.offscreen import offscreen_env; offscreen_env();"
            "print(sorted(k for k in ('KIVY_HOME','KIVY_METRICS_DENSITY','KIVY_NO_CONSOLELOG','SDL_VIDEODRIVER') if k in os.environ))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SDL_"))}
    android = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**env, "ANDROID_ARGUMENT": str(tmp_path)})
    desktop = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert android.stdout.strip() == "[]", android.stderr
    assert desktop.stdout.strip() == "['KIVY_HOME', 'KIVY_METRICS_DENSITY', 'KIVY_NO_CONSOLELOG', 'SDL_VIDEODRIVER']"


def test_printer_refresh_with_p4a_s_zeroconf_0_24_is_a_message_not_a_crash(monkeypatch):
    """The API p4a's stock recipe (zeroconf 0.24.5) has: ServiceBrowser(zc, type_: str, handlers=…) validates the
    type with `type_.endswith(…)`, so a list of types raises AttributeError; ServiceInfo has no
    parsed_scoped_addresses(). The APK ships our recipe instead (tests/test_android_packaging.py); if an old one
    were there anyway, refreshing the printer list must say so and keep the printers typed by hand."""
    import enum
    import types

    from drivers.printers.discovery import PrinterList

    class ServiceBrowser:                              # zeroconf 0.24.x signature and first check
        def __init__(self, zc, type_, handlers=None, listener=None, addr=None, port=5353, delay=1000):
            assert handlers or listener, "You need to specify at least one handler"
            if not type_.endswith("._tcp.local."):
                raise ValueError("bad type")

    old = types.ModuleType("zeroconf")
    old.__version__ = "0.24.5"
    old.ServiceBrowser = ServiceBrowser
    old.ServiceStateChange = enum.Enum("ServiceStateChange", "Added Removed Updated")
    closed = []
    old.Zeroconf = lambda **kw: types.SimpleNamespace(close=lambda: closed.append(True))
    monkeypatch.setitem(sys.modules, "zeroconf", old)
    printers = PrinterList()
    manual = printers.add_manual("192.168.4.20:9100")
    assert printers.refresh(0.01) == [manual]                               # no exception out of the handler
    assert "printer search failed (AttributeError" in printers.error and "add the printer by address" in printers.error
    assert closed == [True]                                                   # the socket is not leaked


_PERMISSION_LATE = r'''
import sys, threading, types
from kiosk_ui.offscreen import offscreen_env
offscreen_env()
from kivy.clock import Clock
import kiosk_ui.screens.preview as preview
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.camera import camera_permission
from kiosk_ui.app import KioskApp
from kiosk_ui.controller import Controller
from kiosk_ui.demo_data import seed

attempts = []
def attach(container, camera):         # Kivy's Camera() fails until the permission is granted
    attempts.append(camera_permission.granted)
    return types.SimpleNamespace(opacity=1) if camera_permission.granted else None
preview.attach_preview = attach

class AndroidCamera:                    # DriverCamera on Android: frames are pushed by the preview
    available, torch_supported, push = True, False, object()
    def start(self, on_payload, plausible=None): return True
    def stop(self): pass
    def set_torch(self, on): return False

demo = seed(sys.argv[1])
services = build_services(demo.door, sys.argv[1])
services.camera = AndroidCamera()
app = KioskApp(Controller(demo.door, services), "scan")
def first_frame(app):                   # Android answers the dialog later, on its own UI thread
    threading.Thread(target=camera_permission.answer, args=(["android.permission.CAMERA"], [True])).start()
    Clock.schedule_once(lambda *_: app.stop(), 1.0)
app.after_first_frame = first_frame
app.run()
print("attempts", attempts, "screen", app.ui.manager.current, flush=True)
'''


def test_the_real_app_opens_the_preview_when_the_permission_comes_late(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SDL_", "DISPLAY"))}
    env.update(KIVY_HOME=str(tmp_path / "kivy"))
    proc = subprocess.run([sys.executable, "-c", _PERMISSION_LATE, str(tmp_path / "device")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("attempts"))
    assert line.endswith("True] screen scan") and "None" in line        # failed first, reopened once granted
    assert line.count("True") == 1                                       # and not again after it worked
