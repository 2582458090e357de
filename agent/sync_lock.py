"""One sync per device folder. The device's broker login is one MQTT client id: a second process syncing the same
folder (`agent sync` started again in another terminal, or beside the app) made the broker drop the first on each
connection of the other, both saying "online" then "offline: retrying" in turn, neither catching up. The second now
stops before it connects, naming the one that holds the folder.

`agent.pid_lock` on `<device folder>/sync.lock`, held while the sync runs."""
from __future__ import annotations

from pathlib import Path
from typing import IO

from agent import pid_lock
from agent.errors import TicketgateError

LOCK_FILE = "sync.lock"


class AlreadySyncing(TicketgateError):
    """Another process syncs this device folder."""


def hold(folder: Path) -> IO[str]:
    """Take the device folder's sync for this process: the open lock file (close it when the sync stops), or
    AlreadySyncing naming the holder."""
    try:
        return pid_lock.take(folder / LOCK_FILE)
    except pid_lock.Held as held:
        raise AlreadySyncing(f"another process syncs this device ({folder}{held.naming()}: `ticketgate agent sync` "
                             f"or the app): two would take turns on its one broker login, neither keeping up. Let "
                             f"it finish, or stop it, then sync again. Nothing was sent") from None
