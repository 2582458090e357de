"""Staff: who is on duty; tap your name and type your PIN, or scan your staff badge (on the scan screen or here)."""
from __future__ import annotations

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.popup import Popup

from kiosk_ui.i18n import tr
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton, Text, _open_form, field, scroll_list


class StaffScreen(BaseScreen):
    title = "Staff"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.on_duty = Text("", font=24, bold=True)
        self.hint = Text("", font=19)
        view, self.people = scroll_list()
        self.logout = BigButton(tr("Log out"), self._logout, colour=(0.55, 0.16, 0.14, 1))
        for w in (self.on_duty, self.hint, view, self.logout):
            self.body.add_widget(w)

    def refresh(self) -> None:
        v = self.ctl.staff_view()
        self.on_duty.text, self.hint.text = v.on_duty, v.hint
        self.logout.text, self.logout.disabled = tr("Log out"), not v.can_log_out
        self.people.clear_widgets()
        for staff_id, label in v.people:
            self.people.add_widget(BigButton(label, lambda s=staff_id, n=label: self.ask(s, n)))

    def ask(self, staff_id: str, label: str) -> Popup:
        """The PIN pad of one person; a right PIN puts them on duty and goes back to scanning."""
        box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
        info = Text(tr("PIN of {name}", name=label.split(" · ")[0]), font=20)
        pin = field(tr("PIN"), password=True, input_filter="int")
        popup = Popup(title=tr("Log in"), title_size=sp(20), content=box, size_hint=(0.92, None),
                      height=dp(TOUCH * 3 + 160))

        def submit():
            problem = self.ctl.login_pin(staff_id, pin.text)
            pin.text = ""
            if problem:
                info.text = problem
                return
            popup.dismiss()
            self.refresh()
            self.ui.go("scan")
        _open_form(popup, box, info, pin, tr("Log in"), submit)
        popup.pin_input, popup.submit, popup.info = pin, submit, info
        self.ui.popup = popup
        return popup

    def _logout(self) -> None:
        self.ctl.logout()
        self.refresh()
