"""Every message device <-> server, typed: one frozen dataclass per message, `to_wire()` / `from_wire()`.

`from_wire` is the one place a message from the other side is checked: it raises `Rejected(reason)` for anything
malformed, and returns a value the code can trust (types, lengths, enumerations). `to_wire` gives the JSON-ready
dict (signed messages get `org`, `id`, `ts` added by the signer). docs/sync-protocol.md's message tables are
checked against `MESSAGES` by tests/test_sync_messages.py.

Outbox items (what a device queues in its ledger and uploads in a `batch`): `ActionItem` (entry, quick
cancellation, annulment), `RefusalItem` (refused scans, for statistics), `PaymentValidated`, `Exchange`,
`Printed` (kiosk), `CmdResult`. The server answers every item of a batch in a signed `Ack`: stored (`ids`),
refused for good with a reason (`refused`, the device keeps the row marked refused), or deferred (`deferred`,
rate limit: the device sends it again after `retry_after` seconds).
"""
from __future__ import annotations

import argparse
import json
import math
import struct
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Iterable, NoReturn, TypedDict

from agent import reasons
from agent.reasons import Reason, code_of
from agent.sync import keyset
from agent.sync.signed import Rejected

ACTION_KINDS = ("entry", "cancel", "annul", "reset")     # reset: only ever from the organiser (device_id "server")
DEVICE_ACTION_KINDS = ("entry", "cancel", "annul")      # what a device may upload
KIOSK_ACTIONS = ("payment_validated", "exchange", "print", "reprint", "offline_sale")
DIRECTIONS = (None, "in", "out")
MAX_ID = 64          # uuids, ticket keys, device/gate names, order numbers
MAX_TEXT = 500       # reasons, details
MAX_BUYER_NAME = 200  # a buyer's name, wherever it is typed: the desk's sale form, server order add, import-orders
MAX_PAYMENT_REF = MAX_EMAIL = 200   # a sale's payment reference and buyer's e-mail (the kiosk checks them first)
MAX_BATCH_ITEMS = 5000
MAX_ROW_ID = 1 << 62      # a batch item's row id (the device's outbox rowid) is below it
MAX_MESSAGE = 4 << 20   # bytes, any one MQTT message's payload: the server's upload limit, the size server messages
                        # (chunks, updates) are split under, and (plus PACKET_OVERHEAD) mosquitto's max_packet_size
PACKET_OVERHEAD = 64 << 10   # topic, properties and MQTT headers around a payload of MAX_MESSAGE


def name_refusal(name: str) -> str | None:
    """Why the server would refuse a device or gate name in every message naming it (None: it takes it)."""
    if len(name) > MAX_ID or not name.isprintable():
        return f"a device or gate name is at most {MAX_ID} characters, on one line"
    return None


def name_arg(text: str) -> str:
    """--device-id/--gate of `agent configure`, `server device register|configure`, `provision tokens create`
    (argparse type): a name the server takes in every entry naming it (agent.sync.messages.name_refusal)."""
    why = name_refusal(text)
    if why:
        raise argparse.ArgumentTypeError(why)
    return text


# -- field checks (each raises Rejected naming the field) -------------------------------------------------------
def _get(d: dict[str, Any], name: str, default: Any = ...) -> Any:
    if name in d:
        return d[name]
    if default is ...:
        raise Rejected(f"missing {name}")
    return default


def text(d: dict[str, Any], name: str, default: Any = ..., *, limit: int = MAX_ID, empty: bool = True) -> Any:
    """A string of at most `limit` characters; null or absent -> `default` (required when there is none)."""
    v = d.get(name)
    if type(v) is str and len(v) <= limit and (empty or v):     # the common case first: ingestion speed
        return v
    v = _get(d, name, default)
    if v is None and default is not ...:
        return default
    if not isinstance(v, str) or len(v) > limit or (not empty and not v):
        _bad(name, v)
    return v


def integer(d: dict[str, Any], name: str, default: Any = ...) -> Any:
    v = d.get(name)
    if type(v) is int and -(1 << 62) < v < (1 << 62):
        return v
    v = _get(d, name, default)
    if v is None and default is not ...:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or not -(1 << 62) < v < (1 << 62):
        _bad(name, v)
    return v


def number(d: dict[str, Any], name: str, default: Any = ...) -> Any:
    v = d.get(name)
    if type(v) is float and -1e12 <= v <= 1e12:                 # (NaN fails the comparison)
        return v
    v = _get(d, name, default)
    if v is None and default is not ...:
        return default
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v or abs(v) > 1e12:
        _bad(name, v)
    return float(v)


def one_of(d: dict[str, Any], name: str, allowed: tuple[Any, ...], default: Any = ...) -> Any:
    v = _get(d, name, default)
    if v not in allowed:
        _bad(name, v)
    return v


def int_list(d: dict[str, Any], name: str, default: Any = ..., limit: int = 100_000) -> tuple[int, ...]:
    v = _get(d, name, default)
    if not isinstance(v, list) or len(v) > limit or not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        _bad(name, v)
    return tuple(v)


def action_cursor(d: dict[str, Any], name: str) -> int | None:
    """A server action cursor (scans.seq): an integer >= 0; absent or null -> None."""
    v = integer(d, name, None)
    if v is not None and v < 0:
        _bad(name, v)
    return None if v is None else int(v)


def action_cursors(d: dict[str, Any], name: str, limit: int = 10_000) -> dict[int, int] | None:
    """{event id: cursor} sent as a JSON object with decimal keys; absent or null -> None."""
    v = d.get(name)
    if v is None:
        return None
    if not isinstance(v, dict) or len(v) > limit:
        _bad(name, v)
    out: dict[int, int] = {}
    for k, c in v.items():
        if not (isinstance(k, str) and k.isdigit() and len(k) < 19) or type(c) is not int or not 0 <= c < (1 << 62):
            _bad(name, {k: c})
        out[int(k)] = c
    return out


def _flag(d: dict[str, Any], name: str) -> bool:
    """A true/false field; absent or null -> False."""
    v = d.get(name)
    if v is None:
        return False
    if not isinstance(v, bool):
        _bad(name, v)
    return v


def _bad(name: str, v: Any) -> NoReturn:
    shown = repr(v)
    raise Rejected(f"bad {name}: {shown[:40]}{'…' if len(shown) > 40 else ''}")


