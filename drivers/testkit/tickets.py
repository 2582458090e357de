"""A real signing key, a keyring trusting it, signed payloads and their QR images."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.gate import Gate
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.ticket_format import Ticket, ticket_qr
from agent.signing import SigningKey


@dataclass
class Issuer:
    key: SigningKey
    keyring: Keyring

    @classmethod
    def create(cls, key_id: int = 7) -> "Issuer":
        key = SigningKey.generate(key_id, organiser="Drivers test")
        ring = Keyring()
        ring.add(key.trusted())
        return cls(key, ring)

    def payload(self, ticket_id: int = 1001, event_id: int = 1, zones: tuple[int, ...] = (1,), seat: str | None = None) -> str:
        return self.key.issue(Ticket(self.key.key_id, event_id, ticket_id, category=2, zones=zones, seat=seat,
                                     valid_until=int(time.time()) + 86400))

    def gate(self, folder: Path) -> Gate:
        ledger = Ledger.open(Path(folder) / "ledger.sqlite")
        ledger.upsert_events([{"event_id": 1, "name": "Opening night", "zones": [{"zone_id": 1, "name": "Floor"}]}])
        return Gate(ledger, self.keyring, DevicePolicy(device_id="cam-1", gate="north", reread_window=0))


def qr_gray(text: str, scale: int = 4, border: int = 4, canvas: tuple[int, int] | None = None,
            at: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The QR of `text` as a grayscale array (segno), optionally pasted on a white canvas (width, height)."""
    matrix = np.array([[0 if m else 255 for m in row] for row in ticket_qr(text).matrix], np.uint8)
    matrix = np.pad(matrix, border, constant_values=255)
    img = np.kron(matrix, np.ones((scale, scale), np.uint8))
    if canvas is None:
        return img
    page = np.full((canvas[1], canvas[0]), 255, np.uint8)
    h, w = min(img.shape[0], canvas[1] - at[1]), min(img.shape[1], canvas[0] - at[0])
    page[at[1]:at[1] + h, at[0]:at[0] + w] = img[:h, :w]
    return page
