"""One sync per device folder. The device's broker login is one MQTT client id: a second process syncing the same
folder (`agent sync` started again in another terminal, or beside the app) made the broker drop the first on each
connection of the other, both saying "online" then "offline: retrying" in turn, neither catching up. The second now
stops before it connects, naming the one that holds the folder.

An exclusive `flock` on `<device folder>/sync.lock`, held while the sync runs (the kernel lets go of it when the
process ends, however it ends); the file names the holder's pid for the message."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from agent.errors import TicketgateError

LOCK_FILE = "sync.lock"


class AlreadySyncing(TicketgateError):
    """Another process syncs this device folder."""


def hold(folder: Path) -> IO[str]:
    """Take the device folder's sync for this process: the open lock file (close it when the sync stops), or
    AlreadySyncing naming the holder."""
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    lock = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = lock.read().strip()
        lock.close()
        pid = f", pid {holder}" if holder.isdigit() else ""
        raise AlreadySyncing(f"another process syncs this device ({folder}{pid}: `ticketgate agent sync` or the "
                             f"app): two would take turns on its one broker login, neither keeping up. Let it "
                             f"finish, or stop it, then sync again. Nothing was sent")
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock
