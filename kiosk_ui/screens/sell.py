"""Selling at the desk: the cart (event or pass, categories with stock left, quantities, promo code, total), the
payment (cash given and change due, card terminal reference, invoice, voucher; buyer name and e-mail optional) and
the sale (tickets printed, receipt printed, print again). Views from kiosk_ui/presenters/cart.py; intents go to
the controller's DeskFlow (kiosk_ui/desk_flow.py)."""
from __future__ import annotations

from functools import partial

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.cart import add_part, read_amount, sale_message, sold_view, split_lines, target_title
from kiosk_ui.presenters.cart import receipt_line as sold_receipt_line
from kiosk_ui.presenters.colours import ORANGE
from kiosk_ui.presenters.labels import PAYMENT_LABELS
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton, BigToggle, Text, choose, field, paint, scroll_list
from kiosk_ui.services import Payment

GREEN, BLUE, GREY, DARK = (0.05, 0.55, 0.2, 1), (0.05, 0.45, 0.75, 1), (0.35, 0.35, 0.35, 1), (0.16, 0.20, 0.32, 1)
SOLD = (0.05, 0.45, 0.2, 1)


class SellScreen(BaseScreen):
    """The cart."""
    title = "Sell tickets"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.target_button = BigButton("", self.ask_target, colour=DARK)
        view, self.list = scroll_list()                    # categories, then the promo code and the priced lines
        self.promo_row = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        self.promo = field(tr("Promo code"))
        self.promo.bind(on_text_validate=lambda *_: self.apply_promo())
        self.promo_row.add_widget(self.promo)
        self.promo_button = BigButton(tr("Apply"), self.apply_promo, size_hint_x=None, width=dp(120), colour=BLUE)
        self.promo_row.add_widget(self.promo_button)
        self.lines = Text("", font=18)
        self.problem = Text("", font=18, bold=True, color=(1, 0.75, 0.3, 1))
        bottom = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        self.total = Text("", font=24, bold=True)
        self.total.size_hint_y = 1
        self.pay_button = BigButton(tr("Pay"), self.pay, colour=GREEN, size_hint_x=0.45)
        bottom.add_widget(self.total)
        bottom.add_widget(self.pay_button)
        for w in (self.target_button, view, self.problem, bottom):
            self.body.add_widget(w)

    @property
    def flow(self):
        return self.ctl.sale

    # -- intents -----------------------------------------------------------------------------------------------------
    def ask_target(self) -> None:
        options = [(target_title(t), partial(self.choose_target, t.target_id)) for t in self.flow.targets()]
        self.ui.popup = choose(tr("What is sold?"), options)

    def choose_target(self, target_id: int) -> None:
        self.flow.choose(target_id)
        self.refresh()

    def add(self, category: int, n: int) -> None:
        self.flow.add(category, n)
        self.refresh()

    def apply_promo(self, code: str | None = None) -> None:
        """Typed, or scanned (a promo code's QR read by the camera or laser while this screen is shown)."""
        if code is not None:
            self.promo.text = code
        self.flow.set_promo(self.promo.text)
        self.refresh()

    def pay(self) -> None:
        view = self.flow.cart_view()
        if view is not None and view.can_pay:
            self.ui.go("pay")

    # -- rendering ---------------------------------------------------------------------------------------------------
    def relabel(self) -> None:
        super().relabel()
        self.promo.hint_text = tr("Promo code")
        self.promo_button.text, self.pay_button.text = tr("Apply"), tr("Pay")

    def refresh(self) -> None:
        view = self.flow.cart_view()
        for w in (self.promo_row, self.lines):
            if w.parent is not None:
                w.parent.remove_widget(w)
        self.list.clear_widgets()
        if view is None:
            self.target_button.text = tr("Nothing on sale at this desk.")
            self.lines.text = self.total.text = self.problem.text = ""
            self.pay_button.disabled = True
            return
        self.target_button.text = view.title
        for row in view.rows:
            line = BoxLayout(size_hint_y=None, height=dp(TOUCH + 12), spacing=dp(GAP))
            label = Text(f"{row.title}\n{row.stock}", font=19, bold=row.quantity > 0,
                         color=(0.6, 0.6, 0.6, 1) if row.sold_out else (1, 1, 1, 1))
            label.size_hint_y = 1
            minus = BigButton("−", partial(self.add, row.category, -1), size_hint_x=None, width=dp(TOUCH), font_size=dp(30))
            count = Text(str(row.quantity), font=26, bold=True, halign="center", size_hint_x=None, width=dp(56))
            count.size_hint_y = 1
            plus = BigButton("+", partial(self.add, row.category, 1), size_hint_x=None, width=dp(TOUCH), font_size=dp(30),
                             colour=BLUE)
            minus.disabled, plus.disabled = row.quantity == 0, not row.can_add
            for w in (label, minus, count, plus):
                line.add_widget(w)
            line.category = row.category
            self.list.add_widget(line)
        self.list.add_widget(self.promo_row)
        self.list.add_widget(self.lines)
        self.lines.text = "\n".join(view.lines)
        self.total.text = view.total
        self.problem.text = view.problem or view.promotions
        self.problem.color = (1, 0.75, 0.3, 1) if view.problem else (0.5, 1, 0.6, 1)
        self.pay_button.disabled = not view.can_pay


