"""Files only this user may read (0600), private from their first byte: keys, keyrings, credentials, databases."""
from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600
PRIVATE_DIR = 0o700


def write_private(path: str | Path, data: str | bytes) -> None:
    """Atomic replace with a file created 0600 (never a moment readable by others), fsynced before the rename."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)      # an existing leftover keeps its old mode otherwise
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp.exists():
            tmp.unlink()


def private_dir(path: str | Path) -> Path:
    """Create the folder 0700 if missing (an existing one is left as its owner set it)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    return path


def make_private(*paths: str | Path) -> None:
    """Tighten existing files to 0600 (files an older version created 0644); missing or foreign files are skipped."""
    for name in paths:
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, PRIVATE)
        except (FileNotFoundError, PermissionError):
            pass
