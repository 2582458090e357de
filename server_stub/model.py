"""Plain data of the server stub and the pure rules around it (no I/O).

The store hands out dicts shaped for the device ledger (`agent.ledger.Ledger`); these dataclasses
describe the inputs and give the rules a name: order numbers, ticket ids, order status changes
(the validity window printed into a ticket: agent.validity).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from agent.errors import InvalidInput
from agent.sync.messages import MAX_BUYER_NAME
from agent.ticket_format import MAX_TICKET_ID
from agent.validity import DEFAULT_VALIDITY_MARGIN_H, validity_window  # noqa: F401 (re-exported)

PAID, PENDING, CANCELLED, REFUNDED = "paid", "pending", "cancelled", "refunded"
ORDER_STATUSES = (PAID, PENDING, CANCELLED, REFUNDED)

# status -> statuses it may change to (cancelling a refunded order, or un-cancelling, is refused)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (PAID, CANCELLED, REFUNDED),
    PAID: (CANCELLED, REFUNDED),
    CANCELLED: (REFUNDED,),
    REFUNDED: (),
}

# Order numbers: no 0/O, 1/I/L, U (read aloud at a door, typed on a phone).
# Each group starts with a letter, so a number typed in a search ("buyer 3") never matches an order number.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_LETTERS = "ABCDEFGHJKMNPQRSTVWXYZ"
ORDER_NUMBER = re.compile(r"^[A-HJKMNP-TV-Z][2-9A-HJKMNP-TV-Z]{3}-[A-HJKMNP-TV-Z][2-9A-HJKMNP-TV-Z]$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")   # also an MQTT topic level: no '/', '+', '#'
MAX_CATALOGUE_ID = 2**32 - 1                      # event and pass ids share the ticket's u32 field


def new_order_number() -> str:
    """Short, human-friendly, random: `K7M2-Q9` (22^2 x 30^4 = 392 million combinations)."""
    chars = "".join(secrets.choice(_LETTERS if i in (0, 4) else _ALPHABET) for i in range(6))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_order_number(text: str) -> str:
    """What people type: `k7m2q9`, `K7M2 Q9`, `k7m2-q9` -> `K7M2-Q9`; anything else stripped only (a kiosk's
    offline number, `desk-1-12-3`, is not split like one)."""
    compact = re.sub(r"[\s-]", "", text or "").upper()
    split = f"{compact[:4]}-{compact[4:]}"
    return split if ORDER_NUMBER.match(split) else (text or "").strip()


def new_ticket_id() -> int:
    """47-bit random ticket id (never 0). Unguessable; the signature is what actually protects. Ids from 2**47 up are
    the kiosks' offline allotment ranges (agent.allotment.ALLOTMENT_ID_BASE): never drawn here."""
    while True:
        value = secrets.randbits(47)
        if 0 < value <= MAX_TICKET_ID:
            return value


def check_slug(slug: str) -> str:
    if not SLUG.match(slug or ""):
        raise InvalidInput(f"organiser slug {slug!r}: lowercase letters, digits and '-', at most 63 characters")
    return slug


def check_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, ()):
        raise InvalidInput(f"order is {current}; it cannot become {new}")


@dataclass(frozen=True)
class Zone:
    zone_id: int
    name: str
    message: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.zone_id <= 255:
            raise InvalidInput(f"zone id {self.zone_id}: must be 0..255 (one byte in the ticket)")


@dataclass(frozen=True)
class Category:
    category_id: int
    name: str
    message: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.category_id <= 65535:
            raise InvalidInput(f"category id {self.category_id}: must be 0..65535 (two bytes in the ticket)")


# The longest seat label whose ticket (one zone, a validity window) stays within the 512 characters a door reads
# (docs/ticket-format.md): the format's own limit, 255 bytes, would make tickets no door accepts.
MAX_SEAT_BYTES = 247


@dataclass(frozen=True)
class Position:
    """One ticket of an order."""
    category: int = 0
    zone: int | None = None      # None: every zone of the event
    seat: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= int(self.category) <= 65535:
            raise InvalidInput(f"category {self.category}: must be 0..65535")
        if self.zone is not None and not 0 <= int(self.zone) <= 255:
            raise InvalidInput(f"zone {self.zone}: must be 0..255")
        if self.seat is not None and len(self.seat.encode()) > MAX_SEAT_BYTES:
            raise InvalidInput(f"seat label longer than {MAX_SEAT_BYTES} bytes (UTF-8)")

    @classmethod
    def from_dict(cls, d: dict) -> "Position":
        zone = d.get("zone")
        return cls(category=int(d.get("category") or 0), zone=None if zone in (None, "") else int(zone),
                   seat=(d.get("seat") or None))


def category_label(category: int, names: dict[int, str]) -> str:
    """A ticket's category as reports show it: its name, else its id; '-' for 0, no category (an order added without
    --ticket, an import without a category column)."""
    return names.get(category) or ("-" if category == 0 else str(category))


@dataclass(frozen=True)
class OrderInput:
    """An order to create (CLI, CSV import, tests, benchmarks)."""
    target_id: int                           # event id or pass id
    buyer_name: str
    email: str = ""
    status: str = PAID
    positions: tuple[Position, ...] = field(default_factory=lambda: (Position(),))

    def __post_init__(self) -> None:
        if not self.buyer_name.strip():
            raise InvalidInput("an order needs a buyer name")
        if len(self.buyer_name) > MAX_BUYER_NAME:
            raise InvalidInput(f"buyer name of {len(self.buyer_name)} characters: at most {MAX_BUYER_NAME}")
        if self.status not in (PAID, PENDING):
            raise InvalidInput(f"a new order is paid or pending, not {self.status!r}")
        if not self.positions:
            raise InvalidInput("an order needs at least one ticket")
        if self.email and "@" not in self.email:
            raise InvalidInput(f"email {self.email!r} has no '@'")
        if any(c.isspace() for c in self.email):        # a line break would add mail headers
            raise InvalidInput(f"email {self.email!r}: an e-mail address has no spaces or line breaks")
