"""The Kivy app: a ScreenManager of the screens, navigation, toasts, language switch."""
from __future__ import annotations

import logging
import time
from typing import Callable

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.metrics import dp, sp
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import NoTransition, ScreenManager

from agent.payload import plausible
from agent.staff import is_badge
from kiosk_ui import i18n
from kiosk_ui.controller import Controller
from kiosk_ui.screens.events import EventsScreen
from kiosk_ui.screens.info import StatsScreen, SyncScreen
from kiosk_ui.screens.kiosk import KioskScreen
from kiosk_ui.screens.menu import MenuScreen
from kiosk_ui.screens.scan import ScanScreen
from kiosk_ui.screens.search import SearchScreen
from kiosk_ui.screens.sell import PayScreen, SellScreen, SoldScreen
from kiosk_ui.screens.setup import SetupScreen
from kiosk_ui.screens.staff import StaffScreen
from kiosk_ui.screens.till import TillScreen
from kiosk_ui.screens.widgets import paint
from provisioning.protocol import plausible_qr

POLL_SECONDS = 2.0
FLOOD, FLOOD_SECONDS = 5, 10.0     # more uncaught exceptions than this in that time: the app stops (KeepRunning)
log = logging.getLogger(__name__)
# what a camera read on each screen must look like to be taken from a retry step (KioskUI.plausible_read)
PLAUSIBLE: dict[str, Callable[[str], bool]] = {"scan": plausible, "setup": plausible_qr}
WEDGE_SCREENS = ("scan", "staff")    # where a keyboard-wedge read is taken (a ticket or badge; a staff badge)
SCREENS = {"scan": ScanScreen, "search": SearchScreen, "events": EventsScreen, "kiosk": KioskScreen,
           "stats": StatsScreen, "sync": SyncScreen, "setup": SetupScreen, "menu": MenuScreen,
           "sell": SellScreen, "pay": PayScreen, "sold": SoldScreen, "staff": StaffScreen,
           "till": TillScreen}


class KioskUI:
    """Builds the widget tree for a controller; used by the App and by the offscreen harness alike."""

    def __init__(self, ctl: Controller, first: str = "scan"):
        self.ctl = ctl
        self.popup: Popup | None = None
        self.root = FloatLayout()
        self.manager = ScreenManager(transition=NoTransition())
        self.root.add_widget(self.manager)
        self.toast_label = Label(text="", font_size=sp(20), bold=True, size_hint=(0.9, None), height=dp(64),
                                 pos_hint={"center_x": 0.5, "y": 0.02}, opacity=0)
        paint(self.toast_label, (0, 0, 0, 0.85))
        self.root.add_widget(self.toast_label)
        for name, cls in SCREENS.items():
            if name == first:
                self.manager.add_widget(cls(self, name=name))
        self.go(first)
        Window.bind(on_textinput=self._typed, on_key_down=self._key)

    # -- keyboard-wedge scanners: the code typed, then Enter -----------------------------------------------------------
    def _typed(self, _window, text: str) -> None:
        if self.manager.current in WEDGE_SCREENS and not self.popup_open():
            for code in self.ctl.wedge.feed(text):
                self.scanned(code)

    def _key(self, _window, key, *_) -> None:
        if key in (13, 271):                    # Enter, keypad Enter
            self._typed(_window, "\n")

    @property
    def language(self) -> str:
        return i18n.language()

    def screen(self, name: str):
        if not self.manager.has_screen(name):
            self.manager.add_widget(SCREENS[name](self, name=name))   # built on first use: fast start
        return self.manager.get_screen(name)

    def device_payload(self, payload: str) -> None:
        """Where camera decodes and laser reads land (from their threads): handled on the UI thread."""
        Clock.schedule_once(lambda *_: self.scanned(payload))

    def plausible_read(self, text: str) -> bool:
        """Whether a text the camera read only on a retry (a filtered image) may be taken, asked from the decoder
        thread: the shape of what the current screen reads (PLAUSIBLE: a ticket or badge on the scan screen, where a
        misread is a red verdict for a valid ticket; an enrollment QR on the set-up screen), elsewhere any text (a
        promo code on the sell screen)."""
        check = PLAUSIBLE.get(self.manager.current)
        return check is None or check(text)

    def scanned(self, payload: str) -> None:
        """A code read by the camera or a laser (also a keyboard-wedge one): a ticket or badge on the scan screen, a
        staff badge on the Staff screen (its holder goes on duty, shown on the scan screen), a promo code on the sell screen; elsewhere nothing
        is done with it."""
        if self.manager.current == "staff" and is_badge(payload):
            self.go("scan")
        if self.manager.current == "scan":
            self.screen("scan").scan(payload)
        elif self.manager.current == "sell":          # a promo code's QR or barcode, read at the desk
            self.screen("sell").apply_promo(payload)

    def go(self, name: str) -> None:
        self.screen(name)
        if self.manager.current == name:
            self.manager.current_screen.on_pre_enter()
        self.manager.current = name

    def popup_open(self) -> bool:
        return self.popup is not None and self.popup.parent is not None

    def toast(self, text: str, seconds: float = 3.0) -> None:
        self.toast_label.text, self.toast_label.opacity = text, 1
        Clock.schedule_once(lambda *_: setattr(self.toast_label, "opacity", 0), seconds)

    def switch_language(self, lang: str) -> None:
        self.ctl.set_language(lang)
        for screen in self.manager.screens:
            screen.relabel()
        self.manager.current_screen.on_pre_enter()


