"""Jobs that did not print stay listed until printed or dismissed by the operator: never lost without saying so.

    queue = PrintQueue(lambda printer, ticket: print_ticket(config_of(printer), ticket), keep=store)
    result = queue.submit(ticket, printer="escpos:10.0.0.20:9100")  # not printed -> kept with the printer's message
    queue.retry_all()                                                # after loading paper

The kiosk app uses one per device (kiosk_ui.adapters.printers_drivers), kept in the ledger's settings so a failed
job survives a restart. `ref` is the caller's note about the job (order, ticket key, reprint…), kept with it.
A job is kept before it is sent (`hold`, `send_held`): an app killed mid-print (kill -9, battery) finds it listed
after the restart, the one being sent as a possible copy (it may have come out), the others as not sent.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from drivers.printers.model import PrintableTicket, PrintResult

Send = Callable[[str, PrintableTicket], PrintResult]
# what a job kept before its send says after a restart when the app stopped before the printer answered
NOT_SENT = "not printed: the app stopped before sending it to the printer."
MAYBE_SENT = "the app stopped while sending it to the printer: it may have come out. Printed again, it is a copy."


@dataclass
class PendingJob:
    job_id: int
    ticket: PrintableTicket
    message: str                       # the printer's last answer (English; `result` has it for translation)
    printer: str = ""
    ref: dict = field(default_factory=dict)
    attempts: int = 1
    first_failed_at: float = field(default_factory=time.time)
    result: PrintResult | None = None

    def to_json(self) -> dict:
        r = self.result
        return {"job_id": self.job_id, "ticket": self.ticket.to_json(), "message": self.message, "printer": self.printer,
                "ref": self.ref, "attempts": self.attempts, "first_failed_at": self.first_failed_at,
                "template": r.template if r is not None else "", "params": r.params if r is not None else {}}

    @classmethod
    def from_json(cls, d: dict) -> "PendingJob":
        result = PrintResult(False, 0, d["message"], d.get("printer", ""), template=d.get("template", ""),
                             params=d.get("params") or {})
        return cls(int(d["job_id"]), PrintableTicket.from_json(d["ticket"]), d["message"], d.get("printer", ""),
                   d.get("ref") or {}, int(d.get("attempts", 1)), float(d.get("first_failed_at", time.time())), result)


def _as_copy_if_sent(ticket: PrintableTicket, result: PrintResult) -> PrintableTicket:
    """A job the printer received (all or part) may have come out: printed again, it is marked as a copy."""
    return replace(ticket, reprint=True) if result.bytes_sent and not ticket.reprint else ticket


class JobStore(Protocol):
    def load(self) -> list[dict]: ...
    def save(self, jobs: list[dict]) -> None: ...


class PrintQueue:
    def __init__(self, send: Send, keep: JobStore | None = None):
        self.send, self.keep = send, keep
        self.pending: dict[int, PendingJob] = {}
        for d in (keep.load() if keep else []):
            try:
                job = PendingJob.from_json(d)
            except (KeyError, TypeError, ValueError):
                continue                   # a damaged entry cannot be printed; the rest still can
            self.pending[job.job_id] = job
        self._ids = itertools.count(max(self.pending, default=0) + 1)
        self.fresh: set[int] = set()           # held for their first send, not failed yet
        self.sending: set[int] = set()         # being sent now

    def submit(self, ticket: PrintableTicket, printer: str = "", ref: dict | None = None) -> PrintResult:
        return self.send_held(self.hold([(ticket, ref)], printer)[0])

    def hold(self, jobs: list[tuple[PrintableTicket, dict | None]], printer: str = "") -> list[int]:
        """Keep jobs about to be sent, hidden from `waiting()` until they fail; saved with the first `send_held`,
        before anything goes out: a kill before the printer answered leaves them listed after the restart. -> ids."""
        ids = []
        for ticket, ref in jobs:
            job_id = next(self._ids)
            self.pending[job_id] = PendingJob(job_id, ticket, NOT_SENT, printer, dict(ref or {}),
                                              result=PrintResult.done(False, NOT_SENT, printer))
            self.fresh.add(job_id)
            ids.append(job_id)
        return ids

    def send_held(self, job_id: int) -> PrintResult:
        """Send a held job: printed -> out of the queue; not printed -> kept with the printer's answer."""
        self.fresh.discard(job_id)
        return self.retry(job_id, first=True)

    def fail_held(self, job_id: int, result: PrintResult) -> None:
        """A held job not sent (the printer failed on an earlier one): kept with `result`."""
        job = self.pending[job_id]
        job.message, job.result = result.message, result
        self.fresh.discard(job_id)
        self._save()

    def waiting(self) -> list[PendingJob]:
        """The jobs kept to print again, oldest first (not those held for a send in progress)."""
        return [j for j in list(self.pending.values()) if j.job_id not in self.fresh]   # (a print may change it)

    def keep_job(self, ticket: PrintableTicket, result: PrintResult, printer: str = "", ref: dict | None = None) -> int:
        """Keep a job that was not printed (or not even sent) with the reason. -> its id."""
        job_id = next(self._ids)
        self.pending[job_id] = PendingJob(job_id, _as_copy_if_sent(ticket, result), result.message, printer,
                                          dict(ref or {}), result=result)
        self._save()
        return job_id

    def retry(self, job_id: int, first: bool = False) -> PrintResult:
        job = self.pending[job_id]
        self.sending.add(job_id)
        try:
            self._save()                       # saved as a possible copy before a byte goes out (see `_save`)
            result = self._send(job.printer, job.ticket)
        finally:
            self.sending.discard(job_id)
        if result.ok:
            self.pending.pop(job_id, None)     # (dismissed by the operator while it printed: gone already)
        else:
            job.attempts += 0 if first else 1
            job.message, job.result, job.ticket = result.message, result, _as_copy_if_sent(job.ticket, result)
        self._save()
        return result

    def retry_all(self) -> list[PrintResult]:
        """Oldest first; stops at the first failure (same printer, same problem: show it)."""
        results = []
        for job_id in list(self.pending):
            result = self.retry(job_id)
            results.append(result)
            if not result.ok:
                break
        return results

    def dismiss(self, job_id: int) -> PendingJob:
        """The operator decides not to print it (e.g. reprinted elsewhere)."""
        job = self.pending.pop(job_id)
        self._save()
        return job

    def _save(self) -> None:
        """What a restart would find: a job being sent is kept as a possible copy (the printer may have printed it
        before the app stopped)."""
        if self.keep is not None:
            self.keep.save([self._as_kept(j).to_json() for j in self.pending.values()])

    def _as_kept(self, job: PendingJob) -> PendingJob:
        if job.job_id not in self.sending:
            return job
        maybe = PrintResult.done(False, MAYBE_SENT, job.printer)
        return replace(job, ticket=replace(job.ticket, reprint=True), message=maybe.message, result=maybe)

    def _send(self, printer: str, ticket: PrintableTicket) -> PrintResult:
        try:
            return self.send(printer, ticket)
        except Exception as exc:
            return PrintResult.done(False, "printing failed ({why}). Not printed.", printer,
                                    why=f"{type(exc).__name__}: {exc}")
