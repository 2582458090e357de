"""Sealing the broker password to the enrolling device (X25519 + HKDF-SHA256 + ChaCha20-Poly1305).

The enrollment endpoint is plain HTTP on the hotspot (docs/provisioning.md explains why): the response is
signed by the organiser's server key, and the one secret in it, the MQTT password, is encrypted to an
X25519 key the device made for this enrollment, so a listener on the Wi-Fi learns nothing usable.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"ticketgate-enroll-box-v1\x00"


def raw_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, device_id: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=_INFO + device_id.encode()).derive(shared)


def seal(secret: str, recipient_public: bytes, device_id: str) -> dict:
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(_key(shared, device_id)).encrypt(nonce, secret.encode(), device_id.encode())
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {"epk": b64(raw_public(ephemeral)), "nonce": b64(nonce), "ct": b64(ct)}


def open_box(box: dict, private: X25519PrivateKey, device_id: str) -> str:
    """Raises ValueError when the box is malformed or not for this key/device."""
    try:
        epk, nonce, ct = (base64.b64decode(box[k], validate=True) for k in ("epk", "nonce", "ct"))
        shared = private.exchange(X25519PublicKey.from_public_bytes(epk))
        return ChaCha20Poly1305(_key(shared, device_id)).decrypt(nonce, ct, device_id.encode()).decode()
    except (KeyError, TypeError, ValueError, InvalidTag) as exc:
        raise ValueError(f"cannot open the sealed broker password ({exc.__class__.__name__})") from None