class KeepRunning(ExceptionHandler):
    """An exception out of a screen's callback (a defect not found yet) stops a Kivy app: a door or a desk closed
    mid-shift, and what the person was doing lost with it. It is logged with its traceback, said in a toast, and the
    app keeps running. More than FLOOD of them within FLOOD_SECONDS (a callback failing on every frame) stop the app
    as before."""

    def __init__(self, ui: Callable[[], KioskUI], clock: Callable[[], float] = time.monotonic):
        self.ui, self.clock = ui, clock
        self.recent: list[float] = []
        self.stopping: BaseException | None = None

    def handle_exception(self, inst):
        if not isinstance(inst, Exception) or inst is self.stopping:   # KeyboardInterrupt, SystemExit: stop
            return ExceptionManager.RAISE
        now = self.clock()
        self.recent = [t for t in self.recent if now - t < FLOOD_SECONDS] + [now]
        if len(self.recent) > FLOOD:
            log.error("uncaught exception, %d within %.0f s: the app stops", len(self.recent), FLOOD_SECONDS,
                      exc_info=inst)
            self.stopping = inst                     # Kivy asks again as the exception leaves its outer loop
            return ExceptionManager.RAISE
        log.error("uncaught exception in the app (it keeps running)", exc_info=inst)
        said = i18n.tr("Something went wrong ({what}): the app keeps running. The log has the details.",
                       what=type(inst).__name__)
        try:
            self.ui().toast(said, seconds=8.0)
        except Exception:                            # no UI yet: the log has it
            pass
        return ExceptionManager.PASS


class KioskApp(App):
    title = "ticketgate"

    def __init__(self, ctl: Controller, first: str = "scan", **kw):
        super().__init__(**kw)
        self.ctl, self.first = ctl, first
        self._ui: KioskUI | None = None
        self.after_first_frame: Callable[[KioskApp], None] | None = None   # e.g. the start-up check
        self._keep_running: KeepRunning | None = None     # while the app runs (on_start .. on_stop)

    @property
    def ui(self) -> KioskUI:
        """The widget tree, built by `build()` before anything else runs."""
        if self._ui is None:
            raise RuntimeError("KioskApp.ui is used before build()")
        return self._ui

    def build(self):
        self._ui = KioskUI(self.ctl, self.first)
        Window.bind(size=lambda *_: self.ui.manager.current_screen.refresh())
        return self.ui.root

    def on_start(self):
        self._keep_running = KeepRunning(lambda: self.ui)
        ExceptionManager.add_handler(self._keep_running)
        if self.ctl.services.camera.start(self.ui.device_payload, plausible=self.ui.plausible_read):
            self.ui.manager.current_screen.on_pre_enter()      # the scan screen adds its preview, says "camera"
        if self.ctl.services.camera.push is not None:     # Android: the preview needs the permission
            from kiosk_ui.adapters.camera import camera_permission
            camera_permission.when_granted(lambda: Clock.schedule_once(lambda *_: self._camera_granted()))
        self.ctl.on_device_payload = self.ui.device_payload
        lasers = self.ctl.services.lasers
        if lasers is not None and not lasers.start(self.ctl.on_device_payload) and lasers.error:
            self.ui.toast(lasers.error, seconds=10.0)        # e.g. Android refused the Zebra/Bluebird receiver
        self.ctl.services.sync.start()
        Clock.schedule_interval(self._tick, POLL_SECONDS)
        if self.after_first_frame is not None:
            Window.bind(on_flip=self._first_flip)

    def _first_flip(self, *_):
        Window.unbind(on_flip=self._first_flip)
        check = self.after_first_frame
        if check is not None:
            Clock.schedule_once(lambda *_: check(self), 0)

    def _tick(self, *_):
        """Online badge, queue and names from the sync: re-render the status screens every few seconds."""
        self.ctl.poll()
        if self.ui.manager.current in ("scan", "sync") and not self.ui.popup_open():
            self.ui.manager.current_screen.refresh()

    def _camera_granted(self) -> None:
        """Camera permission granted after the first preview failed: open the preview now, not on the next visit."""
        if self.ui.manager.current == "scan":
            self.ui.manager.current_screen.on_pre_enter()

    def on_stop(self):
        if self._keep_running is not None:
            ExceptionManager.remove_handler(self._keep_running)
            self._keep_running = None
        self.ctl.services.camera.stop()
        if self.ctl.services.lasers is not None:
            self.ctl.services.lasers.stop()
        self.ctl.services.sync.stop()
