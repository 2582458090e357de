"""Which 32-byte Ed25519 public keys a device may trust: pure arithmetic on the curve (RFC 8032, section 5.1.3).

OpenSSL verifies cofactorless and does not look at the public key itself. A key of small order (the all-zero key,
the identity `01 00…00`, the 8 torsion points and their non-canonical spellings) lets anyone forge: with the
identity every message verifies under the signature R = identity, S = 0, with the all-zero key one message in four.
A key whose bytes are no point of the curve verifies nothing, and a non-canonical spelling (y ≥ p, or x = 0 with
the sign bit set) is a second text of another key. All are refused when a key is trusted, never at the door.
"""
from __future__ import annotations

from functools import lru_cache

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int, sign: int) -> int | None:
    """RFC 8032 5.1.3 step 2-4: x from y and the sign bit, one exponentiation; None when x² has no root."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    vx2 = v * x * x % P
    if vx2 == (-u) % P and vx2 != u:
        x = x * SQRT_M1 % P
    elif vx2 != u:
        return None
    return P - x if x & 1 != sign and x else x


def _times_8_is_identity(x: int, y: int) -> bool:
    """[8](x, y) = identity, by three doublings in projective coordinates (RFC 8032 5.1.4: no inversion)."""
    X, Y, Z = x, y, 1
    for _ in range(3):
        a, b, c = X * X % P, Y * Y % P, 2 * Z * Z % P
        h, g = (a + b) % P, (a - b) % P
        e, f = (h - (X + Y) * (X + Y)) % P, (c + g) % P
        X, Y, Z = e * f % P, g * h % P, f * g % P
    return X == 0 and Y == Z


@lru_cache(maxsize=4096)      # a keyring is read on every `agent scan`, every bundle: each key checked once
def public_key_flaw(raw: bytes) -> str | None:
    """None for a key that can be trusted, else why not (words for the person trusting it)."""
    if len(raw) != 32:
        return "an Ed25519 public key is 32 bytes"
    y, sign = int.from_bytes(raw, "little") & ((1 << 255) - 1), raw[31] >> 7
    if y >= P:
        return "not a canonical Ed25519 public key (y ≥ 2^255-19: a second spelling of another key)"
    x = _recover_x(y, sign)
    if x is None:
        return "not a point of the Ed25519 curve (no signature could ever verify)"
    if x == 0 and sign:
        return "not a canonical Ed25519 public key (x = 0 with the sign bit set)"
    if _times_8_is_identity(x, y):      # exactly when A is one of the 8 points of small order
        return "a weak Ed25519 public key (a point of small order: anyone could forge signatures it accepts)"
    return None
