"""Real implementations of the service Protocols, picked at start from what this build contains."""
from __future__ import annotations

from pathlib import Path

from kiosk_ui.door import Door
from kiosk_ui.services import (NoCamera, RecordingFeedback, Services, UnavailableEnrollment, UnavailablePrinters,
                               UnavailableSync)


def build_services(door: Door, home: Path | None = None, camera: bool = True) -> Services:
    from kiosk_ui.adapters.printers import TcpPrinters
    printers = TcpPrinters(door.ledger)
    return Services(printers=printers if printers.available else UnavailablePrinters(),
                    sync=UnavailableSync(door.outbox_size), enrollment=UnavailableEnrollment(),
                    camera=NoCamera(), feedback=RecordingFeedback())
