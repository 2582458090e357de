"""Menu: big tiles to every screen, and the language switch."""
from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.gridlayout import GridLayout

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.labels import MENU_TILES
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton



class MenuScreen(BaseScreen):
    title = "Menu"
    back, back_label = "scan", "Scan"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.grid = GridLayout(cols=2, spacing=dp(GAP))
        self.body.add_widget(self.grid)

    def refresh(self) -> None:
        self.grid.cols = 2 if self.portrait else 4
        self.grid.clear_widgets()
        for name, label in MENU_TILES:
            if name in ("kiosk", "sell", "till") and not self.ctl.is_kiosk:
                continue                        # a door device has no ticket desk
            self.grid.add_widget(BigButton(tr(label), lambda n=name: self.ui.go(n), height=dp(TOUCH * 1.4),
                                           font_size=sp(22)))
        other = "fr" if self.ui.language == "en" else "en"
        self.grid.add_widget(BigButton("Français" if other == "fr" else "English", lambda: self.ui.switch_language(other),
                                       colour=(0.05, 0.45, 0.75, 1), height=dp(TOUCH * 1.4)))
