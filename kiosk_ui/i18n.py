"""French and English in the app: the current language (a switch, `set_language("fr")`, with listeners) over the
catalogue and the choice of language the terminal commands share (agent.language: agent/locale/fr.po, msgid =
English text; `choose` picks the language the app starts in).
"""
from __future__ import annotations

from typing import Callable

from agent.language import LANGUAGES, android_language, catalogue, parse_po, translate, translate_n
from agent.language import system_language as device_language

__all__ = ["LANGUAGES", "android_language", "catalogue", "device_language", "language", "on_change", "parse_po",
           "set_language", "tr", "tr_n"]
_current = "en"
_listeners: list[Callable[[str], None]] = []


def set_language(lang: str) -> None:
    global _current
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; choose one of {LANGUAGES}")
    _current = lang
    for listener in list(_listeners):
        listener(lang)


def language() -> str:
    return _current


def on_change(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)


def tr(text: str, **fmt) -> str:
    """Translate an English msgid into the current language, then format it."""
    return translate(_current, text, **fmt)


def tr_n(singular: str, plural: str, n: int, **fmt) -> str:
    """The form for `n` ("1 entry", "2 entries"; French: 0 and 1 take the singular), then formatted with n."""
    return translate_n(_current, singular, plural, n, **fmt)


_ = tr
