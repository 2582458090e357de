"""What the screens need from the rest of the system, as small Protocols.

Screens and presenters only see these interfaces. The real implementations live in
`kiosk_ui.door` (the core agent) and `kiosk_ui.adapters.*` (drivers, sync, provisioning);
when a part is not on this build, an `Unavailable*` stand-in says so plainly instead of failing.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agent.home import Credentials
    from drivers.printers.receipt import Receipt
    from drivers.camera.frames import PushSource
    from drivers.feedback.mapping import Feedback

from agent.sync.messages import (MAX_BUYER_NAME, MAX_EMAIL, MAX_PARTS, MAX_PAYMENT_REF, REFERENCE_NEEDED, SETTLE_METHODS,
                                 PaymentPart, reference_missing)
from drivers.printers.model import PrintResult  # noqa: F401  (the one result type: ok, printed, message, kept…)


# -- printers ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrinterInfo:
    printer_id: str            # stable id "<language>:<host>:<port>", e.g. "zpl:192.168.4.20:9100"
    name: str                  # what staff see
    kind: str                  # "ticket" (ESC/POS, ZPL) | "badge" (CR80 card printer): from the printer language
    language: str = "escpos"   # a registered printer language (drivers.printers.registry)
    online: bool = True
    format: str = ""           # the layout it prints (zpl: show | cinema)
    saved: bool = False        # set up on this device (False: only found on the network)


@dataclass(frozen=True)
class PrinterChoice:
    """A printer type Set-up offers, with its layouts; labels already in the app's language."""
    language: str
    label: str
    kind: str
    default_port: int
    formats: tuple[tuple[str, str], ...] = ()   # (format, label)


@dataclass(frozen=True)
class PendingPrint:
    """A ticket that did not print, kept until printed again or dismissed."""
    job_id: int
    order_number: str
    ticket_key: str
    printer_id: str
    message: str               # why, in the app's language
    attempts: int = 1
    reprint: bool = False
    kind: str = "ticket"


@dataclass(frozen=True)
class PrintJob:
    order_number: str
    ticket_keys: tuple[str, ...]
    kind: str = "ticket"       # ticket | badge
    reprint: bool = False
    copies: tuple[str, ...] = ()   # tickets printed here before: marked as copies (REPRINT) even when not `reprint`

    def copy(self, ticket_key: str) -> bool:
        return self.reprint or ticket_key in self.copies


@runtime_checkable
class PrinterService(Protocol):
    available: bool

    @property
    def error(self) -> str: ...         # why the last network search failed ('' when it worked)

    def printers(self) -> list[PrinterInfo]: ...
    def refresh(self) -> list[PrinterInfo]: ...
    def not_found_checklist(self) -> list[str]: ...
    def print_job(self, printer_id: str, job: PrintJob, tickets: list[dict]) -> PrintResult: ...
    def choices(self) -> list[PrinterChoice]: ...
    def add_printer(self, address: str, language: str = "escpos", fmt: str = "") -> PrinterInfo: ...   # ValueError
    def set_format(self, printer_id: str, fmt: str) -> PrinterInfo: ...                                # ValueError
    def pending(self) -> list[PendingPrint]: ...
    def keep(self, printer_id: str, job: PrintJob, tickets: list[dict], why: str) -> int: ...   # kept, not printed
    def retry(self, job_id: int | None = None,                                # None: all
              printer_id: str | None = None) -> list[tuple[PendingPrint, PrintResult]]: ...   # another printer
    def dismiss(self, job_id: int) -> PendingPrint: ...
    def print_receipt(self, printer_id: str, receipt: Receipt,
                      keep: bool = False) -> PrintResult: ...      # ESC/POS only; keep: queued when not printed
    def print_report(self, printer_id: str, rows: tuple[tuple[str, str], ...]) -> PrintResult: ...   # ESC/POS only


# -- sync -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncStatus:
    available: bool = False           # is there a sync client on this build at all
    online: bool | None = None        # None: unknown / not available
    queue: int = 0                    # messages waiting for the server (the ledger's outbox)
    bundle_version: str | None = None
    last_upload: float | None = None  # unix seconds
    conflicts: int = 0
    detail: str = ""
    refused: int = 0                  # uploads the server refused (kept on the device, marked with the reason)
    refusals: tuple[str, ...] = ()    # the latest of them: "what: reason" (server's words)


@runtime_checkable
class SyncStatusSource(Protocol):
    def status(self) -> SyncStatus: ...
    def start(self) -> bool: ...        # (re)start with the enrolled identity; False (detail in status) if it cannot
    def stop(self) -> bool: ...         # True when a running sync was stopped
    def poll(self) -> bool: ...         # on the UI thread: True when what arrived changed something shown


