"""Files only this user may read (0600), private from their first byte: keys, keyrings, credentials, databases."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE = 0o600
PRIVATE_DIR = 0o700


def write_private(path: str | Path, data: str | bytes) -> None:
    """Atomic replace with a file created 0600 (never a moment readable by others), fsynced before the rename.
    The temporary file is this thread's own: two threads saving one file (a device's sync applying a bundle while
    the app saves its keyring) each rename a whole file, the last one wins."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
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


def private_dir(path: str | Path, tighten: bool = False) -> Path:
    """Create the folder 0700 if missing. An existing one is left as its owner set it, unless `tighten`: a folder
    holding keys or databases (the server's data folder, a device home) that an older version created 0755."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if tighten:
        tighten_dir(path)
    return path


def tighten_dir(path: str | Path) -> bool:
    """An existing folder others may read or enter (0755 from an older version) made 0700, said in the log (once:
    it is private from then on). -> tightened. One this user cannot change (another owner's) is left, with a warning."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return False
    if not mode & 0o077:
        return False
    try:
        os.chmod(path, PRIVATE_DIR)
    except PermissionError:
        log.warning("%s holds keys or databases and others may read it (mode %o), but it is not this user's to "
                    "change: make it 0700 (chmod 700)", path, mode)
        return False
    log.warning("%s holds keys or databases and others could read it (mode %o, made by an older version): now 0700",
                path, mode)
    return True


def make_private(*paths: str | Path) -> None:
    """Tighten existing files to 0600 (files an older version created 0644); missing or foreign files are skipped."""
    for name in paths:
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, PRIVATE)
        except (FileNotFoundError, PermissionError):
            pass
