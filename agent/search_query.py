"""Turn what door staff type into FTS5 queries: the typed words, ANDed, from the cheapest form to the widest.

Words are cut the way the `unicode61` tokenizer cuts them (letters and digits; `_`, `@`, `.`, `-` separate),
so a quoted term is always a single token: with `detail=none` a multi-token phrase would be an error.
Diacritics are stripped here too, so "Hélène" typed with combining accents still matches.

Why several forms: FTS5 reads an exact term's row list lazily (a LIMIT stops it after a page), but a prefix term
(`"hel"*`) first merges the row lists of every matching term; on a million tickets that is milliseconds to
hundreds of milliseconds for a frequent prefix. So whole words are tried first, then the last word as a prefix
(the one being typed), then every word as a prefix; a wider form runs only when the narrower found nothing.
"""
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_WORDS = 8
MAX_WORD = 64


def words(text: str) -> list[str]:
    plain = "".join(ch for ch in unicodedata.normalize("NFD", text or "") if not unicodedata.combining(ch))
    return [w[:MAX_WORD] for w in _WORD.findall(plain)][:MAX_WORDS]


def _prefix(word: str) -> str:
    # a single character stays a whole word: as a prefix it would match most of the index
    return f'"{word}"*' if len(word) > 1 else f'"{word}"'


def fts_query(text: str) -> str:
    """Every word a prefix term (the widest form)."""
    return " AND ".join(_prefix(w) for w in words(text))


def fts_queries(text: str) -> list[str]:
    """The forms to try in order: whole words; last word as a prefix; every word as a prefix."""
    ws = words(text)
    if not ws:
        return []
    forms = [" AND ".join(f'"{w}"' for w in ws),
             " AND ".join([f'"{w}"' for w in ws[:-1]] + [_prefix(ws[-1])]),
             fts_query(text)]
    return list(dict.fromkeys(forms))
