"""Signed messages server -> device: a JSON body signed with the organiser's server key (Ed25519).

Wire form (UTF-8 JSON):  {"v": 1, "body": "<JSON text>", "sig": "<base64 Ed25519 signature>"}
The signature covers DOMAIN + the body text's bytes, so no other ticketgate signature (tickets use
another domain) can pass for a sync message. `open_signed` never trusts anything before the
signature verified, and raises `Rejected(reason)` for every bad input.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.errors import TicketgateError

DOMAIN = b"ticketgate-sync-v1\x00"
MAX_SIGNED = 1 << 20   # a signed JSON message is small; bundle data travels in chunks (agent.sync.bundle)


class Rejected(TicketgateError, ValueError):
    """An incoming message was refused; str(exc) is the logged reason."""


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def seal(body: dict[str, Any], sign: Callable[[bytes], bytes]) -> bytes:
    """Sign `body` (a dict) with `sign` (SigningKey.sign or Ed25519PrivateKey.sign)."""
    text = dumps(body)
    signature = sign(DOMAIN + text.encode())
    return dumps({"v": 1, "body": text, "sig": base64.b64encode(signature).decode()}).encode()


def load_json(data: bytes, limit: int) -> Any:
    if len(data) > limit:
        raise Rejected(f"oversized message ({len(data)} bytes > {limit})")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(f"malformed JSON ({exc.__class__.__name__})") from None
    except RecursionError:      # `[[[[…` nested past the interpreter's limit: one bad message, not a failed drain
        raise Rejected("malformed JSON (nested too deep)") from None


class Verifier:
    """Checks messages against the server public key (32 raw bytes)."""

    def __init__(self, public_key: bytes):
        self.key = Ed25519PublicKey.from_public_bytes(public_key)

    def open(self, data: bytes, limit: int = MAX_SIGNED) -> dict[str, Any]:
        outer = load_json(data, limit)
        if not isinstance(outer, dict) or "sig" not in outer or "body" not in outer:
            raise Rejected("unsigned message")
        if outer.get("v") != 1 or not isinstance(outer["body"], str) or not isinstance(outer["sig"], str):
            raise Rejected("malformed signed envelope")
        try:
            signature = base64.b64decode(outer["sig"], validate=True)
            self.key.verify(signature, DOMAIN + outer["body"].encode())
        except (binascii.Error, ValueError, InvalidSignature):
            raise Rejected("bad signature (forged or not from this organiser's server)") from None
        body = json.loads(outer["body"])
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise Rejected("signed body without a type")
        return body
