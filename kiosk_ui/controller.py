"""The app's state and intents, without Kivy: screens call these and render what comes back.

It owns nothing of the business: each intent goes to the core (`Door`) or a service; it only keeps
what is on screen (the current verdict view, the language, whether buyer names are shown).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from agent.gate import OrganiserOnly
from agent.language import SETTING as LANGUAGE_SETTING
from agent.policy import Mode
from agent.staff import NotPermitted, StaffError, is_badge
from agent.sync.messages import Printed
from drivers.feedback.mapping import FeedbackConfig, feedback_for
from kiosk_ui import i18n
from kiosk_ui.desk_flow import DeskFlow
from kiosk_ui.door import Door, device_role
from kiosk_ui.presenters.lists import short_key
from kiosk_ui.presenters.lock import KioskLock
from kiosk_ui.presenters.refusals import revoked_text
from kiosk_ui.presenters.staff import (StaffView, logged_in_view, login_needed_view, on_duty_line, staff_message,
                                      staff_view)
from kiosk_ui.presenters.status import StatusView, status_view
from kiosk_ui.presenters.verdict import VerdictView, present
from kiosk_ui.presenters.wedge import WedgeBuffer
from kiosk_ui.services import (EnrollmentProgress, PendingPrint, PrinterChoice, PrinterInfo, PrintJob, PrintResult,
                               SaleResult, Services)

log = logging.getLogger(__name__)
ENROLLING = ("discovering", "contacting")       # enrollment steps still under way
# the print queue's word for the tickets of a sale the server made while the app was stopped (Controller.poll)
RECOVERED = ("not printed: the server sold it while the app was stopped (restarted mid-sale). Print it, or drop it if "
             "the buyer is gone, then refund the order.")


@dataclass
class Controller:
    door: Door
    services: Services
    clock: Callable[[], float] = time.time
    show_buyer: bool = True
    verdict: VerdictView | None = None
    wedge: WedgeBuffer = field(default_factory=WedgeBuffer)   # keystrokes of a keyboard-wedge scanner (KioskUI)
    lock: KioskLock = field(init=False)          # the PIN lock of settings and the desk (kept in the ledger)
    on_device_payload: Callable[[str], None] | None = None    # set by the app: camera / laser reads land here
    sale: DeskFlow = field(init=False)           # the sale in progress at the desk (sell screens)
    _sync_paused: bool = field(default=False, init=False)    # `enroll` stopped the running sync
    _verdict_of: Callable[[], VerdictView] | None = field(default=None, init=False, repr=False)  # renders `verdict`

    def __post_init__(self) -> None:
        self.sale = DeskFlow(self)
        self.lock = KioskLock(self.door.ledger, self.clock, staff=self.door.staff)
        self.show_buyer = bool(self.door.ledger.get_setting("ui_show_buyer", True))

    # -- scanning ---------------------------------------------------------------------------------------------
    def scan(self, raw: str | bytes) -> VerdictView:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        if is_badge(text):                       # a staff badge, not a ticket: its holder goes on duty
            try:
                member = self.door.staff.login_badge(text)
            except StaffError as exc:
                why = str(exc)
                return self._render(lambda: login_needed_view(i18n.tr("Badge refused: {why}",
                                                                      why=staff_message(why))))
            return self._render(lambda: logged_in_view(member))
        try:
            verdict = self.door.scan(raw)
        except NotPermitted as exc:              # nobody on duty (or idle): nothing judged, nothing recorded
            staff = self.door.staff
            gone, why = staff.deactivated(), str(exc)
            current = staff.current()
            return self._render(lambda: login_needed_view(staff_message(why) if current else
                                                          on_duty_line(None, gone) if gone else ""))
        return self._show(verdict)

    def _render(self, view: Callable[[], VerdictView]) -> VerdictView:
        """Show the verdict `view` renders; rendered again in the new language when the language is switched."""
        self._verdict_of = view
        self.verdict = view()
        return self.verdict

    # -- staff -------------------------------------------------------------------------------------------------
    def staff_view(self) -> StaffView:
        staff = self.door.staff
        return staff_view(staff.members() if staff.configured else [], staff.current(), staff.deactivated())

    def login_pin(self, staff_id: str, pin: str) -> str:
        """-> "" when logged in, else the message to show (wrong PIN, wait, deactivated)."""
        try:
            self.door.staff.login_pin(staff_id, pin)
        except StaffError as exc:
            left = self.door.staff.wait_left()
            if left > 0:
                return i18n.tr("Too many wrong PINs: wait {s} s.", s=int(left) + 1)
            return staff_message(str(exc))
        self.verdict = None
        return ""

    def not_permitted(self, action: str) -> str:
        """"" when the staff on duty may do `action` (agent.staff.PERMISSIONS), else what to tell them."""
        try:
            self.door.staff.require(action)
        except NotPermitted:
            member = self.door.staff.current()
            if member is None:
                return i18n.tr("Scan your staff badge or log in from the menu (Staff).")
            return i18n.tr("{name} may not do this: call a supervisor.", name=member.name)
        return ""

    def logout(self) -> None:
        self.door.staff.logout()
        self.verdict = None

    def checkin(self, ticket_key: str, reason: str) -> VerdictView:
        return self._show(self.door.checkin(ticket_key, reason))

    @property
    def feedback(self) -> FeedbackConfig:
        """This device's feedback settings (sound, vibration, per-verdict overrides): ledger setting `feedback`."""
        return FeedbackConfig.from_json(self.door.ledger.get_setting("feedback"))

    def set_feedback(self, **changes) -> bool:
        """Sound / vibration on or off (Set-up, PIN); the rest of the stored settings stay as they are."""
        if not self.lock.unlocked:
            return False
        stored = dict(self.door.ledger.get_setting("feedback") or {})
        self.door.ledger.set_setting("feedback", {**stored, **{k: bool(v) for k, v in changes.items()
                                                              if k in ("sound", "vibrate")}})
        return True

    def _show(self, verdict) -> VerdictView:
        policy = self.door.policy
        config = self.feedback
        mode, zones, show_buyer = policy.mode, policy.zones, self.show_buyer
        view = self._render(lambda: present(verdict, self.door, mode, zones, show_buyer, feedback=config))
        self.services.feedback.play(feedback_for(verdict, config))
        return view

    def clear_verdict(self) -> None:
        self.verdict = None

    def undo_last(self, reason: str) -> str:
        """-> plain message for the operator."""
        problem = self.not_permitted("annul")
        if problem:
            return problem
        try:
            result = self.door.undo_last(reason)
        except OrganiserOnly as exc:        # uploaded under this device's enrollment before a wipe: not ours to undo
            return i18n.tr("Only the organiser can undo the last entry here (it is {device}'s on the server).",
                           device=exc.device)
        except LookupError:
            return i18n.tr("Nothing to undo.")
        if result.get("kind") == "cancel":
            return i18n.tr("Ticket {key} is valid again (cancellation undone).", key=result["ticket_key"])
        return i18n.tr("Entry of ticket {key} undone.", key=result["ticket_key"])

    # -- enrollment and sync ---------------------------------------------------------------------------------------
    def enroll(self, text: str, qr: bool = False) -> EnrollmentProgress:
        """Enroll from Set-up: an enrollment QR's text (`qr`: read by the camera; or typed by the laser), else the
        organiser code. A sync running on the current enrollment stops first: the new enrollment retires that login
        (provisioning.device.retire), and the old sync would see its retirement and wipe the new credentials. The
        screen then calls `after_enrollment`, or `enrollment_failed` (the sync runs again on the current
        credentials)."""
        svc = self.services.enrollment
        if svc.progress().step in ENROLLING:
            return svc.progress()                      # one at a time: the sync is already stopped
        self._sync_paused = self.services.sync.stop() or self._sync_paused
        p = svc.enroll_with_qr(text) if qr or text.strip().upper().startswith("TGE") else svc.enroll_with_code(text)
        if p.step not in ENROLLING:                    # refused at once (not a QR, not a code)
            self.enrollment_failed()
        return p

    def enrollment_failed(self) -> None:
        """Nothing was enrolled: the sync `enroll` stopped runs again on the current credentials."""
        if self._sync_paused:
            self._sync_paused = False
            self.services.sync.start()

    def after_enrollment(self) -> bool:
        """Apply what enrollment saved: identity, events, trusted keys; then start the sync. On the UI thread."""
        if self.services.enrollment.credentials is None:
            return False
        self.door.adopt_identity()          # the enrolled id, gate and events (agent.home.adopt_identity)
        self.door.reload_keyring()
        self.services.role = device_role(self.door)
        self._sync_paused = False
        self.services.sync.start()
        return True

    def poll(self) -> bool:
        """Periodic, on the UI thread: let the sync apply what arrived (names, passes). True if something changed.
        A kiosk online also gets or refills its sales allotment (in the background)."""
        if self.is_kiosk:
            self.services.desk.maybe_refill()
            self.services.desk.maybe_recover(self._recovered_sale)
        return self.services.sync.poll()

    def _recovered_sale(self, sale: SaleResult) -> None:
        """(the desk's background thread) A sale the server made while this app was stopped mid-sale, recorded now:
        its tickets wait in the print queue, saying so (never printed without the operator)."""
        printer = self.printer_for("ticket")
        tickets = [t for t in self.door.order(sale.order_number) if t["ticket_key"] in sale.ticket_keys]
        if printer is None or not tickets:
            log.warning("desk: order %s sold while the app was stopped: no ticket printer to keep its tickets for",
                        sale.order_number)
            return
        self.services.printers.keep(printer.printer_id, PrintJob(sale.order_number, tuple(sale.ticket_keys)),
                                    tickets, RECOVERED)

    @property
    def is_kiosk(self) -> bool:
        """A ticket desk device: the menu offers the Ticket desk screen (door devices never hold printable tickets)."""
        return self.services.role == "kiosk"

    # -- status -------------------------------------------------------------------------------------------------
    def status(self) -> StatusView:
        c = self.door.counters()
        p = self.door.policy
        view = status_view(c.scanned, c.accepted, c.inside, self.services.sync.status(), p.mode, p.direction,
                           c.back_on_sale)
        if self.door.staff.configured:           # who is on duty, on the status strip
            staff = self.door.staff
            view = replace(view, counters=f"{view.counters} · {on_duty_line(staff.current(), staff.deactivated())}")
        return view

    # -- protected settings --------------------------------------------------------------------------------------
    def needs_pin(self) -> bool:
        return not self.lock.unlocked

    def set_mode(self, mode: Mode, direction: str | None = None) -> bool:
        if not self.lock.unlocked:
            return False
        self.door.set_mode(mode, direction)
        self.verdict = None
        return True

    def set_selection(self, events, zones) -> bool:
        if not self.lock.unlocked:
            return False
        self.door.set_selection(events, zones)
        return True

    def scanner_mode(self) -> str:
        lasers = self.services.lasers
        return lasers.mode if lasers is not None else "keyboard"

    def set_scanner_mode(self, mode: str) -> bool:
        """Camera, Zebra, Bluebird or keyboard wedge (PIN). The laser input restarts at once with the new mode."""
        if not self.lock.unlocked or self.services.lasers is None:
            return False
        from drivers.scanners import settings as scanner_settings
        from kiosk_ui.adapters.lasers import LaserInput
        current = scanner_settings.load(self.door.ledger)
        scanner_settings.save(self.door.ledger, scanner_settings.ScannerSettings(
            **{**current.to_json(), "mode": mode}))
        self.services.lasers.stop()
        lasers = LaserInput(self.door.ledger)
        self.services.lasers = lasers
        if self.on_device_payload is not None:
            lasers.start(self.on_device_payload)
        return True

    def set_show_buyer(self, show: bool) -> None:
        self.show_buyer = show
        self.door.ledger.set_setting("ui_show_buyer", show)

    def set_language(self, lang: str) -> None:
        """The app's language; the verdict on screen is said again in it."""
        i18n.set_language(lang)
        self.door.ledger.set_setting(LANGUAGE_SETTING, lang)     # the terminal commands speak it too
        if self.verdict is not None and self._verdict_of is not None:
            self.verdict = self._verdict_of()

    # -- kiosk -----------------------------------------------------------------------------------------------------
    @property
    def selected_printer(self) -> str | None:
        """The printer the operator chose on the kiosk screen (kept across restarts)."""
        return self.door.ledger.get_setting("kiosk_printer")

    @selected_printer.setter
    def selected_printer(self, printer_id: str | None) -> None:
        self.door.ledger.set_setting("kiosk_printer", printer_id)

    def printer_for(self, kind: str = "ticket") -> PrinterInfo | None:
        """The printer a print of this kind goes to: the chosen one when it can, else the first that can."""
        printers = [p for p in self.services.printers.printers() if p.kind == ("badge" if kind == "badge" else "ticket")]
        chosen = [p for p in printers if p.printer_id == self.selected_printer]
        return next(iter(chosen or printers), None)

    def printer_choices(self) -> list[PrinterChoice]:
        """Printer types and their layouts for Set-up, from the drivers' registry (labels in the app's language)."""
        return self.services.printers.choices()

    def added_printers(self) -> list[PrinterInfo]:
        """Printers set up on this device by address (Set-up), with their language, kind and format."""
        return [p for p in self.services.printers.printers() if p.saved]

    def add_printer(self, address: str, language: str = "escpos", fmt: str = "") -> str:
        """Remember a printer typed by address (HOST or HOST:PORT) of a type from `printer_choices()` — a receipt
        printer (ESC/POS), a Zebra (ZPL: show or cinema ticket), a badge printer (IPP, port 631) — and, when that
        type has layouts, which one it prints. -> '' or a plain reason it was refused."""
        choice = next((c for c in self.printer_choices() if c.language == language), None)
        if choice is None or (fmt and choice.formats and fmt not in dict(choice.formats)):
            return i18n.tr("Choose the kind of printer.")
        try:
            self.services.printers.add_printer(address, language, fmt if choice.formats else "")
        except ValueError:
            return i18n.tr("Type an address like 192.168.1.50:9100.")
        return ""

    def set_printer_format(self, printer_id: str, fmt: str) -> str:
        """The layout a printer prints (e.g. Zebra: show or cinema ticket). -> '' or why not."""
        try:
            self.services.printers.set_format(printer_id, fmt)
        except (ValueError, LookupError):
            return i18n.tr("Choose the kind of printer.")
        return ""

    def print_order(self, order_number: str, kind: str = "ticket", reprint: bool = False,
                    ticket_keys: tuple[str, ...] | None = None) -> PrintResult:
        """Print an order's tickets (or some of them). Tickets that do not print stay in `pending_prints()`."""
        chosen_tickets = [t for t in self.door.order(order_number)
                          if ticket_keys is None or t["ticket_key"] in ticket_keys]
        if not chosen_tickets:
            return PrintResult(False, 0, i18n.tr("No ticket in this order."))
        tickets = [t for t in chosen_tickets if not self.no_longer_valid(t["ticket_key"])]
        if not tickets:                          # exchanged, refunded, cancelled: the door would refuse them
            key = chosen_tickets[0]["ticket_key"]
            return PrintResult(False, 0, i18n.tr("Ticket {key} is no longer valid ({why}): not printed.",
                                                 key=short_key(key), why=revoked_text(self.no_longer_valid(key) or "")))
        printer = self.printer_for(kind)
        if printer is None:
            return PrintResult(False, 0, i18n.tr("No printer found. See the checklist."))
        chosen = printer.printer_id
        keys = tuple(t["ticket_key"] for t in tickets)
        before = set() if reprint else self._came_out_before(order_number, kind)   # printed again: copies
        job = PrintJob(order_number, keys, kind, reprint, tuple(k for k in keys if k in before))
        result = self.services.printers.print_job(chosen, job, tickets)
        came_out = job.ticket_keys[:result.printed]   # recorded, also when the rest waits in the queue
        for copies in (False, True):
            done = tuple(k for k in came_out if job.copy(k) is copies)
            if done:
                self._record_print(order_number, done, kind, copies, chosen)
        return result

    def _came_out_before(self, order_number: str, kind: str) -> set[str]:
        """The order's tickets that may be out already, so printed again they are copies: those this kiosk printed,
        and those kept in the print queue as possibly printed (the printer had them when it failed). A ticket kept
        but never sent stays an original."""
        maybe = {p.ticket_key for p in self.services.printers.pending()
                 if p.order_number == order_number and p.kind == kind and p.reprint}
        return self.door.ledger.printed_here(order_number, kind) | maybe

    def pending_prints(self) -> list[PendingPrint]:
        """Tickets that did not print, with why; kept until printed again or dismissed."""
        self._drop_invalid_prints()
        return self.services.printers.pending()

    def retry_prints(self, job_id: int | None = None, printer_id: str | None = None
                     ) -> list[tuple[PendingPrint, PrintResult]]:
        """Print again one kept ticket, or all of them (stops at the first that fails again), on the printer it was
        meant for or on `printer_id`. A ticket no longer valid is taken out of the queue, not printed."""
        dropped = self._drop_invalid_prints()
        if job_id is not None and job_id in dropped:
            job, why = dropped[job_id]
            return [(job, PrintResult(False, 0, i18n.tr("Ticket {key} is no longer valid ({why}): not printed.",
                                                        key=short_key(job.ticket_key), why=revoked_text(why))))]
        results = self.services.printers.retry(job_id, printer_id)
        for job, result in results:
            if result.ok and job.ticket_key:          # a kept report slip (the Z report) is no ticket printed
                self._record_print(job.order_number, (job.ticket_key,), job.kind, job.reprint, job.printer_id)
        return results

    def dismiss_print(self, job_id: int) -> PendingPrint | None:
        """The operator gives up on a kept ticket (printed elsewhere, buyer gone). None when it is no longer kept:
        printed by "Print all again", or taken out, while its popup was open."""
        try:
            return self.services.printers.dismiss(job_id)
        except KeyError:
            return None

    def _drop_invalid_prints(self) -> dict[int, tuple[PendingPrint, str]]:
        """Kept tickets taken back since (exchanged, refunded, cancelled: here, offline, or from the server's sync)
        leave the print queue: "Print all again" must not print a ticket the door refuses. -> {job_id: (job, why)}"""
        dropped = {}
        for job in self.services.printers.pending():
            if not job.ticket_key:                    # a kept report slip (the Z report)
                continue
            why = self.no_longer_valid(job.ticket_key)
            if why:
                self.services.printers.dismiss(job.job_id)
                log.info("print queue: ticket %s of order %s taken out, no longer valid: %s", job.ticket_key,
                         job.order_number, why)
                dropped[job.job_id] = (job, why)
        return dropped

    def no_longer_valid(self, ticket_key: str) -> str | None:
        """Why a ticket must not be printed any more (exchanged, refunded, cancelled), or None."""
        history = self.door.ledger.history(ticket_key)
        return history.revoked or (history.order_status if history.order_status in ("cancelled", "refunded") else None)

    def _record_print(self, order_number: str, ticket_keys: tuple[str, ...], kind: str, reprint: bool,
                      printer: str) -> None:
        self.door.ledger.enqueue("kiosk", Printed(order_number, tuple(ticket_keys), self.door.policy.device_id, kind,
                                                  printer, reprint, at=time.time()).to_wire())
