"""Ed25519 signing keys of an organiser. Private keys are written 0600 and never logged."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.errors import InvalidInput
from agent.keyring import TrustedKey, fingerprint
from agent.ticket_format import Ticket, encode_ticket


@dataclass
class SigningKey:
    key_id: int
    private_key: Ed25519PrivateKey
    organiser: str = ""
    valid_from: int | None = None
    valid_until: int | None = None
    events: frozenset[int] | None = None

    @classmethod
    def generate(cls, key_id: int, **kw: Any) -> "SigningKey":
        return cls(key_id, Ed25519PrivateKey.generate(), **kw)

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_raw)

    def trusted(self) -> TrustedKey:
        return TrustedKey(self.key_id, self.public_raw, self.organiser, self.valid_from, self.valid_until, self.events)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def issue(self, ticket: Ticket) -> str:
        if ticket.key_id != self.key_id:
            raise ValueError(f"ticket names key {ticket.key_id}, this is key {self.key_id}")
        return encode_ticket(ticket, self.private_key)

    def save_private(self, path: str | Path) -> None:
        """PKCS#8 PEM, created with mode 0600 (never world-readable, not even briefly)."""
        pem = self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
        finally:
            os.close(fd)

    @classmethod
    def load_private(cls, path: str | Path, key_id: int, **kw: Any) -> "SigningKey":
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInput(f"{path} is not an Ed25519 private key")
        return cls(key_id, key, **kw)

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(key_id={self.key_id}, fingerprint={self.fingerprint})"
