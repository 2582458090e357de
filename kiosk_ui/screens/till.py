"""Cash-up: open the desk's shift with its float, close it with the cash counted; the Z report the server kept is
shown (sales, payments by method, refunds, cancellations, exchanges, expected against counted cash, per staff) and
printed on the kiosk's receipt printer (ESC/POS) in the app's language."""
from __future__ import annotations

from kivy.metrics import dp

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.till import parse_amount, till_view, z_rows
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import TOUCH, BigButton, Text, field, scroll_list


class TillScreen(BaseScreen):
    title = "Cash-up"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.status = Text("", font=22, bold=True)
        self.amount = field(tr("Float (cash in the drawer)"), input_filter="float")
        self.problem = Text("", font=18)
        self.action = BigButton(tr("Open shift"), self.submit, height=dp(TOUCH * 1.2))
        view, self.report = scroll_list()
        for w in (self.status, self.amount, self.action, self.problem, view):
            self.body.add_widget(w)

    def refresh(self) -> None:
        desk = self.ctl.services.desk
        v = till_view(desk.open_shift(), desk.last_z())
        self.view = v
        self.status.text, self.action.text, self.amount.hint_text = v.status, v.action, v.amount_hint
        self.report.clear_widgets()
        for label, value in v.report:
            self.report.add_widget(Text(f"{label}   {value}", font=18))

    def print_z(self, z: dict):
        """The Z report on the kiosk's receipt printer: the problem is shown when it did not print."""
        from drivers.printers.model import PrintResult
        printer = self.ctl.sale.receipt_printer()
        if printer is None:
            return PrintResult(False, 0, tr("No receipt printer (ESC/POS): add one in Printers."))
        return self.ctl.services.printers.print_report(printer, z_rows(z))

    def submit(self) -> str:
        """Open or close with the typed amount; '' when done, else the problem shown."""
        cents = parse_amount(self.amount.text)
        if cents is None:
            self.problem.text = tr("Type an amount, e.g. 150.00")
            return self.problem.text
        problem = self.ctl.not_permitted("sale")
        result = problem or self.ctl.services.desk.till("close" if self.view.is_open else "open", cents)
        self.problem.text = tr(result) if isinstance(result, str) else ""
        if not isinstance(result, str):
            self.amount.text = ""
            if result.report is not None:
                self.printed = self.print_z(result.report)
                self.problem.text = "" if self.printed.ok else self.printed.message
        self.refresh()
        return self.problem.text
