"""E-tickets as a buyer receives them by mail: what goes on one (gathered from the store) and how dates read.

Rendering lives in `eticket_png` (Pillow) and `eticket_pdf` (fpdf2); both draw the same `ETicket`.
The QR is made with segno from the signed `TG1:` payload (base45 fits QR alphanumeric mode).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import segno

from server_stub.model import CANCELLED, PENDING, REFUNDED

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")


class ETicketError(ValueError):
    """This ticket must not be mailed (cancelled or refunded order, revoked or blocked ticket)."""


@dataclass(frozen=True)
class ETicket:
    payload: str
    title: str                       # event name, or pass name
    when: tuple[str, ...]            # one line per event (a pass lists each)
    category: str
    zone: str
    seat: str | None
    order_number: str
    buyer_name: str
    organiser: str
    ticket_key: str
    note: str = ""                   # e.g. payment pending

    @property
    def file_stem(self) -> str:
        return f"{self.order_number}-{self.ticket_key}"


def format_when(starts_at: float, ends_at: float, tz: str) -> str:
    """`Sat 31 Dec 2026, 20:00–02:00 CET` in the event's own time zone (the end date shown when far apart)."""
    zone = ZoneInfo(tz)
    start = datetime.fromtimestamp(starts_at, timezone.utc).astimezone(zone)
    end = datetime.fromtimestamp(ends_at, timezone.utc).astimezone(zone)
    head = f"{start:%a} {start.day} {start:%b %Y, %H:%M}"
    if end.date() == start.date() or (end - start).total_seconds() < 16 * 3600:
        return f"{head}–{end:%H:%M} {end.tzname()}"
    return f"{head} – {end:%a} {end.day} {end:%b %Y, %H:%M} {end.tzname()}"


def _name(items: list[dict], id_key: str, value: int | None, default: str) -> str:
    if value is None:
        return default
    return next((i["name"] for i in items if i[id_key] == value), str(value))


def gather(store, ticket_key: str) -> ETicket:
    """Everything printed on one e-ticket. Refuses tickets that must not reach a buyer."""
    t = store.ticket(ticket_key)
    if t["order_status"] in (CANCELLED, REFUNDED):
        raise ETicketError(f"order {t['order_number']} is {t['order_status']}: no e-ticket")
    order = store.order(t["order_number"])
    row = next(x for x in order["tickets"] if x["ticket_key"] == t["ticket_key"])
    if row["revoked"] or row["blocked"]:
        raise ETicketError(f"ticket {t['ticket_key']} is {'revoked' if row['revoked'] else 'blocked'}: no e-ticket")
    target = store.target(t["target_id"])
    events = [store.event(e) for e in target["event_ids"]]
    if target["kind"] == "pass":
        title = next((p["name"] for p in store.passes(t["org"]) if p["pass_id"] == t["target_id"]), "Pass")
        when = tuple(f"{e['name']}: {format_when(e['starts_at'], e['ends_at'], e['timezone'])}" for e in events)
    else:
        title = events[0]["name"]
        when = (format_when(events[0]["starts_at"], events[0]["ends_at"], events[0]["timezone"]),)
    first = events[0]
    organiser = (store.organiser(t["org"]) or {}).get("name", t["org"])
    return ETicket(payload=store.issue_ticket_payload(t["ticket_key"]), title=title, when=when,
                   category=_name(first["categories"], "category_id", t["category"], "Admission"),
                   zone=_name(first["zones"], "zone_id", t["zone"], "All zones"), seat=t["seat"],
                   order_number=t["order_number"], buyer_name=t["buyer_name"], organiser=organiser,
                   ticket_key=t["ticket_key"], note="PAYMENT PENDING" if t["order_status"] == PENDING else "")


def make_qr(payload: str) -> segno.QRCode:
    """Error correction M: survives a cracked phone screen or a fold in a print-out, still small."""
    return segno.make_qr(payload, error="m", boost_error=False)


def lines(e: ETicket) -> list[tuple[str, str]]:
    """(label, value) rows printed next to the QR."""
    rows = [("Category", e.category), ("Zone", e.zone)]
    if e.seat:
        rows.append(("Seat", e.seat))
    rows += [("Order", e.order_number), ("Name", e.buyer_name), ("Ticket", e.ticket_key)]
    return rows


def font_file(bold: bool = False) -> Path | None:
    """A Unicode TrueType font for names like Łódź or Øyvind (DejaVu, apt fonts-dejavu-core); None: fall back."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if path.exists():
            return path
    return None


def export(store, ticket_keys: list[str], out_dir: str | Path, formats: tuple[str, ...] = ("png",),
           progress=None, skipped: list[dict] | None = None) -> list[Path]:
    """PNG: one file per ticket, `<order>-<ticket>.png`. PDF: one file per order, `<order>.pdf`, a page per ticket
    (what a buyer gets by mail). Tickets that must not be mailed raise ETicketError, or are listed in `skipped`
    when a list is given. Files are written atomically. Returns the files written."""
    from server_stub.eticket_pdf import render_pdf
    from server_stub.eticket_png import render_png
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
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
