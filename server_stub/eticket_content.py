"""What goes on an e-ticket (gathered from the store), in the event's language and time zone.

`eticket_png` (Pillow) and `eticket_pdf` (fpdf2) both draw this `ETicket`; `eticket.export` writes the files.
The QR is made with segno from the signed `TG1:` payload (base45 fits QR alphanumeric mode). Words and dates come
from drivers.printers.wording, the same as on printed tickets; untrusted text goes through its `plain`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import segno

from agent.errors import TicketgateError
from agent.ticket_format import ticket_qr
from drivers.printers.wording import plain, say, when
from server_stub.model import CANCELLED, PENDING, REFUNDED

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")


class ETicketError(TicketgateError, ValueError):
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
    note: str = ""                   # e.g. payment pending (already in the ticket's language)
    language: str = "en"             # the event's: en | fr

    def say(self, text: str) -> str:
        return say(self.language, text)

    @property
    def file_stem(self) -> str:
        return f"{self.order_number}-{self.ticket_key}"


def format_when(starts_at: float, ends_at: float, tz: str, lang: str = "en") -> str:
    """`Sat 31 Dec 2026, 20:00–02:00 CET` (`sam. 31 déc. 2026, …` in French) in the event's own time zone."""
    return when(starts_at, ends_at, tz, lang)


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
    first = events[0]
    lang = first.get("language") or "en"
    if target["kind"] == "pass":
        title = next((p["name"] for p in store.passes(t["org"]) if p["pass_id"] == t["target_id"]), say(lang, "Pass"))
        dates = tuple(f"{plain(e['name'])}: {format_when(e['starts_at'], e['ends_at'], e['timezone'], lang)}"
                      for e in events)
    else:
        title = first["name"]
        dates = (format_when(first["starts_at"], first["ends_at"], first["timezone"], lang),)
    organiser = (store.organiser(t["org"]) or {}).get("name", t["org"])
    return ETicket(payload=store.issue_ticket_payload(t["ticket_key"]), title=plain(title), when=dates,
                   category=plain(_name(first["categories"], "category_id", t["category"], say(lang, "Admission"))),
                   zone=plain(_name(first["zones"], "zone_id", t["zone"], say(lang, "All zones"))),
                   seat=plain(t["seat"]) if t["seat"] else None, order_number=plain(t["order_number"]),
                   buyer_name=plain(t["buyer_name"]), organiser=plain(organiser), ticket_key=str(t["ticket_key"]),
                   note=say(lang, "PAYMENT PENDING") if t["order_status"] == PENDING else "", language=lang)


def make_qr(payload: str) -> segno.QRCode:
    """The ticket's QR (`agent.ticket_format.ticket_qr`: error level M, docs/ticket-format.md)."""
    return ticket_qr(payload)


def lines(e: ETicket) -> list[tuple[str, str]]:
    """(label in the ticket's language, value) rows printed next to the QR."""
    rows = [("Category", e.category), ("Zone", e.zone)]
    if e.seat:
        rows.append(("Seat", e.seat))
    rows += [("Order", e.order_number), ("Name", e.buyer_name), ("Ticket", e.ticket_key)]
    return [(e.say(label), value) for label, value in rows]


FOOTER = "Show this code at the entrance, on screen or printed. It is valid once; do not share it."


def font_file(bold: bool = False) -> Path | None:
    """A Unicode TrueType font for names like Łódź or Øyvind (DejaVu, apt fonts-dejavu-core); None: fall back."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if path.exists():
            return path
    return None
