"""Jobs that did not print stay listed until printed or dismissed by the operator: never lost without saying so.

    queue = PrintQueue(lambda ticket: print_ticket(config, ticket))
    result = queue.submit(ticket)         # not printed -> kept in queue.pending with the printer's message
    queue.retry_all()                     # after loading paper
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

from drivers.printers.model import PrintableTicket, PrintResult


@dataclass
class PendingJob:
    job_id: int
    ticket: PrintableTicket
    message: str
    attempts: int = 1
    first_failed_at: float = field(default_factory=time.time)


class PrintQueue:
    def __init__(self, send: Callable[[PrintableTicket], PrintResult]):
        self.send = send
        self.pending: dict[int, PendingJob] = {}
        self._ids = itertools.count(1)

    def submit(self, ticket: PrintableTicket) -> PrintResult:
        result = self._send(ticket)
        if not result.printed:
            job_id = next(self._ids)
            self.pending[job_id] = PendingJob(job_id, ticket, result.message)
        return result

    def retry(self, job_id: int) -> PrintResult:
        job = self.pending[job_id]
        result = self._send(job.ticket)
        if result.printed:
            del self.pending[job_id]
        else:
            job.attempts += 1
            job.message = result.message
        return result

    def retry_all(self) -> list[PrintResult]:
        results = []
        for job_id in list(self.pending):
            result = self.retry(job_id)
            results.append(result)
            if not result.printed:
                break                      # same printer, same problem: stop and show it
        return results

    def dismiss(self, job_id: int) -> PendingJob:
        """The operator decides not to print it (e.g. reprinted elsewhere)."""
        return self.pending.pop(job_id)

    def _send(self, ticket: PrintableTicket) -> PrintResult:
        try:
            return self.send(ticket)
        except Exception as exc:
            return PrintResult(False, f"printing failed ({type(exc).__name__}: {exc}). Not printed.")
