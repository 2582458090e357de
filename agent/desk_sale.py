"""A sale at the kiosk, device side: the messages it sends (built here only, so a new field — who is on duty — is
added in one place) and the one transaction that makes a sale durable on the device before anything prints.

Online the kiosk sends a `SaleRequest` and waits for the server's signed `DeskAnswer`; offline (or when the
answer does not come in time) it signs the tickets with its sales allotment (agent.allotment) and queues an
`OfflineSale` in the outbox. The offline sale reuses the request's id (`sale_id` = `request_id`): the server,
which answers each request id once, never counts both a late online sale and the offline one.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from agent.ledger import Ledger
from agent.sync.messages import (PAYMENT_METHODS, AllotmentRequest, ExchangeRequest, OfflineSale, PaymentPart,
                                 RefundRequest, SaleLine, SaleRequest, SoldTicket)

ALLOTMENT_NEXT = "desk_allotment_next"      # ledger setting: the next ticket id of the allotment to sign


@dataclass(frozen=True)
class Sale:
    """What the operator confirmed: the cart (category -> quantity) of one event or pass, and the payment."""
    target_id: int
    lines: tuple[tuple[int, int], ...]           # (category, quantity)
    total_cents: int
    currency: str = "EUR"
    method: str = "cash"
    reference: str = ""
    promo_code: str | None = None
    buyer_name: str = ""
    email: str = ""
    request_id: str = ""
    parts: tuple[PaymentPart, ...] = ()          # a split payment (cash and card…); `method` is its first part's

    @classmethod
    def new(cls, **kw: Any) -> "Sale":
        return cls(request_id=uuid.uuid4().hex, **kw)


def sale_request(sale: Sale, org: str, device: str, staff: str = "") -> SaleRequest:
    return SaleRequest(org=org, device=device, request_id=sale.request_id, target_id=sale.target_id,
                       lines=tuple(SaleLine(c, q) for c, q in sale.lines), payment=sale.method,
                       payment_ref=sale.reference, promo_code=sale.promo_code, buyer_name=sale.buyer_name,
                       email=sale.email, expected_cents=sale.total_cents, at=time.time(), staff=staff,
                       parts=sale.parts)


def offline_sale(sale: Sale, allotment_id: int, tickets: Iterable[SoldTicket], device: str,
                 order_number: str = "") -> OfflineSale:
    """`order_number`: the kiosk's (agent.allotment.offline_order_number), printed for the guest; the server files
    the order under it."""
    return OfflineSale(sale_id=sale.request_id, allotment_id=allotment_id, target_id=sale.target_id,
                       tickets=tuple(tickets), total_cents=sale.total_cents, device_id=device, currency=sale.currency,
                       promo_code=sale.promo_code, payment=sale.method, payment_ref=sale.reference,
                       buyer_name=sale.buyer_name, email=sale.email, at=time.time(), order_number=order_number,
                       parts=sale.parts)


def refund_request(order_number: str, reason: str, kind: str, org: str, device: str, staff: str = "") -> RefundRequest:
    if not reason.strip():
        raise ValueError("a refund or cancellation needs a reason")
    return RefundRequest(org=org, device=device, request_id=uuid.uuid4().hex, order_number=order_number,
                         reason=reason, kind=kind, at=time.time(), staff=staff)


def exchange_request(ticket_key: str, reason: str, org: str, device: str, target_id: int | None = None,
                     category: int | None = None, staff: str = "", payment: str = "cash",
                     parts: tuple[PaymentPart, ...] = ()) -> ExchangeRequest:
    """`parts`: the price difference settled several ways (its first part's method is `payment`)."""
    if not reason.strip():
        raise ValueError("an exchange needs a reason")
    if payment not in PAYMENT_METHODS:
        raise ValueError(f"payment {payment!r}: one of {', '.join(PAYMENT_METHODS)}")
    return ExchangeRequest(org=org, device=device, request_id=uuid.uuid4().hex, ticket_key=ticket_key, reason=reason,
                           target_id=target_id, category=category, at=time.time(), staff=staff,
                           payment=parts[0].method if parts else payment, parts=parts)


def allotment_request(public_key_b64: str, org: str, device: str) -> AllotmentRequest:
    return AllotmentRequest(org=org, device=device, request_id=uuid.uuid4().hex, public_key=public_key_b64)


def ticket_rows(sale: Sale, order_number: str, tickets: Iterable[SoldTicket], status: str,
                event_id: int) -> list[dict[str, Any]]:
    """The sold tickets as rows of the device's ticket index (with their signed QR: the kiosk prints them)."""
    return [{"ticket_key": t.ticket_key, "event_id": event_id, "order_number": order_number,
             "buyer_name": sale.buyer_name, "email": sale.email, "category": t.category, "zone": t.zone,
             "order_status": status, "payload": t.payload} for t in tickets]


def record_sale(ledger: Ledger, rows: list[dict[str, Any]], outbox: OfflineSale | None = None,
                next_ticket_id: int | None = None, due: tuple[int, str] | None = None) -> None:
    """One durable transaction (fsync'd commit): the tickets in the index, the offline sale in the outbox and the
    allotment's next ticket id, all or none. Printing comes after: a crash never loses a ticket sold. `due`
    ((cents, currency): the sale's total) is kept as the amount to collect when the order is pending (invoice)."""
    with ledger.transaction():
        ledger.upsert_tickets(rows)
        if due is not None and rows and all(r["order_status"] == "pending" for r in rows):
            ledger.set_order_dues([(rows[0]["order_number"], due[0], due[1])])
        if outbox is not None:
            ledger.enqueue("kiosk", outbox.to_wire())
        if next_ticket_id is not None:
            ledger.set_setting(ALLOTMENT_NEXT, next_ticket_id)


def take_back(ledger: Ledger, ticket_keys: Iterable[str], reason: str) -> None:
    """Refunded, cancelled or exchanged at the desk (the server agreed): out of use at once on this device."""
    ledger.revoke(list(ticket_keys), reason)
