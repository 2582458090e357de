"""What a kiosk (ticket desk) does to orders on the device: validate a payment, exchange a ticket.

Both change the device's ledger at once (the door admits a paid order, refuses an exchanged ticket) and queue
the fact for the server in the same ledger (outbox), under the device's own id. Used by the app's kiosk screen
(kiosk_ui.door.Door) and by `ticketgate agent pay|exchange`.
"""
from __future__ import annotations

import time
from datetime import timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.desk_offers import held_offer
from agent.ledger import Ledger
from agent.pricing import cents_text
from agent.reasons import coded
from agent.sync.apply import current_bundle
from agent.sync.messages import (MAX_PARTS, REFERENCE_NEEDED, SETTLE_METHODS, Exchange, PaymentPart, PaymentValidated,
                                 reference_missing)
from agent.used import first_admission, used_refusal


def validate_payment(ledger: Ledger, order_number: str, device_id: str, operator: str, payment: str = "cash",
                     amount_cents: int | None = None, parts: tuple[PaymentPart, ...] = (),
                     reference: str | None = None) -> int:
    """Mark a pending order paid on this device and queue the fact, with how it was paid (`payment`, one of
    SETTLE_METHODS: the till counts it) and the amount collected, for the server. -> tickets changed (0: none of
    this order on the device, nothing queued). ValueError, nothing changed, when it is not pending: paying a
    cancelled or refunded order here made the door admit its tickets while the server refused the payment; and
    (code `wrong_amount`) when `amount_cents` is not the order's amount due as this device holds it (`due`). The
    amount sent is the one given, else the one due (None when neither is known). `parts`: a split payment (2 to
    MAX_PARTS, cash/card/voucher), its sum the amount collected. The number is typed in any case
    (ledger.order_number); the server is told the number as it holds it. `reference`: the card terminal's or the
    voucher's reference, which money taken by card or voucher needs (the sale's rule, `reference_missing`: ValueError,
    nothing recorded), as each card or voucher part of a split does; None: not asked (the
    app's single-method "Payment received", which has no reference field)."""
    if parts:
        if not 2 <= len(parts) <= MAX_PARTS or any(p.method not in SETTLE_METHODS or p.cents <= 0 for p in parts):
            raise ValueError(f"a split payment is 2 to {MAX_PARTS} parts of {', '.join(SETTLE_METHODS)}")
        if any(reference_missing(p.method, p.reference) for p in parts):
            raise ValueError(f"{REFERENCE_NEEDED} Each card or voucher part needs one (card:15.00:AUTH7): no payment "
                             "recorded")
        if amount_cents is not None and amount_cents != sum(p.cents for p in parts):
            raise ValueError("the parts of the payment do not add up to the amount")
        payment, amount_cents = parts[0].method, sum(p.cents for p in parts)
    if payment not in SETTLE_METHODS:
        raise ValueError(f"payment {payment!r}: one of {', '.join(SETTLE_METHODS)}")
    if not parts and reference is not None and reference_missing(payment, reference):
        raise ValueError(f"{REFERENCE_NEEDED} A {payment} payment needs one (--reference): no payment recorded")
    with ledger.transaction():
        order_number = ledger.order_number(order_number)     # as held here and known to the server, whatever the case
        statuses = ledger.order_statuses(order_number)
        if statuses and statuses != {"pending"}:
            raise ValueError(f"order {order_number} is {', '.join(sorted(statuses))}, not pending: no payment recorded")
        held = due(ledger, order_number)
        if held is not None and amount_cents is not None and amount_cents != held[0]:
            raise coded(ValueError(f"order {order_number}: {cents_text(held[0], held[1])} to collect, not "
                                   f"{cents_text(amount_cents, held[1])}: no payment recorded"), "wrong_amount",
                        order=order_number, due=cents_text(held[0], held[1]), given=cents_text(amount_cents, held[1]))
        changed = ledger.set_order_status(order_number, "paid")
        if changed:
            collected = amount_cents if amount_cents is not None else (held[0] if held else None)
            ledger.enqueue("kiosk", PaymentValidated(order_number, device_id, operator, at=time.time(),
                                                      payment=payment, amount_cents=collected, parts=parts,
                                                      payment_ref="" if parts else (reference or "").strip()).to_wire())
    return changed


def due(ledger: Ledger, order_number: str) -> tuple[int, str] | None:
    """(cents, currency) to collect for an order pending here (the server's figure, kept current by its bundles,
    or this kiosk's own sale on invoice); None when it is not pending here or its amount is unknown."""
    if ledger.order_statuses(order_number) != {"pending"}:
        return None
    return ledger.order_due(order_number)



