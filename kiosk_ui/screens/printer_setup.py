"""Adding a printer by address (Set-up and the kiosk screen): its kind (receipt ESC/POS, Zebra ZPL, badge: the
drivers' registry), then for a kind with layouts the one it prints (Zebra: show or cinema ticket), then its
address. Behind the PIN."""
from __future__ import annotations

from functools import partial
from typing import Callable

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.labels import PRINTER_FORMATS, PRINTER_LANGUAGES
from kiosk_ui.screens.widgets import ask_text, choose



def _hint(language: str) -> str:
    return (tr("e.g. 192.168.1.52:631, or a folder to save the badges in: /sdcard/badges") if language == "badge"
            else tr("e.g. 192.168.1.50:9100"))


def ask_new_printer(screen, on_added: Callable[[str], None]) -> None:
    """Walk the operator through the choices; `on_added(plain message)` once the printer is saved."""
    ui, ctl = screen.ui, screen.ctl

    def pick_kind():
        options = [(tr(label), partial(pick_format, lang)) for lang, label in PRINTER_LANGUAGES.items()]
        ui.popup = choose(tr("Add a printer"), options)

    def pick_format(language: str):
        formats = PRINTER_FORMATS.get(language) or {}
        if not formats:
            ask_address(language, "")
            return
        options = [(tr(label), partial(ask_address, language, f)) for f, label in formats.items()]
        ui.popup = choose(tr("Ticket format"), options)

    def ask_address(language: str, fmt: str):
        def save(text: str) -> str:
            problem = ctl.add_printer(text, language, fmt)
            if not problem:
                on_added(tr("Printer added: {a}", a=text.strip()))
            return problem
        ui.popup = ask_text(tr(PRINTER_LANGUAGES[language]), _hint(language), save)

    screen.guarded(pick_kind)
