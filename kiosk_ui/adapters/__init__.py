"""Real implementations of the service Protocols, picked at start from what this build contains.
A part missing from the build (no drivers, no sync, no provisioning package) gets its `Unavailable*` stand-in."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from kiosk_ui.door import Door, device_role
from kiosk_ui.payloads import VerifiedPayloads
from kiosk_ui.services import (CameraService, DeskService, EnrollmentService, FeedbackService, LaserService,
                               NoCamera, PrinterService, RecordingFeedback, Services, SyncStatusSource,
                               UnavailableDesk, UnavailableEnrollment, UnavailablePrinters, UnavailableSync)

log = logging.getLogger("ticketgate.kiosk")


def has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def build_services(door: Door, home: Path | None = None, camera: bool = False, feedback: bool = False) -> Services:
    home = Path(home) if home is not None else Path(door.ledger.path).parent
    payloads = VerifiedPayloads(door, home)     # ledger (kiosk bundles) or demo file, verified
    printers: PrinterService
    sync: SyncStatusSource
    enrollment: EnrollmentService
    cam: CameraService
    sounds: FeedbackService
    lasers: LaserService | None = None
    if has("drivers.printers.service"):
        from kiosk_ui.adapters.printers_drivers import DriverPrinters
        printers = DriverPrinters(door.ledger, payloads.payload, door)
    else:
        printers = UnavailablePrinters()
    if has("agent.sync.device") and has("provisioning.device.state"):
        from kiosk_ui.adapters.sync import SyncLink
        sync = SyncLink(door, home)
    else:
        sync = UnavailableSync(door.outbox_size)
    if has("provisioning.device.enroll"):
        from kiosk_ui.adapters.enrollment import Enrollment
        enrollment = Enrollment(home)
    else:
        enrollment = UnavailableEnrollment()
    cam = NoCamera()
    if camera and has("drivers.camera.scanner") and _scanner_mode(door) == "camera":
        from kiosk_ui.adapters.camera import DriverCamera
        cam = DriverCamera()
    sounds = RecordingFeedback()
    if feedback and has("drivers.feedback"):
        from kiosk_ui.adapters.feedback import DriverFeedback
        sounds = DriverFeedback()
    if has("drivers.scanners.settings"):
        from kiosk_ui.adapters.lasers import LaserInput
        lasers = LaserInput(door.ledger)
    desk: DeskService = UnavailableDesk()
    if has("agent.allotment") and has("agent.pricing"):
        from kiosk_ui.adapters.desk import KioskDesk, SyncSaleLink
        from kiosk_ui.adapters.sync import SyncLink
        desk = KioskDesk(door, home, SyncSaleLink(sync) if isinstance(sync, SyncLink) else None, clock=door.gate.clock)
    return Services(printers=printers, sync=sync, enrollment=enrollment, camera=cam, feedback=sounds, lasers=lasers,
                    role=device_role(door), desk=desk)


def _scanner_mode(door: Door) -> str:
    """camera unless the technician chose a laser (ledger setting `scanner`, see drivers.scanners.settings)."""
    mode = (door.ledger.get_setting("scanner") or {}).get("mode", "camera")
    return mode if isinstance(mode, str) else "camera"
