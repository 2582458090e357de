"""An exclusive `flock` on a file naming its holder's pid: one process per folder for a long-running command (a
device folder's sync, a state folder's `provision serve`). The kernel lets go of it when the process ends, however
it ends; the pid written in the file lets the next one say who holds it."""
from __future__ import annotations

import errno
import fcntl
import os
import stat
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


class NotALock(TicketgateError):
    """The lock's path holds something taking the lock would write through: a symbolic link, a file of several
    names (a hard link), not a regular file."""


def take(path: Path) -> IO[str]:
    """The open lock file at `path` (keep it open while the lock is needed; 0600), or Held, or NotALock. The lock
    file is written (the holder's pid): a `sync.lock` made a link to the ledger, or to a file outside the folder,
    had that file emptied and overwritten with a pid; it is now opened without following a link, and a file with
    another name elsewhere (a hard link) or no regular file is refused, left as it is."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_a_lock(path, "a symbolic link") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise _not_a_lock(path, "a file with another name too (a hard link)" if stat.S_ISREG(info.st_mode)
                          else "not a regular file")
    os.set_blocking(fd, True)
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


def _not_a_lock(path: Path, what: str) -> NotALock:
    return NotALock(f"{path} is {what}, not the lock file this command keeps there: taking the lock would overwrite "
                    f"what it leads to. Nothing was written; move {path.name} away (it holds nothing of value) and "
                    "run the command again")
