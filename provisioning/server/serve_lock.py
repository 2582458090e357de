"""One `ticketgate provision serve` per state folder. A second one (started again in another terminal) rewrote the
broker's configuration and the organiser's broker login (`broker-login.json`) for its own broker, then stopped when
its endpoint port was taken: `server push` and `server serve` then pointed at a port where nothing listens, while
the first one went on serving the devices. The second now stops before it writes anything.

An exclusive `flock` on `<state>/serve.lock`, held for the life of the process (the kernel lets go of it when the
process ends, however it ends); the file names the holder's pid for the message."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from agent.errors import TicketgateError

LOCK_FILE = "serve.lock"


class AlreadyServing(TicketgateError):
    """Another `provision serve` holds this state folder."""


def hold(state: Path) -> IO[str]:
    """Take the state folder for this process: the open lock file (keep it open while serving), or AlreadyServing."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    lock = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = lock.read().strip()
        lock.close()
        raise AlreadyServing(f"another `ticketgate provision serve` runs on this data folder ({state}"
                             f"{', pid ' + holder if holder.isdigit() else ''}): it serves the devices with its "
                             f"broker; stop it (Ctrl-C in its terminal) before starting another. Nothing was changed")
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock
