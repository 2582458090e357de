"""The Android packaging recipe: the parts read straight from buildozer.spec. What buildozer and python-for-android
make of it (arguments, recipes, pure-Python wheels, the imports the app needs) is tests/test_android_packaging.py."""
from __future__ import annotations

import configparser
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANDROID_NS = "http://schemas.android.com/apk/res/android"


def spec() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()           # strict: a duplicated section or key is an error
    parser.read(ROOT / "buildozer.spec")
    return parser["app"]


def test_permissions_for_camera_network_multicast_vibrate():
    perms = {p.strip() for p in spec()["android.permissions"].split(",")}
    assert {"CAMERA", "INTERNET", "ACCESS_NETWORK_STATE", "ACCESS_WIFI_STATE", "CHANGE_WIFI_MULTICAST_STATE",
            "VIBRATE", "WAKE_LOCK"} <= perms


def test_the_camera_is_an_optional_feature_in_the_manifest_not_a_p4a_flag():
    app = spec()
    assert "android.features" not in app            # buildozer would pass --feature, which p4a's build.py refuses
    snippet = (ROOT / app["android.extra_manifest_xml"]).read_text()
    root = ET.fromstring(f'<manifest xmlns:android="{ANDROID_NS}">{snippet}</manifest>')   # well-formed XML
    features = {f.get(f"{{{ANDROID_NS}}}name"): f.get(f"{{{ANDROID_NS}}}required") for f in root.iter("uses-feature")}
    assert features == {"android.hardware.camera": "false", "android.hardware.camera.autofocus": "false"}


def test_no_opencv_usb_serial_or_server_code_in_the_apk():
    app = spec()
    names = {r.split("==")[0].strip() for r in app["requirements"].split(",")}
    assert not names & {"opencv", "opencv-python", "opencv-python-headless", "pyusb", "pyserial", "zxing-cpp"}
    assert "pyzbar" in names                        # the decoder falls back to pyzbar on Android
    assert "server_stub" in app["source.exclude_dirs"].split(",")
    assert "kiosk_ui/demo_data.py" in app["source.exclude_patterns"].split(",")


def test_the_app_ships_its_translations_and_entry_point():
    app = spec()
    assert "po" in app["source.include_exts"].split(",")
    assert "tests" in app["source.exclude_dirs"].split(",")
    assert (ROOT / "main.py").read_text().count("kiosk_ui.android_main") == 1
    assert "portrait" in app["orientation"] and "landscape" in app["orientation"]