# -- enrollment -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnrollmentProgress:
    step: str                 # idle | discovering | contacting | enrolled | failed | unavailable | wiped
    fraction: float = 0.0     # 0..1, for the progress bar
    message: str = ""         # plain words
    device_id: str | None = None


@runtime_checkable
class EnrollmentService(Protocol):
    available: bool
    credentials: Credentials | None     # what the last enrollment saved (None: none yet)

    def enroll_with_qr(self, payload: str) -> EnrollmentProgress: ...
    def enroll_with_code(self, code: str) -> EnrollmentProgress: ...
    def progress(self) -> EnrollmentProgress: ...


# -- camera -----------------------------------------------------------------------------------------------------
@runtime_checkable
class CameraService(Protocol):
    available: bool
    torch_supported: bool
    push: PushSource | None             # Android: the preview widget pushes frames here (None: the service reads them)

    # plausible: what a text read only by a retry step must look like to be taken (drivers.camera.chain); None: any
    def start(self, on_payload: Callable[[str], None], plausible: Callable[[str], bool] | None = None) -> bool: ...
    def stop(self) -> None: ...
    def set_torch(self, on: bool) -> bool: ...


# -- laser / imager scanners (Zebra, Bluebird, serial, evdev) -------------------------------------------------------
@runtime_checkable
class LaserService(Protocol):
    @property
    def mode(self) -> str: ...
    error: str                       # why the last start failed ('' when it ran)
    @property
    def problems(self) -> list[str]: ...     # the start error, then what the scanner service refused later

    def start(self, on_payload: Callable[[str], None]) -> bool: ...
    def stop(self) -> None: ...


# -- feedback (sound, vibration) ----------------------------------------------------------------------------------
@runtime_checkable
class FeedbackService(Protocol):
    def play(self, feedback: "Feedback") -> None: ...   # from drivers.feedback.mapping.feedback_for


# -- the desk: selling (issue 12) -----------------------------------------------------------------------------------
PAYMENT_METHODS = ("cash", "card", "invoice", "voucher")


@dataclass(frozen=True)
class SaleCategory:
    category: int
    name: str                          # in the event's language
    unit_cents: int
    left: int | None = None            # tickets left for sale (None: not counted)


@dataclass(frozen=True)
class SaleTarget:
    """An event, a date or a pass the desk sells, with its categories, prices and stock left."""
    target_id: int
    name: str
    date_text: str
    currency: str = "EUR"
    language: str = "en"               # the event's language: tickets and receipt
    categories: tuple[SaleCategory, ...] = ()
    is_pass: bool = False
    timezone: str = "UTC"              # the event's: the receipt's time of sale
    starts_at: float | None = None     # an event's times (None for a pass): the screen's date, in the app's language
    ends_at: float | None = None


@dataclass(frozen=True)
class QuoteLine:
    category: int
    name: str
    quantity: int
    unit_cents: int
    total_cents: int
    discount_cents: int = 0
    promotion: str = ""


@dataclass(frozen=True)
class CartQuote:
    """The cart priced (agent.pricing, the same figures as the server's): lines, total, or why it cannot be sold."""
    target_id: int
    currency: str
    lines: tuple[QuoteLine, ...] = ()
    total_cents: int = 0
    promo_code: str | None = None
    problem: str = ""                  # '' or why (sold out, over the limit, unknown promo code…), English; an
    #                                    agent.reasons.Reason when it has a reason code (said in the app's language)


