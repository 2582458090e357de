"""Render the app without a display (SDL offscreen, real GL) and drive it synchronously.

    env = offscreen_env(size=(720, 1280), density=2)   # set before Kivy is imported (in a fresh process)
    h = Harness(controller, first="scan")
    h.screen("scan").scan(payload); h.pump(); h.screenshot("scan.png")

Kivy's Window is a process singleton: use one process per run (the tests run this in a subprocess).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PORTRAIT = (720, 1280)     # 5" handheld, density 2 -> 360 x 640 dp
LANDSCAPE = (1280, 800)    # 10" tablet, density 1


def offscreen_env(size: tuple[int, int] = PORTRAIT, density: float | None = None, headless: bool = True) -> None:
    """Desktop display settings (window size, density, a throw-away KIVY_HOME, Kivy's console log off). Nothing on
    Android: the system gives the window and its density, Kivy keeps its folder in the app's storage and its log
    goes to logcat (where a technician reads it)."""
    from drivers.android_device import on_android
    if on_android():
        return
    if headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")   # Kivy's log stays in its file; our errors use sys.__stderr__
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    w, h = size
    os.environ["KIVY_METRICS_DENSITY"] = str(density if density is not None else (2 if h > w else 1))
    from kivy.config import Config
    Config.set("graphics", "width", str(w))
    Config.set("graphics", "height", str(h))
    Config.set("graphics", "resizable", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")


class Harness:
    def __init__(self, ctl, first: str = "scan"):
        from kivy.base import EventLoop
        from kivy.core.window import Window
        from kiosk_ui.app import KioskUI
        EventLoop.ensure_window()
        self.window, self.loop = Window, EventLoop
        self.ui = KioskUI(ctl, first)
        Window.add_widget(self.ui.root)
        self.pump()

    def screen(self, name: str):
        return self.ui.screen(name)

    def go(self, name: str) -> None:
        self.ui.go(name)
        self.pump()

    def pump(self, frames: int = 4) -> None:
        for _ in range(frames):
            self.loop.idle()

    def close_popup(self) -> None:
        if self.ui.popup is not None:
            self.ui.popup.dismiss(animation=False)
            self.pump()

    def screenshot(self, path: str | Path) -> Path:
        """Window.screenshot() (what a person sees), saved exactly at `path`."""
        self.pump()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="shot-"))
        made = self.window.screenshot(str(tmp / "shot.png"))
        shutil.move(made, path)
        shutil.rmtree(tmp, ignore_errors=True)
        return path
