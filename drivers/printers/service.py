"""One call for the kiosk: print this ticket on the configured printer, get a PrintResult.

    config = PrinterConfig(language="escpos", host="192.168.1.50")
    result = print_ticket(config, ticket)

The language (drivers.printers.registry) renders the ticket and sends it; nothing here knows a language by name.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from drivers.printers import registry
from drivers.printers.model import PrintableTicket, PrintResult


@dataclass(frozen=True)
class PrinterConfig:
    language: str = "escpos"            # a registered language: escpos | zpl | badge
    connection: str = ""                # one of the language's connections ("" = its first: network / ipp)
    host: str = ""
    port: int = 0                       # 0 = the language's default port
    format: str = ""                    # a layout of the language (zpl: show | cinema); "" = its first
    native_qr: bool | None = True       # ESC/POS: GS ( k; False: raster image; None: from the printer profile
    escpos_profile: str = "TM-T88V"     # python-escpos capability profile of the printer model
    ipp_uri: str = ""                   # badge over IPP ("" = ipp://host:port/ipp/print)
    lp_destination: str = ""            # badge through CUPS
    save_folder: str = ""               # badge saved (PNG + PDF)
    device: dict | None = None          # escpos usb/serial/file: python-escpos keyword arguments
    timeout: float = 3.0
    check_status: bool = True

    def __post_init__(self) -> None:
        lang = registry.get(self.language)            # ValueError: unknown printer language
        if not self.connection:
            object.__setattr__(self, "connection", lang.connections[0])
        elif self.connection not in lang.connections:
            raise ValueError(f"{self.language} printers connect by {', '.join(lang.connections)}, "
                             f"not {self.connection!r}")
        if not self.port:
            object.__setattr__(self, "port", lang.default_port)
        object.__setattr__(self, "format", lang.format_or_default(self.format))

    @property
    def printer_language(self) -> registry.PrinterLanguage:
        return registry.get(self.language)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "PrinterConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def render_job(config: PrinterConfig, ticket: PrintableTicket) -> bytes:
    """The exact bytes `print_ticket` sends for this ticket (previews, tests)."""
    return config.printer_language.render(ticket, config)


def print_ticket(config: PrinterConfig, ticket: PrintableTicket) -> PrintResult:
    try:
        lang = config.printer_language
        return lang.send(config, lang.render(ticket, config), ticket)
    except Exception as exc:   # a bug in a driver must still come back as "not printed", never as a lost job
        return PrintResult.done(False, "printing failed ({why}). Not printed.", config.host,
                                why=f"{type(exc).__name__}: {exc}")