@dataclass(frozen=True)
class Payment:
    method: str = "cash"               # cash | card | invoice | voucher
    given_cents: int | None = None     # cash handed over
    reference: str = ""                # card terminal's reference, voucher number
    buyer_name: str = ""
    email: str = ""
    given_problem: str = ""            # why the cash typed is not an amount (too large…): English, for tr()
    parts: tuple[tuple[str, int, str], ...] = ()   # a split payment: (method, cents, reference), 2 to 4 parts

    @property
    def split(self) -> bool:
        return bool(self.parts)

    def problem(self, total_cents: int) -> str:
        """'' when this payment can settle `total_cents`, else why not (English, for tr())."""
        if self.parts:
            return self._split_problem(total_cents)
        if self.method not in PAYMENT_METHODS:
            return "Choose how the buyer pays."
        if self.method == "cash" and self.given_problem:
            return self.given_problem
        if self.method == "cash" and (self.given_cents is None or self.given_cents < total_cents):
            return "The cash given does not cover the total."
        if reference_missing(self.method, self.reference):
            return REFERENCE_NEEDED
        if len(self.buyer_name.strip()) > MAX_BUYER_NAME:
            return "The buyer's name is too long."
        if len(self.reference) > MAX_PAYMENT_REF:     # the server would refuse the sale (an offline one after it is made)
            return "The reference is too long (200 characters at most)."
        if len(self.email) > MAX_EMAIL:
            return "This e-mail address is too long."
        if self.email and ("@" not in self.email or " " in self.email.strip()):
            return "This e-mail address is not valid."
        return ""

    def _split_problem(self, total_cents: int) -> str:
        """A split payment: 2 to 4 parts of money taken (cash, card, voucher; no invoice), each with its reference
        when by card or voucher, adding up to the total; the cash given covers the cash part."""
        if not 2 <= len(self.parts) <= MAX_PARTS or any(m not in SETTLE_METHODS or c <= 0 for m, c, _ in self.parts):
            return "Split the payment in 2 to 4 parts of cash, card or voucher."
        if sum(c for _, c, _ in self.parts) != total_cents:
            return "The parts of the payment do not add up to the total."
        if any(reference_missing(m, ref) for m, _, ref in self.parts):
            return REFERENCE_NEEDED
        cash = sum(c for m, c, _ in self.parts if m == "cash")
        if cash and self.given_cents is not None and self.given_cents < cash:
            return "The cash given does not cover the total."
        if any(len(ref) > MAX_PAYMENT_REF for _, _, ref in self.parts):
            return "The reference is too long (200 characters at most)."
        return replace(self, parts=(), method="card", reference="-").problem(total_cents)   # the buyer's name, e-mail

    def paid_parts(self) -> tuple[PaymentPart, ...]:
        return tuple(PaymentPart(m, c, ref.strip()) for m, c, ref in self.parts)


@dataclass(frozen=True)
class SaleResult:
    ok: bool
    order_number: str = ""
    offline: bool = False              # signed here with the allotment, sent to the server later
    total_cents: int = 0
    currency: str = "EUR"
    ticket_keys: tuple[str, ...] = ()
    problem: str = ""                  # refused: why (the server's words or ours), English
    status: str = "paid"               # paid | pending (invoice)


@dataclass(frozen=True)
class DeskResult:
    """A refund, cancellation or exchange: done, the amount to collect (> 0) or hand back (< 0), or why not."""
    ok: bool
    amount_cents: int = 0
    currency: str = "EUR"
    problem: str = ""
    ticket_keys: tuple[str, ...] = ()
    order_number: str = ""
    parts: tuple[tuple[str, int], ...] = ()     # a refund: what to hand back each way it was paid (method, cents);
                                                # an exchange: its difference settled several ways


@runtime_checkable
class DeskService(Protocol):
    available: bool

    @property
    def online(self) -> bool: ...                    # the server answers now (else: offline, within the allotment)

    def targets(self) -> list[SaleTarget]: ...
    def quote(self, target_id: int, cart: dict[int, int], promo_code: str | None = None) -> CartQuote: ...
    def sell(self, quote: CartQuote, payment: Payment) -> SaleResult: ...   # durable before anything prints
    def refund(self, order_number: str, reason: str, kind: str = "refund") -> DeskResult: ...
    def exchange(self, ticket_key: str, reason: str, target_id: int | None = None, category: int | None = None,
                 payment: str = "cash", parts: tuple[tuple[str, int, str], ...] = ()) -> DeskResult: ...
    def order_unsent(self, order_number: str, wait: float = 0.0) -> bool: ...   # its offline sale still to upload
    def maybe_refill(self) -> None: ...                # online: get or refill the offline sales allotment
    def maybe_recover(self, recovered: Callable[[SaleResult], None]) -> None: ...   # sales asked before a restart
    def till(self, action: str, cents: int, currency: str = "EUR") -> Any: ...   # DeskAnswer, or the problem (str)
    def open_shift(self) -> dict | None: ...
    def last_z(self) -> dict | None: ...
    def send_etickets(self, order_number: str, timeout: float = 60.0) -> Any: ...   # DeskAnswer, or the problem