def _obj(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Rejected(f"{what} is not a JSON object")
    return data


def _typed(data: Any, cls: type[Wire], what: str) -> dict[str, Any]:
    """`data` as a JSON object (`what` names it in the error) carrying `cls`'s `type`."""
    d = _obj(data, what)
    if d.get("type") != cls.TYPE:
        raise Rejected(f"not a {cls.TYPE} message (type {d.get('type')!r})")
    return d




@dataclass(frozen=True)
class Wire:
    """Base of the messages: `to_wire` is every field plus `type` (and `action` for kiosk items)."""
    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]          # up | down | live | cmd | status | outbox (inside a batch)
    ACTION: ClassVar[str | None] = None
    TYPED: ClassVar[bool] = True  # the wire form carries `type` (not: relayed actions, presence)

    def to_wire(self) -> dict[str, Any]:
        out = {"type": self.TYPE, **asdict(self)}
        if self.ACTION is not None:
            out["action"] = self.ACTION
        for f in fields(self):       # tuples travel as JSON lists
            if isinstance(out[f.name], tuple):
                out[f.name] = list(out[f.name])
        return out

    @classmethod
    def wire_fields(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# -- outbox items (device -> server, inside a batch) ------------------------------------------------------------
@dataclass(frozen=True)
class Staffed(Wire):
    """A message that records a person's act: `staff` names the staff member on duty (agent/staff.py), "" when the
    organiser keeps no staff. The one definition of the field: every subclass carries it (keyword-only, last) and
    its `from_wire` reads it; `permission()` is what the act needs (agent.staff.PERMISSIONS)."""
    PERMISSION: ClassVar[str] = ""
    staff: str = field(default="", kw_only=True)

    def permission(self) -> str:
        return self.PERMISSION

    @classmethod
    def wire_fields(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "staff"] + ["staff"]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parse = cls.__dict__.get("from_wire")
        if parse is None:
            return
        inner = parse.__func__

        def from_wire(c: Any, d: Any) -> Any:
            item = inner(c, d)
            staff = text(d, "staff", "")
            if staff:
                object.__setattr__(item, "staff", staff)      # a fresh frozen instance: set once, here
            return item
        from_wire.__doc__ = inner.__doc__
        setattr(cls, "from_wire", classmethod(from_wire))


@dataclass(frozen=True)
class ActionItem(Staffed):
    """A check-in action recorded by a gate: entry, quick cancellation, annulment of one of them."""
    TYPE: ClassVar[str] = "action"
    TOPIC: ClassVar[str] = "outbox"
    scan_uuid: str
    kind: str
    ticket_key: str
    event_id: int | None
    direction: str | None
    at: float
    device_id: str
    gate: str = ""
    device_seq: int | None = None
    clock_offset: float = 0.0
    ref_uuid: str | None = None
    reason: str = ""
    verdict: str | None = None
    mode: str | None = None

    def permission(self) -> str:
        return self.kind           # entry | cancel (quick cancellation) | annul (undo: supervisors)

    @classmethod
    def from_wire(cls, d: Any) -> "ActionItem":
        d = _typed(d, cls, "action")
        return cls(scan_uuid=text(d, "scan_uuid", empty=False), kind=one_of(d, "kind", ACTION_KINDS),
                   ticket_key=text(d, "ticket_key", empty=False), event_id=integer(d, "event_id", None),
                   direction=one_of(d, "direction", DIRECTIONS, None), at=number(d, "at"),
                   device_id=text(d, "device_id", ""), gate=text(d, "gate", ""),
                   device_seq=integer(d, "device_seq", None), clock_offset=number(d, "clock_offset", 0.0),
                   ref_uuid=text(d, "ref_uuid", None), reason=text(d, "reason", "", limit=MAX_TEXT),
                   verdict=text(d, "verdict", None), mode=text(d, "mode", None))


@dataclass(frozen=True)
class RefusalItem(Staffed):
    """A scan the gate refused (statistics only; never relayed, never changes a ticket)."""
    TYPE: ClassVar[str] = "refusal"
    TOPIC: ClassVar[str] = "outbox"
    PERMISSION: ClassVar[str] = "refusal"
    verdict: str
    ticket_key: str | None
    event_id: int | None
    at: float
    device_id: str
    gate: str = ""
    detail: str = ""
    clock_offset: float = 0.0
    scan_uuid: str | None = None
    device_seq: int | None = None
    mode: str | None = None    # the gate's mode: a quick cancellation's "already used" is no double entry

    @classmethod
    def from_wire(cls, d: Any) -> "RefusalItem":
        d = _typed(d, cls, "refusal")
        return cls(verdict=text(d, "verdict", empty=False), ticket_key=text(d, "ticket_key", None),
                   event_id=integer(d, "event_id", None), at=number(d, "at"), device_id=text(d, "device_id", ""),
                   gate=text(d, "gate", ""), detail=text(d, "detail", "", limit=MAX_TEXT),
                   clock_offset=number(d, "clock_offset", 0.0), scan_uuid=text(d, "scan_uuid", None),
                   device_seq=integer(d, "device_seq", None), mode=text(d, "mode", None))


@dataclass(frozen=True)
class PaymentValidated(Staffed):
    """Kiosk: a pending order was paid at the desk."""
    TYPE: ClassVar[str] = "kiosk"
    TOPIC: ClassVar[str] = "outbox"
    PERMISSION: ClassVar[str] = "validate_payment"
    ACTION: ClassVar[str | None] = "payment_validated"
    order_number: str
    device_id: str
    operator: str = ""
    at: float | None = None
    payment: str = "cash"              # how the money was taken (SETTLE_METHODS); a device before it: cash
    amount_cents: int | None = None    # what the desk collected (the order's amount due); None: not said (before it)
    parts: tuple[PaymentPart, ...] = ()   # a split payment (`payment` is its first part's method); sums to the amount
    payment_ref: str = ""              # a card's terminal or a voucher's reference; a device before it: none

    @classmethod
    def from_wire(cls, d: Any) -> "PaymentValidated":
        d = _obj(d, "kiosk message")
        amount = integer(d, "amount_cents", None)
        if amount is not None and amount < 0:
            _bad("amount_cents", amount)
        parts = _parts(d)
        if parts and amount is not None and sum(x.cents for x in parts) != amount:
            _bad("parts", [x.to_wire() for x in parts])
        return cls(order_number=text(d, "order_number", empty=False), device_id=text(d, "device_id", ""),
                   operator=text(d, "operator", ""), at=number(d, "at", None),
                   payment=one_of(d, "payment", SETTLE_METHODS, "cash"), amount_cents=amount, parts=parts,
                   payment_ref=text(d, "payment_ref", "", limit=MAX_PAYMENT_REF))


@dataclass(frozen=True)
class Exchange(Staffed):
    """Kiosk: a ticket taken out of use; the server revokes it and issues its replacement (same order)."""
    TYPE: ClassVar[str] = "kiosk"
    TOPIC: ClassVar[str] = "outbox"
    PERMISSION: ClassVar[str] = "exchange"
    ACTION: ClassVar[str | None] = "exchange"
    ticket_key: str
    reason: str
    device_id: str
    category: int | None = None
    zone: int | None = None
    seat: str | None = None
    at: float | None = None

    @classmethod
    def from_wire(cls, d: Any) -> "Exchange":
        d = _obj(d, "kiosk message")
        return cls(ticket_key=text(d, "ticket_key", empty=False), reason=text(d, "reason", "", limit=MAX_TEXT), device_id=text(d, "device_id", ""),
                   category=integer(d, "category", None), zone=integer(d, "zone", None), seat=text(d, "seat", None),
                   at=number(d, "at", None))

    def chosen(self) -> dict[str, Any]:
        """The position fields the kiosk chose (absent ones keep the old ticket's)."""
        return {k: v for k, v in (("category", self.category), ("zone", self.zone), ("seat", self.seat)) if v is not None}


@dataclass(frozen=True)
class Printed(Staffed):
    """Kiosk: tickets or badges of an order printed (or reprinted); a record, no effect on tickets."""
    TYPE: ClassVar[str] = "kiosk"
    TOPIC: ClassVar[str] = "outbox"
    PERMISSION: ClassVar[str] = "print"
    ACTION: ClassVar[str | None] = "print"
    order_number: str
    tickets: tuple[str, ...]
    device_id: str
    kind: str = "ticket"
    printer: str = ""
    reprint: bool = False
    at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        out["action"] = "reprint" if self.reprint else "print"
        del out["reprint"]
        return out

    @classmethod
    def wire_fields(cls) -> list[str]:
        return [n for n in super().wire_fields() if n != "reprint"]

    @classmethod
    def from_wire(cls, d: Any) -> "Printed":
        d = _obj(d, "kiosk message")
        keys = _get(d, "tickets", [])
        if not isinstance(keys, list) or len(keys) > 1000 or not all(isinstance(k, str) and len(k) <= MAX_ID for k in keys):
            _bad("tickets", keys)
        return cls(order_number=text(d, "order_number", ""), tickets=tuple(keys), device_id=text(d, "device_id", ""),
                   kind=text(d, "kind", "ticket"), printer=text(d, "printer", "", limit=200),
                   reprint=d.get("action") == "reprint", at=number(d, "at", None))


@dataclass(frozen=True)
class CmdResult(Wire):
    """The result of a signed command the device executed (`id` is the command's message id)."""
    TYPE: ClassVar[str] = "cmd_result"
    TOPIC: ClassVar[str] = "outbox"
    id: str
    result: Any
    device_id: str

    @classmethod
    def from_wire(cls, d: Any) -> "CmdResult":
        d = _typed(d, cls, "cmd_result")
        result = d.get("result")
        if len(json.dumps(result, default=str)) > 4096:
            raise Rejected("cmd_result too large")
        return cls(id=text(d, "id", empty=False), result=result, device_id=text(d, "device_id", ""))


CONFIG_KEYS = ("mode", "events", "zones", "direction", "gate")


@dataclass(frozen=True)
class ConfigChange(Staffed):
    """A device's settings changed by the staff on duty (mode, events, zones, direction, gate): a record for the
    organiser (who changed what, where), no effect on the store. `changes`: setting -> [before, after]."""
    TYPE: ClassVar[str] = "config_change"
    TOPIC: ClassVar[str] = "outbox"
    PERMISSION: ClassVar[str] = "configure"
    changes: dict[str, Any]
    device_id: str
    at: float | None = None

    @classmethod
    def from_wire(cls, d: Any) -> "ConfigChange":
        d = _typed(d, cls, "config_change")
        changes = _get(d, "changes")
        if (not isinstance(changes, dict) or not changes or not set(changes) <= set(CONFIG_KEYS)
                or len(json.dumps(changes, default=str)) > 4096):
            _bad("changes", changes)
        return cls(changes=changes, device_id=text(d, "device_id", ""), at=number(d, "at", None))


PAYMENT_METHODS = ("cash", "card", "invoice", "voucher")
SETTLE_METHODS = ("cash", "card", "voucher")    # a pending order paid at the desk: money taken, not invoiced
MAX_PARTS = 4                                   # a split payment: up to 4 parts (cash and three cards…)
REFERENCED_METHODS = ("card", "voucher")         # money taken with a reference: the terminal's, the voucher's
REFERENCE_NEEDED = "Type the terminal's or the voucher's reference."


def reference_missing(method: str, reference: str) -> bool:
    """The desk's one rule, the app's and `agent pay`'s: money taken by card or voucher names its reference (the
    terminal's slip, the voucher's code), so the till's card and voucher lines can be matched with the terminal's."""
    return method in REFERENCED_METHODS and not reference.strip()
MAX_TICKET_CENTS = 10**10                       # a ticket's highest price (agent.pricing.MAX_CENTS, `server price set`)


@dataclass(frozen=True)
class PaymentPart:
    """One part of a split payment: an amount taken one way (cash, a card, a voucher) and its reference."""
    method: str
    cents: int
    reference: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"method": self.method, "cents": self.cents, "reference": self.reference}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> "PaymentPart":
        cents = integer(d, "cents")
        if not 0 < cents <= 10**10:
            _bad("cents", cents)
        return cls(one_of(d, "method", SETTLE_METHODS), cents, text(d, "reference", "", limit=MAX_PAYMENT_REF))


