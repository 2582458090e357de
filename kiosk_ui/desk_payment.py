"""Taking the payment of a pending (invoice) order at the desk, without Kivy: the amount to collect as this kiosk
holds it (the server's figure, kept current by its bundles, or the kiosk's own sale on invoice), the amount the
operator typed checked against it, the payment recorded on the device and queued for the server (agent.desk).

    outcome = take_payment(door, "INV-7", "cash", "35")     # -> PaymentOutcome(ok, message in the app's language)
"""
from __future__ import annotations

from dataclasses import dataclass

from agent import desk
from agent.sync.messages import MAX_PARTS, REFERENCE_NEEDED, SETTLE_METHODS, PaymentPart, reference_missing
from kiosk_ui.i18n import tr, tr_n
from kiosk_ui.presenters.cart import amount, read_amount


@dataclass(frozen=True)
class PaymentOutcome:
    ok: bool
    message: str
    tickets: int = 0


def amount_due(door, order_number: str) -> str:
    """'EUR 35.00' to collect for the order in the app's language; '' when it is not pending here or its amount is
    unknown (an order the organiser added without prices: the payment is taken without an amount)."""
    held = desk.due(door.ledger, door.ledger.order_number(order_number))
    return amount(*held) if held else ""


def take_payment(door, order_number: str, payment: str, typed: str = "",
                 parts: tuple[tuple[str, int, str], ...] = (), reference: str | None = None) -> PaymentOutcome:
    """Record the payment. With an amount due known, `typed` must be that amount: another one (or none) is refused,
    nothing recorded, the message says what to collect. `parts`: a split payment ((method, cents, reference), 2 to
    4), which adds up to the amount typed. `reference`: a card terminal's or voucher's (agent.desk.validate_payment:
    needed by card or voucher when given; None, not asked)."""
    if reference is not None and not parts and reference_missing(payment, reference):
        return PaymentOutcome(False, tr(REFERENCE_NEEDED))
    number = door.ledger.order_number(order_number)
    held = desk.due(door.ledger, number)
    cents = None
    split = tuple(PaymentPart(m, c, r.strip()) for m, c, r in parts)
    if split and not typed.strip():
        typed = f"{sum(p.cents for p in split) / 100:.2f}"
    if held is not None:
        cents, why = read_amount(typed)
        if cents is None:
            return PaymentOutcome(False, tr("Type the amount received: {due} to collect.", due=amount(*held))
                                  if not typed.strip() else tr(why))
        if cents != held[0]:
            return PaymentOutcome(False, tr("Order {o}: {due} to collect, not {given}. No payment recorded.", o=number,
                                            due=amount(*held), given=amount(cents, held[1])))
    if split and not (2 <= len(split) <= MAX_PARTS and all(p.method in SETTLE_METHODS and p.cents > 0 for p in split)):
        return PaymentOutcome(False, tr("Split the payment in 2 to 4 parts of cash, card or voucher."))
    if split and cents is not None and sum(p.cents for p in split) != cents:
        return PaymentOutcome(False, tr("The parts of the payment do not add up to the total."))
    try:
        n = door.validate_payment(number, door.policy.device_id, payment, cents, split, reference)
    except ValueError:                  # not pending (cancelled, refunded, paid meanwhile)
        closed = "Order {o} is not pending (paid, cancelled or refunded): no payment recorded."
        return PaymentOutcome(False, tr(closed, o=number))
    return PaymentOutcome(True, tr_n("Payment recorded for {n} ticket.", "Payment recorded for {n} tickets.", n), n)
