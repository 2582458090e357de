"""Revoking a device: the one definition `ticketgate server device revoke` and `ticketgate provision revoke` share.

A device is revoked either as lost or stolen (its scans not sent yet are never taken) or, `--replaced`, as replaced by
a spare (its login cut the same; its wipe keeps the scans it did not send, uploaded as its own when it is enrolled
again). The store records which (`devices.replaced_by_spare`); `provision serve` cuts a device the organiser revoked
through the server with the wipe that says it (provisioning.server.runtime.cut_revoked). Both commands print the same
words. A device out of service already is not revoked again, but `--replaced` still marks it replaced by a spare.
"""
from __future__ import annotations

from typing import Callable

from server_stub.cli_output import revoke_refused
from server_stub.store.protocol import ServerStore

REPLACED_HELP = ("the device was replaced by a spare, not lost or stolen: its wipe keeps the scans it did not send "
                 "yet, uploaded as its own when it is enrolled again")
REPLACED_SAID = ("replaced by a spare: when it is switched on it wipes itself and keeps the scans it did not send yet; "
                 "enrolled again (a new code), it uploads them as its own")
LOST_SAID = ("its scans not sent yet are never taken (a lost or stolen device); a device replaced by a spare is "
             "revoked with --replaced, which keeps them")


def marked_said(device_id: str) -> str:
    return (f"device {device_id} was revoked already; now marked replaced by a spare: if it has not wiped itself yet "
            "(switched off since), its wipe keeps the scans it did not send yet, uploaded as its own when it is "
            "enrolled again")


def revoke(store: ServerStore, device_id: str, *, replaced: bool, command: str, cut: Callable[[], str],
           also_mark: Callable[[], bool] = lambda: False) -> tuple[int, str]:
    """Revoke `device_id` (a device of the organiser's, known to `store`): (exit code, what to print). `cut()` takes
    it out of service (the store, and for `provision revoke` the broker login at once) and says how; `command`:
    the revoke command to name for a retired id; `also_mark()`: marks a revoked device replaced elsewhere too (the
    provisioning registry), True when it changed."""
    d = store.device(device_id)
    again = revoke_refused(d, store.device, command) if d else None
    if again is not None and d is not None:
        code, said = again
        if code == 0 and replaced:
            changed = not d.get("replaced_by_spare")
            store.revoke_device(device_id, spare=True)
            if also_mark() or changed:
                return 0, marked_said(device_id)
        return code, said
    return 0, cut() + "\n" + (REPLACED_SAID if replaced else LOST_SAID)
