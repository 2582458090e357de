"""Camera preview on the scan screen (Android): Kivy's Camera widget shows the picture, and its frames are pushed
to the drivers' decoder (`DriverCamera.push`, a PushSource) about 10 times a second.

On a desktop the drivers read the camera themselves (OpenCV) and no preview is drawn. Never raises: when the
camera widget cannot open, the scan screen keeps its "ready for laser" text. Not yet run on a real device.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock

if TYPE_CHECKING:
    from kiosk_ui.services import CameraService

log = logging.getLogger("ticketgate.kiosk.preview")
PUSH_EVERY = 0.1


def attach_preview(container: Any, camera_service: CameraService) -> object | None:
    """Add a live preview to `container` when the camera service wants pushed frames; returns the widget or None."""
    push = camera_service.push
    if push is None:
        return None
    try:
        from kivy.uix.camera import Camera
        widget = Camera(index=0, resolution=(640, 480), play=True, allow_stretch=True)
    except Exception as exc:   # no camera provider, permission refused: the laser still works
        log.warning("camera preview unavailable: %s", exc)
        return None

    def push_frame(_dt):
        texture = widget.texture
        if texture is None:
            return
        try:
            push.push_rgba(texture.pixels, texture.width, texture.height)
        except Exception as exc:
            log.warning("frame not pushed: %s", exc)
    widget.push_event = Clock.schedule_interval(push_frame, PUSH_EVERY)
    container.add_widget(widget, index=len(container.children))
    return widget
