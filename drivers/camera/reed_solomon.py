"""QR codes' Reed-Solomon code over GF(256), decoded with errors and erasures (small and fast: numpy for syndromes and
the root search, a few Python loops of at most 16 steps for Berlekamp-Massey).

The field is GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1, the generator's roots alpha^0 .. alpha^(ec - 1) (ISO/IEC
18004). A block is a sequence of codewords, data first; codeword i is the coefficient of x^(len - 1 - i).
reedsolo (pure Python) does the same at ~0.25 ms a decoding and ~0.05 ms a syndrome check per block: too slow for a
frame budget of 4 ms, where this takes ~0.02 ms to check the four blocks of a code and ~0.1 ms a decoding.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

_EXP = np.zeros(512, np.int64)
_LOG = np.zeros(256, np.int64)
_value = 1
for _i in range(255):
    _EXP[_i] = _value
    _LOG[_value] = _i
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
_EXP[255:510] = _EXP[:255]
EXP, LOG = _EXP.tolist(), _LOG.tolist()
# a * b as MUL[a][b]: one lookup where a function call per product made Berlekamp-Massey and Forney half the cost
MUL = [[0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]] for b in range(256)] for a in range(256)]


def _mul(a: int, b: int) -> int:
    return MUL[a][b]


def _inv(a: int) -> int:
    return EXP[255 - LOG[a]]


def syndromes(blocks: np.ndarray, ec: int) -> np.ndarray:
    """blocks x ec: S_j = R(alpha^j) of each block (uint8 codewords, blocks x length); all zero for a codeword."""
    blocks = np.atleast_2d(blocks).astype(np.int64)
    logs = _LOG[blocks][:, None, :] + _powers(blocks.shape[1], ec)[None]              # blocks x ec x length
    terms = np.where(blocks[:, None, :] != 0, _EXP[logs], 0)                           # logs < 510: no modulo
    return np.bitwise_xor.reduce(terms, axis=2)


@lru_cache(maxsize=16)
def _powers(length: int, ec: int) -> np.ndarray:
    """ec x length: log of alpha^(j * (length - 1 - i)), modulo 255."""
    return (length - 1 - np.arange(length))[None, :] * np.arange(ec)[:, None] % 255


def decode(block: np.ndarray, ec: int, erasures: list[int] | tuple[int, ...] = (),
           synd: np.ndarray | None = None) -> tuple[np.ndarray, int] | None:
    """The nearest codeword to `block` with `erasures` (positions) treated as unknown, and the number of errors
    found outside them; None if there is none within 2 * errors + len(erasures) <= ec. The caller decides how much
    of that reach it trusts."""
    length = len(block)
    s = (syndromes(block, ec)[0] if synd is None else synd).tolist()
    if not any(s):
        return np.asarray(block, np.uint8).copy(), 0
    f = len(erasures)
    if f > ec:
        return None
    # erasure locator Gamma(x) = prod (1 - X x), X = alpha^(length - 1 - position); polynomials low order first
    gamma = [1]
    for pos in erasures:
        x = EXP[(length - 1 - pos) % 255]
        mx = MUL[x]
        gamma = [c ^ mx[gamma[i - 1]] if i else c for i, c in enumerate(gamma + [0])]
    lam, prev, degree = list(gamma), list(gamma), f
    for r in range(f, ec):          # Berlekamp-Massey from the erasure locator (Blahut's errata form)
        delta = 0
        for i, c in enumerate(lam[:r + 1]):
            delta ^= MUL[c][s[r - i]]
        shifted = [0] + prev
        if delta == 0:
            prev = shifted
            continue
        size = max(len(lam), len(shifted))
        md = MUL[delta]
        new = [a ^ md[b] for a, b in zip(lam + [0] * (size - len(lam)), shifted + [0] * (size - len(shifted)))]
        if 2 * degree <= r + f:
            mi = MUL[_inv(delta)]
            prev = [mi[c] for c in lam]
            degree = r + 1 + f - degree
        else:
            prev = shifted
        lam = new
    while len(lam) > 1 and lam[-1] == 0:
        lam.pop()
    if len(lam) - 1 != degree or 2 * (degree - f) + f > ec:
        return None
    # roots: Lambda(X^-1) = 0 for the errata positions (Chien search over the block's positions)
    positions = np.arange(length)
    inv_x = (255 - (length - 1 - positions)) % 255                                  # log of X^-1
    coeffs = np.array(lam, np.int64)
    logs = _LOG[coeffs][:, None] + (np.arange(len(lam))[:, None] * inv_x[None, :])
    values = np.bitwise_xor.reduce(np.where(coeffs[:, None] != 0, _EXP[logs % 255], 0), axis=0)
    errata = positions[values == 0].tolist()
    if len(errata) != degree or not set(erasures) <= set(errata):
        return None
    # Forney: e = X * Omega(X^-1) / Lambda'(X^-1), Omega = S(x) Lambda(x) mod x^ec
    omega = [0] * ec
    for i, a in enumerate(lam):
        if a:
            ma = MUL[a]
            for j in range(ec - i):
                omega[i + j] ^= ma[s[j]]
    out = np.asarray(block, np.uint8).copy()
    for pos in errata:
        x_log = (length - 1 - pos) % 255
        xi = (255 - x_log) % 255                    # log of X^-1
        num = 0
        for i, c in enumerate(omega):
            if c:
                num ^= EXP[(LOG[c] + i * xi) % 255]
        den = 0
        for i in range(1, len(lam), 2):             # formal derivative: odd terms only
            if lam[i]:
                den ^= EXP[(LOG[lam[i]] + (i - 1) * xi) % 255]
        if den == 0:
            return None
        out[pos] ^= _mul(EXP[x_log], _mul(num, _inv(den)))
    if syndromes(out, ec).any():
        return None
    return out, len(set(errata) - set(erasures))
