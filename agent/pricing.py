"""Pricing of a desk sale: a cart -> priced lines, the promotion applied to each, the total. Pure (no I/O, no clock
read: `now` is given), shared by the server (what it charges and stores on the order line) and the kiosk (what it
shows before asking), so both compute the same figures. Money is integer cents in the event's currency.

    quote = price_cart(offer, [CartLine(category=1, quantity=4)], promo_code="SPRING", now=time.time())
    quote.total_cents, quote.lines[0].promotion          # 4500, "4 for 3"

Promotions (`Promotion.kind`):
  * `x_for_y`  — `x` tickets for the price of `y` (4 for 3), per complete group of `x` in the line;
  * `percent`  — `percent` % off each ticket of the line (rounded down to the cent);
  * `fixed`    — `amount_cents` off each ticket (never below 0).
A promotion with a `code` applies only when that code is given (within its validity window and usage limit, which
the server checks against its counter: `uses_left`); one without applies to everyone. `category` None: every
category. One promotion per line: the one giving the largest discount (ties: lowest promo id).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from agent.errors import InvalidInput
from agent.reasons import coded

PROMOTION_KINDS = ("x_for_y", "percent", "fixed")
PAYMENT_METHODS = ("cash", "card", "invoice", "voucher")
MAX_QUANTITY = 1000           # tickets in one line of one sale
MAX_CENTS = 10**10


class PricingError(InvalidInput):
    """The cart cannot be priced: unknown category, no price, a quantity out of range, over the per-order limit,
    an unknown or unusable promo code."""


@dataclass(frozen=True)
class Promotion:
    promo_id: int
    kind: str
    category: int | None = None         # None: every category
    x: int = 0                          # x_for_y: x tickets…
    y: int = 0                          # …for the price of y
    percent: int = 0
    amount_cents: int = 0
    code: str | None = None             # None: automatic
    valid_from: float | None = None
    valid_until: float | None = None
    uses_left: int | None = None        # code promotions: None = unlimited

    def __post_init__(self) -> None:
        if self.kind not in PROMOTION_KINDS:
            raise PricingError(f"promotion kind {self.kind!r}: one of {', '.join(PROMOTION_KINDS)}")
        if self.kind == "x_for_y" and not 0 < self.y < self.x <= MAX_QUANTITY:
            raise PricingError(f"an x-for-y promotion needs 0 < y < x (got {self.x} for {self.y})")
        if self.kind == "percent" and not 0 < self.percent <= 100:
            raise PricingError(f"a percentage promotion is 1..100 % (got {self.percent})")
        if self.kind == "fixed" and not 0 < self.amount_cents <= MAX_CENTS:
            raise PricingError(f"a fixed discount is a positive amount of cents (got {self.amount_cents})")

    @property
    def label(self) -> str:
        """What a receipt and the order line say (stable, language-neutral)."""
        what = {"x_for_y": f"{self.x} for {self.y}", "percent": f"-{self.percent}%",
                "fixed": f"-{self.amount_cents / 100:.2f}/ticket"}[self.kind]
        return f"{what} ({self.code})" if self.code else what

    def active_at(self, now: float) -> bool:
        return (self.valid_from is None or now >= self.valid_from) and (self.valid_until is None or now < self.valid_until)

    def discount(self, unit_cents: int, quantity: int) -> int:
        if self.kind == "x_for_y":
            return (quantity // self.x) * (self.x - self.y) * unit_cents
        if self.kind == "percent":
            return unit_cents * quantity * self.percent // 100
        return min(self.amount_cents, unit_cents) * quantity

    def to_json(self) -> dict[str, Any]:
        return {"promo_id": self.promo_id, "kind": self.kind, "category": self.category, "x": self.x, "y": self.y,
                "percent": self.percent, "amount_cents": self.amount_cents, "code": self.code,
                "valid_from": self.valid_from, "valid_until": self.valid_until, "uses_left": self.uses_left,
                "label": self.label}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Promotion":
        return cls(promo_id=int(d["promo_id"]), kind=str(d["kind"]), category=d.get("category"), x=int(d.get("x") or 0),
                   y=int(d.get("y") or 0), percent=int(d.get("percent") or 0),
                   amount_cents=int(d.get("amount_cents") or 0), code=d.get("code"), valid_from=d.get("valid_from"),
                   valid_until=d.get("valid_until"), uses_left=d.get("uses_left"))


@dataclass(frozen=True)
class Offer:
    """What an event (or pass) sells: price per category, promotions, the per-order limit and the sales window."""
    target_id: int
    currency: str = "EUR"
    prices: dict[int, int] = field(default_factory=dict)        # category -> cents
    promotions: tuple[Promotion, ...] = ()
    max_per_order: int | None = None
    opens_at: float | None = None
    closes_at: float | None = None
    door_only: bool = False               # sold only at the door (kiosks on site), never online

    def to_json(self) -> dict[str, Any]:
        return {"target_id": self.target_id, "currency": self.currency,
                "prices": {str(k): v for k, v in sorted(self.prices.items())},
                "promotions": [p.to_json() for p in self.promotions], "max_per_order": self.max_per_order,
                "opens_at": self.opens_at, "closes_at": self.closes_at, "door_only": self.door_only}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Offer":
        return cls(target_id=int(d["target_id"]), currency=str(d.get("currency") or "EUR"),
                   prices={int(k): int(v) for k, v in (d.get("prices") or {}).items()},
                   promotions=tuple(Promotion.from_json(p) for p in d.get("promotions") or ()),
                   max_per_order=d.get("max_per_order"), opens_at=d.get("opens_at"), closes_at=d.get("closes_at"),
                   door_only=bool(d.get("door_only")))

    def window_refusal(self, now: float, at_door: bool = True) -> str | None:
        """None when the sale is open now (at the door: a kiosk on site), else why not."""
        if self.opens_at is not None and now < self.opens_at:
            return "sales not open yet"
        if self.closes_at is not None and now >= self.closes_at:
            return "sales closed"
        if self.door_only and not at_door:
            return "sold at the door only"
        return None


@dataclass(frozen=True)
class CartLine:
    category: int
    quantity: int
    zone: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.quantity <= MAX_QUANTITY:
            raise PricingError(f"quantity {self.quantity}: 1..{MAX_QUANTITY}")
        if not 0 <= self.category <= 65535:
            raise PricingError(f"category {self.category}: 0..65535")
        if self.zone is not None and not 0 <= self.zone <= 255:
            raise PricingError(f"zone {self.zone}: 0..255")


@dataclass(frozen=True)
class PricedLine:
    category: int
    quantity: int
    zone: int | None
    unit_cents: int
    gross_cents: int
    discount_cents: int
    total_cents: int
    promotion: str | None = None        # label of the promotion applied
    promo_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "quantity": self.quantity, "zone": self.zone, "unit_cents": self.unit_cents,
                "gross_cents": self.gross_cents, "discount_cents": self.discount_cents,
                "total_cents": self.total_cents, "promotion": self.promotion, "promo_id": self.promo_id}


@dataclass(frozen=True)
class Quote:
    target_id: int
    currency: str
    lines: tuple[PricedLine, ...]
    promo_code: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def discount_cents(self) -> int:
        return sum(line.discount_cents for line in self.lines)

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def promo_ids(self) -> tuple[int, ...]:
        return tuple(sorted({line.promo_id for line in self.lines if line.promo_id is not None}))

    def to_json(self) -> dict[str, Any]:
        return {"target_id": self.target_id, "currency": self.currency, "promo_code": self.promo_code,
                "lines": [line.to_json() for line in self.lines], "total_cents": self.total_cents,
                "discount_cents": self.discount_cents}


def normalize_code(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    return code or None


def price_cart(offer: Offer, lines: Iterable[CartLine], promo_code: str | None = None, now: float = 0.0) -> Quote:
    """Price the cart. Raises PricingError (no price for a category, over the per-order limit, an unknown,
    expired or used-up promo code)."""
    cart = list(lines)
    if not cart:
        raise PricingError("the cart is empty")
    count = sum(line.quantity for line in cart)
    if offer.max_per_order is not None and count > offer.max_per_order:
        raise coded(PricingError(f"{count} tickets: at most {offer.max_per_order} per order"), "too_many", count=count,
                    max=offer.max_per_order)
    code = normalize_code(promo_code)
    promos = [p for p in offer.promotions if p.active_at(now) and (p.code is None or p.code == code)]
    if code is not None:
        named = [p for p in offer.promotions if p.code == code]
        if not named:
            raise coded(PricingError(f"unknown promo code {code}"), "promo_unknown", code=code)
        if not any(p.active_at(now) for p in named):
            raise coded(PricingError(f"promo code {code} is not valid now"), "promo_not_valid", code=code)
        if all(p.uses_left is not None and p.uses_left < 1 for p in named):
            raise coded(PricingError(f"promo code {code} is used up"), "promo_used_up", code=code)
        promos = [p for p in promos if p.code is None or p.uses_left is None or p.uses_left >= 1]
    out = []
    for line in cart:
        unit = offer.prices.get(line.category)
        if unit is None:
            raise coded(PricingError(f"category {line.category} has no price for {offer.target_id}"), "no_price",
                        category=line.category)
        gross = unit * line.quantity
        best: tuple[int, int, Promotion] | None = None
        for p in promos:
            if p.category is not None and p.category != line.category:
                continue
            d = min(p.discount(unit, line.quantity), gross)
            if d > 0 and (best is None or (d, -p.promo_id) > (best[0], -best[1])):
                best = (d, p.promo_id, p)
        discount = best[0] if best else 0
        out.append(PricedLine(line.category, line.quantity, line.zone, unit, gross, discount, gross - discount,
                              best[2].label if best else None, best[1] if best else None))
    return Quote(offer.target_id, offer.currency, tuple(out), code)


def change_due(total_cents: int, given_cents: int) -> int:
    """Cash: what to hand back. Raises PricingError when the amount given does not cover the total."""
    if given_cents < total_cents:
        raise PricingError(f"{given_cents} cents given for a total of {total_cents}")
    return given_cents - total_cents


def per_ticket(total_cents: int, quantity: int) -> list[int]:
    """A line's total shared over its `quantity` tickets, in whole cents adding up to it (the first ones take the
    odd cents): 1000 over 3 -> [334, 333, 333]."""
    if quantity <= 0:
        return []
    base, odd = divmod(total_cents, quantity)
    return [base + (1 if i < odd else 0) for i in range(quantity)]


def cents_text(cents: int, currency: str) -> str:
    """'35.00 EUR': an amount in a message's English text (the kiosk shows amounts in its own language)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d} {currency}".strip()
