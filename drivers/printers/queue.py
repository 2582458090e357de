"""Jobs that did not print stay listed until printed or dismissed by the operator: never lost without saying so.

    queue = PrintQueue(lambda printer, ticket: print_ticket(config_of(printer), ticket), keep=store)
    result = queue.submit(ticket, printer="escpos:10.0.0.20:9100")  # not printed -> kept with the printer's message
    queue.retry_all()                                                # after loading paper

The kiosk app uses one per device (kiosk_ui.adapters.printers_drivers), kept in the ledger's settings so a failed
job survives a restart. `ref` is the caller's note about the job (order, ticket key, reprint…), kept with it.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Protocol

from drivers.printers.model import PrintableTicket, PrintResult

Send = Callable[[str, PrintableTicket], PrintResult]


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

    def submit(self, ticket: PrintableTicket, printer: str = "", ref: dict | None = None) -> PrintResult:
        result = self._send(printer, ticket)
        if not result.ok:
            self.keep_job(ticket, result, printer, ref)
        return result

    def keep_job(self, ticket: PrintableTicket, result: PrintResult, printer: str = "", ref: dict | None = None) -> int:
        """Keep a job that was not printed (or not even sent) with the reason. -> its id."""
        job_id = next(self._ids)
        self.pending[job_id] = PendingJob(job_id, _as_copy_if_sent(ticket, result), result.message, printer,
                                          dict(ref or {}), result=result)
        self._save()
        return job_id

    def retry(self, job_id: int) -> PrintResult:
        job = self.pending[job_id]
        result = self._send(job.printer, job.ticket)
        if result.ok:
            self.pending.pop(job_id, None)     # (dismissed by the operator while it printed: gone already)
        else:
            job.attempts += 1
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
        if self.keep is not None:
            self.keep.save([j.to_json() for j in self.pending.values()])

    def _send(self, printer: str, ticket: PrintableTicket) -> PrintResult:
        try:
            return self.send(printer, ticket)
        except Exception as exc:
            return PrintResult.done(False, "printing failed ({why}). Not printed.", printer,
                                    why=f"{type(exc).__name__}: {exc}")
