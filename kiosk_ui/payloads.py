"""Where the kiosk finds the signed QR payload of a ticket it prints (a device cannot sign tickets itself).

Kiosk devices (role `kiosk`, set at enrollment) get each ticket's payload in their event bundle, stored in the
ledger (`tickets.payload`; door devices never hold one). A payload is verified with the core against this
device's keyring and must name the ticket being printed: a QR the device cannot vouch for is never printed.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from agent.payload import OK, read_payload

log = logging.getLogger("ticketgate.kiosk.payloads")


def vouched(payload: str | None, ticket_key: str, keyring: Any, now: float | None = None) -> bool:
    """True when the payload verifies with this device's keyring and is the ticket `ticket_key`."""
    if not payload:
        return False
    decoded = read_payload(payload, keyring, time.time() if now is None else now)
    return decoded.status == OK and decoded.ticket is not None and str(decoded.ticket.ticket_id) == str(ticket_key)


class VerifiedPayloads:
    """The ticket's payload from the ledger (kiosk bundles), returned only when the core verifies it."""

    def __init__(self, door: Any, home: Any = None):
        self.door = door

    def payload(self, ticket_key: str) -> str | None:
        row = self.door.ledger.ticket(str(ticket_key)) or {}
        payload = row.get("payload")
        if payload is None:
            return None
        if vouched(payload, ticket_key, self.door.keyring):
            return payload
        log.warning("payload of ticket %s does not verify with this device's keys: not printed", ticket_key)
        return None
