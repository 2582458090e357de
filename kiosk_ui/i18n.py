"""French and English, from gettext `.po` catalogues (msgid = English text).

Reads `.po` directly (no compiled `.mo` needed, so translators edit one file and nothing goes stale).
The language comes from the device locale, with a manual switch: `set_language("fr")`.
"""
from __future__ import annotations

import ast
import locale
import os
from pathlib import Path
from typing import Callable, Mapping

LANGUAGES = ("en", "fr")
_LOCALE_DIR = Path(__file__).with_name("locale")
_catalogues: dict[str, dict[str, str]] = {}
_current = "en"
_listeners: list[Callable[[str], None]] = []


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a .po file (multi-line strings joined; empty translations skipped). A plural entry
    (msgid_plural, msgstr[0], msgstr[1]) is kept as "singular\0plural" -> "form 0\0form 1"."""
    out: dict[str, str] = {}
    buf: dict[str, list[str]] = {}
    field: str | None = None

    def flush() -> None:
        msgid = "".join(buf.get("msgid", []))
        if "msgid_plural" in buf:
            forms = ["".join(buf.get(f"msgstr[{i}]", [])) for i in range(2)]
            if msgid and all(forms):
                out[msgid + "\0" + "".join(buf["msgid_plural"])] = "\0".join(forms)
        elif msgid and "".join(buf.get("msgstr", [])):
            out[msgid] = "".join(buf["msgstr"])

    for line in text.splitlines():
        line = line.strip()
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgid", "msgid_plural", "msgstr") or keyword.startswith("msgstr["):
            if keyword == "msgid":
                flush()
                buf = {}
            field, line = keyword, rest.strip()
            buf[field] = []
        elif not line.startswith('"'):
            continue
        if field and line.startswith('"'):
            buf[field].append(ast.literal_eval(line))
    flush()
    return out


def catalogue(lang: str) -> dict[str, str]:
    if lang not in _catalogues:
        po = _LOCALE_DIR / f"{lang}.po"
        _catalogues[lang] = parse_po(po.read_text(encoding="utf-8")) if po.exists() else {}
    return _catalogues[lang]


def device_language(env: Mapping[str, str] | None = None) -> str:
    """fr when the device (or desktop) locale is French, else en."""
    source = os.environ if env is None else env
    for var in ("TICKETGATE_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = (source.get(var) or "").lower()
        if value:
            return "fr" if value.startswith("fr") else "en"
    try:
        code = (locale.getlocale()[0] or "").lower()
    except ValueError:
        code = ""
    return "fr" if code.startswith("fr") else "en"


def android_language() -> str | None:
    """The Android system language, when running there (pyjnius is only present on Android)."""
    try:
        from jnius import autoclass
    except ImportError:
        return None
    lang = str(autoclass("java.util.Locale").getDefault().getLanguage())
    return "fr" if lang.startswith("fr") else "en"


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
    out = catalogue(_current).get(text, text) if _current != "en" else text
    return out.format(**fmt) if fmt else out


def tr_n(singular: str, plural: str, n: int, **fmt) -> str:
    """The form for `n` ("1 entry", "2 entries"; French: 0 and 1 take the singular), then formatted with n."""
    form = (0 if n <= 1 else 1) if _current == "fr" else (0 if n == 1 else 1)
    found = catalogue(_current).get(singular + "\0" + plural) if _current != "en" else None
    text = found.split("\0")[form] if found else (singular, plural)[form]
    return text.format(n=n, **fmt)


_ = tr
