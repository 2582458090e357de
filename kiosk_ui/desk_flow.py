"""The sale in progress at the desk, without Kivy: the event or pass chosen, the cart, the promo code, the payment,
then the sale (durable first), its tickets printed on the chosen printer and the receipt on an ESC/POS printer.
The sell screens render its views (kiosk_ui/presenters/cart.py) and forward intents here; every business rule is
in the desk service (kiosk_ui/adapters/desk.py over agent.pricing, agent.allotment, agent.desk_sale)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from drivers.printers.model import PrintResult
from drivers.printers.receipt import Receipt, ReceiptLine
from drivers.printers.wording import when
from kiosk_ui import i18n
from kiosk_ui.presenters.cart import (MAX_IN_CART, CartView, PaymentView, cart_view, exchange_receipt, payment_view,
                                      receipt_for)
from kiosk_ui.presenters.till import z_rows
from kiosk_ui.services import CartQuote, DeskResult, Payment, SaleResult, SaleTarget

if TYPE_CHECKING:
    from kiosk_ui.controller import Controller

log = logging.getLogger(__name__)
RECEIPTS = "desk_receipts"       # ledger setting: the receipts of the last sales, to print again from the ticket desk
RECEIPTS_KEPT = 200
# the worker failed (the log says why): the sale may be recorded without its prints, so the operator looks first
SALE_FAILED = "The sale did not finish: look up the last order at the ticket desk before selling again."


@dataclass
class SaleOutcome:
    result: SaleResult
    tickets: PrintResult | None = None          # None: not sold, nothing printed
    receipt: PrintResult | None = None
    first_ticket_ms: float = 0.0                # confirmed -> first ticket printed (benchmarks/bench_desk.py)


@dataclass
class DeskFlow:
    ctl: Controller
    target_id: int | None = None
    cart: dict[int, int] = field(default_factory=dict)
    promo_code: str = ""
    print_kind: str = "ticket"                  # ticket (ESC/POS, Zebra) | badge (card printer)
    last: SaleOutcome | None = None
    last_receipt: Receipt | None = None
    exchange_slip: Receipt | None = None        # the last exchange's slip (its price difference), to print
    last_slip: PrintResult | None = None        # how it printed (None: no slip, or not yet)
    _worker: threading.Thread | None = field(default=None, repr=False)
    _finished: SaleOutcome | None = field(default=None, repr=False)

    @property
    def desk(self):
        return self.ctl.services.desk

    # -- the cart ----------------------------------------------------------------------------------------------------
    def targets(self) -> list[SaleTarget]:
        return self.desk.targets()

    def target(self) -> SaleTarget | None:
        targets = self.targets()
        chosen = [t for t in targets if t.target_id == self.target_id]
        return next(iter(chosen or targets), None)

    def choose(self, target_id: int) -> None:
        if target_id != self.target_id:
            self.target_id, self.cart = target_id, {}

    def add(self, category: int, n: int = 1) -> None:
        """n more (or fewer) of a category, kept within 0..MAX_IN_CART (the + button's own limit)."""
        self.cart[category] = min(MAX_IN_CART, max(0, self.cart.get(category, 0) + n))

    def set_promo(self, code: str) -> None:
        self.promo_code = code.strip()

    def quote(self) -> CartQuote | None:
        target = self.target()
        if target is None or not any(self.cart.values()):
            return None
        return self.desk.quote(target.target_id, dict(self.cart), self.promo_code or None)

    def cart_view(self) -> CartView | None:
        target = self.target()
        return None if target is None else cart_view(target, self.cart, self.quote())

    def payment_view(self, payment: Payment) -> PaymentView | None:
        quote = self.quote()
        return None if quote is None or quote.problem else payment_view(quote, payment)

    # -- the sale ----------------------------------------------------------------------------------------------------
    def confirm(self, payment: Payment) -> SaleOutcome:
        """Sell (durable on the device before anything prints), then print the tickets and the receipt. Blocks for
        as long as the server takes to answer (up to the desk's timeout): the screens use `start_confirm`."""
        ready = self._prepare()
        if isinstance(ready, SaleOutcome):
            return ready
        outcome = self._sell_and_print(*ready, payment)
        if outcome.result.ok:
            self.cart, self.promo_code = {}, ""
        return outcome

    def start_confirm(self, payment: Payment) -> SaleOutcome | None:
        """The same sale on a worker thread, so the UI thread returns at once (the server may be silent for up to
        the desk's timeout before the kiosk sells offline). -> a refusal at once, else None: poll `finished()`.
        A second confirm before `finished()` took the outcome is refused (nothing sold twice)."""
        if self.waiting:
            return SaleOutcome(SaleResult(False, problem="The sale is already being confirmed."))
        ready = self._prepare()
        if isinstance(ready, SaleOutcome):
            return ready
        self._finished = None

        def run() -> None:
            try:
                outcome = self._sell_and_print(*ready, payment)
            except Exception as exc:     # never lost silently: the operator sees it, the log has the trace
                log.exception("desk: the sale did not finish: %s", exc)
                outcome = SaleOutcome(SaleResult(False, problem=SALE_FAILED))
            self._finished = outcome

        self._worker = threading.Thread(target=run, name="desk-sale", daemon=True)
        self._worker.start()
        return None

    @property
    def waiting(self) -> bool:
        """A sale is being confirmed on the worker thread (the screen says it is waiting for the server), or it is
        done and `finished()` has not taken its outcome yet: the cart is emptied only then, so a confirm meanwhile
        would sell it a second time."""
        return self._worker is not None

    def finished(self) -> SaleOutcome | None:
        """From the UI thread's poll: the outcome of `start_confirm` once, when its worker is done; else None."""
        if self._worker is None or self._worker.is_alive():
            return None
        self._worker.join()
        self._worker, outcome, self._finished = None, self._finished, None
        if outcome is not None and outcome.result.ok:
            self.cart, self.promo_code = {}, ""
        return outcome

    def _prepare(self) -> tuple[SaleTarget, CartQuote] | SaleOutcome:
        target, quote = self.target(), self.quote()
        if target is None or quote is None:
            return SaleOutcome(SaleResult(False, problem="Choose the tickets."))
        problem = self.ctl.not_permitted("sale")
        if problem:
            return SaleOutcome(SaleResult(False, problem=problem))
        return target, quote

    def _sell_and_print(self, target: SaleTarget, quote: CartQuote, payment: Payment) -> SaleOutcome:
        started = time.perf_counter()
        result = self.desk.sell(quote, payment)
        if not result.ok:
            self.last = SaleOutcome(result)
            return self.last
        self.last_receipt = receipt_for(target, quote, payment, result, self._now_text(target))
        self._keep_receipt(self.last_receipt)          # before printing: a kill mid-print keeps it to print again
        tickets = self.ctl.print_order(result.order_number, self.print_kind)
        first_ms = (time.perf_counter() - started) * 1000
        self.last = SaleOutcome(result, tickets, self.print_receipt(), first_ms)
        return self.last

    def unprinted(self) -> tuple[str, ...]:
        """Tickets of the last sale that did not come out: those kept in the print queue, or every one when its
        print failed before anything was kept (no printer set up, no printable copy)."""
        last = self.last
        if last is None or not last.result.ok or last.tickets is None:
            return ()
        order = last.result.order_number
        waiting = tuple(p.ticket_key for p in self.ctl.pending_prints() if p.order_number == order)
        if waiting or last.tickets.ok or last.tickets.kept or last.tickets.printed:
            return waiting
        return tuple(last.result.ticket_keys)

    def print_again(self) -> PrintResult | None:
        """The sold screen's "print the tickets again": the tickets that did not come out, as originals (a job the
        printer partly received comes out marked as a copy); when all came out, every one again as a copy."""
        last = self.last
        if last is None or not last.result.ok:
            return None
        order, missing = last.result.order_number, self.unprinted()
        if not missing:
            return self.ctl.print_order(order, self.print_kind, reprint=True)
        result = self.ctl.print_order(order, self.print_kind, False, missing)   # each possibly printed one: a copy
        self.last = replace(last, tickets=result)
        return result

    def print_receipt(self, order_number: str | None = None) -> PrintResult:
        """The last sale's receipt, or the kept receipt of `order_number` (the ticket desk's "Print receipt"). Once one
        came out, the next are marked as copies (REPRINT / DUPLICATA); none for an order refunded or cancelled since
        (the money was handed back)."""
        receipt = self.last_receipt if order_number is None else self.receipt_of(order_number)
        if receipt is None:
            return PrintResult(False, 0, i18n.tr("No sale yet.") if order_number is None else
                               i18n.tr("No receipt kept for this order on this kiosk."))
        number = receipt.order_number
        tickets = self.ctl.door.order(number)
        if tickets and all(self.ctl.no_longer_valid(t["ticket_key"]) for t in tickets):
            return PrintResult(False, 0, i18n.tr("Order {o} was refunded or cancelled: no receipt printed.", o=number))
        printer = self.receipt_printer()
        if printer is None:
            return PrintResult(False, 0, i18n.tr("No receipt printer (ESC/POS): add one in Printers."))
        kept = self._receipts()
        printed = any(r.get("order_number") == number and r.get("printed") for r in kept)
        result = self.ctl.services.printers.print_receipt(printer, replace(receipt, copy=printed))
        if result.ok and not printed:          # the original came out: what prints from now on is a copy
            self.ctl.door.ledger.set_setting(RECEIPTS, [dict(r, printed=True) if r.get("order_number") == number
                                                        else r for r in kept])
        return result

    def receipt_of(self, order_number: str) -> Receipt | None:
        """The receipt of an order sold at this kiosk (the last RECEIPTS_KEPT sales; kept in the ledger)."""
        kept = [r for r in self._receipts() if r.get("order_number") == order_number]
        if not kept:
            return None
        data = {k: v for k, v in kept[-1].items() if k != "printed"}      # (whether it came out once)
        try:
            return Receipt(**{**data, "lines": tuple(ReceiptLine(**line) for line in data["lines"])})
        except (TypeError, ValueError, KeyError) as exc:    # kept by another version of the app: said, not a crash
            log.warning("desk: the kept receipt of order %s cannot be read: %s", order_number, exc)
            return None

    def _receipts(self) -> list[dict]:
        return list(self.ctl.door.ledger.get_setting(RECEIPTS, []) or [])

    def _keep_receipt(self, receipt: Receipt) -> None:
        self.ctl.door.ledger.set_setting(RECEIPTS, (self._receipts() + [dict(asdict(receipt), printed=False)]
                                                    )[-RECEIPTS_KEPT:])

    def receipt_printer(self) -> str | None:
        """The chosen printer when it prints receipts (ESC/POS), else the first ESC/POS printer."""
        escpos = [p.printer_id for p in self.ctl.services.printers.printers() if p.language == "escpos"]
        chosen = [p for p in escpos if p == self.ctl.selected_printer]
        return next(iter(chosen or escpos), None)

    # -- after the sale ----------------------------------------------------------------------------------------------
    def refund(self, order_number: str, reason: str, kind: str = "refund") -> DeskResult:
        problem = self.ctl.not_permitted("refund")          # supervisors only (agent.staff.PERMISSIONS)
        return DeskResult(False, problem=problem) if problem else self.desk.refund(order_number, reason, kind)

    def exchange(self, ticket_key: str, reason: str, target_id: int | None = None,
                 category: int | None = None, payment: str = "cash",
                 parts: tuple[tuple[str, int, str], ...] = ()) -> DeskResult:
        """The server prices it; the ticket taken back leaves the print queue (Controller.pending_prints). Blocks up
        to the desk's timeout when the server is silent: the screen runs it in the background."""
        problem = self.ctl.not_permitted("exchange")
        if problem:
            return DeskResult(False, problem=problem)
        old = self.ctl.door.ledger.ticket(ticket_key) or {}
        done = self.desk.exchange(ticket_key, reason, target_id, category, payment, parts)
        self.exchange_slip, self.last_slip = self._slip(done, old, target_id, category, payment, parts), None
        return done

    def _slip(self, done: DeskResult, old: dict, target_id: int | None, category: int | None, payment: str,
              parts: tuple[tuple[str, int, str], ...]) -> Receipt | None:
        """The exchange's slip (presenters.cart.exchange_receipt) when it settled a price difference."""
        target = next((t for t in self.desk.targets() if t.target_id == (target_id or old.get("event_id"))), None)
        if target is None or not done.ok:
            return None
        after = old.get("category") if category is None else category
        name = next((c.name for c in target.categories if c.category == after), str(after))
        return exchange_receipt(target, name, done, payment, parts, self._now_text(target))

    def print_exchanged(self, done: DeskResult) -> PrintResult | None:
        """The new ticket(s) of an exchange, as originals on the ticket printer; what does not print is kept in the
        print queue like a sale's tickets (the result's message says so). Blocks up to the printer's timeout: the
        screen runs it in the background. Then the exchange's slip (the price difference and how it was settled) on
        the receipt printer, when there is one (`last_slip`: how it printed)."""
        if not done.ok or not done.order_number or not done.ticket_keys:
            return None
        printed = self.ctl.print_order(done.order_number, "ticket", False, done.ticket_keys)
        slip, printer = self.exchange_slip, self.receipt_printer()
        if slip is not None and slip.order_number == done.order_number and printer is not None:
            self.last_slip = self.ctl.services.printers.print_receipt(printer, slip, keep=True)
        return printed

    def print_z(self, z: dict) -> PrintResult:
        """The till's Z report on the receipt printer (kept in the print queue when it does not print)."""
        printer = self.receipt_printer()
        if printer is None:
            return PrintResult(False, 0, i18n.tr("No receipt printer (ESC/POS): add one in Printers."))
        return self.ctl.services.printers.print_report(printer, z_rows(z))

    def _now_text(self, target: SaleTarget) -> str:
        """The sale's date and time in the event's language and time zone."""
        return when(self.ctl.clock(), None, target.timezone, target.language)