def _parts(d: dict[str, Any], name: str = "parts") -> tuple[PaymentPart, ...]:
    """A split payment's parts: none (one method, `payment`), or 2 to MAX_PARTS."""
    raw = _get(d, name, [])
    if not isinstance(raw, list) or len(raw) == 1 or len(raw) > MAX_PARTS:
        _bad(name, raw)
    return tuple(PaymentPart.from_wire(_obj(r, "a payment part")) for r in raw)


def paid_parts(payment: str, total_cents: int, parts: tuple[PaymentPart, ...] = ()) -> tuple[PaymentPart, ...]:
    """How a total was paid: the split's parts, else all of it by `payment`."""
    return parts or (PaymentPart(payment or "cash", total_cents),)


def _sale_lines(d: dict[str, Any], name: str = "lines", limit: int = 50) -> tuple["SaleLine", ...]:
    raw = _get(d, name)
    if not isinstance(raw, list) or not 0 < len(raw) <= limit:
        _bad(name, raw)
    return tuple(SaleLine.from_wire(_obj(r, "a sale line")) for r in raw)


@dataclass(frozen=True)
class SaleLine:
    """One line of a cart: a category, how many, optionally the zone."""
    category: int
    quantity: int
    zone: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"category": self.category, "quantity": self.quantity, "zone": self.zone}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> "SaleLine":
        category, quantity, zone = integer(d, "category"), integer(d, "quantity"), integer(d, "zone", None)
        if not 0 <= category <= 65535:
            _bad("category", category)
        if not 0 < quantity <= 1000:
            _bad("quantity", quantity)
        if zone is not None and not 0 <= zone <= 255:
            _bad("zone", zone)
        return cls(category, quantity, zone)


@dataclass(frozen=True)
class SoldTicket:
    """A ticket of a sale: its key (ticket id), position and signed QR payload (TG1 online, TG2 offline);
    `price_cents`, what the kiosk charged for it (an offline sale's: its line's total shared over its tickets, so the
    server files each category at the price the kiosk took, whatever the prices are when the sale arrives); None from
    a kiosk before it (and on the wire only when set, as a kiosk before it sent the ticket)."""
    ticket_key: str
    category: int
    zone: int | None = None
    payload: str = ""
    price_cents: int | None = None

    def to_wire(self) -> dict[str, Any]:
        out = {"ticket_key": self.ticket_key, "category": self.category, "zone": self.zone, "payload": self.payload}
        return out if self.price_cents is None else {**out, "price_cents": self.price_cents}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> "SoldTicket":
        price = integer(d, "price_cents", None)
        if price is not None and not 0 <= price <= MAX_TICKET_CENTS:
            _bad("price_cents", price)
        return cls(ticket_key=text(d, "ticket_key", empty=False), category=integer(d, "category"),
                   zone=integer(d, "zone", None), payload=text(d, "payload", "", limit=1024), price_cents=price)


def _sold(d: dict[str, Any], name: str = "tickets") -> tuple[SoldTicket, ...]:
    raw = _get(d, name, [])
    if not isinstance(raw, list) or len(raw) > 1000:
        _bad(name, raw)
    return tuple(SoldTicket.from_wire(_obj(r, "a sold ticket")) for r in raw)


@dataclass(frozen=True)
class OfflineSale(Staffed):
    """Kiosk: tickets sold offline under its allotment (signed with its own key, TG2); the server reconciles its
    stock and files the order under the number the kiosk printed (`order_number`, agent.allotment.
    offline_order_number: the server derives it from the allotment and the first ticket id, and refuses a sale
    naming another; "" from a kiosk before it). Idempotent by `sale_id`."""
    TYPE: ClassVar[str] = "kiosk"
    TOPIC: ClassVar[str] = "outbox"
    PERMISSION: ClassVar[str] = "sale"
    ACTION: ClassVar[str | None] = "offline_sale"
    sale_id: str
    allotment_id: int
    target_id: int
    tickets: tuple[SoldTicket, ...]
    total_cents: int
    device_id: str
    currency: str = ""
    promo_code: str | None = None
    payment: str = "cash"
    payment_ref: str = ""
    buyer_name: str = ""
    email: str = ""
    at: float | None = None
    order_number: str = ""
    parts: tuple[PaymentPart, ...] = ()   # a split payment (`payment` is its first part's method); sums to the total

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        out["tickets"] = [t.to_wire() for t in self.tickets]
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "OfflineSale":
        d = _obj(d, "kiosk message")
        tickets = _sold(d)
        if not tickets:
            _bad("tickets", [])
        total = integer(d, "total_cents")
        if not 0 <= total <= MAX_TICKET_CENTS * len(tickets):
            # money taken: never less than nothing (a stolen kiosk's negative sale hid cash taken from the drawer in
            # the till and the sales report), never more than a ticket's highest price each
            _bad("total_cents", total)
        parts = _parts(d)
        if parts and sum(x.cents for x in parts) != total:
            _bad("parts", [x.to_wire() for x in parts])
        prices = [t.price_cents for t in tickets]
        if any(p is not None for p in prices) and (None in prices or sum(p or 0 for p in prices) != total):
            # the tickets' prices are the total shared out: every ticket's, adding up to it (else they say nothing)
            _bad("tickets' price_cents", prices)
        return cls(sale_id=text(d, "sale_id", empty=False), allotment_id=integer(d, "allotment_id"),
                   target_id=integer(d, "target_id"), tickets=tickets, total_cents=total,
                   device_id=text(d, "device_id", ""), currency=text(d, "currency", "", limit=8),
                   promo_code=text(d, "promo_code", None), payment=one_of(d, "payment", PAYMENT_METHODS, "cash"),
                   payment_ref=text(d, "payment_ref", "", limit=MAX_PAYMENT_REF), buyer_name=text(d, "buyer_name", "", limit=MAX_BUYER_NAME),
                   email=text(d, "email", "", limit=MAX_EMAIL), at=number(d, "at", None),
                   order_number=text(d, "order_number", ""), parts=parts)


Item = ActionItem | RefusalItem | PaymentValidated | Exchange | Printed | OfflineSale | CmdResult | ConfigChange
_KIOSK: dict[str, type[PaymentValidated] | type[Exchange] | type[Printed] | type[OfflineSale]] = {
    "payment_validated": PaymentValidated, "exchange": Exchange, "print": Printed, "reprint": Printed,
    "offline_sale": OfflineSale}


def item_from_wire(body: Any) -> Item:
    """One outbox message body -> its typed item. Raises Rejected (unknown type, kiosk action, bad field)."""
    body = _obj(body, "item body")
    kind = body.get("type")
    if kind == "action":
        return ActionItem.from_wire(body)
    if kind == "refusal":
        return RefusalItem.from_wire(body)
    if kind == "cmd_result":
        return CmdResult.from_wire(body)
    if kind == "config_change":
        return ConfigChange.from_wire(body)
    if kind == "kiosk":
        action = body.get("action")
        cls = _KIOSK.get(action) if isinstance(action, str) else None     # (a list or object: no dict key)
        if cls is None:
            raise Rejected(f"unknown kiosk action {body.get('action')!r}")
        return cls.from_wire(body)
    raise Rejected(f"unknown message type {kind!r}")


# -- device -> server (topic up) --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello(Wire):
    """Where the device is: its bundle version and events; asks for a clock reading (probe, t0)."""
    TYPE: ClassVar[str] = "hello"
    TOPIC: ClassVar[str] = "up"
    org: str
    device: str
    probe: str
    t0: float
    bundle_version: int = 0
    events: tuple[int, ...] = ()
    # the broker lost the device's session (docs/sync-protocol.md, "A broker that lost its sessions"): per event, the
    # server's action cursor it holds the entries up to (Checkins.cursor, BundleManifest.cursor); None: not asked
    catch_up: dict[int, int] | None = None

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        if self.catch_up is None:
            del out["catch_up"]
        else:
            out["catch_up"] = {str(e): c for e, c in self.catch_up.items()}
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "Hello":
        d = _typed(d, cls, "hello")
        return cls(org=text(d, "org"), device=text(d, "device"), probe=text(d, "probe", ""), t0=number(d, "t0", 0.0),
                   bundle_version=integer(d, "bundle_version", 0), events=int_list(d, "events", [], limit=10_000),
                   catch_up=action_cursors(d, "catch_up"))


@dataclass(frozen=True)
class UploadItem:
    """One outbox row in a batch: its row id on the device, its kind, its typed body."""
    id: int
    kind: str
    body: Item


@dataclass(frozen=True)
class ItemRefusal:
    """An item the server will not take, with the reason the device keeps and shows: English `reason`, and its
    `reason_code` + `reason_params` (agent.reasons) the device says in its language ("" when it has none)."""
    id: int
    reason: str
    body: Any = field(default=None, compare=False)      # what was refused (kept for the organiser), not sent back
    reason_code: str = ""
    reason_params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, id: int, why: str, body: Any = None) -> "ItemRefusal":
        """From a reason (a plain str, or an agent.reasons.Reason carrying its code)."""
        code, params = code_of(why)
        return cls(id, str(why), body, code, params)

    def why(self) -> Reason:
        return Reason(self.reason, self.reason_code, self.reason_params)

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason, "reason_code": self.reason_code,
                "reason_params": dict(self.reason_params)}


@dataclass(frozen=True)
class Batch(Wire):
    """A durable upload: rows of the device's outbox. Items that do not parse are in `invalid` (refused)."""
    TYPE: ClassVar[str] = "batch"
    TOPIC: ClassVar[str] = "up"
    org: str
    device: str
    batch: str
    sent: float
    items: tuple[UploadItem, ...]
    invalid: tuple[ItemRefusal, ...] = field(default=(), compare=False)

    @classmethod
    def wire_fields(cls) -> list[str]:
        return ["org", "device", "batch", "sent", "items"]

    def to_wire(self) -> dict[str, Any]:
        return {"type": "batch", "org": self.org, "device": self.device, "batch": self.batch, "sent": self.sent,
                "items": [{"id": i.id, "kind": i.kind, "body": i.body.to_wire()} for i in self.items]}

    @staticmethod
    def encode(org: str, device: str, batch: str, sent: float, rows: Iterable[tuple[int, str, str]]) -> bytes:
        """The device's fast path: outbox rows (id, kind, body JSON text as stored) -> the batch's bytes."""
        items = ",".join(f'{{"id":{i},"kind":{json.dumps(k)},"body":{b}}}' for i, k, b in rows)
        head = json.dumps({"type": "batch", "org": org, "device": device, "batch": batch, "sent": sent},
                          separators=(",", ":"))
        return (head[:-1] + f',"items":[{items}]}}').encode()

    @classmethod
    def from_wire(cls, d: Any) -> "Batch":
        d = _typed(d, cls, "batch")
        raw = d.get("items")
        if not isinstance(raw, list) or len(raw) > MAX_BATCH_ITEMS:
            raise Rejected("malformed batch (items)")
        items, invalid, seen = [], [], set()
        for r in raw:
            if not isinstance(r, dict) or not isinstance(r.get("id"), int) or isinstance(r.get("id"), bool):
                raise Rejected("malformed batch item (no row id)")
            if not 0 <= r["id"] < MAX_ROW_ID:        # an outbox row id; the stores' columns hold 64 bits
                shown = str(r["id"])
                raise Rejected(f"malformed batch item (row id {shown[:24]}{'…' if len(shown) > 24 else ''} out of "
                               "range)")
            if r["id"] in seen:
                raise Rejected(f"row {r['id']} twice in one batch")
            seen.add(r["id"])
            try:
                items.append(UploadItem(r["id"], str(r.get("kind") or "")[:32], item_from_wire(r.get("body"))))
            except Rejected as exc:
                invalid.append(ItemRefusal.of(r["id"], reasons.reason("malformed", f"malformed: {exc}", detail=str(exc)),
                                              r.get("body")))
        return cls(org=text(d, "org"), device=text(d, "device"), batch=text(d, "batch", empty=False),
                   sent=number(d, "sent", 0.0), items=tuple(items), invalid=tuple(invalid))


# -- the desk online: kiosk -> server (topic up), answered on down (signed) --------------------------------------
class _Sender(TypedDict):
    """Who sent a desk request, which one it is (the answer names it) and until when it is wanted."""
    org: str
    device: str
    request_id: str
    deadline: float | None
    clock_offset: float | None


def _sender(d: dict[str, Any]) -> _Sender:
    return _Sender(org=text(d, "org"), device=text(d, "device"), request_id=text(d, "request_id", empty=False),
                   deadline=number(d, "deadline", None), clock_offset=number(d, "clock_offset", None))


@dataclass(frozen=True)
class Desk(Wire):
    """The head every desk request starts with (_Sender's fields); not a message of its own.

    `deadline`: when the kiosk stops waiting for the answer (minus a margin for the answer's way back), on the
    kiosk's own clock; `clock_offset`: server time minus the kiosk's clock, as the kiosk estimated it from the
    server's `clock` replies. The server carries out a request only before `deadline + clock_offset` on its own
    clock (`server_deadline`): one that reaches it later — queued at the broker while it was down — was given up on
    and sold offline. None (an older kiosk, an offset never measured): no deadline."""
    org: str
    device: str
    request_id: str
    deadline: float | None = field(default=None, kw_only=True)
    clock_offset: float | None = field(default=None, kw_only=True)

    def server_deadline(self) -> float | None:
        """The deadline on the server's clock (None: none given, or the kiosk's offset unknown)."""
        if self.deadline is None or self.clock_offset is None:
            return None
        return self.deadline + self.clock_offset

    def expired(self, server_now: float) -> reasons.Reason | None:
        """Why this request is not carried out at `server_now` (server clock): it is past its deadline, the kiosk
        stopped waiting (and sold offline, or said the server did not answer). None: in time, or no deadline."""
        due = self.server_deadline()
        if due is None or server_now <= due:
            return None
        late = server_now - due
        return reasons.reason("expired", f"expired: {DESK_KIND_OF.get(self.TYPE, self.TYPE)} request {self.request_id} "
                              f"reached the server {late:.1f} s after the kiosk stopped waiting: not carried out",
                              late=max(1, round(late)))


@dataclass(frozen=True)
class SaleRequest(Staffed, Desk):
    """Kiosk: sell these tickets now (online). The server reserves stock atomically, issues and signs the tickets
    and answers with a `DeskAnswer` of the same `request_id`; sending the same request again gets the same answer
    (nothing sold twice)."""
    TYPE: ClassVar[str] = "sale"
    TOPIC: ClassVar[str] = "up"
    PERMISSION: ClassVar[str] = "sale"
    target_id: int
    lines: tuple[SaleLine, ...]
    payment: str = "cash"
    payment_ref: str = ""
    promo_code: str | None = None
    buyer_name: str = ""
    email: str = ""
    expected_cents: int | None = None     # the total the kiosk showed: a different price refuses the sale
    at: float | None = None
    parts: tuple[PaymentPart, ...] = ()   # a split payment (`payment` is its first part's method): sums to the total
    # asked again by a kiosk restarted before it settled the answer: the sale the server made, else none (never)
    replay: bool = False

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        out["lines"] = [line.to_wire() for line in self.lines]
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "SaleRequest":
        d = _typed(d, cls, "sale")
        return cls(**_sender(d), target_id=integer(d, "target_id"), lines=_sale_lines(d),
                   payment=one_of(d, "payment", PAYMENT_METHODS, "cash"), payment_ref=text(d, "payment_ref", "", limit=MAX_PAYMENT_REF),
                   promo_code=text(d, "promo_code", None), buyer_name=text(d, "buyer_name", "", limit=MAX_BUYER_NAME),
                   email=text(d, "email", "", limit=MAX_EMAIL), expected_cents=integer(d, "expected_cents", None),
                   at=number(d, "at", None), parts=_parts(d), replay=_flag(d, "replay"))


