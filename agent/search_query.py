"""Turn what door staff type into an FTS5 query: every word a quoted prefix term, ANDed."""
import re

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    words = _WORD.findall(text or "")[:8]
    return " AND ".join(f'"{w}"*' for w in words)
