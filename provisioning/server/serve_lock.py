"""One `ticketgate provision serve` per state folder. A second one (started again in another terminal) rewrote the
broker's configuration and the organiser's broker login (`broker-login.json`) for its own broker, then stopped when
its endpoint port was taken: `server push` and `server serve` then pointed at a port where nothing listens, while
the first one went on serving the devices. The second now stops before it writes anything.

`agent.pid_lock` on `<state>/serve.lock`, held for the life of the process."""
from __future__ import annotations

from pathlib import Path
from typing import IO

from agent import pid_lock
from agent.errors import TicketgateError

LOCK_FILE = "serve.lock"


class AlreadyServing(TicketgateError):
    """Another `provision serve` holds this state folder."""


def hold(state: Path) -> IO[str]:
    """Take the state folder for this process: the open lock file (keep it open while serving), or AlreadyServing."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        return pid_lock.take(state / LOCK_FILE)
    except pid_lock.Held as held:
        raise AlreadyServing(f"another `ticketgate provision serve` runs on this data folder ({state}"
                             f"{held.naming()}): it serves the devices with its broker; stop it (Ctrl-C in its "
                             f"terminal) before starting another. Nothing was changed") from None
