"""The QR sample corpus (images with the expected text beside each), for tests and benchmarks."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"}


@dataclass(frozen=True)
class Sample:
    path: Path
    expected: str


def corpus_dir(default: Path) -> Path:
    """$TICKETGATE_QR_CORPUS, else `default` (callers pass `<repo>/../shared/corpus/qr`)."""
    return Path(os.environ.get("TICKETGATE_QR_CORPUS") or default)


def samples(root: Path) -> list[Sample]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.with_suffix(".txt").exists():
            out.append(Sample(path, path.with_suffix(".txt").read_bytes().decode("utf-8")))
    return out


def load_gray(path: Path) -> np.ndarray:
    """Any image Pillow opens (webp, png, jpeg…) as a grayscale uint8 array."""
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))
