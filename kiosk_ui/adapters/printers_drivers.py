"""Printers through the drivers package (drivers.printers): ESC/POS and ZPL tickets over TCP 9100, CR80 badges
over IPP; the list = addresses set up by the technician (ledger setting `printers`) + what mDNS finds."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from kiosk_ui.services import PrinterInfo, PrintJob, PrintResult

REFRESH_SECONDS = 2.0


class DriverPrinters:
    available = True

    def __init__(self, settings: Any, payload: Callable[[str], str | None], names: Any, printer_list=None):
        from drivers.printers.discovery import PrinterList
        self.settings, self.payload, self.names = settings, payload, names
        self.list = printer_list or PrinterList()
        self._online: dict[str, bool] = {}

    def _configured(self) -> list[dict]:
        return list(self.settings.get_setting("printers", []) or [])

    def printers(self) -> list[PrinterInfo]:
        out = []
        for p in self._configured():
            language = p.get("language", "escpos")
            pid = f"{language}:{p['host']}:{int(p.get('port', 9100))}"
            out.append(PrinterInfo(pid, p.get("name") or pid, "badge" if language == "badge" else p.get("kind", "ticket"),
                                   language, self._online.get(pid, True)))
        seen = {(i.printer_id.split(":", 1)[1]) for i in out}
        for e in self.list.entries():
            language = "badge" if e.kind == "ipp" else ("zpl" if "zebra" in f"{e.model} {e.name}".lower() else "escpos")
            pid = f"{language}:{e.host}:{e.port}"
            if f"{e.host}:{e.port}" not in seen:
                out.append(PrinterInfo(pid, e.name or pid, "badge" if language == "badge" else "ticket", language,
                                       self._online.get(pid, True)))
        return out

    def refresh(self) -> list[PrinterInfo]:
        self.list.refresh(REFRESH_SECONDS)         # never raises; a failed search leaves `error`
        return self.printers()

    @property
    def error(self) -> str:
        """Why the last network search failed ('' when it worked): shown above the printer list."""
        return self.list.error

    def not_found_checklist(self) -> list[str]:
        from drivers.printers.discovery import HELP_CHECKLIST
        return [line.split(". ", 1)[-1] for line in HELP_CHECKLIST[1:]]

    def print_job(self, printer_id: str, job: PrintJob, tickets: list[dict]) -> PrintResult:
        from drivers.printers.service import PrinterConfig, print_ticket
        language, host, port = printer_id.split(":", 2)
        if language == "badge":
            config = PrinterConfig(language="badge", connection="ipp", ipp_uri=f"ipp://{host}:{port}/ipp/print")
        else:
            fmt = next((p.get("zpl_format", "show") for p in self._configured()      # show or cinema ticket (Set-up)
                        if p["host"] == host and int(p.get("port", 9100)) == int(port)), "show")
            config = PrinterConfig(language=language, host=host, port=int(port), zpl_format=fmt)
        printables = []
        for t in tickets:
            ticket = self._printable(t)
            if ticket is None:
                return PrintResult(False, 0, f"No printable copy of ticket {t['ticket_key']} on this device "
                                             "(its QR comes with the kiosk's event bundle). Nothing printed.")
            printables.append(ticket)
        done = 0
        for ticket in printables:
            result = print_ticket(config, ticket)
            if not result.printed:
                self._online[printer_id] = False
                return PrintResult(False, done, result.message if done == 0 else f"{done} printed, then: {result.message}")
            done += 1
        self._online[printer_id] = True
        return PrintResult(True, done)

    def _printable(self, t: dict):
        from drivers.printers.model import PrintableTicket
        payload = self.payload(t["ticket_key"])
        if not payload:
            return None
        event = self.names.event(t.get("event_id")) or {}
        zone = self.names.zone(t.get("event_id"), t["zone"]) if t.get("zone") is not None else None
        cat = self.names.category(t.get("event_id"), t.get("category"))
        starts = event.get("starts_at")
        date = datetime.fromtimestamp(starts, timezone.utc).strftime("%d/%m/%Y %H:%M UTC") if starts else ""
        return PrintableTicket(event_name=event.get("name") or f"Event {t.get('event_id')}", date_text=date,
                               payload=payload, category=cat["name"] if cat else "", zone=zone["name"] if zone else "",
                               seat=t.get("seat") or "", order_number=t.get("order_number") or "",
                               buyer_name=t.get("buyer_name") or "")
