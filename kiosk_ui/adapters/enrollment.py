"""Enrollment from the Set-up screen (provisioning.device): the enrollment QR, or the organiser code typed
after zeroconf discovery on the hotspot. Runs on a worker thread; the screen polls `progress()`."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import TicketgateError
from kiosk_ui.services import EnrollmentProgress

if TYPE_CHECKING:
    from agent.home import Credentials

log = logging.getLogger("ticketgate.kiosk.enrollment")
DISCOVERY_SECONDS = 5.0
NO_SERVER_OF_CODE = "no server of this organiser code found on this network: check the code and the Wi-Fi, or scan the QR"
DISCOVERY_SETTLE = 1.0     # s of answers gathered after the first: another organiser's server on the hotspot too


class Enrollment:
    available = True

    def __init__(self, home: Path, discover=None, enroll=None):
        from provisioning.device import discover as discovery
        from provisioning.device.enroll import enroll as real_enroll
        self.home = Path(home)
        self._discover = discover or (lambda accept: discovery.discover(DISCOVERY_SECONDS, first=True,
                                                                         settle=DISCOVERY_SETTLE, accept=accept))
        self._enroll = enroll or real_enroll
        self._progress = EnrollmentProgress("idle")
        try:
            from provisioning.device.state import DeviceState
            creds = DeviceState(self.home).load()
        except Exception:
            creds = None
        if creds is not None:
            self._progress = EnrollmentProgress("enrolled", 1.0, f"{creds.device_id} — {creds.org}", creds.device_id)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.credentials: Credentials | None = None

    def progress(self) -> EnrollmentProgress:
        with self._lock:
            p = self._progress
        if p.step == "enrolled" and not self._credentials_kept():
            return EnrollmentProgress("wiped")   # revoked (signed wipe) or wiped by the technician since
        return p

    def _credentials_kept(self) -> bool:
        from provisioning.device.state import DeviceState
        return DeviceState(self.home).credentials_path.exists()

    def _set(self, step: str, fraction: float, message: str = "", device_id: str | None = None) -> None:
        with self._lock:
            self._progress = EnrollmentProgress(step, fraction, message, device_id)

    def _busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def enroll_with_qr(self, payload: str) -> EnrollmentProgress:
        from provisioning.protocol import BadInput, parse_qr
        if self._busy():
            return self.progress()
        try:
            qr = parse_qr(payload)
        except BadInput as exc:
            self._set("failed", 0.0, str(exc))
            return self.progress()
        self._set("contacting", 0.4, f"{qr.server} ({qr.org})")
        return self._run(lambda: self._enroll_to(qr.server, token=qr.token, expected_fingerprint=qr.fingerprint))

    def enroll_with_code(self, code: str) -> EnrollmentProgress:
        from provisioning.protocol import BadInput, code_fits, normalize_code
        if self._busy():
            return self.progress()
        try:
            code = normalize_code(code)
        except BadInput as exc:
            self._set("failed", 0.0, str(exc))
            return self.progress()
        self._set("discovering", 0.1, "looking for the organiser's server on this network")

        def fits(found) -> bool:     # the server that issued the code: another organiser's never receives it
            return code_fits(code, found.fingerprint)

        def work():
            found = [f for f in self._discover(fits) if fits(f)]
            if not found:
                self._set("failed", 0.1, NO_SERVER_OF_CODE)
                return
            from provisioning.device.enroll import enroll_at_first_that_knows
            from provisioning.device.state import DeviceState
            said = {f.address: f"{f.address} ({f.org}) key {f.fingerprint}" for f in found}
            self._enrolled(enroll_at_first_that_knows(   # the first server that issued the code: not another's
                DeviceState(self.home), [(f.address, f.fingerprint or None) for f in found], code=code,
                enroll_at=self._enroll, trying=lambda server, fp: self._set("contacting", 0.5, said[server])))
        return self._run(work)

    def _enroll_to(self, server: str, **kw) -> None:
        from provisioning.device.state import DeviceState
        self._enrolled(self._enroll(DeviceState(self.home), server, **kw))

    def _enrolled(self, creds: Credentials) -> None:
        self.credentials = creds
        self._set("enrolled", 1.0, f"{creds.device_id} — {creds.org}", creds.device_id)

    def _run(self, work) -> EnrollmentProgress:
        def guarded():
            try:
                work()
            except (TicketgateError, OSError) as exc:   # EnrollError, bad QR, network faults: plain words, nothing saved
                self._set("failed", 0.0, str(exc) or type(exc).__name__)
            except Exception as exc:   # a bug: the traceback to the log, and the screen leaves "enrolling"
                log.exception("enrollment failed")
                self._set("failed", 0.0, f"internal error ({type(exc).__name__}); see the log")
        started = self.progress()          # the step as it begins (the worker may finish before we return)
        self._thread = threading.Thread(target=guarded, name="enroll", daemon=True)
        self._thread.start()
        return started

    def wait(self, timeout: float) -> EnrollmentProgress:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.progress()
