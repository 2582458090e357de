"""The kiosk's printers, through the drivers package: the printers set up on this device (drivers.printers.settings)
plus what mDNS finds, printed with `print_ticket` (any registered printer language: ESC/POS, ZPL, CR80 badges).

Tickets are printed in the event's language and time zone; a ticket that does not print is kept in the device's
print queue (ledger setting `print_queue`, survives a restart) with the reason, until printed again or dismissed.
Messages for the operator are in the app's language."""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

from drivers.printers import registry
from drivers.printers import settings as printer_settings
from drivers.printers.model import PrintableTicket, PrintResult
from drivers.printers.queue import PendingJob, PrintQueue
from drivers.printers.receipt import Receipt
from drivers.printers.service import PrinterConfig, print_ticket
from drivers.printers.wording import say, when
from kiosk_ui import i18n
from kiosk_ui.services import PendingPrint, PrinterChoice, PrinterInfo, PrintJob

REFRESH_SECONDS = 2.0
QUEUE_SETTING = "print_queue"
REPORT = "z_report"                # the print-queue kind of a kept report slip (the till's Z report)
SLIP = "slip"                      # the print-queue kind of a kept receipt slip (an exchange's price difference)


class _LedgerJobs:
    """The print queue kept in the ledger's settings."""

    def __init__(self, ledger: Any):
        self.ledger = ledger

    def load(self) -> list[dict]:
        return list(self.ledger.get_setting(QUEUE_SETTING, []) or [])

    def save(self, jobs: list[dict]) -> None:
        self.ledger.set_setting(QUEUE_SETTING, jobs)


def split_id(printer_id: str) -> tuple[str, str, int]:
    """'zpl:192.168.1.60:9100' -> ('zpl', '192.168.1.60', 9100)."""
    language, _, address = printer_id.partition(":")
    host, _, port = address.rpartition(":")
    return language, host, int(port)


