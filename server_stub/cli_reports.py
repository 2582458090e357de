"""`ticketgate server report sales|entries|participants` (table, JSON, CSV, XLSX) and `ticketgate server till …`
(desk shifts: open with a float, close with the counted cash, the Z report on screen, as PDF or ESC/POS bytes)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from agent.safe_text import printable_json
from server_stub.cli_output import Refused, emit, own_event, when
from server_stub.exports import csv_bytes, write_private, xlsx_bytes
from server_stub.reports import (ENTRY_COLUMNS, entries_rows, outside_shift, outside_shift_text, participants_text,
                                 sales_summary, sales_text, unsent_warning, z_text)

SALES_COLUMNS = ("order", "status", "event_id", "event", "category", "promotion", "quantity", "unit_cents",
                 "discount_cents", "total_cents", "currency", "payment", "cash_cents", "card_cents", "voucher_cents",
                 "invoice_cents", "desk", "staff", "buyer", "at")
PARTICIPANT_COLUMNS = ("ticket", "order", "buyer", "email", "event_id", "event", "category", "zone", "seat",
                       "order_status", "revoked", "blocked", "quick_cancelled", "check_in", "entries", "last_scan_at")


def add_parsers(sub: Any, add: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("report", help="the organiser's reports (table, JSON, CSV, XLSX)").add_subparsers(
        dest="sub", required=True)
    for name, help_ in (("sales", "sales per event, category, promotion, payment method, desk and staff"),
                        ("entries", "entries per event, zone, gate and hour, inside now"),
                        ("participants", "every ticket with its buyer and check-in state")):
        c = add(rp, name, help_)
        c.add_argument("--event", type=int, default=None, help="one event (or pass)")
        c.add_argument("--format", choices=["table", "json", "csv", "xlsx"], default=None,
                       help="default: table (json with --json; from --out's extension when given)")
        c.add_argument("--out", type=Path, default=None, help="write the report to FILE (0600: it names buyers)")
    ml = sub.add_parser("mail", help="SMTP settings for e-mailing e-tickets").add_subparsers(dest="sub", required=True)
    c = add(ml, "configure", "SMTP server (STARTTLS and login required); the password goes to a 0600 file")
    c.add_argument("--host", required=True, help="the SMTP server's name (e.g. smtp.example.org)")
    c.add_argument("--port", type=int, default=587, help="its port (default 587, STARTTLS)")
    c.add_argument("--user", required=True, help="the login of the mail account")
    c.add_argument("--from", dest="sender", required=True, help="sender address")
    c.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin "
                                                                "(default: prompt, or one line of stdin when piped; "
                                                                "keep the stored one if empty)")
    c.add_argument("--ca", type=Path, default=None, help="trust this CA for STARTTLS (default: the system's)")
    c.add_argument("--attempts", type=int, default=3, help="tries for temporary failures (4xx), 1..10")
    c.add_argument("--retry-seconds", type=float, default=30.0, help="first wait between tries; doubles")
    add(ml, "show", "the SMTP settings (never the password)")
    tl = sub.add_parser("till", help="desk shifts: float, counted cash, Z report").add_subparsers(dest="sub",
                                                                                                required=True)
    c = add(tl, "open", "open a desk's shift with its float")
    c.add_argument("device_id", metavar="DEVICE", help="the desk's device id (`server devices`)")
    c.add_argument("--float-cents", type=int, required=True,
        help="the cash put in the drawer, in cents (15000 = 150.00)")
    c.add_argument("--staff", default="", help="staff id of who opens it")
    c.add_argument("--currency", default=None, help="default: that of the desk's (first) event")
    c = add(tl, "close", "close a shift with the cash counted in the drawer (the Z report is kept)")
    c.add_argument("shift_id", type=int, metavar="SHIFT", help="the shift's id (`server till list`)")
    c.add_argument("--counted-cents", type=int, required=True, help="the cash counted in the drawer, in cents")
    c.add_argument("--staff", default="", help="staff id of who closes it")
    c.add_argument("--force", action="store_true", help="close even though the kiosk said it has sales made "
                                                        "offline the server has not received (the report warns)")
    c = add(tl, "list", "desk shifts")
    c.add_argument("--device", default=None, metavar="DEVICE", help="only this desk's")
    c = add(tl, "show", "a shift and its figures so far")
    c.add_argument("shift_id", type=int, metavar="SHIFT", help="the shift's id (`server till list`)")
    c = add(tl, "z-report", "the shift's Z report (X report while open)")
    c.add_argument("shift_id", type=int, metavar="SHIFT", help="the shift's id (`server till list`)")
    c.add_argument("--pdf", type=Path, default=None, help="also write it as PDF")
    c.add_argument("--escpos", type=Path, default=None, help="also write the receipt printer's bytes (ESC/POS)")


def _format(args) -> str:
    if args.format:
        fmt = args.format
    elif args.out is not None and args.out.suffix.lower().lstrip(".") in ("json", "csv", "xlsx"):
        fmt = args.out.suffix.lower().lstrip(".")
    elif args.out is not None and args.out.suffix.lower() not in ("", ".txt"):    # a .pdf got a text table
        raise Refused(f"{args.out}: a report file is .csv, .xlsx, .json or .txt (a text table); or give --format")
    else:
        fmt = "json" if args.json else "table"
    if fmt == "xlsx" and args.out is None:
        raise Refused("an XLSX report goes to a file: give --out FILE.xlsx")
    return fmt


def _report(args, data: Any, rows: list[dict], columns: tuple[str, ...] | None, text: str, title: str) -> int:
    fmt = _format(args)
    if fmt == "table" and args.out is None:
        args.json = False
        return emit(args, data, text)
    if fmt == "json":
        body = printable_json(json.dumps(data, ensure_ascii=False, indent=2)).encode() + b"\n"
    elif fmt == "csv":
        body = csv_bytes(rows, columns)
    elif fmt == "xlsx":
        body = xlsx_bytes([(title, rows)], columns)
    else:
        body = text.encode() + b"\n"
    if args.out is None:
        print(body.decode("utf-8-sig"), end="", flush=True)
        return 0
    write_private(args.out, body)
    args.json = False
    return emit(args, {}, f"{title}: {len(rows)} row(s) written to {args.out} ({fmt})")


def report_sales(store, org: str, args) -> int:
    own_event(store, org, args.event)
    lines = store.sales_lines(org, args.event)
    for x in lines:
        x["at"] = when(x["at"])
    rows = [{c: x[c] for c in SALES_COLUMNS} for x in lines]
    summary = sales_summary(lines)
    summary["totals"]["unpriced_tickets"] = store.unpriced_tickets(org, args.event)    # not in the lines
    return _report(args, {"summary": summary, "lines": rows}, rows, SALES_COLUMNS, sales_text(summary), "sales")


def report_entries(store, org: str, args) -> int:
    from server_stub.cli_output import scanned_event, stats_text
    scanned_event(store, org, args.event)
    stats = store.stats(org, args.event)
    rows = entries_rows(stats)
    return _report(args, stats, rows, ENTRY_COLUMNS, stats_text(stats), "entries")


def report_participants(store, org: str, args) -> int:
    own_event(store, org, args.event)
    rows = store.participants(org, args.event)
    for r in rows:
        r["last_scan_at"] = when(r["last_scan_at"]) if r["last_scan_at"] else ""
    not_issued = sum(store.stats(org, args.event)["inside_now_not_issued"].values())    # pretix: not in the list
    return _report(args, rows, rows, PARTICIPANT_COLUMNS, participants_text(rows, not_issued), "participants")


def _shift_line(s: dict) -> str:
    state = (f"closed {when(s['closed_at'])}, counted {s['counted_cents']} cents" if s["closed_at"] else "OPEN")
    return (f"shift {s['shift_id']:>4}  {s['device_id']:<18} opened {when(s['opened_at'])} float {s['float_cents']} "
            f"cents  {state}")


def _staff_of(store, org: str, staff_id: str) -> str:
    """The staff id typed for who opens or closes a shift: one of the organiser's (the Z report names them), or ''."""
    if staff_id:
        store.staff_member(staff_id, org)          # NotFound: 'no staff member '99' of ORG', nothing done
    return staff_id


