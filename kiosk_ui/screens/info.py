"""Stats (per event / zone / gate) and Sync (bundle version, last upload, queue, conflicts): read-only lists."""
from __future__ import annotations

from typing import Iterator

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.lists import stats_lines, sync_lines
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import BigButton, Text, scroll_list

Row = tuple[str, int, bool]   # text, font size, bold


class _ListScreen(BaseScreen):
    """A scrolling list of lines and a Refresh button; subclasses say which lines."""

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        view, self.list = scroll_list()
        self.body.add_widget(view)
        self.body.add_widget(BigButton(tr("Refresh"), self.refresh))

    def rows(self) -> Iterator[Row]:
        raise NotImplementedError

    def refresh(self) -> None:
        self.list.clear_widgets()
        for text, font, bold in self.rows():
            self.list.add_widget(Text(text, font=font, bold=bold))


class StatsScreen(_ListScreen):
    title = "Statistics"

    def rows(self) -> Iterator[Row]:
        yield tr("Inside now: {n}", n=self.ctl.door.counters().inside), 26, True
        for by, title in (("event", "Per event"), ("zone", "Per zone"), ("gate", "Per gate")):
            yield tr(title), 21, True
            for line in stats_lines(self.ctl.door.stats(by)):
                yield line, 19, False


class SyncScreen(_ListScreen):
    title = "Sync"

    def rows(self) -> Iterator[Row]:
        for line in sync_lines(self.ctl.services.sync.status(), self.ctl.clock()):
            yield line, 21, False
