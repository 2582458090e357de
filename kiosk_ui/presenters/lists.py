"""Rows for the list screens: search results, an order's tickets, stats, sync, printers."""
from __future__ import annotations

from dataclasses import dataclass

from agent.safe_text import timestamp
from agent.ticket_state import STATE_WORDS
from kiosk_ui.i18n import tr, tr_n
from kiosk_ui.presenters.labels import PRINTER_LANGUAGES
from kiosk_ui.services import PrinterInfo, SyncStatus

_STATES = STATE_WORDS                     # English words of agent.ticket_state, translated here
CHECKIN_OK_STATES = {"valid"}            # what a manual check-in would admit now


def state_label(state: str) -> str:
    return tr(_STATES.get(state, state))


@dataclass(frozen=True)
class TicketRow:
    ticket_key: str
    title: str         # buyer — order A-1001: what the guest says at the desk
    subtitle: str      # state · category, zone · ticket …123456
    state: str
    can_checkin: bool


def short_key(ticket_key: str) -> str:
    """Long ticket ids (15 digits, pretix:…) shortened to their last 6 characters: enough to tell an order's
    tickets apart, the buyer and order number lead the row."""
    return ticket_key if len(ticket_key) <= 8 else "…" + ticket_key[-6:]


def ticket_rows(rows: list[dict], show_buyer: bool = True, names=None) -> list[TicketRow]:
    """`names` (the Door): category and zone names of each ticket; rows carry `state` (see `state_label`)."""
    out = []
    for r in rows:
        who = r.get("buyer_name") if show_buyer and r.get("buyer_name") else tr("(name hidden)")
        what = []
        if names is not None:
            cat = names.category(r.get("event_id"), r.get("category")) if r.get("category") else None
            zone = names.zone(r.get("event_id"), r["zone"]) if r.get("zone") is not None else None
            what = [row["name"] for row in (cat, zone) if row and row.get("name")]
        parts = [state_label(r["state"]), ", ".join(what), f"{tr('ticket')} {short_key(str(r['ticket_key']))}"]
        out.append(TicketRow(r["ticket_key"], f"{who} — {tr('order')} {r.get('order_number') or '?'}",
                             " · ".join(p for p in parts if p), r["state"], r["state"] in CHECKIN_OK_STATES))
    return out


def orders_of(rows: list[dict]) -> list[tuple[str, str, int]]:
    """Distinct orders among search results: (order number, buyer, number of tickets found)."""
    seen: dict[str, list] = {}
    for r in rows:
        entry = seen.setdefault(r.get("order_number") or "", [r.get("buyer_name") or "", 0])
        entry[1] += 1
    return [(o, b, n) for o, (b, n) in seen.items() if o]


def stats_lines(rows: list[tuple[str, int, int]]) -> list[str]:
    return [tr("{label}: {ins}, {outs}", label=label, ins=tr_n("{n} in", "{n} in", i), outs=tr_n("{n} out", "{n} out", o))
            for label, i, o in rows] or [tr("No entries yet.")]


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return tr("never")
    when = timestamp(ts, "%H:%M:%S UTC")
    return tr("{when} ({mins} min ago)", when=when, mins=int(max(0, now - ts) // 60))


def sync_lines(s: SyncStatus, now: float) -> list[str]:
    if not s.available:
        return [tr("Sync: not available on this build."), tr("Messages waiting: {n}", n=s.queue),
                tr("They stay on the device and are sent when sync is installed and online.")]
    state = tr("online") if s.online else tr("offline")
    lines = [tr("Server: {state}", state=state), tr("Messages waiting: {n}", n=s.queue),
             tr("Event data version: {v}", v=s.bundle_version or "—"),
             tr("Last upload: {when}", when=_ago(s.last_upload, now)), tr("Conflicts: {n}", n=s.conflicts)]
    if s.refused:       # kept on the device; the organiser sees them too (`ticketgate server refusals`)
        lines.append(tr("Refused by the server: {n} (kept on this device)", n=s.refused))
        lines += [f"  {line}" for line in s.refusals]
    if s.detail:
        lines.append(tr(s.detail))
    return lines


def printer_label(p: PrinterInfo) -> str:
    kind = tr(PRINTER_LANGUAGES.get(p.language, p.language))
    return f"{p.name} — {kind}" + ("" if p.online else " — " + tr("OFF"))


def printer_rows(printers: list[PrinterInfo]) -> list[tuple[str, str]]:
    return [(p.printer_id, printer_label(p)) for p in printers]
