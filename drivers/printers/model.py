"""What gets printed: one ticket or badge, independent of the printer language. Used by the kiosk UI."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrintableTicket:
    event_name: str
    date_text: str                 # already formatted for the event's locale and timezone
    payload: str                   # the signed QR payload (TG1:… or a pretix secret)
    category: str = ""
    zone: str = ""
    seat: str = ""
    order_number: str = ""
    buyer_name: str = ""
    venue: str = ""
    price_text: str = ""

    def __post_init__(self) -> None:
        if not self.payload:
            raise ValueError("a printable ticket needs its QR payload")
        if not self.event_name.strip():
            raise ValueError("a printable ticket needs an event name")

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs that are set, in print order."""
        pairs = [("Category", self.category), ("Zone", self.zone), ("Seat", self.seat), ("Order", self.order_number),
                 ("Name", self.buyer_name), ("Price", self.price_text)]
        return [(k, v) for k, v in pairs if v]


@dataclass(frozen=True)
class PrintResult:
    printed: bool
    message: str                   # for the operator: what happened, what to do
    printer: str = ""
    bytes_sent: int = 0
    ms: float = 0.0

    def __bool__(self) -> bool:
        return self.printed
