"""One call for the kiosk: print this ticket on the configured printer, get a PrintResult.

    config = PrinterConfig(language="escpos", host="192.168.1.50")
    result = print_ticket(config, ticket)
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from drivers.printers.model import PrintableTicket, PrintResult

LANGUAGES = ("escpos", "zpl", "badge")


@dataclass(frozen=True)
class PrinterConfig:
    language: str = "escpos"            # escpos | zpl | badge
    connection: str = "network"         # escpos: network | usb | serial | file; zpl: network; badge: ipp | lp | save
    host: str = ""
    port: int = 9100
    native_qr: bool | None = True       # ESC/POS: GS ( k; False: raster image; None: from the printer profile
    escpos_profile: str = "TM-T88V"     # python-escpos capability profile of the printer model
    zpl_format: str = "show"            # show | cinema
    ipp_uri: str = ""                   # badge over IPP
    lp_destination: str = ""            # badge through CUPS
    save_folder: str = ""               # badge saved (PNG + PDF)
    device: dict | None = None          # escpos usb/serial/file: python-escpos keyword arguments
    timeout: float = 3.0
    check_status: bool = True

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown printer language {self.language!r}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "PrinterConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def print_ticket(config: PrinterConfig, ticket: PrintableTicket) -> PrintResult:
    try:
        return _print(config, ticket)
    except Exception as exc:   # a bug in a driver must still come back as "not printed", never as a lost job
        return PrintResult(False, f"printing failed ({type(exc).__name__}: {exc}). Not printed.", config.host)


def _print(config: PrinterConfig, ticket: PrintableTicket) -> PrintResult:
    from drivers.printers.transport import send_tcp
    if config.language == "escpos":
        from drivers.printers.escpos_job import ticket_bytes
        job = ticket_bytes(ticket, profile=config.escpos_profile, native_qr=config.native_qr)
        if config.connection == "network":
            return send_tcp(job, config.host, config.port, "escpos", config.timeout, config.check_status)
        from drivers.printers.escpos_devices import send_escpos
        return send_escpos(job, config.connection, config.check_status, **(config.device or {}))
    if config.language == "zpl":
        from drivers.printers.zpl import FORMATS
        if config.zpl_format not in FORMATS:
            return PrintResult(False, f"unknown ZPL format {config.zpl_format!r}. Not printed.")
        return send_tcp(FORMATS[config.zpl_format](ticket), config.host, config.port, "zpl", config.timeout,
                        config.check_status)
    from drivers.printers import ipp
    from drivers.printers.badge import badge_pdf, badge_png
    png = badge_png(ticket)
    pdf = badge_pdf(ticket, png)
    stem = f"badge-{ticket.order_number or 'ticket'}"
    if config.connection == "ipp":
        return ipp.send_ipp(pdf, config.ipp_uri, "application/pdf", config.timeout, media="om_card_85.6x53.98mm")
    if config.connection == "lp":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{stem}.pdf"
            path.write_bytes(pdf)
            return ipp.send_lp(path, config.lp_destination)
    folder = Path(config.save_folder or tempfile.gettempdir())
    saved = ipp.save_to(folder, f"{stem}.png", png)
    return ipp.save_to(folder, f"{stem}.pdf", pdf) if saved else saved