def till_open(store, org: str, args) -> int:
    _staff_of(store, org, args.staff)
    s = store.open_shift(org, args.device_id, args.float_cents, args.staff, args.currency)
    return emit(args, s, _shift_line(s))


def till_close(store, org: str, args) -> int:
    _staff_of(store, org, args.staff)
    s = store.shift(org, args.shift_id)
    unsent = store.unsent_sales(s["device_id"])
    if unsent and unsent[0] > 0 and s["closed_at"] is None and not args.force:
        warning = unsent_warning(s["device_id"], {"count": unsent[0], "counted_at": unsent[1]}, when)
        raise Refused(f"{warning}: close the shift once they arrive (the kiosk online), or with "
                      f"--force (the Z report then warns of them)")
    s = store.close_shift(org, args.shift_id, args.counted_cents, args.staff)
    return emit(args, s, z_text(s["report"], when))


def till_list(store, org: str, args) -> int:
    """The shifts; and per desk what it did while no shift was open, in no Z report yet (its next shift's): in the
    JSON, a row of that desk with no `shift_id` and its `outside_shift`."""
    shifts = store.shifts(org, args.device)
    outside, notes = [], []
    for d in store.devices(org):
        if d.get("role") != "kiosk" or args.device not in (None, d["device_id"]):
            continue
        o = outside_shift(store.outside_shifts(org, d["device_id"]))
        if o["count"]:
            outside.append({"shift_id": None, "device_id": d["device_id"], "outside_shift": o})
            last, events = store.shifts(org, d["device_id"])[-1:], d.get("events") or []
            currency = last[0]["currency"] if last else store.currency(int(events[0])) if events else ""
            notes.append(outside_shift_text(d["device_id"], o, currency))
    text = "\n".join([*map(_shift_line, shifts), *notes]) or "no till shifts"
    return emit(args, shifts + outside, text)


def till_show(store, org: str, args) -> int:
    s = store.shift(org, args.shift_id)
    s["report"] = store.shift_report(org, args.shift_id)
    return emit(args, s, _shift_line(s) + "\n" + z_text(s["report"], when))


def till_z_report(store, org: str, args) -> int:
    from server_stub.zreport_print import z_escpos, z_pdf
    z = store.shift_report(org, args.shift_id)
    written = []
    if args.pdf is not None:
        write_private(args.pdf, z_pdf(z, when))
        written.append(f"{args.pdf} (PDF)")
    if args.escpos is not None:
        write_private(args.escpos, z_escpos(z, when))
        written.append(f"{args.escpos} (ESC/POS, for a receipt printer)")
    said = f"\nZ report of shift {args.shift_id} written to {', '.join(written)}" if written else ""
    return emit(args, z, z_text(z, when) + said)


def mail_configure(store, org: str, args) -> int:
    import getpass
    import sys
    from server_stub import mail
    if args.password_stdin or not sys.stdin.isatty():   # piped (`… | ticketgate server mail configure …`): one line
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("SMTP password (empty: keep the stored one): ")
    ca = str(args.ca.resolve()) if args.ca else ""
    if ca and not Path(ca).is_file():
        raise Refused(f"no CA file {args.ca}")
    shown = mail.configure(store, mail.MailSettings(args.host, args.port, args.user, args.sender, ca, args.attempts,
                                                    args.retry_seconds), password or None)
    if not shown["password_stored"]:
        raise Refused("no SMTP password stored: give one")
    return emit(args, shown, f"mail: {args.user} at {args.host}:{args.port} (STARTTLS), sender {args.sender}")


def mail_show(store, org: str, args) -> int:
    from server_stub import mail
    s = mail.shown(store)
    return emit(args, s, "\n".join(f"{k}: {v}" for k, v in s.items()))


def order_send_etickets(store, org: str, args) -> int:
    from server_stub import mail
    try:
        result = mail.send_etickets(store, org, args.number)
    except LookupError:
        raise Refused(f"no order {args.number!r}") from None
    except mail.MailError as exc:
        raise Refused(str(exc)) from None
    text = (f"e-tickets of order {args.number} {result['status'].upper()} to {result['address']}"
            + (f": {result['detail']}" if result["detail"] else "") + f" ({result['attempts']} attempt(s))")
    emit(args, result, text)
    return 0 if result["status"] == "sent" else 1


HANDLERS: dict[tuple[str, str | None], Callable[..., int]] = {
    ("report", "sales"): report_sales, ("report", "entries"): report_entries,
    ("report", "participants"): report_participants,
    ("till", "open"): till_open, ("till", "close"): till_close, ("till", "list"): till_list,
    ("till", "show"): till_show, ("till", "z-report"): till_z_report,
    ("mail", "configure"): mail_configure, ("mail", "show"): mail_show, ("order", "send-etickets"): order_send_etickets,
}