def exchange(ledger: Ledger, ticket_key: str, reason: str, device_id: str, category: int | None = None,
             zone: int | None = None) -> None:
    """Take a ticket out of use here (revoked, reason 'exchanged') and ask the server for its replacement
    (same order, new ticket; same category/zone unless chosen). It comes back with the next delta, printable.
    Recorded offline, it settles no money: another category at another price is refused (`_refuse_price_difference`)."""
    if not reason.strip():
        raise ValueError("an exchange needs a reason")
    ticket = ledger.ticket(ticket_key)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_key} on this device")
    _check_choice(ledger, ticket, category, zone)
    _refuse_price_difference(ledger, ticket, category)
    with ledger.transaction():
        revoked = ledger.history(ticket_key).revoked     # exchanged already, cancelled: the server would refuse it
        if revoked is not None:
            raise coded(ValueError(f"ticket {ticket_key} is already out of use ({revoked}): no exchange recorded"),
                        "already_exchanged", ticket=ticket_key)
        _refuse_used(ledger, ticket_key)
        ledger.revoke([ticket_key], f"exchanged: {reason}")
        ledger.enqueue("kiosk", Exchange(ticket_key, reason, device_id, category, zone, at=time.time()).to_wire())


def _refuse_used(ledger: Ledger, ticket_key: str) -> None:
    """ValueError `ticket_used`, nothing recorded, when this ledger holds an admission of the ticket (this gate's or
    one relayed from another): the server would refuse it too, and the ticket would stay out of use here."""
    entries = ledger.history(ticket_key).entries
    first = first_admission(entries)
    zone = next((e.get("timezone") for e in ledger.events() if first and e["event_id"] == first.event_id), None)
    try:
        tz: tzinfo = ZoneInfo(zone) if zone else timezone.utc
    except (ValueError, ZoneInfoNotFoundError):
        tz = timezone.utc
    why = used_refusal(ticket_key, entries, tz)
    if why is not None:
        raise coded(ValueError(str(why)), why.code, **why.params)


def _refuse_price_difference(ledger: Ledger, ticket: dict[str, Any], category: int | None) -> None:
    """ValueError, nothing recorded, for a category change this device cannot settle: its price differs from the
    ticket's (`exchange_price_differs`: an upgrade would be free, a downgrade owes the buyer money nobody records),
    or this device holds no price list to tell (`exchange_needs_prices`), or the server's bundle had no price for
    one of the two (`no_price`: the organiser set none). Online, the desk asks the server, which prices it and
    settles the difference (kiosk_ui.adapters.desk)."""
    if category is None or category == ticket.get("category"):
        return
    target = int(ticket.get("pass_id") or ticket["event_id"])
    offer = held_offer(ledger, target)
    before, after = (None, None) if offer is None else (offer.prices.get(ticket.get("category") or 0),
                                                        offer.prices.get(category))
    if offer is None and int(ticket["event_id"]) not in current_bundle(ledger)["events"]:
        raise coded(ValueError(f"this device holds no price for category {category} and the ticket's: a change of "
                               "category needs the server; try again when online (no exchange recorded)"),
                    "exchange_needs_prices", category=category)
    if offer is None or before is None or after is None:    # the server's last bundle held no such price: it has none
        unpriced = category if after is None else int(ticket.get("category") or 0)
        what = f"pass {target}" if ticket.get("pass_id") else f"event {target}"
        raise coded(ValueError(f"the organiser has set no price for category {unpriced} of {what} (as of this "
                               f"device's last sync): `ticketgate server price set {target} --category {unpriced} "
                               "--cents N`, sync, then exchange again (no exchange recorded)"),
                    "no_price", category=unpriced)
    if after != before:
        difference = cents_text(abs(after - before), offer.currency)
        raise coded(ValueError(f"the price differs by {difference}: needs the server; try again when online "
                               "(no exchange recorded)"), "exchange_price_differs", difference=difference)


def _check_choice(ledger: Ledger, ticket: dict[str, Any], category: int | None, zone: int | None) -> None:
    """ValueError, nothing recorded, for a category or zone the ticket's event (or pass) does not have: the server
    refuses that exchange, and the ticket would stay out of use here."""
    if category is None and zone is None:
        return
    held = ({ticket["event_id"]} | set(ledger.pass_events().get(ticket["pass_id"], ())) if ticket.get("pass_id")
            else {ticket["event_id"]})
    events = [e for e in ledger.events() if e["event_id"] in held]
    if not events:
        return                   # no event data here: the server decides
    categories = sorted({c["category_id"] for e in events for c in e["categories"]})
    zones = sorted({z["zone_id"] for e in events for z in e["zones"]})
    if category is not None and category not in categories and (categories or category != 0):
        raise ValueError(f"category {category} is not a category of this ticket's event (it has {categories or 'none'}): "
                         "no exchange recorded")
    if zone is not None and zone not in zones:
        raise ValueError(f"zone {zone} is not a zone of this ticket's event (it has {zones or 'none'}): "
                         "no exchange recorded")
