"""Reed-Solomon decoding with erasures for a sampled QR code: modules known to be unreliable are not guessed.

A Reed-Solomon block with n - k check codewords corrects e wrong codewords and f erased ones (wrong, but known to
be where they are) when 2e + f <= n - k: a version 6-M block (16 check codewords of 43) corrects 8 errors, or up
to 16 erasures. zxing-cpp only takes hard decisions, so the redrawn step (`redraw.py`) decodes the codewords itself
when a block is past 8 errors: each module carries a margin (how far its sample is from the local threshold; a
saturated highlight or a crack line leaves it near zero), a codeword is as reliable as its least reliable module,
and each failing block is decoded again with its least reliable codewords erased (generalised minimum distance).

No guessing: a decoding is kept only if it leaves MARGIN check codewords unused (2e + f <= n - k - MARGIN), so a
block past what it can correct gives a wrong codeword with a chance of about 256^-MARGIN per attempt (2.3e-10;
a decoding that erases f codewords checks the others with the 16 - f check codewords left); errors alone are kept
within the standard's bound, as zxing-cpp decodes them; the format information must be within its BCH
code's reach (3 bits of 15) of an error-level-M code, and the corrected grid is then read by zxing-cpp in pure
mode, which checks everything again.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from drivers.camera import qr_grid as G
from drivers.camera import reed_solomon as RS

MARGIN = 4                  # check codewords left unused by an erasure decoding
FORMAT_REACH = 3            # wrong format bits the BCH(15, 5) code corrects
ERASED = (6, 8, 10, 12)     # least reliable codewords erased per attempt, after errors alone (GMD steps)


@lru_cache(maxsize=4)
def _layout(version: int) -> np.ndarray:
    """codewords x 8: the flat index of the module holding each bit of each codeword, most significant first."""
    bits = G.bit_map(version).ravel()
    return np.argsort(bits)[np.sort(bits) >= 0].reshape(-1, 8)


@lru_cache(maxsize=8)
def _format_reading(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows and columns of both copies of the format bits (2 x 15), and the 8 level-M codes' bits (8 x 15)."""
    copies = G.format_cells(n)
    rows = np.array([[r for r, _ in copy] for copy in copies])
    cols = np.array([[c for _, c in copy] for copy in copies])
    codes = np.array([[G.format_code("M", mask) >> (14 - k) & 1 for k in range(15)] for mask in range(8)], bool)
    return rows, cols, codes


def read_format(dark: np.ndarray) -> tuple[int, int] | None:
    """(data mask, wrong bits) of the nearest error-level-M format code over both copies, None past its reach."""
    rows, cols, codes = _format_reading(dark.shape[0])
    wrong = (dark[rows, cols][:, None, :] != codes[None]).sum(axis=2)       # copies x masks
    copy, mask = np.unravel_index(int(np.argmin(wrong)), wrong.shape)
    best = int(wrong[copy, mask])
    return (int(mask), best) if best <= FORMAT_REACH else None


@dataclass(frozen=True)
class Correction:
    dark: np.ndarray            # the corrected grid: data as decoded, format information clean
    erased: int                 # codewords decoded as erasures, over all blocks
    fixed: int                  # codewords changed, over all blocks


def corrected(dark: np.ndarray, margin: np.ndarray, version: int = 6) -> Correction | None:
    """The grid with every Reed-Solomon block decoded (errors alone first, then erasures of its least reliable
    codewords), data modules written back; None if the format information or a block cannot be read safely.
    `dark`: modules as sampled (True = dark); `margin`: how far each sample is from its threshold (any unit)."""
    found = read_format(dark)
    if found is None:
        return None
    mask, _ = found
    n = G.size(version)
    func = G.function_modules(version)
    flip = G.data_mask(mask, n) & ~func
    plain = (dark ^ flip).ravel()
    cells = _layout(version)
    words = np.packbits(plain[cells].astype(np.uint8), axis=1).ravel()
    reliability = margin.ravel()[cells].min(axis=1)
    _, ec = G.EC_M[version]
    layout = G.block_positions(version)
    synd = RS.syndromes(words[layout], ec)
    out = words.copy()
    erased = 0
    for positions, s in zip(layout, synd):
        if s.any():
            decoded = _decode(words[positions], reliability[positions], ec, s)
            if decoded is None:
                return None
            out[positions], f = decoded
            erased += f
    bits = np.unpackbits(out[:, None], axis=1)
    new = plain.copy()
    new[cells] = bits.astype(bool)
    grid = new.reshape(n, n) ^ flip
    grid[func] = dark[func]
    code = G.format_code("M", mask)
    for copy in G.format_cells(n):
        for k, (r, c) in enumerate(copy):
            grid[r, c] = bool(code >> (14 - k) & 1)
    return Correction(grid, erased, int(np.count_nonzero(out != words)))


def _decode(block: np.ndarray, reliability: np.ndarray, ec: int, synd: np.ndarray) -> tuple[np.ndarray, int] | None:
    """One block decoded: errors alone (at most ec / 2, the standard's bound), else its k least reliable codewords
    erased for k in ERASED, kept only with MARGIN check codewords to spare. (codewords, erasures used) or None."""
    order = np.argsort(reliability, kind="stable").tolist()
    for k in (0, *ERASED):
        decoded = RS.decode(block, ec, order[:k], synd)
        if decoded is not None and (k == 0 or 2 * decoded[1] + k <= ec - MARGIN):
            return decoded[0], k
    return None