class PayScreen(BaseScreen):
    """The payment."""
    title = "Payment"
    back, back_label = "sell", "Cart"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.to_pay = Text("", font=28, bold=True)
        self.methods = GridLayout(cols=2, spacing=dp(GAP), size_hint_y=None)
        self.methods.bind(minimum_height=self.methods.setter("height"))
        self.method_buttons = {}
        for method, label in PAYMENT_LABELS.items():
            b = BigToggle(tr(label), group="payment", state="down" if method == "cash" else "normal", allow_no_selection=False)
            b.bind(on_release=lambda w, m=method: self.set_method(m))
            self.method_buttons[method] = b
            self.methods.add_widget(b)
        self.given = field(tr("Cash given"), input_filter=lambda s, undo: "".join(c for c in s if c in "0123456789.,"))
        self.given.bind(text=lambda *_: self.refresh())
        self.reference = field(tr("Terminal or voucher reference"))
        self.reference.bind(text=lambda *_: self.refresh())
        # a split payment: each part taken with the method chosen above, its amount and reference, added in turn
        self.parts: tuple = ()
        self.part_amount = field(tr("Amount of this part"),
                                 input_filter=lambda s, undo: "".join(c for c in s if c in "0123456789.,"))
        self.add_part_button = BigButton(tr("Add this part"), self.add_part, colour=BLUE)
        self.clear_parts_button = BigButton(tr("Clear the parts"), self.clear_parts, colour=GREY)
        split_row = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        for w in (self.part_amount, self.add_part_button, self.clear_parts_button):
            split_row.add_widget(w)
        self.split_text = Text("", font=18)
        self.buyer = field(tr("Buyer name (optional)"))
        self.email = field(tr("E-mail (optional)"))
        self.email.bind(text=lambda *_: self.refresh())
        self.change = Text("", font=24, bold=True, color=(0.5, 1, 0.6, 1))
        self.problem = Text("", font=18, bold=True, color=(1, 0.75, 0.3, 1))
        kinds = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        self.kind_buttons = {k: BigToggle(tr(label), group="print_kind", state="down" if k == "ticket" else "normal",
                                          allow_no_selection=False)
                             for k, label in (("ticket", "Print tickets"), ("badge", "Print badges"))}
        for k, b in self.kind_buttons.items():
            b.bind(on_release=lambda w, kind=k: setattr(self.flow, "print_kind", kind))
            kinds.add_widget(b)
        self.confirm_button = BigButton(tr("Confirm the sale"), self.confirm, colour=GREEN)
        view, grid = scroll_list()
        for w in (self.methods, self.given, self.reference, split_row, self.split_text, self.buyer, self.email, kinds):
            grid.add_widget(w)
        for w in (self.to_pay, self.change, view, self.problem, self.confirm_button):
            self.body.add_widget(w)
        self.method = "cash"

    @property
    def flow(self):
        return self.ctl.sale

    def payment(self) -> Payment:
        cents, why = read_amount(self.given.text) if self.given.text.strip() else (None, "")
        if self.parts:                      # split: the cash given (optional) against the cash part
            return Payment("cash", cents, "", self.buyer.text, self.email.text, given_problem=why, parts=self.parts)
        return Payment(self.method, cents, self.reference.text, self.buyer.text, self.email.text, given_problem=why)

    def add_part(self) -> None:
        """The amount typed, taken by the method chosen (with its reference), is one part of a split payment."""
        quote = self.flow.quote()
        if quote is None:
            return
        self.parts, why = add_part(self.parts, self.method, self.part_amount.text, self.reference.text,
                                   quote.total_cents)
        if not why:
            self.part_amount.text = self.reference.text = ""
        self.refresh()
        if why:
            self.say(self.problem, lambda: tr(why))

    def clear_parts(self) -> None:
        self.parts = ()
        self.refresh()

    def set_method(self, method: str) -> None:
        self.method = method
        for m, b in self.method_buttons.items():
            b.state = "down" if m == method else "normal"
        self.refresh()

    def confirm(self) -> None:
        """The sale runs on a worker thread (DeskFlow.start_confirm): this returns at once, the screen says it waits
        for the server, and the UI's clock polls `finished` until the outcome (sold online, or offline after the
        desk's timeout, or refused) is shown."""
        view = self.flow.payment_view(self.payment())
        if view is None or not view.can_confirm or self.flow.waiting:
            self.refresh()
            return
        refused = self.flow.start_confirm(self.payment())
        if refused is not None:
            self.say(self.problem, lambda: sale_message(refused.result))
            return
        self.say(self.problem, lambda: tr("Waiting for the server…"))
        self.confirm_button.disabled = True
        self._poll = Clock.schedule_interval(lambda *_: self.finished(), 0.1)

    def finished(self):
        """Polled on the UI thread while a sale is confirmed: its outcome once done (then the poll stops)."""
        outcome = self.flow.finished()
        if outcome is None:
            return None
        poll = getattr(self, "_poll", None)
        if poll is not None:
            poll.cancel()
            self._poll = None
        if outcome.result.ok:
            for w in (self.given, self.reference, self.buyer, self.email, self.part_amount):
                w.text = ""
            self.parts = ()
            self.ui.go("sold")
        else:
            self.refresh()
            self.say(self.problem, lambda: sale_message(outcome.result))
        return outcome

    def relabel(self) -> None:
        super().relabel()
        for method, b in self.method_buttons.items():
            b.text = tr(PAYMENT_LABELS[method])
        self.given.hint_text, self.reference.hint_text = tr("Cash given"), tr("Terminal or voucher reference")
        self.part_amount.hint_text = tr("Amount of this part")
        self.add_part_button.text, self.clear_parts_button.text = tr("Add this part"), tr("Clear the parts")
        self.buyer.hint_text, self.email.hint_text = tr("Buyer name (optional)"), tr("E-mail (optional)")
        self.kind_buttons["ticket"].text, self.kind_buttons["badge"].text = tr("Print tickets"), tr("Print badges")
        self.confirm_button.text = tr("Confirm the sale")

    def refresh(self) -> None:
        if self.flow.waiting:                      # a sale is being confirmed: keep saying so
            self.problem.text, self.confirm_button.disabled = tr("Waiting for the server…"), True
            return
        view = self.flow.payment_view(self.payment())
        if view is None:
            self.to_pay.text, self.change.text, self.problem.text = "", "", tr("Choose the tickets.")
            self.confirm_button.disabled = True
            return
        self.to_pay.text, self.change.text = view.to_pay, view.change
        quote = self.flow.quote()
        self.split_text.text = "\n".join(split_lines(self.parts, quote.total_cents, quote.currency)) \
            if self.parts and quote is not None else ""
        self.problem.text = view.problem
        self.given.disabled = self.method != "cash" and not any(m == "cash" for m, _, _ in self.parts)
        self.reference.disabled = self.method not in ("card", "voucher")
        self.part_amount.disabled = self.add_part_button.disabled = self.method == "invoice"
        self.clear_parts_button.disabled = not self.parts
        self.confirm_button.disabled = not view.can_confirm


