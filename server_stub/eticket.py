"""E-tickets as a buyer receives them by mail: files written from what `eticket_content` gathers, drawn by
`eticket_png` (Pillow) and `eticket_pdf` (fpdf2). Imports go one way: content <- png/pdf <- this module."""
from __future__ import annotations

from pathlib import Path

from agent.private_files import write_private

from server_stub.eticket_content import ETicket, ETicketError, format_when, gather
from server_stub.eticket_pdf import render_pdf
from server_stub.eticket_png import render_png

__all__ = ["ETicket", "ETicketError", "export", "format_when", "gather"]


def export(store, ticket_keys: list[str], out_dir: str | Path, formats: tuple[str, ...] = ("png",),
           progress=None, skipped: list[dict] | None = None) -> list[Path]:
    """PNG: one file per ticket, `<order>-<ticket>.png`. PDF: one file per order, `<order>.pdf`, a page per ticket
    (what a buyer gets by mail). Tickets that must not be mailed raise ETicketError, or are listed in `skipped`
    when a list is given. Files are written atomically and 0600 (a signed QR gets its holder in; the buyer's
    name and e-mail are personal data). Returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_order: dict[str, list[ETicket]] = {}
    for key in ticket_keys:
        try:
            e = gather(store, key)
        except ETicketError as exc:
            if skipped is None:
                raise
            skipped.append({"ticket_key": str(key), "reason": str(exc)})
            continue
        by_order.setdefault(e.order_number, []).append(e)
    written: list[Path] = []
    done = 0
    for number, tickets in by_order.items():
        if "png" in formats:
            for e in tickets:
                written.append(_write(out / f"{e.file_stem}.png", render_png(e)))
        if "pdf" in formats:
            written.append(_write(out / f"{number}.pdf", render_pdf(tickets)))
        done += len(tickets)
        if progress:
            progress(done)
    return written


def _write(path: Path, data: bytes) -> Path:
    write_private(path, data)
    return path
