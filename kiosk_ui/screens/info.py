"""Stats (per event / zone / gate) and Sync (bundle version, last upload, queue, conflicts): read-only lists."""
from __future__ import annotations

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.lists import stats_lines, sync_lines
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import BigButton, Text, scroll_list


class StatsScreen(BaseScreen):
    title = "Statistics"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        view, self.list = scroll_list()
        self.body.add_widget(view)
        self.body.add_widget(BigButton(tr("Refresh"), self.refresh))

    def refresh(self) -> None:
        self.list.clear_widgets()
        c = self.ctl.door.counters()
        self.list.add_widget(Text(tr("Inside now: {n}", n=c.inside), font=26, bold=True))
        for by, title in (("event", "Per event"), ("zone", "Per zone"), ("gate", "Per gate")):
            self.list.add_widget(Text(tr(title), font=21, bold=True))
            for line in stats_lines(self.ctl.door.stats(by)):
                self.list.add_widget(Text(line, font=19))


class SyncScreen(BaseScreen):
    title = "Sync"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        view, self.list = scroll_list()
        self.body.add_widget(view)
        self.body.add_widget(BigButton(tr("Refresh"), self.refresh))

    def refresh(self) -> None:
        self.list.clear_widgets()
        for line in sync_lines(self.ctl.services.sync.status(), self.ctl.clock()):
            self.list.add_widget(Text(line, font=21))
