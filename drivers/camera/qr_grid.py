"""Where a QR code keeps what (ISO/IEC 18004), for the versions a ticket can take: function patterns, the data
bits' placement, codewords and Reed-Solomon blocks at level M, format information and data masks.

One definition, used by the erasure decoder (`erasure.py`) and by the door conditions' ground truth
(drivers/testkit/qr_oracle.py). Grids are numpy arrays indexed [row, column], True = dark, quiet zone excluded.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# Version -> (blocks, EC codewords per block) at level M, for the versions a ticket can take.
EC_M = {5: (2, 24), 6: (4, 16), 7: (4, 18), 8: (4, 22)}
ALIGN = {5: (6, 30), 6: (6, 34), 7: (6, 22, 38), 8: (6, 24, 42)}
LEVEL_BITS = {"L": 1, "M": 0, "Q": 3, "H": 2}     # the error level's two bits in the format information
FORMAT_MASK = 0x5412                             # XORed onto the 15 format bits
_FORMAT_POLY = 0x537                             # BCH(15, 5) generator


def size(version: int) -> int:
    return 17 + 4 * version


@lru_cache(maxsize=8)
def function_modules(version: int) -> np.ndarray:
    """True where a module is a function pattern (finder, separator, timing, alignment, format/version info)."""
    n = size(version)
    f = np.zeros((n, n), bool)
    f[:9, :9] = f[:9, n - 8:] = f[n - 8:, :9] = True           # finders, separators, format info
    f[6, :] = f[:, 6] = True                                   # timing
    centres = ALIGN[version]
    for cy in centres:
        for cx in centres:
            if not f[cy, cx]:
                f[cy - 2:cy + 3, cx - 2:cx + 3] = True
    if version >= 7:
        f[:6, n - 11:n - 8] = f[n - 11:n - 8, :6] = True
    f.flags.writeable = False
    return f


@lru_cache(maxsize=8)
def bit_map(version: int) -> np.ndarray:
    """The index of every data module's bit in the interleaved codeword stream (bit 0 = the first codeword's most
    significant bit), -1 for function and remainder modules: the two-column zigzag from the bottom-right corner."""
    n = size(version)
    func = function_modules(version)
    out = np.full((n, n), -1, int)
    bit, upward, x = 0, True, n - 1
    total = codewords(version) * 8
    while x > 0:
        if x == 6:
            x -= 1
        for y in (range(n - 1, -1, -1) if upward else range(n)):
            for col in (x, x - 1):
                if not func[y, col]:
                    if bit < total:
                        out[y, col] = bit
                    bit += 1
        upward = not upward
        x -= 2
    out.flags.writeable = False
    return out


def codewords(version: int) -> int:
    """Codewords in the stream (data and EC): the data modules over 8, the remainder bits dropped."""
    return (size(version) ** 2 - int(function_modules(version).sum())) // 8


@lru_cache(maxsize=8)
def codeword_map(version: int) -> np.ndarray:
    """The codeword index (in the interleaved stream) of every data module, -1 for function and remainder modules."""
    bits = bit_map(version)
    out = np.where(bits >= 0, bits // 8, -1)
    out.flags.writeable = False
    return out


def block_of(codeword: int, version: int) -> int:
    """Interleaving: with equal blocks (the versions above at M), codeword k of the stream belongs to block k mod b."""
    return codeword % EC_M[version][0]


@lru_cache(maxsize=8)
def block_positions(version: int) -> np.ndarray:
    """blocks x codewords per block: the stream index of each block's codeword j (data first, then EC)."""
    blocks, _ = EC_M[version]
    per_block = codewords(version) // blocks
    return np.arange(per_block)[None, :] * blocks + np.arange(blocks)[:, None]


def format_code(level: str, mask: int) -> int:
    """The 15 format bits (BCH-coded, masked) for an error level and a data mask."""
    data = LEVEL_BITS[level] << 3 | mask
    rem = data << 10
    for shift in range(4, -1, -1):
        if rem & (1 << (10 + shift)):
            rem ^= _FORMAT_POLY << shift
    return (data << 10 | rem) ^ FORMAT_MASK


@lru_cache(maxsize=8)
def format_cells(n: int) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(row, column) of the 15 format bits, most significant first: the copy around the top-left finder, and the
    copy split between the bottom-left and top-right finders."""
    first = tuple([(8, c) for c in range(6)] + [(8, 7), (8, 8), (7, 8)] + [(r, 8) for r in range(5, -1, -1)])
    second = tuple([(r, 8) for r in range(n - 1, n - 8, -1)] + [(8, c) for c in range(n - 8, n)])
    return first, second


@lru_cache(maxsize=8)
def data_mask(mask: int, n: int) -> np.ndarray:
    """The modules a data mask flips (over the whole grid; only data modules are masked)."""
    i, j = np.mgrid[0:n, 0:n]
    rule = (
        (i + j) % 2 == 0, i % 2 == 0, j % 3 == 0, (i + j) % 3 == 0, (i // 2 + j // 3) % 2 == 0,
        (i * j) % 2 + (i * j) % 3 == 0, ((i * j) % 2 + (i * j) % 3) % 2 == 0, ((i + j) % 2 + (i * j) % 3) % 2 == 0,
    )[mask]
    rule.flags.writeable = False
    return rule