class DriverPrinters:
    available = True

    def __init__(self, settings: Any, payload: Callable[[str], str | None], names: Any, printer_list=None,
                 language: Callable[[], str] = i18n.language):
        from drivers.printers.discovery import PrinterList
        self.settings, self.payload, self.names, self.language = settings, payload, names, language
        self.list = printer_list or PrinterList()
        self.queue = PrintQueue(lambda printer_id, ticket: print_ticket(self._config(printer_id), ticket),
                                keep=_LedgerJobs(settings))
        self._online: dict[str, bool] = {}
        # prints that use the print queue take turns: the sold screen, the ticket desk and the sale each print off
        # the UI thread with their own busy flag, and two prints of one ticket at once each kept it (printed twice)
        self._turn = threading.Lock()

    # -- the list and Set-up -----------------------------------------------------------------------------------------
    def printers(self) -> list[PrinterInfo]:
        saved = printer_settings.load(self.settings)
        out = [PrinterInfo(p.printer_id, p.name, p.kind, p.language, self._online.get(p.printer_id, True), p.format,
                           saved=True) for p in saved]
        seen = {(p.host, p.port) for p in saved}
        for e in self.list.entries():
            if not e.language or (e.host, e.port) in seen:
                continue
            lang = registry.get(e.language)
            pid = f"{lang.name}:{e.host}:{e.port}"
            out.append(PrinterInfo(pid, e.name or pid, lang.kind, lang.name, self._online.get(pid, True),
                                   lang.format_or_default("")))
        return out

    def refresh(self) -> list[PrinterInfo]:
        self.list.refresh(REFRESH_SECONDS)         # never raises; a failed search leaves `error`
        return self.printers()

    @property
    def error(self) -> str:
        """Why the last network search failed ('' when it worked): shown above the printer list."""
        return self.list.error

    def not_found_checklist(self) -> list[str]:
        from drivers.printers.discovery import HELP_CHECKLIST
        return [line.split(". ", 1)[-1] for line in HELP_CHECKLIST[1:]]

    def choices(self) -> list[PrinterChoice]:
        lang = self.language()
        return [PrinterChoice(c.name, say(lang, c.label), c.kind, c.default_port,
                              tuple((f.name, say(lang, f.label)) for f in c.formats))
                for c in printer_settings.choices()]

    def add_printer(self, address: str, language: str = "escpos", fmt: str = "") -> PrinterInfo:
        p = printer_settings.add(self.settings, address, language, fmt)
        return next(i for i in self.printers() if i.printer_id == p.printer_id)

    def set_format(self, printer_id: str, fmt: str) -> PrinterInfo:
        if not any(p.printer_id == printer_id for p in printer_settings.load(self.settings)):
            language, host, port = split_id(printer_id)       # found on the network: set it up with that format
            printer_settings.add(self.settings, f"{host}:{port}", language, fmt)
        else:
            printer_settings.set_format(self.settings, printer_id, fmt)
        return next(i for i in self.printers() if i.printer_id == printer_id)

    def _config(self, printer_id: str) -> PrinterConfig:
        for p in printer_settings.load(self.settings):
            if p.printer_id == printer_id:
                return p.config()
        language, host, port = split_id(printer_id)
        return printer_settings.PrinterSetting(host, port, language).config()

    # -- printing ----------------------------------------------------------------------------------------------------
    def print_job(self, printer_id: str, job: PrintJob, tickets: list[dict]) -> PrintResult:
        with self._turn:
            return self._print_job(printer_id, job, tickets)

    def _print_job(self, printer_id: str, job: PrintJob, tickets: list[dict]) -> PrintResult:
        lang = self.language()
        printables = []
        for t in tickets:
            ticket = self._printable(t, job.copy(t["ticket_key"]))
            if ticket is None:
                template = ("No printable copy of ticket {key} on this device (its QR comes with the kiosk's event "
                            "bundle). Nothing printed.")
                return self._say(PrintResult.done(False, template, printer_id, key=t["ticket_key"]), lang)
            printables.append((t, ticket))
        for old in list(self.queue.pending.values()):   # printing a kept ticket again supersedes its queued copy
            if old.ref.get("ticket_key") in job.ticket_keys:
                self.queue.dismiss(old.job_id)
        held = self.queue.hold([(ticket, {"order_number": job.order_number, "ticket_key": t["ticket_key"],
                                          "kind": job.kind, "reprint": job.copy(t["ticket_key"])})
                                for t, ticket in printables],
                               printer_id)           # kept before anything is sent: a kill mid-print loses none
        done, kept, failure = 0, 0, None
        for job_id in held:
            if failure is None:
                result = self.queue.send_held(job_id)
                done, failure = (done + 1, None) if result.ok else (done, result)
                kept += 0 if result.ok else 1
            else:                      # the printer just failed: the rest of the order waits in the queue with it
                self.queue.fail_held(job_id, PrintResult.done(
                    False, "not sent: the printer failed on an earlier ticket of this order."))
                kept += 1
        self._online[printer_id] = failure is None
        if failure is None:
            return PrintResult(True, done, say(lang, "printed"), printer_id)
        why = failure.in_language(lang)
        message = why if done == 0 else say(lang, "{done} printed, then: {why}", done=done, why=why)
        message += " " + say(lang, "{n} ticket(s) kept to print again: see the print queue.", n=kept)
        return PrintResult(False, done, message, printer_id, failure.bytes_sent, failure.ms, kept)

    def keep(self, printer_id: str, job: PrintJob, tickets: list[dict], why: str) -> int:
        """Tickets put in the print queue without printing them, with `why` (an English phrase of `wording`): the
        operator prints them, or drops them, from the queue. -> how many were kept."""
        with self._turn:
            kept = 0
            for t in tickets:
                ticket = self._printable(t, job.copy(t["ticket_key"]))
                if ticket is not None:
                    self.queue.keep_job(ticket, PrintResult.done(False, why, printer_id), printer_id,
                                        {"order_number": job.order_number, "ticket_key": t["ticket_key"],
                                         "kind": job.kind, "reprint": job.copy(t["ticket_key"])})
                    kept += 1
            return kept

    def print_receipt(self, printer_id: str, receipt: Receipt, keep: bool = False) -> PrintResult:
        """The desk's receipt on an ESC/POS printer. A sale's is not kept in the queue (the sale keeps it to print
        again); with `keep` (an exchange's slip, kept nowhere else) one that does not print waits in the print
        queue like the Z report."""
        from drivers.printers.receipt import send_receipt
        with self._turn:
            result = send_receipt(self._config(printer_id), receipt)
            self._online[printer_id] = result.ok
            if result.ok or not keep:
                return self._say(result, self.language())
            stand_in = PrintableTicket(receipt.event_name, "", receipt.event_name, order_number=receipt.order_number,
                                       language=self.language())
            self.queue.keep_job(stand_in, result, printer_id, {"kind": SLIP, "order_number": receipt.order_number,
                                                               "receipt": receipt.to_json()})
            return replace(result, kept=1, message=result.in_language(self.language()) + " " + say(
                self.language(), "The slip is kept to print again: see the print queue."))

    def print_report(self, printer_id: str, rows: tuple[tuple[str, str], ...]) -> PrintResult:
        """A report slip (the till's Z report, rows in the app's language) on an ESC/POS printer."""
        with self._turn:
            return self._print_report(printer_id, rows)

    def _print_report(self, printer_id: str, rows: tuple[tuple[str, str], ...]) -> PrintResult:
        from drivers.printers.receipt import send_report
        result = send_report(self._config(printer_id), rows, self.language())
        self._online[printer_id] = result.ok
        if not result.ok:              # kept in the print queue like a ticket, printed again from there
            title = " ".join(rows[0])
            stand_in = PrintableTicket(title, "", title, order_number=title, language=self.language())
            self.queue.keep_job(stand_in, result, printer_id, {"kind": REPORT, "order_number": title,
                                                               "rows": [list(r) for r in rows]})
            result = replace(result, kept=1, message=result.in_language(self.language()) + " " + say(
                self.language(), "The report is kept to print again: see the print queue."))
            return result
        return self._say(result, self.language())

    def _retry_report(self, job: PendingJob) -> PrintResult:
        """A kept report or receipt slip printed again (the queue's own retry prints tickets)."""
        from drivers.printers.receipt import send_receipt, send_report
        if job.ref.get("kind") == SLIP:
            result = send_receipt(self._config(job.printer), Receipt.from_json(job.ref["receipt"]))
        else:
            rows = tuple((str(a), str(b)) for a, b in job.ref["rows"])
            result = send_report(self._config(job.printer), rows, self.language())
        if result.ok:
            self.queue.dismiss(job.job_id)
        else:
            job.attempts += 1
            job.message, job.result = result.message, result
            self.queue._save()
        return result

    def pending(self) -> list[PendingPrint]:
        return [self._pending(j) for j in self.queue.waiting()]     # a copy: a print may change it now

    def retry(self, job_id: int | None = None, printer_id: str | None = None) -> list[tuple[PendingPrint, PrintResult]]:
        """One kept ticket, or all of them oldest first (a printer that fails again gets none of the rest: they wait
        with it; the others' still print); on another printer when `printer_id` is given (the first one is broken)."""
        with self._turn:
            return self._retry(job_id, printer_id)

    def _retry(self, job_id: int | None, printer_id: str | None) -> list[tuple[PendingPrint, PrintResult]]:
        lang = self.language()
        out = []
        failed: set[str] = set()               # printers that failed again: the rest of theirs wait (same problem)
        for jid in ([job_id] if job_id is not None else list(self.queue.pending)):
            job = self.queue.pending.get(jid)
            if job is None:                    # dismissed while this print waited for its turn
                continue
            report = job.ref.get("kind") in (REPORT, SLIP)
            moved = bool(printer_id) and (not report or split_id(printer_id or "")[0] == "escpos")  # reports: ESC/POS
            if (printer_id if moved else job.printer) in failed:
                continue
            if moved and printer_id:
                job.printer = printer_id
            if not report:
                self._payment_now(job)
            result = self._retry_report(job) if report else self.queue.retry(jid)
            self._online[job.printer] = result.ok
            out.append((self._pending(job), self._say(result, lang)))
            if not result.ok:                  # a slip waiting for the receipt printer holds no ticket back
                failed.add(job.printer)
        return out

    def _payment_now(self, job: PendingJob) -> None:
        """A kept ticket whose order was paid since (or turned pending) prints as it stands now: with or without
        PAYMENT PENDING."""
        row = self.settings.ticket(job.ref["ticket_key"]) if job.ref.get("ticket_key") and hasattr(
            self.settings, "ticket") else None
        if row is not None:
            job.ticket = replace(job.ticket, payment_pending=row.get("order_status") == "pending")

    def dismiss(self, job_id: int) -> PendingPrint:
        return self._pending(self.queue.dismiss(job_id))

    def _pending(self, job: PendingJob) -> PendingPrint:
        """`reprint`: it comes out marked as a copy (asked so, or the printer had received part of it)."""
        message = job.result.in_language(self.language()) if job.result is not None else job.message
        return PendingPrint(job.job_id, str(job.ref.get("order_number", job.ticket.order_number)),
                            str(job.ref.get("ticket_key", "")), job.printer, message, job.attempts,
                            bool(job.ref.get("reprint")) or job.ticket.reprint, str(job.ref.get("kind", "ticket")))

    @staticmethod
    def _say(result: PrintResult, lang: str) -> PrintResult:
        return replace(result, message=result.in_language(lang))

    def _printable(self, t: dict, reprint: bool) -> PrintableTicket | None:
        """The ticket as printed: its verified QR, names from the event bundle, the event's language and time."""
        payload = self.payload(t["ticket_key"])
        if not payload:
            return None
        event = self.names.event(t.get("event_id")) or {}
        lang = event.get("language") or "en"
        zone = self.names.zone(t.get("event_id"), t["zone"]) if t.get("zone") is not None else None
        cat = self.names.category(t.get("event_id"), t.get("category"))
        return PrintableTicket(event_name=event.get("name") or say(lang, "Event {n}", n=t.get("event_id")),
                               date_text=when(event.get("starts_at"), event.get("ends_at"), event.get("timezone") or "UTC",
                                              lang),
                               payload=payload, category=cat["name"] if cat else "", zone=zone["name"] if zone else "",
                               seat=t.get("seat") or "", order_number=t.get("order_number") or "",
                               buyer_name=t.get("buyer_name") or "", language=lang, reprint=reprint,
                               payment_pending=t.get("order_status") == "pending")