@dataclass(frozen=True)
class RefundRequest(Staffed, Desk):
    """Kiosk: cancel (`kind` cancel) or refund (`kind` refund) a whole order, with a reason; its tickets are revoked
    and go back on sale."""
    TYPE: ClassVar[str] = "refund"
    TOPIC: ClassVar[str] = "up"
    PERMISSION: ClassVar[str] = "refund"
    order_number: str
    reason: str
    kind: str = "refund"
    at: float | None = None

    @classmethod
    def from_wire(cls, d: Any) -> "RefundRequest":
        d = _typed(d, cls, "refund")
        return cls(**_sender(d), order_number=text(d, "order_number", empty=False),
                   reason=text(d, "reason", limit=MAX_TEXT, empty=False), kind=one_of(d, "kind", ("refund", "cancel"), "refund"),
                   at=number(d, "at", None))


@dataclass(frozen=True)
class ExchangeRequest(Staffed, Desk):
    """Kiosk: exchange a ticket for another event/date (`target_id`), category or zone; the answer carries the new
    ticket and the price difference (positive: to collect, negative: to refund), settled by `payment` (the till
    counts only a cash one as cash; a kiosk that sends none settles in cash), or several ways (`parts`, 2 to
    MAX_PARTS: each collected or handed back that way; they add up to the difference, else nothing is exchanged)."""
    TYPE: ClassVar[str] = "exchange_request"
    TOPIC: ClassVar[str] = "up"
    PERMISSION: ClassVar[str] = "exchange"
    ticket_key: str
    reason: str
    target_id: int | None = None
    category: int | None = None
    zone: int | None = None
    at: float | None = None
    payment: str = "cash"
    parts: tuple[PaymentPart, ...] = ()

    @classmethod
    def from_wire(cls, d: Any) -> "ExchangeRequest":
        d = _typed(d, cls, "exchange request")
        return cls(**_sender(d), ticket_key=text(d, "ticket_key", empty=False), reason=text(d, "reason", limit=MAX_TEXT, empty=False),
                   target_id=integer(d, "target_id", None), category=integer(d, "category", None),
                   zone=integer(d, "zone", None), at=number(d, "at", None),
                   payment=one_of(d, "payment", PAYMENT_METHODS, "cash"), parts=_parts(d))


@dataclass(frozen=True)
class AllotmentRequest(Desk):
    """Kiosk: its own Ed25519 public key (raw, base64); the server answers with an `AllotmentGrant` when the
    organiser sized an allotment for this device (a refill when it had one)."""
    TYPE: ClassVar[str] = "allotment_request"
    TOPIC: ClassVar[str] = "up"
    public_key: str

    @classmethod
    def from_wire(cls, d: Any) -> "AllotmentRequest":
        d = _typed(d, cls, "allotment request")
        return cls(**_sender(d), public_key=text(d, "public_key", limit=64, empty=False))


@dataclass(frozen=True)
class TillRequest(Staffed, Desk):
    """Kiosk: open its till shift with a float (`action` open, `cents` = the float) or close it with the cash
    counted in the drawer (`action` close, `cents` = counted). The answer (`DeskAnswer`, kind `till`) of a close
    carries the Z report (`report`), `total_cents` = expected cash, `difference_cents` = counted − expected."""
    TYPE: ClassVar[str] = "till"
    TOPIC: ClassVar[str] = "up"
    PERMISSION: ClassVar[str] = "sale"
    action: str
    cents: int
    currency: str = ""                 # what the kiosk believes its till is in: the server's word holds ('' none said;
    at: float | None = None            # another one is refused, `till_currency`)

    @classmethod
    def from_wire(cls, d: Any) -> "TillRequest":
        d = _typed(d, cls, "till request")
        cents = integer(d, "cents")
        if not 0 <= cents <= 10**10:
            _bad("cents", cents)
        return cls(**_sender(d), action=one_of(d, "action", ("open", "close")), cents=cents,
                   currency=text(d, "currency", "", limit=8), at=number(d, "at", None))


@dataclass(frozen=True)
class ETicketsRequest(Staffed, Desk):
    """Kiosk: e-mail an order's e-tickets to its buyer again. The server answers (`DeskAnswer`, kind `mail`) once
    the mail server took or refused it: `status` sent | refused | failed, `reason` the mail server's words."""
    TYPE: ClassVar[str] = "send_etickets"
    TOPIC: ClassVar[str] = "up"
    PERMISSION: ClassVar[str] = "print"
    order_number: str
    at: float | None = None

    @classmethod
    def from_wire(cls, d: Any) -> "ETicketsRequest":
        d = _typed(d, cls, "e-tickets request")
        return cls(**_sender(d), order_number=text(d, "order_number", empty=False), at=number(d, "at", None))


DESK_KINDS = ("sale", "refund", "exchange", "allotment", "till", "mail")


@dataclass(frozen=True)
class DeskAnswer(Wire):
    """The server's answer to a desk request (`request_id`): `ok`, or the `reason` it was refused (sold out, sales
    closed, price changed, not allowed…). A sale carries the order and its signed tickets; a refund the amount to
    hand back; an exchange the new ticket and `difference_cents`; an allotment its `certificate` (base64)."""
    TYPE: ClassVar[str] = "desk_answer"
    TOPIC: ClassVar[str] = "down"
    device: str
    request_id: str
    kind: str
    ok: bool
    reason: str = ""
    order_number: str = ""
    status: str = ""
    currency: str = ""
    total_cents: int = 0
    difference_cents: int = 0
    lines: tuple[dict[str, Any], ...] = ()
    tickets: tuple[SoldTicket, ...] = ()
    certificate: str = ""
    report: dict[str, Any] | None = None        # till: the shift's Z report
    reason_code: str = ""                       # a refusal's code (agent.reasons): the kiosk says it in its language
    reason_params: dict[str, Any] = field(default_factory=dict)
    parts: tuple[PaymentPart, ...] = ()         # a sale: its split payment; a refund: what to hand back each way

    def to_wire(self) -> dict[str, Any]:
        out = super().to_wire()
        out["tickets"] = [t.to_wire() for t in self.tickets]
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "DeskAnswer":
        d = _typed(d, cls, "desk answer")
        ok = _get(d, "ok")
        if not isinstance(ok, bool):
            _bad("ok", ok)
        lines = _get(d, "lines", [])
        if not isinstance(lines, list) or len(lines) > 50:
            _bad("lines", lines)
        return cls(device=text(d, "device"), request_id=text(d, "request_id", empty=False),
                   kind=one_of(d, "kind", DESK_KINDS), ok=ok, reason=text(d, "reason", "", limit=MAX_TEXT),
                   order_number=text(d, "order_number", ""), status=text(d, "status", ""),
                   currency=text(d, "currency", "", limit=8), total_cents=integer(d, "total_cents", 0),
                   difference_cents=integer(d, "difference_cents", 0),
                   lines=tuple(_obj(x, "a priced line") for x in lines), tickets=_sold(d),
                   certificate=text(d, "certificate", "", limit=2048),
                   report=None if d.get("report") is None else _obj(d["report"], "a till report"),
                   reason_code=text(d, "reason_code", "", limit=40), reason_params=_reason_params(d),
                   parts=_answer_parts(d))


def _answer_parts(d: dict[str, Any]) -> tuple[PaymentPart, ...]:
    """A desk answer's parts: a refund hands back one part per method paid (none or one for a single method)."""
    raw = _get(d, "parts", [])
    if not isinstance(raw, list) or len(raw) > MAX_PARTS:
        _bad("parts", raw)
    return tuple(PaymentPart.from_wire(_obj(r, "a payment part")) for r in raw)


def _reason_params(d: dict[str, Any]) -> dict[str, Any]:
    params = _obj(_get(d, "reason_params", {}), "reason parameters")
    if len(params) > 8 or not all(isinstance(k, str) and len(k) <= 40 and (
            (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and len(v) <= 200))
            for k, v in params.items()):
        _bad("reason_params", params)
    return dict(params)


DeskRequest = SaleRequest | RefundRequest | ExchangeRequest | AllotmentRequest | TillRequest | ETicketsRequest
_DESK: dict[str, Any] = {
    "sale": SaleRequest, "refund": RefundRequest, "exchange_request": ExchangeRequest,
    "allotment_request": AllotmentRequest, "till": TillRequest, "send_etickets": ETicketsRequest}
DESK_KIND_OF = {"sale": "sale", "refund": "refund", "exchange_request": "exchange", "allotment_request": "allotment",
                "till": "till", "send_etickets": "mail"}


