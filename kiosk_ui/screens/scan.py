"""Scan: the verdict fills the screen (green / red / orange), with status, counters and quick actions."""
from __future__ import annotations

from functools import partial

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from agent.policy import Mode
from kiosk_ui.i18n import tr
from kiosk_ui.presenters.labels import UNDO_REASONS
from kiosk_ui.presenters.colours import BLACK, ORANGE, PURPLE, WHITE
from kiosk_ui.presenters.status import MODE_CHOICES, mode_label
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton, Text, choose, paint, paint_outlined

VERDICT_SECONDS = 6.0      # then back to "ready" (the counters keep the history)


class ScanScreen(BaseScreen):
    title = "Scan"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.verdict_timeout = VERDICT_SECONDS
        self.root_box.remove_widget(self.body)
        self.root_box.remove_widget(self.header)          # the scan screen uses the whole height
        top = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        strip = BoxLayout(orientation="vertical", spacing=dp(2))
        self.badge = Text("", font=17, bold=True, halign="center")
        paint_outlined(self.badge, (0, 0, 0, 1))          # the frame keeps it visible on a verdict of its colour
        self.mode = Text("", font=17, bold=True, halign="center")
        strip.add_widget(self.badge)
        strip.add_widget(self.mode)
        top.add_widget(strip)
        self.header.remove_widget(self.menu_button)
        self.menu_button.size_hint_x, self.menu_button.width = None, dp(100)
        top.add_widget(self.menu_button)
        self.counters = Text("", font=18, halign="center")
        self.warning = Text("", font=19, bold=True, halign="center")
        paint(self.warning, (0, 0, 0, 0))
        self.verdict_box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
        self.big = Text("", font=40, bold=True, halign="center", color=WHITE)
        self.reason = Text("", font=24, halign="center")
        self.details = Text("", font=22, halign="center")
        self.message = Text("", font=24, bold=True, halign="center", color=(0, 0, 0, 1))
        paint(self.message, (0, 0, 0, 0))
        self.verdict_box.add_widget(Widget())
        for w in (self.big, self.reason, self.details, self.message):
            self.verdict_box.add_widget(w)
        self.verdict_box.add_widget(Widget())
        self.buttons = GridLayout(cols=4, spacing=dp(GAP), size_hint_y=None)
        self.buttons.bind(minimum_height=self.buttons.setter("height"))
        small = {"font_size": sp(18)}
        self.mode_button = BigButton("", self.ask_mode, **small)
        self.torch_button = BigButton("", self.toggle_torch, **small)
        self.undo_button = BigButton("", self.ask_undo, colour=(0.45, 0.30, 0.05, 1), **small)
        self.search_button = BigButton("", lambda: self.ui.go("search"), **small)
        for b in (self.mode_button, self.torch_button, self.undo_button, self.search_button):
            self.buttons.add_widget(b)
        for w in (top, self.counters, self.warning, self.verdict_box, self.buttons):
            self.root_box.add_widget(w)
        self.torch_on = False
        self._reset_event = None
        self.preview = None         # Android camera preview, attached once the camera runs (see on_pre_enter)

    # -- intents ------------------------------------------------------------------------------------------------
    def scan(self, raw: str):
        view = self.ctl.scan(raw)
        self.show(view)
        return view

    def show(self, view) -> None:
        self.refresh()
        if self._reset_event is not None:
            self._reset_event.cancel()
        if self.verdict_timeout:
            self._reset_event = Clock.schedule_once(lambda *_: self._back_to_ready(), self.verdict_timeout)

    def _back_to_ready(self):
        self.ctl.clear_verdict()
        self.refresh()

    def ask_mode(self):
        def pick():
            options = [(mode_label(m, d), partial(self.set_mode, m, d)) for m, d in MODE_CHOICES]
            self.ui.popup = choose(tr("Scanning mode"), options, colours={len(MODE_CHOICES) - 1: PURPLE})
        self.guarded(pick)

    def set_mode(self, mode: Mode, direction: str | None = None) -> None:
        if self.ctl.set_mode(mode, direction):
            self.refresh()

    def toggle_torch(self):
        camera = self.ctl.services.camera
        if camera.torch_supported and camera.set_torch(not self.torch_on):
            self.torch_on = not self.torch_on
        self.refresh()

    def ask_undo(self):
        options = [(tr(r), partial(self.undo, r)) for r in UNDO_REASONS]
        quick = self.ctl.door.policy.mode is Mode.QUICK_CANCEL
        self.ui.popup = choose(tr("Undo the last cancellation?") if quick else tr("Undo the last entry?"), options)

    def undo(self, reason: str) -> str:
        message = self.ctl.undo_last(reason)
        self.ui.toast(message)
        self.ctl.clear_verdict()
        self.refresh()
        return message

    def on_pre_enter(self, *args):
        if self.preview is None and self.ctl.services.camera.available:
            from kiosk_ui.screens.preview import attach_preview
            self.preview = attach_preview(self.verdict_box, self.ctl.services.camera)
        super().on_pre_enter(*args)

    # -- rendering ----------------------------------------------------------------------------------------------
    def relabel(self) -> None:
        self.search_button.text = tr("Search")

    def refresh(self) -> None:
        status = self.ctl.status()
        # a 10" tablet is read from further away: the verdict grows with the screen (1 on a 5" handheld)
        from kivy.core.window import Window
        factor = max(1.0, min(1.8, min(Window.width, Window.height) / dp(360)))
        for w in (self.big, self.reason, self.details, self.message):
            w.scale(factor)
        self.buttons.cols = 4
        self.badge.text, self.badge.bg.rgba = status.badge, status.badge_colour
        self.badge.color = BLACK if status.badge_colour == ORANGE else WHITE      # contrast on orange
        self.mode.text = tr("Mode: {mode}", mode=status.mode)
        self.counters.text = status.counters
        self.warning.text = status.warning
        self.warning.bg.rgba = (0.9, 0.0, 0.6, 1) if status.warning else (0, 0, 0, 0)
        self.warning.opacity = 1 if status.warning else 0
        self.mode_button.text = tr("Mode")
        # never the word of quick cancellation ("cancelled"): this takes back this device's last entry
        quick = self.ctl.door.policy.mode is Mode.QUICK_CANCEL
        self.undo_button.text = tr("Undo cancellation") if quick else tr("Undo entry")
        camera = self.ctl.services.camera
        self.torch_button.text = tr("Torch on") if self.torch_on else tr("Torch")
        self.torch_button.disabled = not camera.torch_supported
        view = self.ctl.verdict
        if self.preview is not None:
            self.preview.opacity = 1 if view is None else 0     # the verdict covers the picture
        if view is None:
            self.root_box.bg.rgba = status.idle_colour
            self.big.text = tr("READY")
            self.reason.text = tr("Show the camera a ticket") if camera.available else tr("Ready for laser: scan a ticket")
            self.details.text = ""
            self.message.text, self.message.bg.rgba = "", (0, 0, 0, 0)
            return
        self.root_box.bg.rgba = view.colour
        self.big.text = view.title
        self.reason.text = view.reason
        self.details.text = "\n".join(view.details)
        self.message.text = view.message
        self.message.bg.rgba = (1, 0.93, 0.3, 1) if view.message else (0, 0, 0, 0)
