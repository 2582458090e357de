"""Printer languages: each is one module that registers a `PrinterLanguage` (what it prints on, how it connects,
how its status is read, how it is found on the network, how a ticket becomes a job). Everything else — sending,
settings, discovery, the kiosk's printer list and Set-up choices — asks this registry instead of testing names.

    from drivers.printers import registry
    registry.get("zpl").formats            # ("show", "cinema")
    registry.names()                       # ("escpos", "zpl", "badge")

Adding a language: write `drivers/printers/lang_<name>.py` ending with `register(PrinterLanguage(...))` and add its
module name to BUILTIN (see docs/architecture.md, "Adding a printer language").
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from drivers.printers.status import StatusProtocol

if TYPE_CHECKING:
    from drivers.printers.model import PrintableTicket, PrintResult
    from drivers.printers.service import PrinterConfig

BUILTIN = ("drivers.printers.lang_escpos", "drivers.printers.lang_zpl", "drivers.printers.lang_badge")


@dataclass(frozen=True)
class PrinterLanguage:
    name: str                                    # stored in settings and printer ids: "escpos"
    label: str                                   # shown in Set-up (English; the app translates it)
    kind: str                                    # "ticket" | "badge": which print button uses it
    connections: tuple[str, ...]                 # how it can be reached; the first is used for an address
    default_port: int                            # when an address is typed without one
    render: Callable[["PrintableTicket", "PrinterConfig"], bytes]       # the job (tests, previews)
    send: Callable[["PrinterConfig", bytes, "PrintableTicket"], "PrintResult"]
    formats: tuple[str, ...] = ()                # layouts; the first is the default
    format_labels: tuple[str, ...] = ()          # what Set-up shows for each format
    status: StatusProtocol | None = None         # raw TCP status query, when the printer answers one
    service_types: tuple[str, ...] = ()          # DNS-SD types it is announced under
    models: tuple[str, ...] = ()                 # lower-case words of a model/name that identify it when found

    def format_or_default(self, fmt: str) -> str:
        if not fmt:
            return self.formats[0] if self.formats else ""
        if fmt not in self.formats:
            raise ValueError(f"unknown {self.name} format {fmt!r}"
                             + (f"; one of {', '.join(self.formats)}" if self.formats else " (it has none)"))
        return fmt


_LANGUAGES: dict[str, PrinterLanguage] = {}
_loaded = False


def register(language: PrinterLanguage) -> PrinterLanguage:
    if language.name in _LANGUAGES and _LANGUAGES[language.name] != language:
        raise ValueError(f"printer language {language.name!r} is already registered")
    if language.kind not in ("ticket", "badge"):
        raise ValueError(f"printer kind {language.kind!r}: ticket or badge")
    _LANGUAGES[language.name] = language
    return language


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN:
            importlib.import_module(module)
        _loaded = True


def languages() -> list[PrinterLanguage]:
    """Registered languages, in registration order (the first is the default)."""
    _load()
    return list(_LANGUAGES.values())


def names() -> tuple[str, ...]:
    return tuple(lang.name for lang in languages())


def get(name: str) -> PrinterLanguage:
    _load()
    try:
        return _LANGUAGES[name]
    except KeyError:
        raise ValueError(f"unknown printer language {name!r}; one of {', '.join(_LANGUAGES)}") from None


def service_types() -> tuple[str, ...]:
    """Every DNS-SD service type a registered language is announced under."""
    return tuple(dict.fromkeys(t for lang in languages() for t in lang.service_types))


def language_for(service_type: str, model: str = "", name: str = "") -> PrinterLanguage | None:
    """The language of a printer found under `service_type`: the one whose model words match, else the first
    registered for that type; None when no language is announced under it."""
    candidates = [lang for lang in languages() if service_type in lang.service_types]
    words = f"{model} {name}".lower()
    return next((lang for lang in candidates if any(m in words for m in lang.models)), None) or \
        next(iter(candidates), None)
