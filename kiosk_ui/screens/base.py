"""A screen with a title bar (title + Menu) over a body; `refresh()` re-renders from the controller."""
from __future__ import annotations

import logging
import threading
from typing import Callable, TypeVar

from kivy.clock import Clock
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen

from kiosk_ui.i18n import tr
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton, paint

BG = (0.08, 0.09, 0.11, 1)
T = TypeVar("T")
log = logging.getLogger(__name__)


class BaseScreen(Screen):
    title = "?"
    back, back_label = "menu", "Menu"      # the header button

    def __init__(self, ui, **kw):
        super().__init__(**kw)
        self.ui = ui                       # the KioskApp: .ctl (Controller), .go(name)
        self.root_box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
        paint(self.root_box, BG)
        self.add_widget(self.root_box)
        self.header = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        self.title_label = Label(text=tr(self.title), font_size=sp(24), bold=True, halign="left", valign="middle")
        self.title_label.bind(size=lambda w, s: setattr(w, "text_size", s))
        self.menu_button = BigButton(tr(self.back_label), lambda: self.ui.go(self.back), size_hint_x=None, width=dp(120))
        self.header.add_widget(self.title_label)
        self.header.add_widget(self.menu_button)
        self.root_box.add_widget(self.header)
        self.body = BoxLayout(orientation="vertical", spacing=dp(GAP))
        self.root_box.add_widget(self.body)
        self._said: dict[int, tuple[Label, Callable[[], str], str]] = {}     # label -> (render, text shown)

    @property
    def ctl(self):
        return self.ui.ctl

    def on_pre_enter(self, *args):
        self.relabel()
        self.refresh()

    def relabel(self) -> None:
        self.title_label.text = tr(self.title)
        self.menu_button.text = tr(self.back_label)
        for key, (label, render, shown) in list(self._said.items()):
            if label.text == shown:             # (else something else was shown there since: left as it is)
                label.text = render()
                self._said[key] = (label, render, label.text)

    def say(self, label: Label, render: Callable[[], str]) -> str:
        """Show `render()` in `label` (a message, a problem): said again in the new language when the language is
        switched, not only at the next action. -> the text shown."""
        text = render()
        label.text = text
        self._said[id(label)] = (label, render, text)
        return text

    def refresh(self) -> None:
        pass

    @property
    def portrait(self) -> bool:
        from kivy.core.window import Window     # the screen itself is not laid out yet on its first refresh
        return Window.height >= Window.width

    def in_background(self, work: Callable[[], T], done: Callable[[T | None], object], wait: bool = False) -> T | None:
        """Run `work` (a print: a jammed or switched-off printer takes its whole timeout to answer) off the UI
        thread, then `done(result)` on the UI thread; `done(None)` when it raised (the log has the trace). `wait`:
        run it here and return its result (tests)."""
        def result_of() -> T | None:
            try:
                return work()
            except Exception as exc:          # never lost silently: `done` tells the operator
                log.exception("%s: failed in the background: %s", self.name, exc)
                return None
        if wait:
            result = result_of()
            done(result)
            return result
        threading.Thread(target=lambda: (lambda r: Clock.schedule_once(lambda *_: done(r)))(result_of()),
                         name=f"{self.name}-print", daemon=True).start()
        return None

    def guarded(self, action) -> None:
        """Run a protected action, asking for the PIN first when the kiosk is locked."""
        if not self.ctl.needs_pin():
            action()
            return
        from kiosk_ui.screens.widgets import ask_pin

        def check(pin: str) -> str:
            outcome = self.ctl.lock.unlock(pin)
            if outcome == "ok":
                action()
            return outcome
        self.ui.popup = ask_pin(check)