def upload_from_wire(d: Any) -> Hello | Batch | DeskRequest:
    d = _obj(d, "upload")
    if d.get("type") == "hello":
        return Hello.from_wire(d)
    if d.get("type") == "batch":
        return Batch.from_wire(d)
    kind = d.get("type")
    desk = _DESK.get(kind) if isinstance(kind, str) else None              # (a list or object: no dict key)
    if desk is not None:
        parsed: DeskRequest = desk.from_wire(d)
        return parsed
    raise Rejected("upload is not a batch, hello or desk request")


# -- server -> device (topic down, signed) ----------------------------------------------------------------------
@dataclass(frozen=True)
class Ack(Wire):
    """Every item of a batch answered: stored (ids), refused for good (refused), or to send again later (deferred)."""
    TYPE: ClassVar[str] = "ack"
    TOPIC: ClassVar[str] = "down"
    device: str
    batch: str
    ids: tuple[int, ...]
    refused: tuple[ItemRefusal, ...] = ()
    deferred: tuple[int, ...] = ()
    retry_after: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        return {"type": "ack", "device": self.device, "batch": self.batch, "ids": list(self.ids),
                "refused": [r.to_wire() for r in self.refused], "deferred": list(self.deferred),
                "retry_after": self.retry_after}

    @classmethod
    def from_wire(cls, d: Any) -> "Ack":
        d = _typed(d, cls, "ack")
        refused = _get(d, "refused", [])
        if not isinstance(refused, list):
            _bad("refused", refused)
        return cls(device=text(d, "device"), batch=text(d, "batch", ""), ids=int_list(d, "ids"),
                   refused=tuple(ItemRefusal(integer(r, "id"), text(r, "reason", limit=MAX_TEXT), None,
                                             text(r, "reason_code", "", limit=40), _reason_params(r))
                                 for r in (_obj(x, "refusal") for x in refused)),
                   deferred=int_list(d, "deferred", []), retry_after=number(d, "retry_after", 0.0))


@dataclass(frozen=True)
class Clock(Wire):
    """Answer to a hello's probe: t1 received, t2 sent (server clock); `bundle`: the version of the bundle that follows
    for the hello (0: none owed; a server of before the field sends none)."""
    TYPE: ClassVar[str] = "clock"
    TOPIC: ClassVar[str] = "down"
    device: str
    probe: str
    t0: float
    t1: float
    t2: float
    bundle: int = 0

    @classmethod
    def from_wire(cls, d: Any) -> "Clock":
        d = _typed(d, cls, "clock")
        return cls(device=text(d, "device"), probe=text(d, "probe", ""), t0=number(d, "t0", 0.0), t1=number(d, "t1"),
                   t2=number(d, "t2"), bundle=integer(d, "bundle", 0))


@dataclass(frozen=True)
class Resync(Wire):
    """Ticket rows changed for this kiosk: say hello to get a delta (with payloads)."""
    TYPE: ClassVar[str] = "resync"
    TOPIC: ClassVar[str] = "down"
    device: str

    @classmethod
    def from_wire(cls, d: Any) -> "Resync":
        d = _typed(d, cls, "resync")
        return cls(device=text(d, "device"))


@dataclass(frozen=True)
class BundleManifest(Wire):
    """The signed head of a bundle: what it is for, and the SHA-256 of every chunk."""
    TYPE: ClassVar[str] = "bundle"
    TOPIC: ClassVar[str] = "down"
    org: str
    device: str
    bundle_id: str
    version: int
    base_version: int
    events: tuple[int, ...]
    keyring: dict[str, Any]
    chunks: tuple[str, ...]
    cursor: int | None = None    # the bundle carries the events' actions up to this server action cursor (a full
                                 # bundle, or the answer to a hello's catch_up); None: no actions beyond resets

    @classmethod
    def from_wire(cls, d: Any) -> "BundleManifest":
        d = _typed(d, cls, "bundle manifest")
        chunks = _get(d, "chunks")
        if not isinstance(chunks, list) or not all(isinstance(c, str) and len(c) == 64 for c in chunks):
            raise Rejected("malformed bundle manifest (chunks)")
        keyring = _get(d, "keyring", {})
        if not isinstance(keyring, dict):
            raise Rejected("malformed bundle manifest (keyring)")
        return cls(org=text(d, "org"), device=text(d, "device"), bundle_id=text(d, "bundle_id"),
                   version=integer(d, "version"), base_version=integer(d, "base_version"),
                   events=tuple(sorted(int_list(d, "events", []))), keyring=keyring, chunks=tuple(chunks),
                   cursor=action_cursor(d, "cursor"))


CHUNK_MAGIC = b"TGB1"
_CHUNK_HEAD = struct.Struct(">4s16sI")


@dataclass(frozen=True)
class ChunkHeader:
    """The binary head of a bundle chunk: MAGIC | bundle id (16 bytes) | u32 index; zlib(JSON section) follows."""
    bundle_id: bytes
    index: int
    SIZE: ClassVar[int] = _CHUNK_HEAD.size

    def pack(self) -> bytes:
        return _CHUNK_HEAD.pack(CHUNK_MAGIC, self.bundle_id, self.index)

    @staticmethod
    def is_chunk(data: bytes) -> bool:
        return data[:4] == CHUNK_MAGIC

    @classmethod
    def unpack(cls, data: bytes) -> "ChunkHeader":
        if len(data) < cls.SIZE or not cls.is_chunk(data):
            raise Rejected("not a bundle chunk")
        _magic, bundle_id, index = _CHUNK_HEAD.unpack_from(data)
        return cls(bundle_id, index)


# -- server -> devices of an event (topic live, signed) ---------------------------------------------------------
@dataclass(frozen=True)
class RelayedAction(Wire):
    """An action from another gate (or the organiser: reset, rollback annulment), for `Ledger.merge_remote`."""
    TYPE: ClassVar[str] = "relayed action"
    TOPIC: ClassVar[str] = "live"
    TYPED: ClassVar[bool] = False
    scan_uuid: str
    kind: str
    ticket_key: str
    event_id: int | None
    direction: str | None
    at: float
    device_id: str = ""
    gate: str = ""
    device_seq: int | None = None
    ref_uuid: str | None = None
    reason: str = ""
    clock_offset: float = 0.0      # server time - device time: the action is ordered on `at + clock_offset`
    mode: str | None = None        # the gate's mode (multiple-entry entries are never double admissions)

    def to_wire(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _RELAYED_FIELDS}     # (asdict's deep copy is 5x slower; all flat here)

    @classmethod
    def from_wire(cls, d: Any) -> "RelayedAction":
        d = _obj(d, "relayed action")
        return cls(scan_uuid=text(d, "scan_uuid", empty=False), kind=one_of(d, "kind", ACTION_KINDS),
                   ticket_key=text(d, "ticket_key", empty=False), event_id=integer(d, "event_id", None),
                   direction=one_of(d, "direction", DIRECTIONS, None), at=number(d, "at"),
                   device_id=text(d, "device_id", ""), gate=text(d, "gate", ""),
                   device_seq=integer(d, "device_seq", None), ref_uuid=text(d, "ref_uuid", None),
                   reason=text(d, "reason", "", limit=MAX_TEXT), clock_offset=number(d, "clock_offset", 0.0),
                   mode=text(d, "mode", None))

    @classmethod
    def of(cls, a: ActionItem, device_id: str) -> "RelayedAction":
        return cls(a.scan_uuid, a.kind, a.ticket_key, a.event_id, a.direction, a.at, device_id, a.gate,
                   a.device_seq, a.ref_uuid, a.reason, a.clock_offset, a.mode)

    def row(self) -> MergeRow:
        """Its fields in order: the row `Ledger.merge_rows` inserts."""
        return tuple(getattr(self, f) for f in _RELAYED_FIELDS)

    @classmethod
    def row_from_wire(cls, d: Any) -> MergeRow:
        """`from_wire(d).row()`, the same checks: a row whose every field has its usual JSON type passes them in
        one expression (a 27-entry relay: 0.04-0.05 ms of CPU instead of 0.17-0.21 ms, at every gate of the event);
        any other goes through `from_wire`, which takes what it takes and names the field it refuses."""
        if type(d) is dict:
            g = d.get
            u, kind, key, event, way, at = g("scan_uuid"), g("kind"), g("ticket_key"), g("event_id"), g("direction"), \
                g("at")
            dev, gate, seq, ref, why, off, mode = g("device_id"), g("gate"), g("device_seq"), g("ref_uuid"), \
                g("reason"), g("clock_offset"), g("mode")
            if (type(u) is str and 0 < len(u) <= MAX_ID and type(kind) is str and kind in _KINDS
                    and type(key) is str and 0 < len(key) <= MAX_ID
                    and (event is None or type(event) is int and -_INT < event < _INT)
                    and (way is None or way == "in" or way == "out")
                    and type(at) is float and -1e12 <= at <= 1e12
                    and (dev is None or type(dev) is str and len(dev) <= MAX_ID)
                    and (gate is None or type(gate) is str and len(gate) <= MAX_ID)
                    and (seq is None or type(seq) is int and -_INT < seq < _INT)
                    and (ref is None or type(ref) is str and len(ref) <= MAX_ID)
                    and (why is None or type(why) is str and len(why) <= MAX_TEXT)
                    and (off is None or type(off) is float and -1e12 <= off <= 1e12)
                    and (mode is None or type(mode) is str and len(mode) <= MAX_ID)):
                return (u, kind, key, event, way, at, dev or "", gate or "", seq, ref, why or "",
                        0.0 if off is None else off, mode)
        return cls.from_wire(d).row()


