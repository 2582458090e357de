"""The Android device this runs on, asked through pyjnius (python-for-android). Off Android: not on Android, level 0.

`sys.getandroidapilevel()` is NOT the device's level: CPython documents it as "the build-time API version of
Android", i.e. the minimum API the interpreter was compiled for (our `android.minapi`, 24). Behaviour that changed
with an Android release (Android 13's receiver flags, Android 8's VibrationEffect) must be chosen from
`android.os.Build.VERSION.SDK_INT`, the level of the system actually running.
"""
from __future__ import annotations

import os


def on_android() -> bool:
    """python-for-android's launcher sets ANDROID_ARGUMENT for the app's process (and its services)."""
    return "ANDROID_ARGUMENT" in os.environ


def device_api_level() -> int:
    """android.os.Build.VERSION.SDK_INT (e.g. 34 on Android 14); 0 off Android."""
    if not on_android():
        return 0
    from jnius import autoclass
    return int(autoclass("android.os.Build$VERSION").SDK_INT)
