"""Turn what door staff type into an FTS5 query: every word a quoted prefix term, ANDed.

Words are cut the way the `unicode61` tokenizer cuts them (letters and digits; `_`, `@`, `.`, `-` separate),
so a quoted term is always a single token: with `detail=none` a multi-token phrase would be an error.
Diacritics are stripped here too, so "Hélène" typed with combining accents still matches.
"""
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_WORDS = 8
MAX_WORD = 64


def fts_query(text: str) -> str:
    plain = "".join(ch for ch in unicodedata.normalize("NFD", text or "") if not unicodedata.combining(ch))
    words = [w[:MAX_WORD] for w in _WORD.findall(plain)][:MAX_WORDS]
    return " AND ".join(f'"{w}"*' for w in words)
