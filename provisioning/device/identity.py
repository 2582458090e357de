"""The device's own Ed25519 key pair: generated on the device, private half 0600, never sent anywhere."""
from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.private_files import private_dir, write_private


def generate(path: str | Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    write(path, key)
    return key


def write(path: str | Path, key: Ed25519PrivateKey) -> None:
    private_dir(Path(path).parent)
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))


def load(path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
