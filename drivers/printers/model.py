"""What gets printed (one ticket or badge, independent of the printer language) and what came of it (PrintResult,
the one result type of the drivers and the app)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields as dc_fields

from drivers.printers.wording import plain, say

TEXT_FIELDS = ("event_name", "date_text", "category", "zone", "seat", "order_number", "buyer_name", "venue", "price_text")


@dataclass(frozen=True)
class PrintableTicket:
    event_name: str
    date_text: str                 # already formatted in the event's language and time zone (wording.when)
    payload: str                   # the signed QR payload (TG1:… or a pretix secret)
    category: str = ""
    zone: str = ""
    seat: str = ""
    order_number: str = ""
    buyer_name: str = ""
    venue: str = ""
    price_text: str = ""
    language: str = "en"           # en | fr: the event's language, for the printed labels
    reprint: bool = False          # a copy of a ticket already printed: marked REPRINT / DUPLICATA
    payment_pending: bool = False  # its order is not paid yet (invoice): marked PAYMENT PENDING / PAIEMENT EN ATTENTE

    def __post_init__(self) -> None:
        if not self.payload:
            raise ValueError("a printable ticket needs its QR payload")
        for name in TEXT_FIELDS:       # untrusted text (buyer names…): control characters never reach a printer
            object.__setattr__(self, name, plain(getattr(self, name)))
        if not self.event_name:
            raise ValueError("a printable ticket needs an event name")

    def say(self, text: str, **params: object) -> str:
        """`text` (English) in the ticket's language."""
        return say(self.language, text, **params)

    def fields(self) -> list[tuple[str, str]]:
        """(English label, value) pairs that are set, in print order."""
        pairs = [("Category", self.category), ("Zone", self.zone), ("Seat", self.seat), ("Order", self.order_number),
                 ("Name", self.buyer_name), ("Price", self.price_text)]
        return [(k, v) for k, v in pairs if v]

    def lines(self) -> list[tuple[str, str]]:
        """(label in the ticket's language, value) pairs that are set, in print order."""
        return [(self.say(k), v) for k, v in self.fields()]

    @property
    def reprint_mark(self) -> str:
        return self.say("REPRINT") if self.reprint else ""

    @property
    def pending_mark(self) -> str:
        """What a ticket of an unpaid order says on it (the door refuses it until paid: `unpaid`)."""
        return self.say("PAYMENT PENDING") if self.payment_pending else ""

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dc_fields(self)}

    @classmethod
    def from_json(cls, d: dict) -> "PrintableTicket":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PrintResult:
    """Whether a job printed, how many tickets came out, and why not in words an operator acts on.

    `message` is English; `template` + `params` let the app show it in its own language (`in_language`)."""
    ok: bool
    printed: int = 0               # tickets / badges that came out
    message: str = ""
    printer: str = ""
    bytes_sent: int = 0
    ms: float = 0.0
    kept: int = 0                  # tickets kept in the print queue to print again
    template: str = ""
    params: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    @classmethod
    def done(cls, ok: bool, template: str, printer: str = "", bytes_sent: int = 0, ms: float = 0.0,
             **params: object) -> "PrintResult":
        """One job's outcome: 1 printed when ok. `template` is an English phrase of `wording` with `{params}`."""
        return cls(ok, int(ok), say("en", template, **params), printer, bytes_sent, ms, 0, template, dict(params))

    def in_language(self, lang: str) -> str:
        return say(lang, self.template, **self.params) if self.template else self.message
