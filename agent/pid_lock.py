"""An exclusive `flock` on a file naming its holder's pid: one process per folder for a long-running command (a
device folder's sync, a state folder's `provision serve`). The kernel lets go of it when the process ends, however
it ends; the pid written in the file lets the next one say who holds it."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from agent.errors import TicketgateError


class Held(TicketgateError):
    """Another process holds the lock; `pid` is its pid as the file names it ('' when it does not)."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid

    def naming(self) -> str:
        """`, pid N` for a message, or nothing."""
        return f", pid {self.pid}" if self.pid else ""


def take(path: Path) -> IO[str]:
    """The open lock file at `path` (keep it open while the lock is needed; 0600), or Held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    lock = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = lock.read().strip()
        lock.close()
        raise Held(holder if holder.isdigit() else "") from None
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock
