"""Rows for the list screens: search results, an order's tickets, stats, sync, printers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from kiosk_ui.i18n import tr
from kiosk_ui.services import PrinterInfo, SyncStatus

_STATES = {"valid": "valid", "used": "used", "out": "went out", "cancelled": "cancelled for resale",
           "revoked": "cancelled / refunded", "blocked": "blocked", "unpaid": "payment pending"}
CHECKIN_OK_STATES = {"valid", "out"}


def state_label(state: str) -> str:
    return tr(_STATES.get(state, state))


@dataclass(frozen=True)
class TicketRow:
    ticket_key: str
    title: str         # buyer — order
    subtitle: str      # ticket · state
    state: str
    can_checkin: bool


def ticket_rows(rows: list[dict], show_buyer: bool = True) -> list[TicketRow]:
    out = []
    for r in rows:
        who = r.get("buyer_name") if show_buyer and r.get("buyer_name") else tr("(name hidden)")
        out.append(TicketRow(r["ticket_key"], f"{who} — {tr('order')} {r.get('order_number') or '?'}",
                             f"{tr('ticket')} {r['ticket_key']} · {state_label(r['state'])}", r["state"],
                             r["state"] in CHECKIN_OK_STATES))
    return out


def orders_of(rows: list[dict]) -> list[tuple[str, str, int]]:
    """Distinct orders among search results: (order number, buyer, number of tickets found)."""
    seen: dict[str, list] = {}
    for r in rows:
        entry = seen.setdefault(r.get("order_number") or "", [r.get("buyer_name") or "", 0])
        entry[1] += 1
    return [(o, b, n) for o, (b, n) in seen.items() if o]


def stats_lines(rows: list[tuple[str, int, int]]) -> list[str]:
    return [tr("{label}: {n} in, {o} out", label=label, n=i, o=o) for label, i, o in rows] or [tr("No entries yet.")]


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return tr("never")
    when = datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S UTC")
    return tr("{when} ({mins} min ago)", when=when, mins=int(max(0, now - ts) // 60))


def sync_lines(s: SyncStatus, now: float) -> list[str]:
    if not s.available:
        return [tr("Sync: not available on this build."), tr("Messages waiting: {n}", n=s.queue),
                tr("They stay on the device and are sent when sync is installed and online.")]
    state = tr("online") if s.online else tr("offline")
    lines = [tr("Server: {state}", state=state), tr("Messages waiting: {n}", n=s.queue),
             tr("Event bundle version: {v}", v=s.bundle_version or "—"),
             tr("Last upload: {when}", when=_ago(s.last_upload, now)), tr("Conflicts: {n}", n=s.conflicts)]
    if s.detail:
        lines.append(tr(s.detail))
    return lines


def printer_rows(printers: list[PrinterInfo]) -> list[tuple[str, str]]:
    kinds = {"ticket": tr("ticket printer"), "badge": tr("badge printer")}
    return [(p.printer_id, f"{p.name} — {kinds.get(p.kind, p.kind)} ({p.language})"
             + ("" if p.online else " — " + tr("OFF"))) for p in printers]
