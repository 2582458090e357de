"""Which 32-byte Ed25519 public keys a device may trust: pure arithmetic on the curve (RFC 8032, section 5.1.3).

OpenSSL verifies cofactorless and does not look at the public key itself. A key of small order (the all-zero key,
the identity `01 00…00`, the 8 torsion points and their non-canonical spellings) lets anyone forge: with the
identity every message verifies under the signature R = identity, S = 0, with the all-zero key one message in four.
A key whose bytes are no point of the curve verifies nothing, and a non-canonical spelling (y ≥ p, or x = 0 with
the sign bit set) is a second text of another key. All are refused when a key is trusted, never at the door.
"""
from __future__ import annotations

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int, sign: int) -> int | None:
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    return P - x if x & 1 != sign and x else x


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Twisted Edwards addition (a = -1): complete, as d is not a square."""
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + y1 * x2) * pow(1 + t, P - 2, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


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
    point = (x, y)
    for _ in range(3):          # [8]A: the identity exactly when A is one of the 8 points of small order
        point = _add(point, point)
    if point == (0, 1):
        return "a weak Ed25519 public key (a point of small order: anyone could forge signatures it accepts)"
    return None
