"""What an SQLite error says about the disk under a file, in words for a person: full, or read-only.

SQLite reports a full disk as SQLITE_FULL or, when it cannot even make its -shm/-wal files, as a "disk I/O error"
or "unable to open database file"; a read-only file or folder as SQLITE_READONLY or the same two. The codes that
name the cause are trusted as they are; the vague ones only when the folder shows it (no space left, mounted
read-only, not writable). Anything else is None: not a storage problem, the caller keeps its own message.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

_FULL, _READONLY, _IOERR, _CANTOPEN = 13, 8, 10, 14      # SQLite's primary result codes
_VAGUE = (_IOERR, _CANTOPEN)
_FREE = "free some space on it"
_WRITABLE = "make it writable (or copy the folder to a writable disk)"


class StorageProblem(NamedTuple):
    text: str          # what is wrong: "the disk holding /x is full"
    remedy: str        # what to do about it: "free some space on it"

    @property
    def advice(self) -> str:
        """What a command that stopped tells its user to do."""
        return f"{self.remedy} and run the command again"


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)         # Python 3.11+
    return code & 0xFF if isinstance(code, int) else None


def _folder_says(path: str | Path) -> StorageProblem | None:
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize < 64 * 1024:
        return StorageProblem(f"the disk holding {folder} is full", _FREE)
    if st.f_flag & os.ST_RDONLY:
        return StorageProblem(f"{folder} is on a read-only disk", _WRITABLE)
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return StorageProblem(f"{path} or its folder is read-only for this user", _WRITABLE)
    return None


def storage_problem(exc: sqlite3.Error, path: str | Path | None = None) -> StorageProblem | None:
    """The disk's reason for `exc` (on the database file `path`, when known), or None when it is not the disk's."""
    code = _code(exc)
    if code not in (_FULL, _READONLY, *_VAGUE):
        return None
    said = _folder_says(path) if path is not None else None
    if said:
        return said
    if code == _FULL:
        return StorageProblem("the disk is full", _FREE)
    if code == _READONLY:
        return StorageProblem("the database file or its folder is read-only", _WRITABLE)
    return None
