"""Cash-up: open the desk's shift with its float, close it with the cash counted; the Z report the server kept is
shown (sales, payments by method, refunds, cancellations, exchanges, expected against counted cash, per staff) and
printed on the kiosk's receipt printer (ESC/POS) in the app's language."""
from __future__ import annotations

from kivy.metrics import dp

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.cart import read_amount
from kiosk_ui.presenters.till import till_view, z_rows
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
        self.printing = False                      # the Z report is printing (in_background): the button waits
        self.printed = None                        # the outcome of the last print (tests)
        for w in (self.status, self.amount, self.action, self.problem, view):
            self.body.add_widget(w)

    def refresh(self) -> None:
        desk = self.ctl.services.desk
        v = till_view(desk.open_shift(), desk.last_z())
        self.view = v
        self.status.text, self.action.text, self.amount.hint_text = v.status, v.action, v.amount_hint
        self.action.disabled = self.printing
        self.report.clear_widgets()
        for label, value in v.report:
            self.report.add_widget(Text(f"{label}   {value}", font=18))

    def submit(self, wait: bool = False) -> str:
        """Open or close with the typed amount; '' when done, else the problem shown. The server is asked off the UI
        thread (a close first waits up to a few seconds for the sales made offline, then for the server's answer),
        and a close's Z report prints off it too (a jammed printer takes its whole timeout; kept in the print queue
        when it does not print), the button waiting meanwhile; `wait`: all done before it returns (tests)."""
        if self.printing:
            return self.problem.text
        cents, why = read_amount(self.amount.text)
        if cents is None:
            return self.say(self.problem, lambda: tr(why))
        problem = self.ctl.not_permitted("sale")
        if problem:
            return self.say(self.problem, lambda: tr(problem))
        action = "close" if self.view.is_open else "open"
        self.printing, self.action.disabled = True, True
        self.say(self.problem, lambda: tr("Asking the server…"))
        self.in_background(lambda: self.ctl.services.desk.till(action, cents),
                           lambda result: self._answered(result, wait), wait)
        return self.problem.text

    def _answered(self, result, wait: bool) -> None:
        """The server's answer (or the problem in words; None: the request failed, see the log), on the UI thread."""
        self.printing = False
        if result is None:
            result = "The till request failed: see the log."
        self.say(self.problem, lambda: tr(result) if isinstance(result, str) else "")
        if not isinstance(result, str):
            self.amount.text = ""
        self.refresh()
        if not isinstance(result, str) and result.report is not None:
            report = result.report
            self.printing, self.action.disabled = True, True
            self.say(self.problem, lambda: tr("Printing the Z report…"))
            self.in_background(lambda: self.ctl.sale.print_z(report), self._printed, wait)

    def _printed(self, result) -> None:
        self.printing, self.action.disabled, self.printed = False, False, result
        self.say(self.problem, lambda: (tr("Printing failed: see the log.") if result is None else
                                        "" if result.ok else result.message))
