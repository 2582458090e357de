"""Kiosk (guichet): find an order, print tickets or badges, reprint, validate a pending payment, exchange a ticket,
choose a printer (list, refresh, "printer not found" checklist)."""
from __future__ import annotations

from functools import partial
from typing import Callable

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label

from agent.reasons import code_of
from agent.sync.messages import REFERENCE_NEEDED, REFERENCED_METHODS, SETTLE_METHODS, reference_missing
from kiosk_ui.desk_payment import amount_due, take_payment
from kiosk_ui.i18n import tr, tr_n
from kiosk_ui.presenters.cart import amount, exchange_message, read_parts, refund_message
from kiosk_ui.presenters.labels import EXCHANGE_PAYMENTS, EXCHANGE_REASONS, PAYMENT_LABELS, REFUND_REASONS
from kiosk_ui.presenters.lists import orders_of, printer_label, printer_rows, short_key, ticket_rows
from kiosk_ui.presenters.refusals import refusal_text
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.printer_setup import ask_new_printer
from kiosk_ui.screens.widgets import (GAP, TOUCH, BigButton, BigToggle, Text, ask_text, choose, info_popup, paint,
                                      scroll_list, search_row)



class KioskScreen(BaseScreen):
    title = "Ticket desk"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        row, self.query, _ = search_row(tr("Name or order"), tr("Find"), self.find)
        self.message = Text("", font=19, bold=True)
        view, self.list = scroll_list()
        self.actions = GridLayout(cols=3, spacing=dp(GAP), size_hint_y=None)
        self.actions.bind(minimum_height=self.actions.setter("height"))
        self.buttons = {
            "print": BigButton(tr("Print tickets"), lambda: self.print_(kind="ticket")),
            "badge": BigButton(tr("Print badges"), lambda: self.print_(kind="badge")),
            "reprint": BigButton(tr("Reprint"), lambda: self.print_(kind="ticket", reprint=True)),
            "receipt": BigButton(tr("Print receipt"), self.print_receipt),
            "pay": BigButton(tr("Payment received"), self.ask_payment, colour=(0.05, 0.55, 0.2, 1)),
            "exchange": BigButton(tr("Exchange ticket"), self.ask_exchange),
            "refund": BigButton(tr("Refund or cancel"), self.ask_refund, colour=(0.6, 0.2, 0.15, 1)),
            "email": BigButton(tr("E-mail tickets"), self.send_etickets),
        }
        for b in self.buttons.values():
            self.actions.add_widget(b)
        # the printer prints go to, always in sight, beside the button that chooses another
        printer_row = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        self.printer_line = Label(text="", font_size=sp(16), bold=True, halign="left", valign="middle",
                                  padding=(dp(6), dp(2)))
        self.printer_line.bind(size=lambda w, size: setattr(w, "text_size", size))
        paint(self.printer_line, (0.16, 0.20, 0.32, 1))
        self.buttons["printers"] = BigButton(tr("Printers"), self.show_printers, colour=(0.16, 0.20, 0.32, 1),
                                             size_hint_x=None, width=dp(130))
        printer_row.add_widget(self.printer_line)
        printer_row.add_widget(self.buttons["printers"])
        for w in (row, self.message, view, printer_row, self.actions):
            self.body.add_widget(w)
        self.order_number: str | None = None
        self.printing = False                      # a print, exchange or refund is under way (in_background)
        self.last_print = None                     # the outcome of the last print (tests)
        self.last_exchange = None                  # the DeskResult of the last exchange_to (None: it raised)
        self.last_refund = None                    # the DeskResult of the last refund (None: it raised)
        self.tickets: list[dict] = []
        self.selected_ticket: str | None = None

    # -- intents ----------------------------------------------------------------------------------------------------
    def find(self, text: str | None = None) -> list:
        if text is not None:
            self.query.text = text
        q = self.query.text.strip()
        try:
            exact = self.ctl.door.order(q) if q else []
        except ValueError as exc:          # two orders differing only by case (AmbiguousOrder): type it exactly
            said = str(exc)
            self.say(self.message, lambda: said)
            return []
        if exact:
            self.open_order(exact[0].get("order_number") or q)     # as printed, whatever case was typed
            return exact
        found = orders_of(self.ctl.door.search(q)) if q else []
        self.order_number, self.tickets = None, []
        self.list.clear_widgets()
        self.say(self.message, lambda: tr_n("{n} order found", "{n} orders found", len(found)))
        for order, buyer, n in found:
            who = buyer if self.ctl.show_buyer and buyer else tr("(name hidden)")
            count = tr_n("{n} ticket", "{n} tickets", n)
            label = f"{who} — {tr('order')} {order} · {count}"
            self.list.add_widget(BigButton(label, lambda o=order: self.open_order(o)))
        self.refresh()
        return found

    def open_order(self, order_number: str) -> None:
        self.order_number, self.selected_ticket = order_number, None
        self.tickets = self.ctl.door.order(order_number)
        self.say(self.message, lambda: tr("Order {o}", o=order_number))
        self.refresh()

    def print_(self, kind: str, reprint: bool = False, wait: bool = False):
        """Prints off the UI thread (a jammed printer takes its whole timeout); a tap while it prints prints
        nothing more. `wait`: -> the result (tests); else None, and the message says the outcome when it is done."""
        if not self.order_number or self.printing:
            return None
        keys = (self.selected_ticket,) if reprint and self.selected_ticket else None
        order = self.order_number
        self.printing = True
        self.say(self.message, lambda: tr("Printing…"))
        self.refresh()
        return self.in_background(lambda: self.ctl.print_order(order, kind, reprint, keys), self._printed, wait)

    def print_receipt(self, wait: bool = False):
        """The open order's receipt (kept by DeskFlow for the sales of this kiosk), off the UI thread like `print_`."""
        if not self.order_number or self.printing:
            return None
        order = self.order_number
        self.printing = True
        self.say(self.message, lambda: tr("Printing…"))
        self.refresh()

        def done(result) -> None:
            self._printed(result)
            if result is not None and result.ok:
                self.say(self.message, lambda: tr("Receipt printed."))
        return self.in_background(lambda: self.ctl.sale.print_receipt(order), done, wait)

    def _printed(self, result) -> None:
        self.printing, self.last_print = False, result
        self.say(self.message, lambda: (tr("Printing failed: see the log.") if result is None else
                                        tr_n("{n} printed.", "{n} printed.", result.printed) if result.ok else
                                        result.message))
        self.refresh()

    def ask_payment(self) -> None:
        """How the buyer paid the pending order, chosen as for a sale: the till counts it (cash in the drawer). The
        amount to collect is shown when this kiosk holds it, and typed back when the money is taken."""
        if self.order_number:
            due = amount_due(self.ctl.door, self.order_number)
            title = (tr("Order {o}: {due} to collect. Paid by:", o=self.order_number, due=due) if due else
                     tr("Order {o} paid by:", o=self.order_number))
            self.ui.popup = choose(title, [(tr(PAYMENT_LABELS[m]), partial(self.validate_payment, m))
                                           for m in SETTLE_METHODS] + [(tr("Split (several ways)"), self.ask_split)])

    def ask_split(self) -> None:
        """A pending order paid several ways, typed on one line: "cash 20, card 30 AUTH-1"."""
        problem = self.ctl.not_permitted("validate_payment")
        if problem or not self.order_number:
            self.say(self.message, lambda: self.ctl.not_permitted("validate_payment") or problem)
            return
        number = self.order_number

        def typed(text: str) -> str:
            parts, why = read_parts(text)
            if why:
                return tr(why)
            outcome = take_payment(self.ctl.door, number, parts[0][0], "", parts)
            if outcome.ok:
                self._paid(number, outcome)
            return outcome.message if not outcome.ok else ""
        due = amount_due(self.ctl.door, number)
        title = tr("Order {o}: {due} to collect. Paid by:", o=number, due=due) if due else tr("Split (several ways)")
        self.ui.popup = ask_text(title, tr("e.g. cash 20, card 30 AUTH-1"), typed)

    def validate_payment(self, payment: str = "cash") -> None:
        problem = self.ctl.not_permitted("validate_payment")
        if problem:
            self.say(self.message, lambda: self.ctl.not_permitted("validate_payment") or problem)
            return
        if not self.order_number:
            return
        number = self.order_number
        if payment in REFERENCED_METHODS:         # the terminal's or the voucher's reference first, as for a sale

            def referenced(text: str) -> str:
                if reference_missing(payment, text):
                    return tr(REFERENCE_NEEDED)
                self._take_payment(number, payment, text.strip())
                return ""
            self.ui.popup = ask_text(tr("Terminal or voucher reference"), tr("Terminal or voucher reference"),
                                     referenced)
            return
        self._take_payment(number, payment, None)

    def _take_payment(self, number: str, payment: str, reference: str | None) -> None:
        """The amount received (typed back when this kiosk holds the amount due), then the payment recorded."""
        due = amount_due(self.ctl.door, number)
        if not due:
            self._paid(number, take_payment(self.ctl.door, number, payment, reference=reference))
            return

        def typed(text: str) -> str:
            outcome = take_payment(self.ctl.door, number, payment, text, reference=reference)
            if outcome.ok:
                self._paid(number, outcome)
            return outcome.message if not outcome.ok else ""
        self.ui.popup = ask_text(tr("Amount received for order {o}", o=number), due, typed)

    def _paid(self, number: str, outcome) -> None:
        if outcome.ok:
            self.open_order(number)
        self.say(self.message, lambda: outcome.message)

    def ask_exchange(self) -> None:
        key = self.selected_ticket
        if not key:
            self.say(self.message, lambda: tr("Tap a ticket first."))
            return
        options = [(tr(r), partial(self.exchange, key, r)) for r in EXCHANGE_REASONS]
        self.ui.popup = choose(tr("Exchange ticket {key}?", key=short_key(key)), options)

    def exchange(self, key: str, reason: str) -> None:
        desk = self.ctl.services.desk
        if desk.available and desk.online:            # the server prices it: another event, date or category
            self.ask_exchange_to(key, reason)
            return
        problem = self.ctl.not_permitted("exchange")
        if problem:
            self.say(self.message, lambda: self.ctl.not_permitted("exchange") or problem)
            return
        try:
            self.ctl.door.exchange(key, reason)
        except (LookupError, ValueError) as exc:     # already exchanged or revoked: nothing recorded
            refused, code = str(exc), code_of(exc)          # (`exc` is gone after the except block)
            self.say(self.message, lambda: refusal_text(refused, *code))
            return
        if self.order_number:
            self.open_order(self.order_number)
        self.say(self.message, lambda: tr("Ticket {key} taken back; the new one comes with the next sync.",
                                          key=short_key(key)))

    def ask_exchange_to(self, key: str, reason: str) -> None:
        options: list[tuple[str, Callable[[], object]]] = [
            (f"{t.name} · {c.name} · {amount(c.unit_cents, t.currency)}",
             partial(self.ask_exchange_payment, key, reason, t.target_id, c.category))
            for t in self.ctl.sale.targets() for c in t.categories if c.left is None or c.left > 0]
        self.ui.popup = choose(tr("Exchange ticket {key} for:", key=short_key(key)), options)

    def ask_exchange_payment(self, key: str, reason: str, target_id: int, category: int) -> None:
        """How the price difference is collected or handed back: the till counts only cash in the drawer."""
        options: list[tuple[str, Callable[[], object]]] = [
            (tr(PAYMENT_LABELS[method]), partial(self.exchange_to, key, reason, target_id, category, method))
            for method in EXCHANGE_PAYMENTS]
        options.append((tr("Split (several ways)"), partial(self.ask_exchange_split, key, reason, target_id, category)))
        self.ui.popup = choose(tr("A price difference is settled by:"), options)

    def ask_exchange_split(self, key: str, reason: str, target_id: int, category: int) -> None:
        """The price difference collected (or handed back) several ways, typed on one line: "cash 10, card 20 A1";
        the server refuses parts that do not add up to it, saying the difference."""
        def typed(text: str) -> str:
            parts, why = read_parts(text)
            if why:
                return tr(why)
            self.exchange_to(key, reason, target_id, category, parts[0][0], parts=parts)
            return ""
        self.ui.popup = ask_text(tr("A price difference is settled by:"), tr("e.g. cash 20, card 30 AUTH-1"), typed)

    def exchange_to(self, key: str, reason: str, target_id: int, category: int, payment: str = "cash",
                    wait: bool = False, parts: tuple = ()):
        """The exchange (the server prices it: up to the desk's timeout when it is silent), then its new ticket
        printed, both off the UI thread like `print_`; the buttons wait meanwhile and a second tap does nothing. The
        new ticket is kept in the print queue when the printer is off (the message says so). `wait`: done before it
        returns, -> the DeskResult (tests); else None (`last_exchange` has it when done)."""
        if self.printing:
            return None
        self.printing = True
        self.say(self.message, lambda: tr("Exchanging ticket {key}…", key=short_key(key)))
        self.refresh()
        return self.in_background(lambda: self.ctl.sale.exchange(key, reason, target_id, category, payment, parts),
                                  partial(self._exchanged, wait=wait), wait)

    def _exchanged(self, done, wait: bool = False) -> None:
        self.printing, self.last_exchange = False, done
        if done is None or not done.ok:
            self.say(self.message, lambda: (tr("Exchange failed: see the log.") if done is None else
                                            tr("Not exchanged: {why}", why=tr(done.problem))))
            self.refresh()
            return
        self.open_order(done.order_number or self.order_number or "")
        def said() -> str:
            return exchange_message(done)
        self.say(self.message, said)
        if not done.order_number or not done.ticket_keys:
            return
        self.printing = True
        self.say(self.message, lambda: said() + " " + tr("Printing the new ticket…"))
        self.refresh()

        def printed(result) -> None:
            self.printing, self.last_print = False, result
            slip = self.ctl.sale.last_slip            # the price difference's slip, when one was printed
            self.say(self.message, lambda: said() + " " + (tr("Printing failed: see the log.") if result is None else
                                                           tr("New ticket printed.") if result.ok else
                                                           tr("New ticket NOT printed: {why}", why=result.message))
                     + ("" if slip is None or slip.ok else " " + tr("Receipt NOT printed: {why}", why=slip.message)))
            self.refresh()
        self.in_background(lambda: self.ctl.sale.print_exchanged(done), printed, wait)

    def ask_refund(self) -> None:
        if not self.order_number:
            return
        paid = any(t.get("order_status") == "paid" for t in self.tickets)
        kind = "refund" if paid else "cancel"
        title = (tr("Refund order {o}? Why:", o=self.order_number) if paid else
                 tr("Cancel order {o}? Why:", o=self.order_number))
        self.ui.popup = choose(title, [(tr(r), partial(self.refund, self.order_number, r, kind))
                                       for r in REFUND_REASONS])

    def refund(self, order_number: str, reason: str, kind: str = "refund", wait: bool = False):
        """The refund or cancellation (the server's answer: up to the desk's timeout when it is silent), off the UI
        thread like `exchange_to`; the buttons wait meanwhile and a second tap does nothing. `wait`: done before it
        returns, -> the DeskResult (tests); else None (`last_refund` has it when done)."""
        if self.printing:
            return None
        self.printing = True
        behind = self.ctl.services.desk.order_unsent(order_number)    # the desk sends it once the sale is uploaded
        self.say(self.message, lambda: (tr("Waiting for order {o}'s sale to reach the server…", o=order_number)
                                        if behind else
                                        tr("Refunding order {o}…", o=order_number) if kind == "refund" else
                                        tr("Cancelling order {o}…", o=order_number)))
        self.refresh()
        return self.in_background(lambda: self.ctl.sale.refund(order_number, reason, kind),
                                  partial(self._refunded, order_number), wait)

    def _refunded(self, order_number: str, done) -> None:
        self.printing, self.last_refund = False, done
        self.open_order(order_number)
        if done is None:
            self.say(self.message, lambda: tr("Refund failed: see the log."))
        elif not done.ok:
            self.say(self.message, lambda: tr("Not done: {why}", why=tr(done.problem)))
        elif done.amount_cents:
            self.say(self.message, lambda: refund_message(order_number, done))
        else:
            self.say(self.message, lambda: tr("Order {o} cancelled.", o=order_number))

    def show_printers(self, refresh: bool = False) -> None:
        svc = self.ctl.services.printers
        printers = svc.refresh() if refresh else svc.printers()
        if refresh and svc.error:
            error = svc.error
            self.say(self.message, lambda: error)      # the search failed: said, and the list still opens
        options: list[tuple[str, Callable[[], object]]] = [
            (label, partial(self.select_printer, pid)) for pid, label in printer_rows(printers)]
        options.append((tr("Refresh the list"), lambda: self.show_printers(refresh=True)))
        options.append((tr("Add by address"), self.ask_address))
        options.append((tr("Printer not found?"), self.show_checklist))
        waiting = len(self.ctl.pending_prints())
        if waiting:
            options.append((tr_n("{n} ticket waiting to print", "{n} tickets waiting to print", waiting),
                            self.show_print_queue))
        self.ui.popup = choose(tr_n("{n} printer", "{n} printers", len(printers)), options)

    # -- tickets that did not print (kept on the device until printed again or given up) ----------------------------
    def show_print_queue(self) -> None:
        pending = self.ctl.pending_prints()
        options: list[tuple[str, Callable[[], object]]] = [
            (f"{p.order_number} · {short_key(p.ticket_key)}\n{_clip(p.message, 44)}", partial(self.ask_queued, p))
            for p in pending]
        options.append((tr("Print all again"), lambda: self.retry_queued(None)))
        self.ui.popup = choose(tr_n("{n} ticket waiting to print", "{n} tickets waiting to print", len(pending)),
                               options)

    def ask_queued(self, job) -> None:
        self.say(self.message, lambda: job.message)         # the whole reason, under the popup
        self.ui.popup = choose(f"{job.order_number} · {short_key(job.ticket_key)}",
                               [(tr("Print again"), lambda: self.retry_queued(job.job_id)),
                                (tr("Do not print it"), lambda: self.dismiss_queued(job.job_id))])

    def retry_queued(self, job_id: int | None, wait: bool = False):
        """On the printer chosen now (the one it failed on may be the broken one); off the UI thread like `print_`."""
        if self.printing:
            return None
        kinds = {p.kind for p in self.ctl.pending_prints() if job_id is None or p.job_id == job_id}
        printer = self.ctl.printer_for("badge" if kinds == {"badge"} else "ticket")
        chosen = printer.printer_id if printer and len(kinds) == 1 else None
        self.printing = True
        self.say(self.message, lambda: tr("Printing…"))
        self.refresh()
        return self.in_background(lambda: self.ctl.retry_prints(job_id, chosen), self._retried, wait)

    def _retried(self, results) -> None:
        self.printing, self.last_print = False, results
        failed = [r for _, r in results or [] if not r.ok]
        done = sum(1 for _, r in results or [] if r.ok)
        def said() -> str:                     # a slip failing again holds no ticket back: both are said
            printed = tr_n("{n} printed.", "{n} printed.", done)
            return (tr("Printing failed: see the log.") if results is None else
                    (printed + " " if done else "") + failed[0].message if failed else printed)
        self.say(self.message, said)
        self.refresh()

    def dismiss_queued(self, job_id: int) -> None:
        job = self.ctl.dismiss_print(job_id)
        self.say(self.message, lambda: (
            tr("This ticket is no longer waiting: printed or taken out meanwhile.") if job is None else
            tr("Ticket {key} taken out of the print queue.", key=short_key(job.ticket_key))))
        self.refresh()

    def select_printer(self, printer_id: str) -> None:
        self.ctl.selected_printer = printer_id
        self.refresh()

    def show_checklist(self) -> None:
        steps = self.ctl.services.printers.not_found_checklist()
        self.ui.popup = info_popup(tr("Printer not found"), [f"{i + 1}. {tr(s)}" for i, s in enumerate(steps)])

    def ask_address(self) -> None:
        ask_new_printer(self, self._printer_added)

    def _printer_added(self, message: str) -> None:
        self.say(self.message, lambda: message)
        self.refresh()

    # -- rendering ---------------------------------------------------------------------------------------------------
    def send_etickets(self, wait: bool = False):
        """Ask the server to e-mail this order's e-tickets to its buyer; the mail server's answer (sent, or the
        address refused) shows here when it comes. In the background unless `wait` (tests)."""
        if not self.order_number:
            return None
        number = self.order_number
        self.say(self.message, lambda: tr("Sending the e-tickets of order {o}…", o=number))

        def done(answer) -> None:
            if isinstance(answer, str):
                self.say(self.message, lambda: tr("Not done: {why}", why=tr(answer)))
            elif answer.ok:
                self.say(self.message, lambda: tr("E-tickets of order {o} sent.", o=number))
            else:
                self.say(self.message, lambda: tr("E-tickets of order {o} not sent ({status}): {why}", o=number,
                                                  status=answer.status or "failed", why=answer.reason))
        if wait:
            done(self.ctl.services.desk.send_etickets(number))
            return self.message.text
        from kivy.clock import Clock
        import threading
        threading.Thread(target=lambda: (lambda a: Clock.schedule_once(lambda *_: done(a)))(
            self.ctl.services.desk.send_etickets(number)), daemon=True).start()
        return None

    def relabel(self) -> None:
        super().relabel()
        self.query.hint_text = tr("Name or order")

    def refresh(self) -> None:
        printer = self.ctl.printer_for("ticket")
        self.printer_line.text = (tr("Printer: {p}", p=printer_label(printer)) if printer is not None
                                  else tr("No printer yet: choose one in Printers."))
        self.actions.cols = 3 if self.portrait else 6
        has_order = bool(self.order_number)
        for name in ("print", "badge", "reprint", "receipt", "exchange", "refund", "email"):
            self.buttons[name].disabled = not has_order or (self.printing and name in ("print", "badge", "reprint",
                                                                                      "receipt", "exchange"))
        if self.order_number and self.ctl.sale.receipt_of(self.order_number) is None:   # sold elsewhere, or long ago
            self.buttons["receipt"].disabled = True
        self.buttons["refund"].disabled = not has_order or self.printing or not self.ctl.services.desk.available
        self.buttons["email"].disabled = not has_order or not self.ctl.services.desk.available
        self.buttons["pay"].disabled = not any(t["state"] == "unpaid" for t in self.tickets)
        if not has_order:
            return
        self.list.clear_widgets()
        for r in ticket_rows(self.tickets, self.ctl.show_buyer, self.ctl.door):
            t = BigToggle(f"{r.title}\n{r.subtitle}", group="ticket",
                          state="down" if r.ticket_key == self.selected_ticket else "normal")
            t.height = dp(TOUCH + 12)
            t.bind(on_release=lambda w, k=r.ticket_key: self._select(k, w))
            self.list.add_widget(t)

    def _select(self, key: str, toggle) -> None:
        self.selected_ticket = key if toggle.state == "down" else None


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1].rstrip() + "…"
