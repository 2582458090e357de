"""Sealing to an X25519 key (X25519 + HKDF-SHA256 + ChaCha20-Poly1305): the one definition, both ways of enrollment.

The enrollment endpoint is plain HTTP on the hotspot (docs/provisioning.md explains why). Both secrets crossing it
are sealed: the device's request (its QR token or organiser code, its keys) to the endpoint's enrollment key, which
the organiser's server key signs (`REQUEST`); the answer's MQTT password to an X25519 key the device made for this
enrollment (context: its device id). A listener on the Wi-Fi learns nothing usable.
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
REQUEST = "enroll-request:"     # + the organiser: the context of a device's sealed request (a device id has no ':')


def raw_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, context: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=_INFO + context.encode()).derive(shared)


def seal(secret: str, recipient_public: bytes, context: str) -> dict:
    """`secret` readable only with the private key of `recipient_public`, and only under `context` (the device id
    the broker password is for; `REQUEST` + organiser for a request)."""
    ephemeral = X25519PrivateKey.generate()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(_key(shared, context)).encrypt(nonce, secret.encode(), context.encode())
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {"epk": b64(raw_public(ephemeral)), "nonce": b64(nonce), "ct": b64(ct)}


def open_box(box: dict, private: X25519PrivateKey, context: str, what: str = "the sealed broker password") -> str:
    """Raises ValueError when the box is malformed or not for this key/context."""
    try:
        epk, nonce, ct = (base64.b64decode(box[k], validate=True) for k in ("epk", "nonce", "ct"))
        shared = private.exchange(X25519PublicKey.from_public_bytes(epk))
        return ChaCha20Poly1305(_key(shared, context)).decrypt(nonce, ct, context.encode()).decode()
    except (KeyError, TypeError, ValueError, InvalidTag, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot open {what} ({exc.__class__.__name__})") from None
