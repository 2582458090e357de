"""`ticketgate server …`: the organiser's command line (events, orders, keys, e-tickets, devices, stats, sync).

Every command takes `--data DIR` (default $TICKETGATE_SERVER_HOME or ~/.local/share/ticketgate/server: key files,
and the SQLite database unless `--db` is given), `--db postgresql://…` (default $TICKETGATE_SERVER_DB) and
`--org SLUG` (default: the organiser `init` created); every read command takes `--json`.
Exit codes: 0 done, 1 refused (unknown order, bad input, bad state), 2 usage, 3 the data folder is unusable.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from agent.cli import parsed
from agent.sync.messages import name_arg
from drivers.printers.wording import LANGUAGES as PRINT_LANGUAGES
from server_stub.device_revocation import REPLACED_HELP
from agent.cli_parser import Parser

S = argparse.SUPPRESS


def default_data() -> Path:
    from agent.home import server_home
    return server_home()


def _common() -> argparse.ArgumentParser:
    """--data/--org/--json accepted after any sub-command too (SUPPRESS: absent ones do not override)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data", type=Path, default=S, help="server data folder")
    p.add_argument("--db", default=S, metavar="URL", help="PostgreSQL database URL")
    p.add_argument("--org", default=S, help="organiser slug")
    p.add_argument("--json", action="store_true", default=S, help="machine-readable output")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    p = Parser(prog="ticketgate server", description="organiser's server stub")
    p.add_argument("--data", type=Path, default=None, help="server data folder (default $TICKETGATE_SERVER_HOME "
                                                            "or ~/.local/share/ticketgate/server)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="PostgreSQL database URL, postgresql://USER@HOST:PORT/DBNAME (default $TICKETGATE_SERVER_DB; "
                        "none: SQLite in the data folder). Key files stay in the data folder.")
    p.add_argument("--org", default=None, help="organiser slug (default: the one `init` created)")
    p.add_argument("--json", action="store_true", default=False, help="machine-readable output (JSON)")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = lambda parent, name, help_: parent.add_parser(name, help=help_, parents=[common])  # noqa: E731

    init = sub.add_parser("init", help="create the data folder, an organiser and its keys")
    init.add_argument("--data", type=Path, default=S, help="server data folder")
    init.add_argument("--db", default=S, metavar="URL", help="PostgreSQL database URL")
    init.add_argument("--json", action="store_true", default=S, help="machine-readable output (JSON)")
    init.add_argument("--org", dest="init_org", required=True, metavar="SLUG",
        help="the organiser's short name (letters, digits, '-'): devices and codes carry it")
    init.add_argument("--name", required=True, help="the organiser's name as buyers read it (e-tickets, receipts)")

    cp = sub.add_parser("copy-to", help="copy the SQLite store of --data into a fresh PostgreSQL database (--db)")
    cp.add_argument("--data", type=Path, default=S, help="server data folder (its server.sqlite; key files stay)")
    cp.add_argument("--db", default=S, metavar="URL", help="the empty PostgreSQL database, postgresql://…")
    cp.add_argument("--json", action="store_true", default=S, help="machine-readable output (JSON)")

    ev = sub.add_parser("event", help="events").add_subparsers(dest="sub", required=True)
    c = add(ev, "create", "create an event")
    c.add_argument("--name", required=True, help="the event's name (tickets, the doors' screens)")
    c.add_argument("--start", required=True, help="local time, e.g. '2026-12-31 20:00' (or ISO with offset)")
    c.add_argument("--end", required=True,
        help="local time it ends, as --start; an event across midnight ends on the next day's date")
    c.add_argument("--tz", default="UTC", help="IANA time zone, e.g. Europe/Paris")
    c.add_argument("--lang", default="en", choices=PRINT_LANGUAGES,
                   help="language of printed tickets, badges and e-tickets (default en)")
    c.add_argument("--zone", action="append", default=[], metavar="ID=NAME[:MESSAGE]",
        help="a zone (repeat): --zone 1=Floor, or --zone '2=Balcony:Stairs on the left' with a message shown "
             "at the door")
    c.add_argument("--category", action="append", default=[], metavar="ID=NAME[:MESSAGE]",
        help="a category (repeat): --category 1=Adult, or --category '2=Child:Must come with an adult' with a "
             "message shown at the door")
    c = add(ev, "list", "list events")
    c.add_argument("--removed", action="store_true", help="the events removed too (`event remove`), marked so")
    c = add(ev, "set", "change an event's settings")
    c.add_argument("event_id", type=int, metavar="EVENT", help="the event's id (`server event list`)")
    c.add_argument("--lang", required=True, choices=PRINT_LANGUAGES,
                   help="language of printed tickets, badges and e-tickets")
    c = add(ev, "remove", "take an event off the devices and the event list (refused while it would lose money "
                          "or data); its orders, scans and Z reports stay in the reports")
    c.add_argument("event_id", type=int, metavar="EVENT", help="the event's id (`server event list`)")
    _broker_flags(c)
    c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker to take each message")

    ps = sub.add_parser("pass", help="passes (one ticket, several events)").add_subparsers(dest="sub", required=True)
    c = add(ps, "create", "create a pass")
    c.add_argument("--name", required=True, help="the pass's name")
    c.add_argument("--events", required=True, help="comma-separated event ids")
    c = add(ps, "list", "list passes")
    c.add_argument("--removed", action="store_true", help="the passes removed too (`pass remove`), marked so")
    c = add(ps, "edit", "rename a pass or change the events it opens (refused while holders would lose an event "
                        "still to come); devices online to `serve` learn it at once, the others with their "
                        "next hello or `push`")
    c.add_argument("pass_id", type=int, metavar="PASS", help="the pass's id (`server pass list`)")
    c.add_argument("--name", default=None, help="its new name")
    c.add_argument("--events", default=None, help="comma-separated event ids: every event it opens from now on")
    c.add_argument("--add-event", type=int, default=None, metavar="EVENT", help="one more event it opens")
    c.add_argument("--remove-event", type=int, default=None, metavar="EVENT", help="an event it no longer opens")
    c = add(ps, "remove", "take a pass off the devices, the pass list and new orders (refused while holders would "
                          "lose an event still to come); its orders stay in the reports")
    c.add_argument("pass_id", type=int, metavar="PASS", help="the pass's id (`server pass list`)")

    od = sub.add_parser("order", help="orders").add_subparsers(dest="sub", required=True)
    c = add(od, "add", "add an order")
    c.add_argument("--event", type=int, required=True, help="event or pass id")
    c.add_argument("--buyer", required=True, help="the buyer's name (shown at the door and in searches)")
    c.add_argument("--email", default="", help="the buyer's e-mail address (for `order send-etickets`)")
    c.add_argument("--pending", action="store_true", help="payment not received yet")
    c.add_argument("--ticket", action="append", default=[], metavar="category=..,zone=..,seat=..",
        help="tickets of a category, zone and seat (repeat), by id or name: --ticket category=Adult,zone=Floor")
    c.add_argument("--quantity", type=int, default=None,
                   help="tickets of each --ticket spec (without --ticket: of category 0, every zone); default 1")
    c = add(od, "show", "an order and its tickets")
    c.add_argument("number", metavar="ORDER", help="the order number (e.g. K7Q2-9XDM)")
    c = add(od, "find", "find orders by number, name or email")
    c.add_argument("query", help="part of an order number, a buyer's name or e-mail")
    c.add_argument("--limit", type=int, default=20, help="at most this many orders (default 20)")
    for name, help_ in (("cancel", "cancel (its tickets are revoked)"), ("refund", "refund (its tickets are revoked)"),
                        ("validate", "payment received: pending -> paid")):
        c = add(od, name, help_)
        c.add_argument("number", metavar="ORDER", help="the order number (e.g. K7Q2-9XDM)")
        if name != "validate":
            c.add_argument("--reason", default="", help="why (kept with the order; the doors show it)")

    c = add(od, "send-etickets", "e-mail the order's e-tickets to its buyer (SMTP: `server mail configure`)")
    c.add_argument("number", metavar="ORDER", help="the order number (e.g. K7Q2-9XDM)")
    c = add(od, "set", "correct an order's buyer e-mail address (then send-etickets again)")
    c.add_argument("number", metavar="ORDER", help="the order number (e.g. K7Q2-9XDM)")
    c.add_argument("--email", required=True, help="the corrected e-mail address")

    imp = add(sub, "import-orders", "import orders from a CSV or XLSX file (all lines or none)")
    imp.add_argument("file", type=Path, metavar="FILE",
        help="the orders: CSV (';' ',' or tab between columns) or XLSX, a header line first")
    imp.add_argument("--event", type=int, default=None, help="event or pass id (or an `event` column)")
    imp.add_argument("--dry-run", action="store_true", help="check the file only")
    imp.add_argument("--again", action="store_true", help="import a file imported already once more (its orders "
                                                          "are added twice)")

    tk = sub.add_parser("ticket", help="tickets").add_subparsers(dest="sub", required=True)
    for name, help_ in (("block", "block a ticket"), ("unblock", "lift a block"), ("reset", "clear its check-ins"),
                        ("show", "a ticket, its order and its QR payload")):
        c = add(tk, name, help_)
        c.add_argument("ticket_key", metavar="TICKET", help="the ticket's number (as `server order show` lists it)")
        if name in ("block", "reset"):
            c.add_argument("--reason", required=True, help="why (kept with the ticket; `server ticket show` shows it)")
    c = add(tk, "revoke", "revoke a pretix ticket at an event's devices (`pretix:SEED` or the pretix secret itself)")
    c.add_argument("ticket_key", metavar="TICKET", help="`pretix:SEED`, or the pretix secret itself")
    c.add_argument("--event", type=int, required=True, help="the event id its pretix event is mapped onto (trust-pretix)")
    c.add_argument("--reason", required=True, help="why (kept with the revocation)")
    c.add_argument("--lift", action="store_true", help="lift the revocation instead")

    ks = sub.add_parser("keys", help="signing keys").add_subparsers(dest="sub", required=True)
    add(ks, "list", "ticket and server keys (public data only)")
    c = add(ks, "rotate", "new ticket signing key; old ones stay trusted")
    c.add_argument("--retire-old-in", type=float, default=None, metavar="HOURS",
                   help="the replaced key stops being trusted in HOURS (its tickets stop scanning then)")

    c = add(ks, "export", "write the public keyring devices trust (for `ticketgate agent trust FILE`)")
    c.add_argument("--out", type=Path, required=True, metavar="FILE", help="the file to write (JSON)")

    ex = add(sub, "export-etickets", "render e-tickets (PNG/PDF) of an order or an event")
    ex.add_argument("order", nargs="?", metavar="ORDER", help="one order's e-tickets (or --event for an event's)")
    ex.add_argument("--event", type=int, default=None, metavar="EVENT", help="every order of this event")
    ex.add_argument("--out", type=Path, required=True, metavar="FOLDER", help="the folder to write them in")
    ex.add_argument("--format", choices=["png", "pdf", "both"], default="png", help="png (default), pdf, or both")

    from server_stub.cli_desk import add_parsers as desk_parsers
    desk_parsers(sub, add)
    from server_stub.cli_reports import add_parsers as report_parsers
    report_parsers(sub, add)

    add(sub, "devices", "registered devices")
    dv = sub.add_parser("device", help="register, revoke, configure a device or change its events").add_subparsers(dest="sub", required=True)
    c = add(dv, "register", "register a device")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (e.g. gate-1)")
    c.add_argument("--name", default="", help="a name shown in `server devices`")
    c.add_argument("--gate", default="", type=name_arg, help="the gate it scans at (e.g. north)")
    c.add_argument("--events", default="", help="comma-separated event or pass ids it may scan (a pass: its events)")
    c.add_argument("--role", choices=["door", "kiosk"], default="door", help="kiosk devices get printable QR payloads")
    c.add_argument("--reinstate", action="store_true", help="register a device revoked earlier: back in service")
    c = add(dv, "revoke", "revoke a device: out of service; `provision serve` cuts its broker login and it wipes itself")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")
    c.add_argument("--replaced", action="store_true", help=REPLACED_HELP)
    c = add(dv, "uploads", "what a device uploaded (entries, cancellations, annulments, kiosk messages) and had the server do "
                           "at the desk (sales, refunds, exchanges)")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")
    c = add(dv, "rollback", "undo what a revoked device uploaded or did at the desk (entries annulled, payments, "
                             "exchanges, refunds undone, sales cancelled, allotments revoked)")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")
    c.add_argument("--reason", required=True, help="why (kept with the rollback)")
    c.add_argument("--since", help="only what the server received at or after this time ('YYYY-MM-DD HH:MM', UTC, "
                                   "or ISO 8601 with an offset): what the device did before it went missing stays")
    c = add(dv, "annul", "undo one entry or quick cancellation a device uploaded (any device of yours, revoked or "
                         "not; one made before a wipe and re-enrollment is the old device id's)")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")
    c.add_argument("scan_uuid", help="as `server device uploads DEVICE` lists it")
    c.add_argument("--reason", required=True, help="why (kept with the undo; `server device uploads` shows it)")
    from server_stub.cli_remote import add_parsers as remote_parsers
    remote_parsers(dv, add, _broker_flags)
    from server_stub.cli_device_events import add_parsers as events_parsers
    events_parsers(dv, add, _broker_flags)
    rf = add(sub, "refusals", "uploads the sync server refused, with the reason (newest first)")
    rf.add_argument("--device", default=None, metavar="DEVICE", help="only this device's")
    rf.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200)")

    sf = sub.add_parser("staff", help="the people who work the doors and desks").add_subparsers(dest="sub",
                                                                                               required=True)
    c = add(sf, "add", "add a staff member (a PIN, a badge or both)")
    c.add_argument("--name", required=True, help="the person's name (shown on the devices and in the reports)")
    c.add_argument("--role", required=True, choices=["door", "desk", "supervisor"],
                   help="supervisors may also change modes, events and zones, undo, refund and validate payments")
    c.add_argument("--pin", action="store_true", help="read a 4-8 digit PIN (prompt, or one line of stdin)")
    c.add_argument("--badge", action="store_true", help="issue a badge (print it with `staff badge`)")
    add(sf, "list", "staff members (PINs never shown)")
    c = add(sf, "set", "change a staff member")
    c.add_argument("staff_id", metavar="STAFF", help="the member's id (`server staff list`)")
    c.add_argument("--name", default=None, help="the new name")
    c.add_argument("--role", default=None, choices=["door", "desk", "supervisor"],
        help="the new role (what they do from now on)")
    c.add_argument("--pin", action="store_true", help="read a new PIN (prompt, or one line of stdin)")
    c.add_argument("--remove-pin", action="store_true", help="badge login only")
    c.add_argument("--new-badge", action="store_true", help="issue a new badge: the previous one stops working")
    c.add_argument("--activate", action="store_true", help="reactivate a deactivated member")
    c = add(sf, "deactivate", "a member can no longer log in (devices drop them with their next update)")
    c.add_argument("staff_id", metavar="STAFF", help="the member's id (`server staff list`)")
    c = add(sf, "badge", "the signed badge QR of a member: printed as text, or --png/--pdf files (private: 0600)")
    c.add_argument("staff_id", metavar="STAFF", help="the member's id (`server staff list`)")
    c.add_argument("--png", type=Path, default=None, metavar="FILE", help="write the badge as a PNG image")
    c.add_argument("--pdf", type=Path, default=None, metavar="FILE", help="write the badge as a PDF card")
    c = add(sf, "actions", "what devices uploaded, with the staff member who did it (newest first)")
    c.add_argument("--staff", dest="staff_id", default=None, metavar="STAFF", help="only this member's (id)")
    c.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200)")

    st = add(sub, "stats", "entries per event/zone/gate/hour, inside now, double entries, devices")
    st.add_argument("--event", type=int, default=None, metavar="EVENT", help="one event only")
    st.add_argument("--watch", type=_seconds, default=None, metavar="SECONDS", help="refresh until Ctrl-C")
    cf = add(sub, "conflicts", "tickets admitted twice (offline gates), who/where/when; exchanges made offline "
                               "whose price difference nobody settled")
    cf.add_argument("--event", type=int, default=None, metavar="EVENT", help="one event only")

    pu = add(sub, "push", "send signed event bundles to the devices (MQTT)")
    pu.add_argument("--event", type=int, action="append", default=[], help="event or pass id (repeat; default: all)")
    _broker_flags(pu)
    pu.add_argument("--timeout", type=float, default=60.0,
        help="seconds to wait for the devices to take it (default 60)")
    sv = add(sub, "serve", "run the sync server (ingestion, live revocations) until Ctrl-C")
    _broker_flags(sv)
    sv.add_argument("--workers", type=int, default=1, help="ingestion workers sharing the uploads ($share), at most 8")
    sv.add_argument("--first-worker", type=int, default=1, metavar="N",
                    help="number of this process's first worker: several `serve` processes on one PostgreSQL database "
                         "take distinct numbers (1..8; their broker logins and client ids); worker 1 also announces")
    return p


def _seconds(text: str) -> float:
    """A refresh period, 0.5 s to a day (a negative or zero one looped without pausing, an infinite one crashed)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds, 0.5 to 86400")
    return value


def _broker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", default=None, metavar="HOST:PORT",
                   help="the MQTT broker (default: the one `ticketgate provision serve` runs for this --data folder, "
                        "else 127.0.0.1:1883)")
    p.add_argument("--broker-user", default=None, metavar="USER",
                   help="broker login (default: the server login `provision serve` wrote in DATA/provision/"
                        "broker-login.json; none: anonymous)")
    p.add_argument("--broker-password-file", type=Path, default=None, metavar="FILE",
                   help="file holding the password of --broker-user (first line)")
    p.add_argument("--broker-ca", type=Path, default=None, metavar="PEM", help="TLS to the broker, trusting this CA")


def main(argv: list[str] | None = None) -> int:
    from server_stub.cli_commands import run
    args = parsed(build_parser(), argv)
    if isinstance(args, int):
        return args
    args.data = args.data or default_data()
    return run(args)
