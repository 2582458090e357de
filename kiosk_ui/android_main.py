"""Start-up on Android (python-for-android runs the repository's main.py, which calls `run()`).

Before the app: the agent folder in the app's private storage, the runtime permissions (camera; its answer comes
later, on Android's UI thread, and reopens the camera preview: `kiosk_ui.adapters.camera.camera_permission`), a
Wi-Fi multicast lock (zeroconf discovery of the organiser's server and of printers), and the screen kept on.
Only runs on a device; on a desktop `ticketgate kiosk` is the entry point. No desktop display settings here:
`kiosk_ui.offscreen.offscreen_env` does nothing on Android (the system gives the window and its density).
"""
from __future__ import annotations

import os


_KEPT: list[object] = []        # Java objects that must live as long as the app


def _android_setup() -> None:
    from android.permissions import Permission, request_permissions
    from android.storage import app_storage_path
    from jnius import autoclass

    from kiosk_ui.adapters.camera import camera_permission
    os.environ.setdefault("TICKETGATE_HOME", os.path.join(app_storage_path(), "agent"))
    request_permissions([Permission.CAMERA, Permission.VIBRATE, Permission.ACCESS_WIFI_STATE,
                         Permission.CHANGE_WIFI_MULTICAST_STATE], camera_permission.answer)
    activity = autoclass("org.kivy.android.PythonActivity").mActivity
    context = autoclass("android.content.Context")
    wifi = activity.getApplicationContext().getSystemService(context.WIFI_SERVICE)
    lock = wifi.createMulticastLock("ticketgate-mdns")
    lock.setReferenceCounted(False)
    lock.acquire()
    _KEPT.append(lock)                # a reference for the life of the process


def run() -> int:
    from drivers.android_device import on_android
    if on_android():
        _android_setup()
    from kiosk_ui.cli import main
    return main([])
