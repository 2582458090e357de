"""Events: pick a date, then one or several events, then zones (none ticked = every zone). PIN-protected."""
from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.gridlayout import GridLayout

from agent.event_selection import SelectionRefused
from kiosk_ui.i18n import tr
from kiosk_ui.presenters.selection import Selection
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import GAP, BigButton, BigToggle, Text, scroll_list


class EventsScreen(BaseScreen):
    title = "Events and zones"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        # a festival's days, at most four to a row (one row squeezed a week's dates into unreadable text)
        self.dates = GridLayout(cols=4, spacing=dp(GAP), size_hint_y=None)
        self.dates.bind(minimum_height=self.dates.setter("height"))
        view, self.list = scroll_list()
        self.apply_button = BigButton(tr("Use this selection"), lambda: self.guarded(self.apply), colour=(0.05, 0.55, 0.2, 1))
        self.info = Text("", font=18)
        for w in (self.dates, view, self.info, self.apply_button):
            self.body.add_widget(w)
        self.sel: Selection | None = None

    def on_pre_enter(self, *args):
        p = self.ctl.door.policy
        self.sel = Selection.from_policy(self.ctl.door.events(), p.events, p.zones, now=self.ctl.clock())
        super().on_pre_enter(*args)

    def refresh(self) -> None:
        if self.sel is None:
            return
        s = self.sel
        self.dates.clear_widgets()
        self.dates.cols = max(1, min(4, len(s.dates())))
        for d in s.dates():
            t = BigToggle(d, group="date", state="down" if d == s.date else "normal", allow_no_selection=False)
            t.bind(on_release=lambda w, d=d: self._do(s.pick_date, d))
            self.dates.add_widget(t)
        self.list.clear_widgets()
        self.list.add_widget(Text(tr("Events"), font=20, bold=True))
        for e in s.visible_events():
            t = BigToggle(e["name"], state="down" if e["event_id"] in s.chosen_events else "normal")
            t.bind(on_release=lambda w, i=e["event_id"]: self._do(s.toggle_event, i))
            self.list.add_widget(t)
        zones = s.zones()
        if zones:
            self.list.add_widget(Text(tr("Zones (none ticked: every zone)"), font=20, bold=True))
        for z in zones:
            t = BigToggle(z["name"], state="down" if z["zone_id"] in s.chosen_zones else "normal")
            t.bind(on_release=lambda w, i=z["zone_id"]: self._do(s.toggle_zone, i))
            self.list.add_widget(t)
        self.apply_button.disabled = not s.can_apply
        self.apply_button.text = tr("Use this selection")

    def _do(self, fn, arg) -> None:
        fn(arg)
        self.refresh()

    def apply(self) -> None:
        if self.sel is None:
            return
        events, zones = self.sel.result()
        try:
            saved = self.ctl.set_selection(events, zones)
        except SelectionRefused as exc:       # the event data changed under the screen (a sync): shown, kept as it was
            self.ui.toast(str(exc))
            self.on_pre_enter()
            return
        if saved:
            self.ui.toast(tr("Selection saved."))
            self.ui.go("scan")