class UnavailableDesk:
    available = False
    online = False

    def targets(self) -> list[SaleTarget]:
        return []

    def quote(self, target_id: int, cart: dict[int, int], promo_code: str | None = None) -> CartQuote:
        return CartQuote(target_id, "EUR", problem="Selling is not available on this device.")

    def sell(self, quote: CartQuote, payment: Payment) -> SaleResult:
        return SaleResult(False, problem="Selling is not available on this device.")

    def refund(self, order_number: str, reason: str, kind: str = "refund") -> DeskResult:
        return DeskResult(False, problem="Selling is not available on this device.")

    def exchange(self, ticket_key: str, reason: str, target_id: int | None = None, category: int | None = None,
                 payment: str = "cash", parts: tuple[tuple[str, int, str], ...] = ()) -> DeskResult:
        return DeskResult(False, problem="Selling is not available on this device.")

    def order_unsent(self, order_number: str, wait: float = 0.0) -> bool:
        return False

    def maybe_refill(self) -> None:
        pass

    def maybe_recover(self, recovered: Callable[[SaleResult], None]) -> None:
        pass

    def till(self, action: str, cents: int, currency: str = "EUR") -> str:
        return "Selling is not available on this device."

    def open_shift(self) -> dict | None:
        return None

    def last_z(self) -> dict | None:
        return None

    def send_etickets(self, order_number: str, timeout: float = 60.0) -> str:
        return "Selling is not available on this device."


# -- stand-ins for parts missing from this build --------------------------------------------------------------------
NOT_AVAILABLE = "not available on this build"


class UnavailablePrinters:
    available = False
    error = ""

    def printers(self) -> list[PrinterInfo]:
        return []

    def refresh(self) -> list[PrinterInfo]:
        return []

    def not_found_checklist(self) -> list[str]:
        return ["Printer support is not available on this build."]

    def print_job(self, printer_id, job, tickets) -> PrintResult:
        return PrintResult(False, 0, "Printing is not available on this build.")

    def choices(self) -> list[PrinterChoice]:
        return []

    def add_printer(self, address, language="escpos", fmt="") -> PrinterInfo:
        raise ValueError("Printing is not available on this build.")

    def set_format(self, printer_id, fmt) -> PrinterInfo:
        raise ValueError("Printing is not available on this build.")

    def pending(self) -> list[PendingPrint]:
        return []

    def keep(self, printer_id, job, tickets, why) -> int:
        return 0

    def retry(self, job_id=None, printer_id=None) -> list[tuple[PendingPrint, PrintResult]]:
        return []

    def dismiss(self, job_id) -> PendingPrint:
        raise LookupError(f"no print job {job_id}")

    def print_receipt(self, printer_id: str, receipt: Receipt, keep: bool = False) -> PrintResult:
        return PrintResult(False, 0, "Printing is not available on this build.")

    def print_report(self, printer_id: str, rows: tuple[tuple[str, str], ...]) -> PrintResult:
        return PrintResult(False, 0, "Printing is not available on this build.")


class UnavailableSync:
    def __init__(self, queue_size: Callable[[], int] = lambda: 0):
        self.queue_size = queue_size

    def status(self) -> SyncStatus:
        return SyncStatus(available=False, online=None, queue=self.queue_size(), detail=NOT_AVAILABLE)

    def start(self) -> bool:
        return False

    def stop(self) -> bool:
        return False

    def poll(self) -> bool:
        return False


class UnavailableEnrollment:
    available = False
    credentials: Credentials | None = None

    def _no(self) -> EnrollmentProgress:
        return EnrollmentProgress("unavailable", 0.0, "Enrollment is not available on this build.")

    def enroll_with_qr(self, payload: str) -> EnrollmentProgress:
        return self._no()

    def enroll_with_code(self, code: str) -> EnrollmentProgress:
        return self._no()

    def progress(self) -> EnrollmentProgress:
        return self._no()


class NoCamera:
    """Desktop without a camera, or a handheld used with its laser: the scan screen shows 'ready for laser'."""
    available = False
    torch_supported = False
    push: PushSource | None = None

    def start(self, on_payload: Callable[[str], None], plausible: Callable[[str], bool] | None = None) -> bool:
        return False

    def stop(self) -> None:
        pass

    def set_torch(self, on: bool) -> bool:
        return False


@dataclass
class RecordingFeedback:
    """Keeps the sounds asked for (tests, devices without sound): accept | reject | attention | silent."""
    played: list[str] = field(default_factory=list)

    def play(self, feedback: "Feedback") -> None:
        self.played.append(feedback.sound or "silent")


@dataclass
class Services:
    printers: PrinterService
    sync: SyncStatusSource
    enrollment: EnrollmentService
    camera: CameraService
    feedback: FeedbackService
    lasers: LaserService | None = None
    desk: DeskService = field(default_factory=UnavailableDesk)   # selling at the ticket desk (kiosks)
    role: str = "door"             # door | kiosk: what enrollment made this device (a kiosk also scans)