_RELAYED_FIELDS = tuple(f.name for f in fields(RelayedAction))
_KINDS = frozenset(ACTION_KINDS)
_INT = 1 << 62           # integer(): the bounds of an integer field
MergeRow = tuple[Any, ...]      # a relayed action as `Ledger.merge_rows` inserts it: RelayedAction's fields in order
ROW_DEVICE = _RELAYED_FIELDS.index("device_id")


@dataclass(frozen=True)
class Checkins(Wire):
    """Actions ingested from the gates of an event, relayed to the others (cross-gate dedupe)."""
    TYPE: ClassVar[str] = "checkins"
    TOPIC: ClassVar[str] = "live"
    event: int
    actions: tuple[RelayedAction, ...]
    invalid: tuple[str, ...] = field(default=(), compare=False)
    cursor: int | None = None     # the server's action cursor (scans.seq) these actions were ingested up to

    @classmethod
    def wire_fields(cls) -> list[str]:
        return ["event", "actions", "cursor"]

    def to_wire(self) -> dict[str, Any]:
        out = {"type": "checkins", "event": self.event, "actions": [a.to_wire() for a in self.actions]}
        if self.cursor is not None:
            out["cursor"] = self.cursor
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "Checkins":
        """Rows that do not parse are listed in `invalid` (reasons), the others kept."""
        d = _typed(d, cls, "checkins")
        raw = _get(d, "actions")
        if not isinstance(raw, list):
            _bad("actions", raw)
        actions, invalid = [], []
        for r in raw:
            try:
                actions.append(RelayedAction.from_wire(r))
            except Rejected as exc:
                invalid.append(str(exc))
        return cls(event=integer(d, "event"), actions=tuple(actions), invalid=tuple(invalid),
                   cursor=action_cursor(d, "cursor"))

    @classmethod
    def rows_from_wire(cls, d: Any) -> tuple[int, list[MergeRow], list[str]]:
        """`from_wire`'s checks with the actions as merge rows (`RelayedAction.row_from_wire`), what a gate does
        with every relay: (event, rows, reasons of the rows refused)."""
        d = _typed(d, cls, "checkins")
        raw = _get(d, "actions")
        if not isinstance(raw, list):
            _bad("actions", raw)
        rows, invalid = [], []
        for r in raw:
            try:
                rows.append(RelayedAction.row_from_wire(r))
            except Rejected as exc:
                invalid.append(str(exc))
        return integer(d, "event"), rows, invalid


@dataclass(frozen=True)
class Flag(Wire):
    """A revocation or a block of one ticket (rows of `update.revocations` / `.blocks` and of bundle sections)."""
    TYPE: ClassVar[str] = "flag"
    TOPIC: ClassVar[str] = "live"
    TYPED: ClassVar[bool] = False
    ticket_key: str
    reason: str
    at: float

    def to_wire(self) -> dict[str, Any]:
        return {"ticket_key": self.ticket_key, "reason": self.reason, "at": self.at}

    @classmethod
    def from_wire(cls, d: Any) -> "Flag":
        d = _obj(d, "a revocation or block")
        return cls(ticket_key=text(d, "ticket_key", empty=False), reason=text(d, "reason", "", limit=MAX_TEXT),
                   at=number(d, "at", 0.0))


@dataclass(frozen=True)
class Update(Wire):
    """What changed for an event: revocations, blocks and their lifting, server actions, small ticket changes.
    `states`: [ticket_key, order_status] of tickets whose order status changed with their revocation in the same
    change (a cancellation, a refund): the device changes the status of the row it holds, no whole row travels."""
    TYPE: ClassVar[str] = "update"
    TOPIC: ClassVar[str] = "live"
    event: int
    revocations: tuple[dict[str, Any], ...] = ()
    unrevoked: tuple[str, ...] = ()
    blocks: tuple[dict[str, Any], ...] = ()
    unblocked: tuple[str, ...] = ()
    resets: tuple[dict[str, Any], ...] = ()
    tickets: dict[str, Any] | None = None
    states: tuple[tuple[str, str], ...] = ()

    def to_wire(self) -> dict[str, Any]:
        out = {"type": "update", "event": self.event}
        for name in ("revocations", "unrevoked", "blocks", "unblocked", "resets"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.states:
            out["states"] = [list(pair) for pair in self.states]
        if self.tickets is not None:
            out["tickets"] = self.tickets
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "Update":
        d = _typed(d, cls, "update")
        lists = {}
        for name in ("revocations", "unrevoked", "blocks", "unblocked", "resets"):
            v = _get(d, name, [])
            if not isinstance(v, list):
                _bad(name, v)
            lists[name] = tuple(v)
        tickets = d.get("tickets")
        if tickets is not None:
            rows = _obj(tickets, "tickets").get("rows")
            if not isinstance(tickets.get("columns"), list) or not all(isinstance(c, str) for c in tickets["columns"]):
                _bad("tickets.columns", tickets.get("columns"))
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                _bad("tickets.rows", rows)
        for name in ("revocations", "blocks"):
            for row in lists[name]:
                Flag.from_wire(row)
        for row in lists["resets"]:
            RelayedAction.from_wire(row)
        for name in ("unrevoked", "unblocked"):
            if not all(isinstance(k, str) and len(k) <= MAX_ID for k in lists[name]):
                _bad(name, lists[name])
        states = _get(d, "states", [])
        if not isinstance(states, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) and 0 < len(x) <= MAX_ID for x in p)
                for p in states):
            _bad("states", states)
        return cls(event=integer(d, "event"), tickets=tickets, states=tuple((k, v) for k, v in states), **lists)


FlagRow = tuple[str, str, float]      # ticket_key, reason, at
LIVE_FORM = 2     # the live update form this code reads (`update2`), said in the device's presence (`live`)


