"""Ticket printers reachable over TCP (port 9100 raw: ESC/POS), listed in the ledger setting `printers`.

Fallback used while the drivers' printer package is not on this build; prints with python-escpos.
Each ticket: event, category / zone / seat, buyer (if any), ticket number, and its QR when the
`payload` callable (kiosk_ui.payloads.VerifiedPayloads) vouches for one; a ticket without is refused.
"""
from __future__ import annotations

import socket
from typing import Any

from kiosk_ui.services import PrinterInfo, PrintJob, PrintResult

CONNECT_TIMEOUT = 1.5
CHECKLIST = (
    "Is the printer switched on, with paper, and its cover closed?",
    "Is it on the same Wi-Fi / network as this device (same hotspot)?",
    "Print its self-test page (hold FEED while switching on) and compare its IP address with the list.",
    "Tap 'Refresh the list' after the printer has finished starting (about 30 seconds).",
    "Still missing? Ask the technician to add it by IP address in the device settings.",
)


class TcpPrinters:
    available = True

    def __init__(self, settings: Any, timeout: float = CONNECT_TIMEOUT, payload: Any = None):
        self.settings, self.timeout = settings, timeout
        self.payload = payload or (lambda ticket_key: None)
        self._online: dict[str, bool] = {}

    def _configured(self) -> list[PrinterInfo]:
        out = []
        for p in self.settings.get_setting("printers", []) or []:
            pid = f"tcp:{p['host']}:{int(p.get('port', 9100))}"
            out.append(PrinterInfo(pid, p.get("name") or pid, p.get("kind", "ticket"), p.get("language", "escpos"),
                                   self._online.get(pid, True)))
        return out

    def printers(self) -> list[PrinterInfo]:
        return self._configured()

    def refresh(self) -> list[PrinterInfo]:
        for p in self._configured():
            host, port = _address(p.printer_id)
            try:
                socket.create_connection((host, port), timeout=self.timeout).close()
                self._online[p.printer_id] = True
            except OSError:
                self._online[p.printer_id] = False
        return self._configured()

    def not_found_checklist(self) -> list[str]:
        return list(CHECKLIST)

    def print_job(self, printer_id: str, job: PrintJob, tickets: list[dict]) -> PrintResult:
        from escpos.printer import Network
        tickets = [dict(t, payload=self.payload(t["ticket_key"])) for t in tickets]   # only a verified QR
        missing = [t["ticket_key"] for t in tickets if not t["payload"]]
        if missing:
            return PrintResult(False, 0, f"No printable copy of ticket {missing[0]} on this device "
                                         "(its QR comes with the kiosk's event bundle). Nothing printed.")
        host, port = _address(printer_id)
        printer = Network(host, port, timeout=self.timeout)
        try:
            printer.open()
            for t in tickets:
                _ticket(printer, t, job)
            printer.close()
        except Exception as exc:  # printer off, refused, reset mid-job: say so, never crash the kiosk
            self._online[printer_id] = False
            return PrintResult(False, 0, f"Printer {host}:{port} did not answer ({type(exc).__name__}). "
                                         "See the checklist.")
        self._online[printer_id] = True
        return PrintResult(True, len(tickets))


def _address(printer_id: str) -> tuple[str, int]:
    _, host, port = printer_id.rsplit(":", 2)
    return host, int(port)


def _ticket(printer, t: dict, job: PrintJob) -> None:
    printer.set(align="center", bold=True, double_height=True)
    printer.text(f"{t.get('event_name') or 'Event ' + str(t.get('event_id'))}\n")
    printer.set(align="center", bold=False, normal_textsize=True)
    if job.reprint:
        printer.text("REPRINT\n")
    for label, key in (("Order", "order_number"), ("Name", "buyer_name"), ("Seat", "seat")):
        if t.get(key):
            printer.text(f"{label}: {t[key]}\n")
    printer.text(f"Ticket {t['ticket_key']}\n")
    if t.get("payload"):
        printer.qr(t["payload"], size=6, native=True)
    printer.cut()
