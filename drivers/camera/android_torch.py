"""Torch (flash) on Android through Camera2's CameraManager.setTorchMode (API 23+), via pyjnius.

Only importable in a python-for-android build; `android_torch()` returns None elsewhere so callers fall back
to NoTorch. Note: while the app's own preview holds the camera, setTorchMode is refused on some devices; the
Kivy camera provider then has to set FLASH_MODE_TORCH on its capture request instead (kiosk_ui owns that)."""
from __future__ import annotations


class AndroidTorch:
    def __init__(self, camera_id: str | None = None):
        from jnius import autoclass
        activity = autoclass("org.kivy.android.PythonActivity").mActivity
        context = autoclass("android.content.Context")
        self._manager = activity.getSystemService(context.CAMERA_SERVICE)
        ids = list(self._manager.getCameraIdList())
        self._id = camera_id or (ids[0] if ids else None)
        chars = autoclass("android.hardware.camera2.CameraCharacteristics")
        self.available = bool(self._id) and bool(
            self._manager.getCameraCharacteristics(self._id).get(chars.FLASH_INFO_AVAILABLE))

    def set(self, on: bool) -> None:
        self._manager.setTorchMode(self._id, bool(on))


def android_torch(camera_id: str | None = None):
    from drivers.android_device import on_android
    if not on_android():
        return None
    try:
        return AndroidTorch(camera_id)
    except Exception:
        return None