@dataclass(frozen=True)
class UpdateV2(Wire):
    """`update` in a compact form (docs/sync-protocol.md "Update v2"): the ticket keys of revocations, blocks, their
    lifting and order statuses travel as key sets (agent.sync.keyset: decimal keys as sorted gaps), grouped by what
    they share — revocations by reason, time (to the second) and the order status their tickets now have; statuses
    alone by status. 1,000 cancellations: ~5 kB instead of 127 kB. A device of before this form refuses it by its
    type ("unknown live message type"); the server sends such a device's events the `update` form as well.
    Decoded here: rows sorted by ticket key (the device's index order), each field checked by name."""
    TYPE: ClassVar[str] = "update2"
    TOPIC: ClassVar[str] = "live"
    event: int
    revoked: tuple[FlagRow, ...] = ()
    blocks: tuple[FlagRow, ...] = ()
    unrevoked: tuple[str, ...] = ()
    unblocked: tuple[str, ...] = ()
    states: tuple[tuple[str, str], ...] = ()
    resets: tuple[dict[str, Any], ...] = ()
    tickets: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "event": self.event}
        status = dict(self.states)
        alone = dict(status)
        for name, rows in (("revoked", self.revoked), ("blocks", self.blocks)):
            groups: dict[tuple[str, int, str | None], list[str]] = {}
            for key, reason, at in rows:
                st = status.get(key) if name == "revoked" else None
                if st is not None:
                    alone.pop(key, None)
                groups.setdefault((reason, math.floor(at), st), []).append(key)
            if groups:
                out[name] = [{"reason": reason, "at": at, **({"status": st} if st else {}), **keyset.pack(keys)}
                             for (reason, at, st), keys in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1], g[0][2] or ""))]
        by_status: dict[str, list[str]] = {}
        for key, st in alone.items():
            by_status.setdefault(st, []).append(key)
        if by_status:
            out["states"] = [{"status": st, **keyset.pack(keys)} for st, keys in sorted(by_status.items())]
        for name in ("unrevoked", "unblocked"):
            if getattr(self, name):
                out[name] = keyset.pack(getattr(self, name))
        if self.resets:
            out["resets"] = list(self.resets)
        if self.tickets is not None:
            out["tickets"] = self.tickets
        return out

    @classmethod
    def from_wire(cls, d: Any) -> "UpdateV2":
        """Row by row (the server's form; the device applies `UpdateSets` as it is)."""
        return UpdateSets.from_wire(d).rows()

    @classmethod
    def of(cls, event: int, section: dict[str, Any]) -> "UpdateV2":
        """From the announcer's section (bundles.flag_section keys, `tickets`, `states` pairs)."""
        def flag_rows(name: str) -> tuple[FlagRow, ...]:
            return tuple((str(r["ticket_key"]), str(r.get("reason") or ""), float(r.get("at") or 0.0))
                         for r in section.get(name) or ())
        return cls(event, revoked=flag_rows("revocations"), blocks=flag_rows("blocks"),
                   unrevoked=tuple(section.get("unrevoked") or ()), unblocked=tuple(section.get("unblocked") or ()),
                   states=tuple((str(k), str(s)) for k, s in section.get("states") or ()),
                   resets=tuple(section.get("resets") or ()), tickets=section.get("tickets"))

    def halves(self) -> "tuple[UpdateV2, UpdateV2]":
        """Two updates carrying half of each part (to stay under the message size limit)."""
        parts = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("event", "tickets")}
        first = {k: v[:len(v) // 2] for k, v in parts.items()}
        second = {k: v[len(v) // 2:] for k, v in parts.items()}
        rows = (self.tickets or {}).get("rows")
        t1: dict[str, Any] | None = self.tickets
        t2: dict[str, Any] | None = None
        if rows:
            t1, t2 = dict(self.tickets or {}, rows=rows[:len(rows) // 2]), dict(self.tickets or {}, rows=rows[len(rows) // 2:])
        return UpdateV2(self.event, tickets=t1, **first), UpdateV2(self.event, tickets=t2, **second)

    def size(self) -> int:
        return len(self.revoked) + len(self.blocks) + len(self.unrevoked) + len(self.unblocked) + len(self.states) \
            + len(self.resets) + len((self.tickets or {}).get("rows") or ())


@dataclass(frozen=True)
class KeyGroup:
    """The keys of one group of an `update2` and what they share: the reason and time of a revocation or block, the
    order status their tickets have now (None: unchanged)."""
    keys: tuple[str, ...]
    reason: str = ""
    at: float = 0.0
    status: str | None = None


@dataclass(frozen=True)
class UpdateSets:
    """A checked `update2` as the device applies it: its groups as they travel, one SQL statement each (no Python
    object per ticket beyond its key). `from_wire` is the one check of the wire form; each field is named when it
    is refused."""
    event: int
    revoked: tuple[KeyGroup, ...] = ()
    blocks: tuple[KeyGroup, ...] = ()
    unrevoked: tuple[str, ...] = ()
    unblocked: tuple[str, ...] = ()
    states: tuple[KeyGroup, ...] = ()
    resets: tuple[dict[str, Any], ...] = ()
    tickets: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, d: Any) -> "UpdateSets":
        d = _typed(d, UpdateV2, "update2")
        flags: dict[str, list[KeyGroup]] = {"revoked": [], "blocks": []}
        for name, out in flags.items():
            groups = _get(d, name, [])
            if not isinstance(groups, list):
                _bad(name, groups)
            for g in groups:
                g = _obj(g, f"a group of {name}")
                reason, at = text(g, "reason", "", limit=MAX_TEXT), number(g, "at")
                st = text(g, "status", None, empty=False) if name == "revoked" else None
                out.append(KeyGroup(tuple(keyset.unpack(g, name)), reason, at, st))
        groups = _get(d, "states", [])
        if not isinstance(groups, list):
            _bad("states", groups)
        states = []
        for g in groups:
            g = _obj(g, "a group of states")
            st = text(g, "status", empty=False)
            states.append(KeyGroup(tuple(keyset.unpack(g, "states")), status=st))
        lifted = {name: tuple(keyset.unpack(d[name], name)) if name in d else ()
                  for name in ("unrevoked", "unblocked")}
        resets = _get(d, "resets", [])
        if not isinstance(resets, list):
            _bad("resets", resets)
        for row in resets:
            RelayedAction.from_wire(row)
        tickets = d.get("tickets")
        if tickets is not None:
            _ticket_rows(tickets)
        return cls(event=integer(d, "event"), revoked=tuple(flags["revoked"]), blocks=tuple(flags["blocks"]),
                   states=tuple(states), resets=tuple(resets), tickets=tickets, **lifted)

    def rows(self) -> UpdateV2:
        """The same change row by row, sorted by ticket key."""
        return UpdateV2(self.event, revoked=tuple(sorted((k, g.reason, g.at) for g in self.revoked for k in g.keys)),
                        blocks=tuple(sorted((k, g.reason, g.at) for g in self.blocks for k in g.keys)),
                        unrevoked=tuple(sorted(self.unrevoked)), unblocked=tuple(sorted(self.unblocked)),
                        states=tuple(sorted((k, g.status) for g in (*self.revoked, *self.states)
                                            if g.status is not None for k in g.keys)),
                        resets=self.resets, tickets=self.tickets)


def _ticket_rows(tickets: Any) -> None:
    rows = _obj(tickets, "tickets").get("rows")
    if not isinstance(tickets.get("columns"), list) or not all(isinstance(c, str) for c in tickets["columns"]):
        _bad("tickets.columns", tickets.get("columns"))
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        _bad("tickets.rows", rows)


# -- server -> one device (topic cmd, signed) -------------------------------------------------------------------
COMMANDS = ("wipe", "reset_ticket", "config", "events")


@dataclass(frozen=True)
class Command(Wire):
    """wipe | reset_ticket (ticket_key, event_id, reason, scan_uuid) | config (config={...}) | events (events=[ids]:
    the events the device holds from now on, agent.sync.enrolled_events)."""
    TYPE: ClassVar[str] = "cmd"
    TOPIC: ClassVar[str] = "cmd"
    cmd: str
    device: str
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def wire_fields(cls) -> list[str]:
        return ["cmd", "device"]

    def to_wire(self) -> dict[str, Any]:
        return {**self.args, "type": "cmd", "cmd": self.cmd, "device": self.device}

    @classmethod
    def from_wire(cls, d: Any) -> "Command":
        d = _typed(d, cls, "command")
        rest = {k: v for k, v in d.items() if k not in ("type", "cmd", "device", "org", "id", "ts")}
        return cls(cmd=one_of(d, "cmd", COMMANDS), device=text(d, "device"), args=rest)


# -- presence (retained, unsigned) ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceStatus(Wire):
    TYPE: ClassVar[str] = "device status"
    TOPIC: ClassVar[str] = "status"
    TYPED: ClassVar[bool] = False
    state: str
    device: str
    ts: float
    live: int = 1      # the live update form the device reads (LIVE_FORM; absent: `update` only)

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServerStatus(Wire):
    TYPE: ClassVar[str] = "server status"
    TOPIC: ClassVar[str] = "status"
    TYPED: ClassVar[bool] = False
    state: str
    server: str
    since: float

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, d: Any) -> "ServerStatus":
        d = _obj(d, "server status")
        return cls(state=one_of(d, "state", ("online", "offline")), server=text(d, "server", ""),
                   since=number(d, "since", 0.0))


TILL_ACTIONS = ("offline_sale", "payment_validated")     # a kiosk's outbox rows the server's Z report counts

MESSAGES: tuple[type[Wire], ...] = (ActionItem, RefusalItem, PaymentValidated, Exchange, Printed, OfflineSale,
                                    CmdResult, ConfigChange, Hello, Batch, SaleRequest, RefundRequest, ExchangeRequest,
                                    AllotmentRequest, TillRequest, ETicketsRequest, Ack, Clock, Resync, DeskAnswer, BundleManifest, RelayedAction,
                                    Checkins, Flag, Update, UpdateV2, Command, DeviceStatus, ServerStatus)


def broker_size_limit() -> str:
    """The mosquitto.conf line every broker configuration ticketgate writes carries (mosquitto 2.x: max_packet_size,
    which replaced message_size_limit; an MQTT v5 client learns it in CONNACK and never sends a bigger packet)."""
    return f"max_packet_size {MAX_MESSAGE + PACKET_OVERHEAD}"
