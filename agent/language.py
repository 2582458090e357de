"""The language the device speaks, French or English: one rule for the app and the terminal commands, one catalogue.

The rule (`choose`): the language asked for this run (`ticketgate kiosk --lang`, `ticketgate agent … --lang`), else
the device's `ui_language` setting (the app's language switch stores it), else the Android system language, else
TICKETGATE_LANG / the locale (LC_ALL, LC_MESSAGES, LANG, LANGUAGE), else English.

The catalogue is gettext `.po` (agent/locale/fr.po, msgid = the English text), read directly: no compiled `.mo`, so
translators edit one file and nothing goes stale. The app (kiosk_ui.i18n) and the terminal commands read the same one.
Pure but for reading that file and the environment; no Kivy, no gettext.
"""
from __future__ import annotations

import ast
import locale
import os
from pathlib import Path
from typing import Mapping

LANGUAGES = ("en", "fr")
SETTING = "ui_language"                  # the device setting (ledger) the app's language switch stores
_LOCALE_DIR = Path(__file__).with_name("locale")
_catalogues: dict[str, dict[str, str]] = {}
CONTEXT = "\x04"                          # gettext's separator of a msgctxt and its msgid


def parse_po(text: str) -> dict[str, str]:
    """msgid -> msgstr of a .po file (multi-line strings joined; empty translations skipped). A plural entry
    (msgid_plural, msgstr[0], msgstr[1]) is kept as "singular\0plural" -> "form 0\0form 1"; an entry with a context
    (msgctxt, for an English word that needs two French forms) as "context\x04msgid", as gettext keys it."""
    out: dict[str, str] = {}
    buf: dict[str, list[str]] = {}
    field: str | None = None

    def flush() -> None:
        msgid = "".join(buf.get("msgid", []))
        if "msgctxt" in buf:
            msgid = "".join(buf["msgctxt"]) + CONTEXT + msgid
        if "msgid_plural" in buf:
            forms = ["".join(buf.get(f"msgstr[{i}]", [])) for i in range(2)]
            if msgid and all(forms):
                out[msgid + "\0" + "".join(buf["msgid_plural"])] = "\0".join(forms)
        elif msgid and "".join(buf.get("msgstr", [])):
            out[msgid] = "".join(buf["msgstr"])

    for line in text.splitlines():
        line = line.strip()
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid", "msgid_plural", "msgstr") or keyword.startswith("msgstr["):
            if keyword == "msgctxt" or (keyword == "msgid" and field != "msgctxt"):
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
    """English msgid -> its `lang` text (empty for English)."""
    if lang not in _catalogues:
        po = _LOCALE_DIR / f"{lang}.po"
        _catalogues[lang] = parse_po(po.read_text(encoding="utf-8")) if po.exists() else {}
    return _catalogues[lang]


def translate(lang: str, text: str, **fmt: object) -> str:
    """An English msgid in `lang` (as it is when untranslated), then formatted."""
    out = catalogue(lang).get(text, text) if lang != "en" else text
    return out.format(**fmt) if fmt else out


def translate_in(lang: str, context: str, text: str, **fmt: object) -> str:
    """`text` in `lang` as said in `context` (pgettext: msgctxt `context` in the catalogue), for an English word with
    two French forms ('all' events: 'tous', 'all' zones: 'toutes'); the context-free line, else `text`, without it."""
    table = catalogue(lang) if lang != "en" else {}
    out = table.get(context + CONTEXT + text, table.get(text, text))
    return out.format(**fmt) if fmt else out


def translate_n(lang: str, singular: str, plural: str, n: int, **fmt: object) -> str:
    """The form for `n` ("1 entry", "2 entries"; French: 0 and 1 take the singular), then formatted with n."""
    form = (0 if n <= 1 else 1) if lang == "fr" else (0 if n == 1 else 1)
    found = catalogue(lang).get(singular + "\0" + plural) if lang != "en" else None
    text = found.split("\0")[form] if found else (singular, plural)[form]
    return text.format(n=n, **fmt)


def system_language(env: Mapping[str, str] | None = None) -> str:
    """fr when TICKETGATE_LANG, else the (desktop) locale, is French, else en."""
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


def choose(asked: str | None, setting: object, env: Mapping[str, str] | None = None) -> str:
    """The language of this run: `asked` (a --lang), else the device's `ui_language` setting (`setting`, as stored;
    anything but en/fr is passed over), else Android's, else TICKETGATE_LANG / the locale (`system_language`)."""
    for lang in (asked, setting):
        if lang in LANGUAGES:
            return str(lang)
    return android_language() or system_language(env)
