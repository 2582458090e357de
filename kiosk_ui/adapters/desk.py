"""Selling at the kiosk (kiosk_ui.services.DeskService) over the core: prices from agent.pricing (the server's own
rules), online through the sync link (a `SaleRequest` answered by the server's signed `DeskAnswer`), offline
within the kiosk's sales allotment (agent.allotment: tickets signed with the kiosk's own key, the sale queued in
the outbox). Every sale is durable in the ledger before it is printed (agent.desk_sale.record_sale).

What the desk sells (`desk_offers`, a ledger setting the sync keeps): per event, date or pass its `Offer`
(agent.pricing) and the stock left per category. The allotment: its certificate (ledger setting `desk_allotment`,
from the server's `AllotmentGrant` answer) and the kiosk's private key (`allotment.key` in the device home, 0600).
"""
from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from agent.allotment import Certificate, encode_offline_ticket, offline_order_number, refill_due, revocation_key
from agent.desk_sale import (ALLOTMENT_NEXT, Sale, allotment_request, exchange_request, offline_sale, record_sale,
                             refund_request, sale_request, take_back, ticket_rows)
from agent.desk_offers import OFFERS, held_offers
from agent.errors import TicketgateError
from agent.pricing import CartLine, Offer, PricingError, per_ticket, price_cart
from agent.reasons import Reason, code_of
from agent.private_files import write_private
from agent.sync.messages import TILL_ACTIONS, DeskAnswer, DeskRequest, PaymentPart, SaleRequest, SoldTicket
from agent.sync.signed import Rejected
from agent.ticket_format import Ticket
from drivers.printers.wording import when
from kiosk_ui.i18n import tr_n
from kiosk_ui.presenters.refusals import answer_problem
from kiosk_ui.services import (CartQuote, DeskResult, Payment, QuoteLine, SaleCategory, SaleResult, SaleTarget)

if TYPE_CHECKING:
    from kiosk_ui.adapters.sync import SyncLink

log = logging.getLogger(__name__)
CERTIFICATE = "desk_allotment"
KEY_FILE = "allotment.key"
ANSWER_SECONDS = 3.0          # online: how long the kiosk waits for the server before selling offline
REFILL_EVERY = 60.0           # online: how often the allotment is checked (refilled when expiring or mostly used)


TILL, LAST_Z = "till_shift", "till_last_z"      # ledger settings: the open shift, the last Z report
FLUSH_SECONDS = 5.0           # online: how long the till, a refund or an exchange waits for offline sales to upload
IN_FLIGHT = "desk_sales_in_flight"   # ledger setting: {request id: SaleRequest} asked online, not settled here yet
RECOVER_EVERY = 10.0          # online: how often sales asked before a restart are asked again (`maybe_recover`)
ON_ITS_WAY = "This order's sale or payment made offline has not reached the server yet: try again in a moment."
NOT_IN_ALLOTMENT = "Offline, and this kiosk's sales allotment does not cover this event or category."
ALLOTMENT_REVOKED = "Offline, and the organiser revoked this kiosk's sales allotment."


class SaleLink(Protocol):
    """The kiosk's line to the server (the sync's MQTT session): send a desk request, wait for its answer."""
    @property
    def online(self) -> bool: ...
    def ask(self, request: DeskRequest, timeout: float) -> DeskAnswer | None: ...   # None: no answer in time


class SyncSaleLink:
    """The desk's requests over the device's running sync (kiosk_ui.adapters.sync.SyncLink -> agent.sync.DeviceSync)."""

    def __init__(self, source: SyncLink):
        self.source = source

    @property
    def online(self) -> bool:
        sync = self.source.sync
        return sync is not None and sync.online

    def ask(self, request: DeskRequest, timeout: float) -> DeskAnswer | None:
        sync = self.source.sync
        return sync.ask(request, timeout) if sync is not None else None


class NoLink:
    online = False

    def ask(self, request: DeskRequest, timeout: float) -> DeskAnswer | None:
        return None