class SoldScreen(BaseScreen):
    """The sale done: what printed, the receipt, print again, next sale."""
    title = "Sale"
    back, back_label = "sell", "New sale"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        self.headline = Text("", font=26, bold=True)
        paint(self.headline, SOLD)
        self.what_to_do = ""                       # how to print again what did not print (first in the details)
        self.printing = False                      # a print is under way (in_background): its buttons wait
        self.last_print = None                     # the outcome of the last print (tests)
        self.details = Text("", font=19)
        view, grid = scroll_list()
        grid.add_widget(self.details)
        actions = GridLayout(cols=2, spacing=dp(GAP), size_hint_y=None)
        actions.bind(minimum_height=actions.setter("height"))
        self.receipt_button = BigButton(tr("Print the receipt again"), self.reprint_receipt)
        self.tickets_button = BigButton(tr("Print the tickets again"), self.reprint_tickets)
        self.next_button = BigButton(tr("New sale"), lambda: self.ui.go("sell"), colour=GREEN)
        self.order_button = BigButton(tr("Open the order"), self.open_order, colour=DARK)
        for b in (self.receipt_button, self.tickets_button, self.order_button, self.next_button):
            actions.add_widget(b)
        for w in (self.headline, view, actions):
            self.body.add_widget(w)

    def reprint_receipt(self, wait: bool = False):
        """Off the UI thread, like the tickets (`wait`: -> the result, for tests)."""
        if self.printing:
            return None
        self._printing(True, receipt=True)

        def done(result) -> None:
            self._printing(False, result)
            line = (tr("Printing failed: see the log.") if result is None else
                    sold_receipt_line(False, result.message) if not result.ok else tr("Receipt printed."))
            self.details.text = self._details(receipt_line=line)
        return self.in_background(self.ctl.sale.print_receipt, done, wait)

    def reprint_tickets(self, wait: bool = False):
        """The tickets that did not print (else copies of all of them): DeskFlow.print_again, off the UI thread (a
        jammed printer takes its whole timeout); a tap while it prints prints nothing more."""
        last = self.ctl.sale.last
        if self.printing or last is None or not last.result.ok:
            return None
        self._printing(True)

        def done(result) -> None:
            self._printing(False, result)
            self._headline()
            self.details.text = self._details(ticket_line=tr("Printing failed: see the log.") if result is None
                                              else result.message)
        return self.in_background(self.ctl.sale.print_again, done, wait)

    def _printing(self, on: bool, result=None, receipt: bool = False) -> None:
        self.printing = on
        if not on:
            self.last_print = result
        self.receipt_button.disabled = self.tickets_button.disabled = on
        if on:
            self.details.text = (self._details(receipt_line=tr("Printing…")) if receipt else
                                 self._details(ticket_line=tr("Printing…")))

    def open_order(self) -> None:
        last = self.ctl.sale.last
        if last is not None and last.result.ok:
            self.ui.go("kiosk")
            self.ui.screen("kiosk").find(last.result.order_number)

    def relabel(self) -> None:
        super().relabel()
        self.receipt_button.text, self.tickets_button.text = tr("Print the receipt again"), tr("Print the tickets again")
        self.next_button.text, self.order_button.text = tr("New sale"), tr("Open the order")

    def refresh(self) -> None:
        self._headline()
        self.details.text = self._details()

    def _headline(self) -> None:
        """The sale, and in the same place (attention colour) the tickets that did not print."""
        last = self.ctl.sale.last
        view = (sold_view(last.result, len(self.ctl.sale.unprinted()), self.ctl.sale.print_kind)
                if last is not None else None)
        self.headline.text = view.headline if view is not None else tr("No sale yet.")
        self.headline.bg.rgba = SOLD if view is None or view.printed else ORANGE
        self.what_to_do = view.what_to_do if view is not None else ""

    def _details(self, ticket_line: str = "", receipt_line: str = "") -> str:
        last = self.ctl.sale.last
        if last is None or not last.result.ok:
            return ""
        receipt = self.ctl.sale.last_receipt
        lines = [self.what_to_do, ""] if self.what_to_do else []
        if receipt is not None:
            lines += [f"{left}   {right}".strip() for left, right in receipt.rows() if left or right]
        tickets = ticket_line or (last.tickets.message if last.tickets is not None else "")
        if not ticket_line and last.tickets is not None and not last.tickets.ok and not self.what_to_do:
            tickets = tr("nothing left to print")   # printed since (print queue, ticket desk) or taken out of it
        printed = receipt_line or (sold_receipt_line(last.receipt.ok, last.receipt.message)
                                   if last.receipt is not None else "")
        lines += ["", tr("Tickets: {what}", what=tickets), tr("Receipt: {what}", what=printed)]
        return "\n".join(lines)
