"""The printers a technician set up on this device (ledger setting `printers`), and the choices Set-up offers.

    choices()                                         # languages and their formats, from the registry
    add(ledger, "192.168.1.60", "zpl", "cinema")      # -> PrinterSetting (ValueError: a plain reason)
    [p.config() for p in load(ledger)]                # PrinterConfig for print_ticket

A printer is identified by `<language>:<host>:<port>`; adding the same address again replaces it (a printer
speaks one language). Entries written before the registry ({host, port, name, language}) read the same.

A language that can save to a folder (badges: PNG + PDF) takes a folder path (`/sdcard/badges`, `~/badges`) as
its address: `add(ledger, "/sdcard/badges", "badge")` keeps it as `folder`, its id `badge:/sdcard/badges:631`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from drivers.printers import registry
from drivers.printers.discovery import manual_entry
from drivers.printers.service import PrinterConfig

SETTING_KEY = "printers"


@dataclass(frozen=True)
class FormatChoice:
    name: str
    label: str


@dataclass(frozen=True)
class LanguageChoice:
    """One line of Set-up's "printer type" choice."""
    name: str                           # escpos | zpl | badge …
    label: str                          # English; translate with drivers.printers.wording.say
    kind: str                           # ticket | badge
    default_port: int
    formats: tuple[FormatChoice, ...]   # empty: the language has one layout


def choices() -> list[LanguageChoice]:
    return [LanguageChoice(lang.name, lang.label, lang.kind, lang.default_port,
                           tuple(FormatChoice(f, label) for f, label in zip(lang.formats, lang.format_labels or lang.formats)))
            for lang in registry.languages()]


@dataclass(frozen=True)
class PrinterSetting:
    host: str
    port: int = 0                       # 0: the language's default port
    language: str = "escpos"
    format: str = ""                    # "" = the language's first format
    name: str = ""
    folder: str = ""                    # saved to this folder, not sent (a language with the "save" connection)

    def __post_init__(self) -> None:
        lang = registry.get(self.language)                     # ValueError: unknown language
        if self.folder and "save" not in lang.connections:
            raise ValueError(f"{lang.label} cannot save to a folder: type its network address")
        object.__setattr__(self, "port", int(self.port) or lang.default_port)
        object.__setattr__(self, "format", lang.format_or_default(self.format))
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} out of range")
        object.__setattr__(self, "name", self.name or f"{self.host}:{self.port}")

    @property
    def printer_id(self) -> str:
        return f"{self.language}:{self.host}:{self.port}"

    @property
    def kind(self) -> str:
        return registry.get(self.language).kind

    def config(self) -> PrinterConfig:
        if self.folder:
            return PrinterConfig(language=self.language, connection="save", save_folder=self.folder, format=self.format)
        return PrinterConfig(language=self.language, host=self.host, port=self.port, format=self.format)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "PrinterSetting":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def load(ledger) -> list[PrinterSetting]:
    """The printers set up; an entry that no longer reads (unknown language…) is skipped, the others kept."""
    out = []
    for d in ledger.get_setting(SETTING_KEY, []) or []:
        try:
            out.append(PrinterSetting.from_json(d))
        except (TypeError, ValueError, KeyError):
            continue
    return out


def save(ledger, printers: list[PrinterSetting]) -> None:
    ledger.set_setting(SETTING_KEY, [p.to_json() for p in printers])


def parse(address: str, language: str = "escpos", fmt: str = "", name: str = "") -> PrinterSetting:
    """A typed address (HOST or HOST:PORT; a folder path for a language that saves) for a printer of `language` ->
    setting; ValueError in plain words."""
    lang = registry.get(language)
    if is_folder(address) and "save" in lang.connections:
        folder = str(Path(address.strip()).expanduser().absolute())
        return PrinterSetting(folder, 0, language, fmt, name or folder, folder=folder)
    entry = manual_entry(address, "ipp" if "ipp" in lang.connections else "raw", name, language)
    return PrinterSetting(entry.host, entry.port, language, fmt, name)


def is_folder(address: str) -> bool:
    """A folder path rather than a network address: starts with '/', '~' or '.'."""
    return address.strip()[:1] in ("/", "~", ".")


def add(ledger, address: str, language: str = "escpos", fmt: str = "", name: str = "") -> PrinterSetting:
    """Remember a printer typed by address; the same host:port set up before is replaced."""
    new = parse(address, language, fmt, name)
    kept = [p for p in load(ledger) if (p.host, p.port) != (new.host, new.port)]
    save(ledger, kept + [new])
    return new


def set_format(ledger, printer_id: str, fmt: str) -> PrinterSetting:
    printers = load(ledger)
    for i, p in enumerate(printers):
        if p.printer_id == printer_id:
            printers[i] = PrinterSetting(p.host, p.port, p.language, fmt, p.name, p.folder)
            save(ledger, printers)
            return printers[i]
    raise LookupError(f"printer {printer_id} is not set up on this device")


def remove(ledger, printer_id: str) -> None:
    save(ledger, [p for p in load(ledger) if p.printer_id != printer_id])
