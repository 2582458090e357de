"""Search: an order by name or number -> its tickets with their state -> manual check-in with a reason."""
from __future__ import annotations

from functools import partial

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout

from kiosk_ui.i18n import tr, tr_n
from kiosk_ui.presenters.labels import CHECKIN_REASONS
from kiosk_ui.presenters.lists import ticket_rows
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton, Text, choose, scroll_list, search_row



class SearchScreen(BaseScreen):
    title = "Search"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        row, self.query, self.go_button = search_row(tr("Name or order"), tr("Search"), self.search)
        self.info = Text("", font=18)
        view, self.results = scroll_list()
        for w in (row, self.info, view):
            self.body.add_widget(w)
        self.rows = []

    def search(self, text: str | None = None) -> list:
        if text is not None:
            self.query.text = text
        found = self.ctl.door.search(self.query.text)
        self.rows = ticket_rows(found, self.ctl.show_buyer, self.ctl.door)
        self.results.clear_widgets()
        self.info.text = tr_n("{n} ticket found", "{n} tickets found", len(self.rows)) if self.query.text.strip() else ""
        for r in self.rows:
            item = BoxLayout(size_hint_y=None, height=dp(TOUCH + 20), spacing=dp(GAP))
            texts = BoxLayout(orientation="vertical")
            texts.add_widget(Text(r.title, font=19, bold=True))
            texts.add_widget(Text(r.subtitle, font=17))
            item.add_widget(texts)
            button = BigButton(tr("Check in"), lambda r=r: self.ask_checkin(r.ticket_key), size_hint_x=None,
                               width=dp(130), colour=(0.05, 0.55, 0.2, 1) if r.can_checkin else (0.3, 0.3, 0.3, 1))
            item.add_widget(button)
            self.results.add_widget(item)
        return self.rows

    def ask_checkin(self, ticket_key: str) -> None:
        options = [(tr(r), partial(self.checkin, ticket_key, r)) for r in CHECKIN_REASONS]
        self.ui.popup = choose(tr("Why a manual check-in?"), options)

    def checkin(self, ticket_key: str, reason: str):
        view = self.ctl.checkin(ticket_key, reason)
        self.ui.go("scan")
        self.ui.screen("scan").show(view)
        return view

    def relabel(self) -> None:
        super().relabel()
        self.query.hint_text = tr("Name or order")
        self.go_button.text = tr("Search")
