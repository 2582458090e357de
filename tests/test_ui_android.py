"""The Android packaging recipe: what can be checked without the SDK/NDK (the APK itself is built elsewhere,
see docs/android.md)."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# python-for-android recipes (p4a master, pythonforandroid/recipes/) the spec relies on, plus pure-Python wheels
P4A_RECIPES = {"python3", "kivy", "pyjnius", "android", "sqlite3", "openssl", "cryptography", "cffi", "pillow", "numpy",
               "opencv", "libzbar", "pyzbar"}
PURE_PYTHON = {"paho-mqtt", "zeroconf", "ifaddr", "async-timeout", "segno", "sqlite-utils", "click", "click-default-group",
               "sqlite-fts4", "tabulate", "python-dateutil", "six", "pluggy", "python-escpos", "qrcode", "pyserial", "pyusb",
               "python-barcode", "argcomplete", "platformdirs", "pyyaml"}


def spec() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()           # strict: a duplicated section or key is an error
    parser.read(ROOT / "buildozer.spec")
    return parser["app"]


def test_permissions_for_camera_network_multicast_vibrate():
    perms = {p.strip() for p in spec()["android.permissions"].split(",")}
    assert {"CAMERA", "INTERNET", "ACCESS_NETWORK_STATE", "ACCESS_WIFI_STATE", "CHANGE_WIFI_MULTICAST_STATE",
            "VIBRATE", "WAKE_LOCK"} <= perms


def test_requirements_all_have_a_recipe_or_are_pure_python():
    names = {r.split("==")[0].strip() for r in spec()["requirements"].split(",")}
    assert names - P4A_RECIPES - PURE_PYTHON == set()
    assert "zxing-cpp" not in names and "pyzbar" in names        # the decoder falls back to pyzbar on Android


def test_the_app_ships_its_translations_and_entry_point():
    app = spec()
    assert "po" in app["source.include_exts"].split(",")
    assert "tests" in app["source.exclude_dirs"].split(",")
    assert (ROOT / "main.py").read_text().count("kiosk_ui.android_main") == 1
    assert "portrait" in app["orientation"] and "landscape" in app["orientation"]
