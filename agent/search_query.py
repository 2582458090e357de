"""Turn what door staff type into FTS5 queries: the typed words, ANDed, from the cheapest form to the widest.

Words are cut the way the `unicode61` tokenizer cuts them (letters and digits; `_`, `@`, `.`, `-` separate),
so a quoted term is always a single token: with `detail=none` a multi-token phrase would be an error.
Diacritics are stripped here too, so "Hélène" typed with combining accents still matches.

Why several forms: FTS5 reads an exact term's row list lazily (a LIMIT stops it after a page), and so it reads a
2- or 3-character prefix that has its own prefix index (schema migration 3). Any other prefix term first merges
the row lists of every matching term: on a million tickets that costs tens to hundreds of milliseconds. So:
whole words first; then the last word (the one being typed) as a prefix; then every word as a prefix; a wider
form runs only when the narrower found nothing. A one-letter last word after longer ones ("Ann M") is a prefix term
when the index has 1-character prefixes (index files made since they exist: lazy, a few ms at 1M); in an older
index it is left out of the MATCH and checked on the rows (`Form.keeps`). A prefix longer than 3 characters is searched by its first 3
(indexed, lazy) and the rows are then checked against the whole prefix (`Form.keeps`); if a few hundred
candidates did not fill the page, the whole prefix is rare and FTS5's own prefix query (`Form.native`) is cheap.

A name with an elided article (O'Brien, N'Diaye, D’Angelo) is two tokens, `o` and `brien`: door staff type it
"obrien". When nothing else matched, a word of 3 letters or more is tried as its first letter and the rest
(`"o" AND "bri"*`), the rows kept only if the name with its apostrophes taken out has a word starting with the
typed one (`Form.elided`): "obrien" finds O'Brien, never "O. Brien" or "Olive Brienne".
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_WORDS = 8
MAX_WORD = 64
ELIDED_WORDS = 3        # the first words of a query tried as an elided name (a form each, only when nothing matched)
_APOSTROPHES = dict.fromkeys(map(ord, "'’ʼ`´"))
INDEXED_PREFIX = 3      # the longest prefix with its own FTS5 prefix index


def words(text: str) -> list[str]:
    plain = "".join(ch for ch in unicodedata.normalize("NFD", text or "") if not unicodedata.combining(ch))
    return [w[:MAX_WORD] for w in _WORD.findall(plain)][:MAX_WORDS]


@dataclass(frozen=True)
class Form:
    match: str                       # the FTS5 MATCH expression
    prefixes: tuple[str, ...] = ()   # lower-case prefixes every row must also have (longer than the index)
    native: str = ""                 # the same form with whole prefixes: FTS5 merges, cheap when they are rare
    elided: tuple[str, ...] = ()     # lower-case prefixes of a word the row has once its apostrophes are taken out

    def keeps(self, *texts: str) -> bool:
        if not self.prefixes and not self.elided:
            return True
        joined = " ".join(str(t or "") for t in texts)
        tokens = _WORD.findall(joined.lower()) if joined.isascii() else [w.lower() for w in words(joined)]
        whole = [w.lower() for w in words(joined.translate(_APOSTROPHES))] if self.elided else []
        return (all(any(tok.startswith(p) for tok in tokens) for p in self.prefixes)
                and all(any(tok.startswith(p) for tok in whole) for p in self.elided))


def _term(word: str, prefix: bool) -> tuple[str, str | None]:
    if not prefix or len(word) <= 1:          # a one-character prefix would match most of the index
        return f'"{word}"', None
    if len(word) <= INDEXED_PREFIX:
        return f'"{word}"*', None
    return f'"{word[:INDEXED_PREFIX]}"*', word.lower()


def _form(ws: list[str], prefix_from: int, letter_index: bool) -> Form:
    terms = [_term(w, i >= prefix_from) for i, w in enumerate(ws)]
    letter = prefix_from < len(ws) and len(ws[-1]) == 1 and any(len(w) > 1 for w in ws[:-1])
    if letter:      # a one-letter last word being typed ("Ann M", "GTXW-D"): indexed, or checked on the rows
        terms[-1] = (f'"{ws[-1]}"*', None) if letter_index else ("", ws[-1].lower())
    prefixes = tuple(p for _, p in terms if p)
    native = " AND ".join(f'"{w}"*' if i >= prefix_from and (len(w) > 1 or letter and i == len(ws) - 1) else f'"{w}"'
                          for i, w in enumerate(ws))
    return Form(" AND ".join(t for t, _ in terms if t), prefixes, native if prefixes else "")


# An order number (`K7M2-Q9`: server_stub.model) typed without its dash, complete or being typed: `k7m2q9`, `K7M2Q`
_COMPACT_ORDER = re.compile(r"[A-HJKMNP-TV-Z][2-9A-HJKMNP-TV-Z]{3}[A-HJKMNP-TV-Z][2-9A-HJKMNP-TV-Z]?")


def search_forms(text: str, letter_index: bool = False) -> list[Form]:
    """Whole words; the last word as a prefix; every word as a prefix (duplicates dropped); last, for one word
    shaped like an order number without its dash, the same forms of its two groups. `letter_index`: the FTS5 table
    has a 1-character prefix index (index_file.has_letter_index)."""
    ws = words(text)
    if not ws:
        return []
    forms = [_form(ws, n, letter_index) for n in (len(ws), len(ws) - 1, 0)]
    if len(ws) == 1 and _COMPACT_ORDER.fullmatch(ws[0].upper()):
        groups = [ws[0][:4], ws[0][4:]]
        forms += [_form(groups, n, letter_index) for n in (2, 1)]
    for text, word in elided_words(text):     # every word a prefix, the elided name's first letter a whole word
        form = _form(words(text), 0, letter_index)
        forms.append(Form(form.match, form.prefixes, form.native, (word,)))
    return list(dict.fromkeys(forms))


def elided_words(text: str) -> list[tuple[str, str]]:
    """For a search nothing matched: (the text with one word cut after its first letter, that word in lower case),
    for each of the first words a person may have typed as an elided name without its apostrophe ("zoe obr" ->
    ("zoe o br", "obr")); a row found by such a text is kept only if `joins` it."""
    ws = words(text)
    return [(" ".join([*ws[:i], w[0], w[1:], *ws[i + 1:]]), w.lower())
            for i, w in enumerate(ws[:ELIDED_WORDS]) if len(w) >= 3 and w.isalpha()]


def joins(text: str, word: str) -> bool:
    """Whether `text` with its apostrophes taken out has a word starting with `word` (lower case): O'Brien joins
    "obr", O. Brien does not."""
    return any(w.lower().startswith(word) for w in words((text or "").translate(_APOSTROPHES)))


def fts_query(text: str) -> str:
    """Every word a full prefix term, ANDed: one query, for callers without the row check (e.g. the server stub's
    order search). The ledger uses search_forms()."""
    return " AND ".join(f'"{w}"*' for w in words(text))
