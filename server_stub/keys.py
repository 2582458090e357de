"""Private key files of the server stub: `keys/<org>/<purpose>-<key id>.pem`, mode 0600, folder 0700.

The store keeps public keys and metadata (ids, validity, which key is current) in its database and
the private halves only here. Nothing in this module prints or logs key material.

Rotation (`SqliteStore.rotate_key`): a new ticket key becomes current (new tickets are signed with
it); the previous keys stay in the keyring devices trust until their `valid_until` (none: until an
organiser retires them), so tickets already mailed keep scanning.
"""
from __future__ import annotations

import os
from pathlib import Path

from agent.errors import TicketgateError
from agent.signing import SigningKey

TICKET, SERVER = "ticket", "server"
MAX_KEY_ID = 65535   # u16 in the ticket format


class KeyFileError(TicketgateError):
    """A private key file is missing, unreadable or not an Ed25519 key."""


class KeyFiles:
    def __init__(self, keys_dir: str | Path):
        self.keys_dir = Path(keys_dir)

    def relative(self, org: str, purpose: str, key_id: int) -> str:
        return f"{org}/{purpose}-{key_id}.pem"

    def path(self, relative: str) -> Path:
        return self.keys_dir / relative

    def create(self, relative: str, key_id: int, **meta) -> SigningKey:
        """Generate an Ed25519 key and write its private half (0600, in a 0700 folder). Never overwrites a file."""
        path = self.path(relative)
        if path.exists():
            # left by a crash between writing the file and committing its row: it never signed anything,
            # but keep it aside rather than destroying key material
            path.rename(path.with_suffix(f".orphan-{os.getpid()}-{path.stat().st_mtime_ns}"))
        for folder in (self.keys_dir, path.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        key = SigningKey.generate(key_id, **meta)
        key.save_private(path)
        return key

    def load(self, relative: str, key_id: int, **meta) -> SigningKey:
        path = self.path(relative)
        try:
            return SigningKey.load_private(path, key_id, **meta)
        except FileNotFoundError:
            raise KeyFileError(f"private key file {path} is missing (restore it from the data folder's backup; "
                               "another machine on the same PostgreSQL database needs a copy of the data folder's "
                               "keys/, its modes kept)") from None
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{path} is not a usable Ed25519 private key ({type(exc).__name__})") from None

    def remove(self, relative: str) -> None:
        """Only to undo a key whose database row was rolled back."""
        self.path(relative).unlink(missing_ok=True)