class KioskDesk:
    available = True

    def __init__(self, door: Any, home: str | Path, link: SaleLink | None = None,
                 clock: Callable[[], float] = time.time, timeout: float = ANSWER_SECONDS, org: str = ""):
        self.door, self.home, self.link, self.clock, self.timeout = door, Path(home), link or NoLink(), clock, timeout
        self.org = org                # '' : the enrolled identity's
        self.flush_wait = FLUSH_SECONDS
        self._key: Any = None
        self._refill_at = -REFILL_EVERY
        self._refilling = threading.Lock()
        self._recover_at = -RECOVER_EVERY
        self._recovering = threading.Lock()
        self._flight = threading.Lock()          # the sale's worker adds, the recovery's thread settles
        self._before = set(self._in_flight())    # asked before this app started: `recover` asks them again

    @property
    def ledger(self) -> Any:
        return self.door.ledger

    @property
    def online(self) -> bool:
        return bool(self.link.online)

    def _ask(self, request: DeskRequest, timeout: float) -> DeskAnswer | None:
        """The server's answer, or None: none in time, or `expired` (it reached the server after its deadline, as
        this kiosk's clock estimate put it: not carried out, so a sale goes offline as when no answer came)."""
        answer = self.link.ask(request, timeout)
        if answer is not None and not answer.ok and answer.reason_code == "expired":
            log.warning("desk: the server did not carry out request %s: %s", request.request_id, answer.reason)
            return None
        return answer

    # -- what is on sale ---------------------------------------------------------------------------------------------
    def _offers(self) -> list[dict[str, Any]]:
        """What this desk sells (agent.desk_offers: the kiosk bundle's, or this device's own list)."""
        return held_offers(self.ledger)

    def _offer(self, target_id: int) -> tuple[Offer, dict[int, int]]:
        for entry in self._offers():
            offer = Offer.from_json(entry["offer"])
            if offer.target_id == target_id:
                return offer, {int(k): int(v) for k, v in (entry.get("stock") or {}).items()}
        raise PricingError(f"{target_id} is not on sale at this desk")

    def _filed_under(self, target_id: int) -> tuple[int, bool]:
        """(the event its tickets are filed under on this device, is it a pass)."""
        entry = next((e for e in self._offers() if int(e["offer"]["target_id"]) == target_id), {})
        return int((entry.get("events") or [target_id])[0]), bool(entry.get("is_pass"))

    def targets(self) -> list[SaleTarget]:
        events = {e["event_id"]: e for e in self.ledger.events()}        # names as the last bundle gave them
        out = []
        for entry in self._offers():
            offer = Offer.from_json(entry["offer"])
            stock = {int(k): int(v) for k, v in (entry.get("stock") or {}).items()}
            is_pass = bool(entry.get("is_pass"))
            admits = [events[e] for e in entry.get("events") or () if e in events]
            event = (admits[0] if admits else None) or events.get(offer.target_id) or {}
            names = {c["category_id"]: c["name"] for c in event.get("categories") or ()}
            names.update({int(k): str(v) for k, v in (entry.get("category_names") or {}).items()})
            lang = event.get("language") or entry.get("language") or "en"
            cats = tuple(SaleCategory(c, names.get(c, str(c)), cents, stock.get(c))
                         for c, cents in sorted(offer.prices.items()))
            tz = event.get("timezone") or "UTC"
            date = (" + ".join(str(e["name"]) for e in admits) if is_pass else
                    when(event.get("starts_at"), event.get("ends_at"), tz, lang))
            name = str(entry.get("name") or "") if is_pass else str(event.get("name") or entry.get("name") or "")
            out.append(SaleTarget(offer.target_id, name or str(offer.target_id), date, offer.currency, lang, cats,
                                  is_pass, tz, None if is_pass else event.get("starts_at"),
                                  None if is_pass else event.get("ends_at")))
        return out

    def quote(self, target_id: int, cart: dict[int, int], promo_code: str | None = None) -> CartQuote:
        try:
            chosen = [CartLine(c, q) for c, q in sorted(cart.items()) if q > 0]
            offer, stock = self._offer(target_id)
            short = next((c for c in chosen if c.category in stock and c.quantity > stock[c.category]), None)
            if short is not None:
                left = stock[short.category]
                return CartQuote(target_id, offer.currency, problem="Sold out" if left <= 0 else "Not enough left")
            refusal = offer.window_refusal(self.clock(), at_door=True)
            if refusal:
                return CartQuote(target_id, offer.currency, problem=refusal)
            q = price_cart(offer, chosen, promo_code, now=self.clock())
        except PricingError as exc:            # with its reason code: said in the app's language (cart_view)
            return CartQuote(target_id, "EUR", problem=Reason(str(exc), *code_of(exc)))
        names = {c.category: c.name for t in self.targets() if t.target_id == target_id for c in t.categories}
        lines = tuple(QuoteLine(p.category, names.get(p.category, str(p.category)), p.quantity, p.unit_cents,
                                p.total_cents, p.discount_cents, p.promotion or "") for p in q.lines)
        return CartQuote(target_id, q.currency, lines, q.total_cents, q.promo_code)

    # -- selling -----------------------------------------------------------------------------------------------------
    def sell(self, quote: CartQuote, payment: Payment) -> SaleResult:
        if quote.problem or not quote.lines:
            return SaleResult(False, problem=quote.problem or "Choose the tickets.")
        problem = payment.problem(quote.total_cents)
        if problem:
            return SaleResult(False, problem=problem)
        parts = payment.paid_parts()
        sale = Sale.new(target_id=quote.target_id, lines=tuple((x.category, x.quantity) for x in quote.lines),
                        total_cents=quote.total_cents, currency=quote.currency,
                        method=parts[0].method if parts else payment.method,
                        reference=parts[0].reference if parts else payment.reference.strip(),
                        promo_code=quote.promo_code, buyer_name=payment.buyer_name.strip(),
                        email=payment.email.strip(), parts=parts)
        status = "pending" if payment.method == "invoice" else "paid"
        if self.online:
            request = sale_request(sale, self._org(), self._device(), self.ledger.on_duty)
            self._in_flight(request)              # a kill before the answer is settled: asked again after the restart
            answer = self._ask(request, self.timeout)
            if answer is not None:
                if not answer.ok:
                    self._settled(sale.request_id)
                    return SaleResult(False, problem=answer_problem(answer))
                rows = ticket_rows(sale, answer.order_number, answer.tickets, answer.status or status,
                                   self._filed_under(sale.target_id)[0])
                with self.ledger.transaction():
                    record_sale(self.ledger, rows, due=(answer.total_cents, answer.currency or sale.currency))
                    self._take_stock(sale)
                    self._settled(sale.request_id)
                return SaleResult(True, answer.order_number, False, answer.total_cents, answer.currency or sale.currency,
                                  tuple(t.ticket_key for t in answer.tickets), status=answer.status or status)
            log.warning("desk: no answer from the server in %.1f s: selling offline (request %s)", self.timeout,
                        sale.request_id)
        result = self._sell_offline(sale, quote, status)
        if result.ok:                   # its offline sale (same id) cancels a late online one at the server
            self._settled(sale.request_id)
        return result

    def _in_flight(self, request: SaleRequest | None = None) -> dict[str, dict]:
        if request is None:
            return dict(self.ledger.get_setting(IN_FLIGHT, {}) or {})
        with self._flight:
            kept = self._in_flight()
            kept[request.request_id] = request.to_wire()
            self.ledger.set_setting(IN_FLIGHT, kept)
            return kept

    def _settled(self, request_id: str) -> None:
        with self._flight:
            kept = self._in_flight()
            if kept.pop(request_id, None) is not None:
                self.ledger.set_setting(IN_FLIGHT, kept)

    def recover(self) -> list[SaleResult]:
        """Online sales asked before this app started (it was killed, the battery ran out…) whose answer was never
        settled here, asked again as replays: the sale the server made is recorded now like any online sale (-> its
        result: its tickets are not printed yet), one it never made it never will. Kept while no answer comes."""
        out = []
        for request_id, wire in self._in_flight().items():
            if request_id not in self._before:    # this run's own sale: settled by it (or by the next restart)
                continue
            try:
                req = SaleRequest.from_wire(wire)
            except Rejected as exc:               # kept by another version of the app: said, not retried forever
                log.warning("desk: sale request %s kept before a restart cannot be read: %s", request_id, exc)
                self._settled(request_id)
                continue
            answer = self.link.ask(replace(req, replay=True), self.timeout) if self.online else None
            if answer is None:
                break
            if not answer.ok:
                log.info("desk: sale request %s asked before a restart was not sold: %s", request_id, answer.reason)
                self._settled(request_id)
                continue
            sale = Sale(req.target_id, tuple((x.category, x.quantity) for x in req.lines), answer.total_cents,
                        buyer_name=req.buyer_name, email=req.email, request_id=request_id)
            status = answer.status or ("pending" if req.payment == "invoice" else "paid")
            with self.ledger.transaction():
                record_sale(self.ledger, ticket_rows(sale, answer.order_number, answer.tickets, status,
                                                     self._filed_under(req.target_id)[0]),
                            due=(answer.total_cents, answer.currency or "EUR"))
                self._settled(request_id)
            log.warning("desk: order %s was sold by the server before this app stopped: recorded now, not printed",
                        answer.order_number)
            out.append(SaleResult(True, answer.order_number, False, answer.total_cents, answer.currency,
                                  tuple(t.ticket_key for t in answer.tickets), status=status))
        return out

    def maybe_recover(self, recovered: Callable[[SaleResult], None]) -> None:
        """From the UI's periodic poll: sales asked before a restart (`recover`), in the background, only online
        and at most every RECOVER_EVERY seconds; `recovered(result)` for each sale recorded."""
        now = time.monotonic()
        if now - self._recover_at < RECOVER_EVERY or not self.online or not self._before & set(self._in_flight()):
            return
        self._recover_at = now
        if self._recovering.acquire(blocking=False):
            def run() -> None:
                try:
                    for result in self.recover():
                        recovered(result)
                except Exception:            # never lost silently: the log has the trace, the next poll asks again
                    log.exception("desk: asking again for the sales of before the restart failed")
                finally:
                    self._recovering.release()
            threading.Thread(target=run, name="desk-recover", daemon=True).start()

    def _sell_offline(self, sale: Sale, quote: CartQuote, status: str) -> SaleResult:
        cert = self.certificate()
        now = self.clock()
        if cert is None:
            return SaleResult(False, problem="Offline, and this kiosk has no sales allotment.")
        if not cert.active_at(now):
            return SaleResult(False, problem="Offline, and this kiosk's sales allotment has expired.")
        if self.ledger.history(revocation_key(cert.allotment_id)).revoked is not None:   # the doors refuse its tickets
            return SaleResult(False, problem=ALLOTMENT_REVOKED)
        count = sum(q for _, q in sale.lines)
        first = int(self.ledger.get_setting(ALLOTMENT_NEXT, cert.first_id) or cert.first_id)
        first = max(first, cert.first_id)
        if first + count - 1 > cert.last_id or first - cert.first_id + count > cert.max_count:
            return SaleResult(False, problem="Offline, and this kiosk's sales allotment is used up.")
        key, tickets, ticket_id = self._private_key(), [], first
        filed_under, is_pass = self._filed_under(sale.target_id)
        prices = charged_prices(sale, quote)
        try:
            for i, (category, quantity) in enumerate(sale.lines):
                for n in range(quantity):
                    ticket = Ticket(cert.key_id, sale.target_id, ticket_id, category=category,
                                    valid_until=cert.valid_until, is_pass=is_pass)
                    tickets.append(SoldTicket(ticket.key, category, None, encode_offline_ticket(ticket, cert, key),
                                              prices[i][n] if prices else None))
                    ticket_id += 1
        except TicketgateError as exc:        # an event or category the allotment does not cover: one literal (tr)
            log.info("desk: offline sale %s refused: %s", sale.request_id, exc)
            return SaleResult(False, problem=NOT_IN_ALLOTMENT)
        order_number = offline_order_number(self._device(), cert.allotment_id, cert.first_id, first)
        with self.ledger.transaction():
            record_sale(self.ledger, ticket_rows(sale, order_number, tickets, status, filed_under),
                        offline_sale(sale, cert.allotment_id, tickets, self._device(), order_number),
                        next_ticket_id=ticket_id, due=(quote.total_cents, quote.currency))
            self._take_stock(sale)
        return SaleResult(True, order_number, True, quote.total_cents, quote.currency,
                          tuple(t.ticket_key for t in tickets), status=status)

    def _take_stock(self, sale: Sale) -> None:
        """The stock shown here goes down at once (the server's figures replace it with the next catalogue)."""
        offers = self.ledger.get_setting(OFFERS)
        if not offers:
            return                   # the server's figures: they come back with the next bundle
        for entry in offers:
            if int(entry["offer"]["target_id"]) == sale.target_id and entry.get("stock"):
                for category, quantity in sale.lines:
                    if str(category) in entry["stock"]:
                        entry["stock"][str(category)] = max(0, int(entry["stock"][str(category)]) - quantity)
        self.ledger.set_setting(OFFERS, offers)

    # -- after the sale ----------------------------------------------------------------------------------------------
    def refund(self, order_number: str, reason: str, kind: str = "refund") -> DeskResult:
        keys = tuple(self.ledger.order_tickets(order_number))
        if not keys:
            return DeskResult(False, problem="No ticket in this order.")
        if not self.online:
            return DeskResult(False, problem="A refund needs the server: try again when the kiosk is online.")
        if self.order_unsent(order_number, self.flush_wait):      # else the server finds no such order yet
            return DeskResult(False, problem=ON_ITS_WAY)
        answer = self._ask(refund_request(order_number, reason, kind, self._org(), self._device(),
                                                  self.ledger.on_duty), self.timeout)
        if answer is None or not answer.ok:
            return DeskResult(False, problem=answer_problem(answer) if answer else "The server did not answer in time.")
        take_back(self.ledger, keys, f"{'refunded' if kind == 'refund' else 'cancelled'}: {reason}")
        return DeskResult(True, -answer.total_cents, answer.currency, ticket_keys=keys, order_number=order_number,
                          parts=tuple((p.method, p.cents) for p in answer.parts))

    def exchange(self, ticket_key: str, reason: str, target_id: int | None = None,
                 category: int | None = None, payment: str = "cash",
                 parts: tuple[tuple[str, int, str], ...] = ()) -> DeskResult:
        """`payment`: how the price difference is settled (cash, card, voucher): the till counts it so; `parts`:
        settled several ways, (method, cents, reference) each, adding up to the difference (else the server
        refuses it, saying the difference)."""
        if self.ledger.ticket(ticket_key) is None:
            return DeskResult(False, problem="Tap a ticket first.")
        if not self.online:
            return DeskResult(False, problem="An exchange needs the server: try again when the kiosk is online.")
        if self.order_unsent(str((self.ledger.ticket(ticket_key) or {}).get("order_number") or ""), self.flush_wait):
            return DeskResult(False, problem=ON_ITS_WAY)
        request = exchange_request(ticket_key, reason, self._org(), self._device(), target_id, category,
                                   self.ledger.on_duty, payment, tuple(PaymentPart(m, c, r) for m, c, r in parts))
        answer = self._ask(request, self.timeout)
        if answer is None or not answer.ok:
            return DeskResult(False, problem=answer_problem(answer) if answer else "The server did not answer in time.")
        old = self.ledger.ticket(ticket_key) or {}
        sale = Sale(target_id or int(old.get("event_id") or 0), (), 0, buyer_name=old.get("buyer_name") or "",
                    email=old.get("email") or "")
        with self.ledger.transaction():
            take_back(self.ledger, [ticket_key], f"exchanged: {reason}")
            order_number = answer.order_number or str(old.get("order_number") or "")
            record_sale(self.ledger, ticket_rows(sale, order_number, answer.tickets, answer.status or "paid",
                                                 self._filed_under(sale.target_id)[0]))
        return DeskResult(True, answer.difference_cents, answer.currency, ticket_keys=tuple(
            t.ticket_key for t in answer.tickets), order_number=answer.order_number or str(old.get("order_number")),
            parts=tuple((p.method, p.cents) for p in answer.parts))

    # -- the till and e-tickets ---------------------------------------------------------------------------------------
    def till(self, action: str, cents: int, currency: str | None = None) -> DeskAnswer | str:
        """Open this kiosk's shift with a float, or close it with the counted cash: the server's answer (a close
        carries the Z report), or the problem in words. The open shift is remembered here (ledger setting). Either
        waits (bounded) for this kiosk's sales made offline to reach the server: it files them by their arrival, so
        a close before them would miss them and an open would take them into the new shift."""
        import uuid
        from agent.sync.messages import TillRequest
        if not self.online:
            return "The till needs the server: try again when the kiosk is online."
        if waiting := self.unsent_sales(self.flush_wait):        # else a shift would count them by when they arrive
            return tr_n(
                "{n} sale made offline is still to upload: open or close the shift once the server has it.",
                "{n} sales made offline are still to upload: open or close the shift once the server has them.",
                waiting)
        # what this kiosk believes it sells in (its price list's); none yet: the server's word, which holds anyway
        currency = currency or next((t.currency for t in self.targets()), "")
        answer = self._ask(TillRequest(self._org(), self._device(), uuid.uuid4().hex, action, int(cents), currency,
                                           time.time(), staff=self.ledger.on_duty), self.timeout)
        if answer is None:
            return "The server did not answer in time."
        if not answer.ok:      # the organiser closed or opened this kiosk's shift from the office: its word holds
            if answer.reason_code == "no_open_shift":
                self.ledger.set_setting(TILL, None)
            elif answer.reason_code == "shift_open":
                self.ledger.set_setting(TILL, {"shift": str(answer.reason_params.get("shift", "")),
                                               "float_cents": None, "currency": currency or "EUR", "opened_at": None})
            return answer_problem(answer)
        self.ledger.set_setting(TILL, {"shift": answer.order_number, "float_cents": answer.total_cents,
                                       "currency": answer.currency, "opened_at": time.time()}
                                if action == "open" else None)
        if action == "close":
            self.ledger.set_setting(LAST_Z, answer.report)
        return answer

    def unsent_sales(self, wait: float = 0.0) -> int:
        """This kiosk's sales (and pending orders paid) made offline that the server has not acknowledged yet, after
        waiting up to `wait` seconds (while online) for them: the server's Z report counts only what reached it, and
        what reaches it after the close would fall in no shift or the next one."""
        deadline = time.monotonic() + wait
        while (n := self.ledger.outbox_waiting("kiosk", TILL_ACTIONS)) and self.online and time.monotonic() < deadline:
            time.sleep(0.1)
        return n

    def order_unsent(self, order_number: str, wait: float = 0.0) -> bool:
        """This kiosk's records of the order made offline (its sale, a payment; a print record does not matter) the
        server has not acknowledged yet,
        after waiting up to `wait` seconds (while online) for them. A desk request about the order goes only after
        them: sent before (right after a reconnection) it reached the server first, which answered "no order"."""
        deadline = time.monotonic() + wait
        while ((n := self.ledger.outbox_waiting_order(order_number, TILL_ACTIONS)) and self.online
               and time.monotonic() < deadline):
            time.sleep(0.1)
        return bool(n)

    def open_shift(self) -> dict | None:
        return self.ledger.get_setting(TILL)

    def last_z(self) -> dict | None:
        return self.ledger.get_setting(LAST_Z)

    def send_etickets(self, order_number: str, timeout: float = 60.0) -> DeskAnswer | str:
        """Ask the server to e-mail an order's e-tickets again; its answer once the mail server answered."""
        import uuid
        from agent.sync.messages import ETicketsRequest
        if not self.online:
            return "E-mail needs the server: try again when the kiosk is online."
        answer = self._ask(ETicketsRequest(self._org(), self._device(), uuid.uuid4().hex, order_number,
                                               time.time(), staff=self.ledger.on_duty), timeout)
        return "The server did not answer in time." if answer is None else answer

    # -- the allotment -----------------------------------------------------------------------------------------------
    def refill(self) -> str:
        """Online: ask the server for this kiosk's allotment (a new one replaces a used or expiring one). -> '' or
        why not (the server's words: no allotment sized for this device…)."""
        if not self.online:
            return "offline"
        answer = self._ask(allotment_request(self.public_key_text(), self._org(), self._device()), self.timeout)
        if answer is None:
            return "The server did not answer in time."
        if not answer.ok:
            return answer.reason
        try:
            self.save_certificate(answer.certificate)
        except (TicketgateError, ValueError) as exc:
            log.warning("desk: allotment refused: %s", exc)
            return str(exc)
        return ""

    def needs_refill(self) -> bool:
        cert = self.certificate()
        if cert is None or self.ledger.history(revocation_key(cert.allotment_id)).revoked is not None:
            return True
        used = int(self.ledger.get_setting(ALLOTMENT_NEXT, cert.first_id) or cert.first_id) - cert.first_id
        return refill_due(used, cert.max_count, cert.valid_until, self.clock())

    def maybe_refill(self) -> None:
        """From the UI's periodic poll: at most every REFILL_EVERY seconds, in the background, only when online."""
        now = time.monotonic()
        if now - self._refill_at < REFILL_EVERY or not self.online or not self.needs_refill():
            return
        self._refill_at = now
        if self._refilling.acquire(blocking=False):
            def run() -> None:
                try:
                    problem = self.refill()
                    if problem:
                        log.info("desk: no allotment refill: %s", problem)
                finally:
                    self._refilling.release()
            threading.Thread(target=run, name="desk-refill", daemon=True).start()

    def certificate(self) -> Certificate | None:
        text = self.ledger.get_setting(CERTIFICATE)
        if not text:
            return None
        try:
            cert = Certificate.from_text(str(text))
        except TicketgateError:
            log.warning("desk: the stored sales allotment is damaged; offline sales are off until the next one")
            return None
        return cert if cert.device_id == self._device() else None

    def save_certificate(self, text: str) -> Certificate:
        """The server's grant (base64): checked against this kiosk's key before it is kept."""
        cert = Certificate.from_text(text)
        if cert.public_key != self.public_key() or cert.device_id != self._device():
            raise ValueError("this allotment certifies another key or device")
        previous = self.certificate()
        with self.ledger.transaction():
            self.ledger.set_setting(CERTIFICATE, text)
            if previous is None or previous.allotment_id != cert.allotment_id:
                self.ledger.set_setting(ALLOTMENT_NEXT, cert.first_id)
        return cert

    def public_key(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        return bytes(self._private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def public_key_text(self) -> str:
        return base64.b64encode(self.public_key()).decode()

    def _private_key(self) -> Any:
        if self._key is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
            path = self.home / KEY_FILE
            if path.exists():
                self._key = Ed25519PrivateKey.from_private_bytes(path.read_bytes())
            else:
                self._key = Ed25519PrivateKey.generate()
                write_private(path, self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        return self._key

    def _device(self) -> str:
        return str(self.door.policy.device_id)

    def _org(self) -> str:
        if self.org:
            return self.org
        identity = self.door.identity()
        return str(identity.org) if identity is not None else ""


def charged_prices(sale: Sale, quote: CartQuote) -> list[list[int]] | None:
    """What the kiosk charged for each ticket of an offline sale, line by line (each line's total shared over its
    tickets, agent.pricing.per_ticket): the server files each category at that price, not at its prices when the
    sale arrives. None when the quote is not the sale's (its lines or total differ): the server then shares the
    total at its prices, as for a kiosk before it."""
    if (len(quote.lines) != len(sale.lines) or quote.total_cents != sale.total_cents
            or any((x.category, x.quantity) != line for x, line in zip(quote.lines, sale.lines))):
        return None
    return [per_ticket(x.total_cents, x.quantity) for x in quote.lines]
