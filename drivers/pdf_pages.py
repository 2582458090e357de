"""The pages of a PDF as grayscale images, for `ticketgate decode` (an e-ticket the organiser mailed).

Rendered by poppler's `pdftoppm` (Debian/Ubuntu `poppler-utils`, in dev.sh's apt list; Homebrew `poppler`): no
Python PDF renderer in the dependencies, and poppler reads what mail clients and other ticketing systems produce.
Pages are rendered a few at a time into a private temporary folder, each scaled so its long side is `LONG_SIDE`
pixels (an A4 page at ~170 dpi; a poster-sized page cannot make a huge bitmap). A password-protected, damaged or
truncated-beyond-repair file raises `PdfUnreadable` saying so; nothing is written next to the file. A PDF of more
than `MAX_PAGES` pages is refused before any page is rendered (an order's e-tickets are one page a ticket; 10,000
blank pages were ~3 hours of decoding), and poppler gets `TIMEOUT` seconds for all of a file's pages together.

A password-protected PDF is opened with its password by pypdf (`pages(path, password)`), which writes a decrypted copy
into the private temporary folder for poppler and removes it after the last page: poppler takes a password only on
its command line (`-upw`), where every user of the machine reads it in the process list.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from agent.errors import TicketgateError

LONG_SIDE = 2000          # px: A4 at ~170 dpi; a 70 mm QR (server_stub/eticket_pdf.py) ~11 px a module, 25 mm ~5
BATCH = 8                 # pages rendered per pdftoppm run (bounded disk and memory for a long order)
TIMEOUT = 120.0           # seconds of poppler for one file (its page count and every batch of pages)
MAX_PAGES = 100           # pages read at most (~1 s each): an order of 100 tickets


class PdfUnreadable(TicketgateError):
    """The PDF cannot be rendered: the message says why (encrypted, damaged, poppler missing)."""


def is_pdf(path: Path) -> bool:
    """By content: a PDF starts with `%PDF-` within its first KiB (whatever its name)."""
    try:
        with path.open("rb") as f:
            return b"%PDF-" in f.read(1024)
    except OSError:
        return path.suffix.lower() == ".pdf"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PdfUnreadable(f"reading a PDF needs poppler's {name} (Debian/Ubuntu: `sudo apt install poppler-utils`, "
                            f"macOS: `brew install poppler`); or decode a screenshot of the page instead")
    return found


class PopplerTime:
    """The seconds of poppler a file has left (the decoding between its batches is not counted)."""

    def __init__(self) -> None:
        self.left = TIMEOUT


def _run(argv: list[str], budget: PopplerTime) -> str:
    started = time.monotonic()
    try:
        if budget.left <= 0:
            raise subprocess.TimeoutExpired(argv, 0)
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=budget.left)
    except subprocess.TimeoutExpired:
        raise PdfUnreadable(f"poppler took more than {TIMEOUT:g} s on it (a damaged or hostile file?)") from None
    finally:
        budget.left -= time.monotonic() - started
    if done.returncode != 0:
        said = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        if any("password" in line.lower() for line in said):
            raise PdfUnreadable("the PDF is password-protected (encrypted): give its password with --password-file "
                                "FILE or --ask-password, or decode a screenshot of the page")
        raise PdfUnreadable(f"damaged or not a PDF (poppler: {said[-1] if said else f'exit {done.returncode}'})")
    return done.stdout


def page_count(path: Path, budget: PopplerTime) -> int:
    if not path.is_file():
        raise PdfUnreadable("no such file" if not path.exists() else "not a file")
    info = _run([_tool("pdfinfo"), str(path)], budget)
    found = re.search(r"^Pages:\s*(\d+)\s*$", info, re.MULTILINE)
    if found is None:
        raise PdfUnreadable("damaged or not a PDF (poppler found no page count)")
    if int(found.group(1)) == 0:
        raise PdfUnreadable("the PDF has no page")
    return int(found.group(1))


def _decrypted(path: Path, password: str, folder: Path) -> Path:
    """A copy of `path` opened with `password` in `folder` (private), or `path` itself when it is not encrypted or
    pypdf cannot parse it (poppler then says what is wrong with it). A wrong password raises PdfUnreadable."""
    if not path.is_file():
        raise PdfUnreadable("no such file" if not path.exists() else "not a file")
    try:
        from pypdf import PasswordType, PdfReader, PdfWriter
        from pypdf.errors import PyPdfError
    except ModuleNotFoundError:
        raise PdfUnreadable("opening a password-protected PDF needs pypdf (`.venv/bin/pip install pypdf`)") from None
    try:
        reader = PdfReader(path)
        if not reader.is_encrypted:
            return path
        if reader.decrypt(password) == PasswordType.NOT_DECRYPTED:
            raise PdfUnreadable("wrong password for this PDF (nothing was read): check the password the buyer "
                                "was given, or decode a screenshot of the page")
        copy = folder / "opened.pdf"
        with copy.open("wb") as out:           # 0600 under the 0700 temporary folder
            PdfWriter(clone_from=reader).write(out)
        return copy
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        return path


def pages(path: Path, password: str | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(page number from 1, grayscale uint8 image) for every page, in order. PdfUnreadable before the first page
    when the file cannot be opened (or `password` does not open it), or at the batch that fails."""
    if password is None:
        yield from _rendered(path)
        return
    with tempfile.TemporaryDirectory(prefix="ticketgate-pdf-") as tmp:         # the decrypted copy: removed after
        yield from _rendered(_decrypted(path, password, Path(tmp)))


def _rendered(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    from PIL import Image
    budget = PopplerTime()
    total, pdftoppm = page_count(path, budget), _tool("pdftoppm")
    if total > MAX_PAGES:
        raise PdfUnreadable(f"the PDF has {total} pages, over the {MAX_PAGES} ticketgate decode reads (an order's "
                            "e-tickets are one page a ticket; a hostile file?): split it with poppler's pdfseparate, "
                            "or decode a screenshot of the page")
    for first in range(1, total + 1, BATCH):
        last = min(total, first + BATCH - 1)
        with tempfile.TemporaryDirectory(prefix="ticketgate-pdf-") as tmp:      # 0700, removed after the batch
            _run([pdftoppm, "-gray", "-png", "-scale-to", str(LONG_SIDE), "-f", str(first), "-l", str(last),
                  str(path), str(Path(tmp) / "p")], budget)
            rendered = sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
            if len(rendered) != last - first + 1:
                raise PdfUnreadable(f"poppler rendered {len(rendered)} of pages {first}-{last}")
            for number, file in zip(range(first, last + 1), rendered):
                with Image.open(file) as im:
                    yield number, np.asarray(im.convert("L"))
