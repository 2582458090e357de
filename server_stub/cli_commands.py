"""Handlers of `ticketgate server …` (parsing is in server_stub.cli, text output in server_stub.cli_output)."""
from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server_stub import cli_output as out
from server_stub.cli_desk import HANDLERS as DESK_HANDLERS, quota_figures, warn_oversold
from server_stub.cli_reports import HANDLERS as REPORT_HANDLERS
from server_stub.cli_live import (cmd_conflicts, cmd_devices, cmd_push, cmd_refusals, cmd_serve, cmd_stats, device_register,
                                  device_annul, device_revoke, device_rollback, device_uploads)
from agent.errors import TicketgateError
from agent.pricing import cents_text
from agent.safe_text import printable, printable_json
from server_stub.cli_output import Refused, emit, fail, ints, not_found_hint, own_event, owned, parse_time, when
from server_stub.cli_tickets import cmd_export, keys_export, keys_list, keys_rotate, ticket_flag, ticket_revoke, ticket_show
from server_stub.cli_progress import Progress
from server_stub.cli_remote import device_commands, device_configure
from server_stub.cli_device_events import device_events_change
from server_stub.cli_event_remove import event_remove
from server_stub.cli_pass import pass_edit, pass_remove
from server_stub.cli_staff import staff_actions, staff_add, staff_badge, staff_deactivate, staff_list, staff_set
from server_stub.csv_import import parse_orders_csv, store_catalogue
from server_stub.xlsx_import import content as import_content
from server_stub.model import PAID, PENDING, OrderInput, Position
from server_stub.orders import catalogue_names, check_ins, order_json, order_line, order_text, parse_ticket_spec
from server_stub.quota_warnings import projected
from server_stub.store import StoreError, describe, open_store
from server_stub.store.stock import needs


def _only_org(store) -> str:
    orgs = store.organisers()
    if len(orgs) != 1:
        raise Refused("several organisers here: give --org SLUG" if orgs else "no organiser: run `init` first")
    return orgs[0]["org"]


# -- init / catalogue ---------------------------------------------------------------------------------------------
def cmd_init(args) -> int:
    try:
        store = open_store(args.data, db=getattr(args, "db", None))
    except StoreError as exc:
        fail("ticketgate server", exc)
        return 3
    try:
        there = store.organiser(args.init_org)
        if there is not None:       # init run again (the guide's first line twice): say it is set up, change nothing
            raise Refused(f"organiser {args.init_org!r} already exists in {describe(store)} ({there['name']}), "
                          f"with its keys, events and orders: nothing changed. Go on with `ticketgate server event create …` "
                          f"(`ticketgate server event list` shows its events); for another organiser, another --org, "
                          f"or another data folder (--data DIR)")
        org = store.create_organiser(args.init_org, args.name)
        ticket_key, server_key = store.current_key(org["org"]), store.server_key(org["org"])
        if store.get_setting("default_org") is None:
            store.set_setting("default_org", org["org"])
        info = {"data": str(args.data), "database": describe(store), "org": org["org"], "name": org["name"],
                "ticket_key": {"key_id": ticket_key.key_id, "fingerprint": ticket_key.fingerprint},
                "server_key": {"key_id": server_key.key_id, "fingerprint": server_key.fingerprint}}
        return emit(args, info, f"initialised {org['org']} ({org['name']}) in {args.data} (database {info['database']})\n"
                                f"  ticket key {ticket_key.key_id} {ticket_key.fingerprint}\n"
                                f"  server key {server_key.key_id} {server_key.fingerprint}")
    finally:
        store.close()


def _named(specs: list[str], id_key: str) -> list[dict]:
    items = []
    for spec in specs:
        ident, sep, rest = spec.partition("=")
        name, _, message = rest.partition(":")
        if not sep or not (ident.strip().isascii() and ident.strip().isdigit()) or not name.strip():
            raise Refused(f"{spec!r}: use ID=NAME[:MESSAGE]")
        items.append({id_key: int(ident), "name": name.strip(), "message": message.strip()})
    return items


def event_create(store, org, args) -> int:
    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):      # unknown name, or not a name at all ("../x", "")
        raise Refused(f"unknown time zone {args.tz!r} (use an IANA name such as Europe/Paris)") from None
    starts_at, ends_at = parse_time(args.start, args.tz), parse_time(args.end, args.tz)
    if ends_at <= starts_at:
        raise Refused(f"the event ends ({args.end}) before it starts ({args.start}): an event across midnight ends "
                      f"the next day, e.g. --end '{_next_day(args.end)}'")
    event_id = store.create_event(org, args.name, starts_at, ends_at,
                                  args.tz, _named(args.zone, "zone_id"), _named(args.category, "category_id"),
                                  language=args.lang)
    event = store.event(event_id)      # its times as the event's clocks show them: typed in another zone, seen here
    return emit(args, event, f"event {event_id} created: {args.name}  {out.when(event['starts_at'], args.tz)} -> "
                             f"{out.when(event['ends_at'], args.tz)}")


def _next_day(text: str) -> str:
    """`text` ('YYYY-MM-DD HH:MM', read by parse_time already) one calendar day later, as typed."""
    value = datetime.fromisoformat(text.strip())
    return (value + timedelta(days=1)).isoformat(" ", "minutes") if value.tzinfo else \
        f"{value + timedelta(days=1):%Y-%m-%d %H:%M}"


def event_set(store, org, args) -> int:
    event = store.set_event_language(org, args.event_id, args.lang)
    return emit(args, event, f"event {args.event_id} ({event['name']}): printed in {args.lang}; push to the devices")


def event_list(store, org, args) -> int:
    events = store.events(org, removed=args.removed)
    return emit(args, events, out.events_text(events))


def pass_create(store, org, args) -> int:
    pass_id = store.create_pass(org, args.name, ints(args.events))
    return emit(args, {"pass_id": pass_id, "name": args.name, "event_ids": ints(args.events)},
                f"pass {pass_id} created: {args.name} (events {args.events})")


def pass_list(store, org, args) -> int:
    passes = store.passes(org, removed=args.removed)
    return emit(args, passes, "\n".join(
        f"pass {p['pass_id']:>6}  {p['name']}  events {p['event_ids']}"
        + (f"  (removed {when(p['removed_at'])})" if p.get("removed_at") is not None else "") for p in passes)
        or "no passes")


# -- orders -------------------------------------------------------------------------------------------------------
def order_add(store, org, args) -> int:
    catalogue = store_catalogue(store, org)(args.event)
    specs = [parse_ticket_spec(s, catalogue) for s in args.ticket] or [Position()]
    quantity = 1 if args.quantity is None else args.quantity
    if not 1 <= quantity <= 1000:
        raise Refused("--quantity: 1..1000")
    if quantity > 1 and any(p.seat for p in specs):
        raise Refused("a ticket with a seat is one ticket: --quantity 1 (or one --ticket per seat)")
    positions = [p for p in specs for _ in range(quantity)]      # --quantity N: N tickets of each spec
    order = OrderInput(args.event, args.buyer.strip(), args.email.strip(), PENDING if args.pending else PAID,
                       tuple(positions))
    before = quota_figures(store, org)
    number = store.add_orders(org, [order])[0]
    warn_oversold(store, org, before)
    result = store.order(number)
    return emit(args, order_json(result), order_text(result, catalogue_names(store, result["event_id"])))


def order_set(store, org, args) -> int:
    result = store.set_order_email(org, _own_order(store, org, args.number)["number"], args.email)
    return emit(args, order_json(result), order_text(result))


def _own_order(store, org, number) -> dict:
    order = store.order(number)
    return owned(order, org, f"order {order['number']}")


def order_show(store, org, args) -> int:
    order = _own_order(store, org, args.number)
    seen = check_ins(store, org, order["event_id"])        # whether and when each ticket was let in
    for t in order["tickets"]:
        t["check_in"] = seen.get(t["ticket_key"], [])
    order["mail"] = store.mail_status(order["number"])
    mail = order["mail"]
    text = order_text(order, catalogue_names(store, order["event_id"])) + (
        f"\n  e-tickets e-mailed to {mail['address']}: {mail['status'].upper()}"
        + (f" ({mail['detail']})" if mail["detail"] else "") if mail else "")
    return emit(args, order_json(order), text)


def order_find(store, org, args) -> int:
    found = store.find_orders(args.query, org=org, limit=args.limit)
    return emit(args, [order_json(o) for o in found], "\n".join(order_line(o) for o in found) or "no match")


def order_change(store, org, args) -> int:
    _own_order(store, org, args.number)
    owed = _desk_money(store, store.order(args.number)) if args.sub in ("cancel", "refund") else None
    if args.sub == "cancel":
        order = store.cancel_order(args.number, args.reason)
    elif args.sub == "refund":
        order = store.refund_order(args.number, args.reason)
    else:
        order = store.validate_payment(args.number)
    text = order_text(order, catalogue_names(store, order["event_id"]))
    if owed:
        ways = " and ".join(f"{cents_text(p['cents'], owed['currency'])} {p['method']}"
                            + (f" ({p['reference']})" if p["reference"] else "") for p in owed["parts"])
        text += (f"\n  paid at a desk: hand back {ways} to the buyer yourself (no desk's Z report counts a refund "
                 "made here)")
    return emit(args, dict(order_json(order), hand_back=owed), text)


def _desk_money(store, order: dict) -> dict | None:
    """What a desk took for a paid order (its sale or payment, its exchanges' differences), to hand back each way
    when the organiser refunds or cancels it themselves; None when no desk took money for it."""
    if order["status"] != PAID or not store.paid_parts_of(order["number"]):
        return None
    back = max(0, sum(x["total_cents"] for x in store.order_lines(order["number"])))
    parts = store.hand_back(order["number"], back)
    return {"currency": store.currency(order["event_id"]), "parts": [p.to_wire() for p in parts]} if parts else None


def cmd_import(store, org, args) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {args.file}: {exc.strerror}") from None
    own_event(store, org, args.event)     # a typo'd --event is named, not taken for the file imported already
    parsed = parse_orders_csv(data, args.event, store_catalogue(store, org))
    result = {"file": str(args.file), "orders": len(parsed.orders), "tickets": parsed.tickets, "errors": parsed.errors,
              "imported": False, "oversold": []}
    if parsed.errors:
        if args.json:
            print(printable_json(json.dumps(result, ensure_ascii=False, indent=2)))
        else:
            fail(str(args.file), f"{len(parsed.errors)} error(s), nothing imported")
            for e in parsed.errors:
                print(f"  {printable(e)}", file=sys.stderr)
        return 1
    # the same file is a duplicate where its orders land in the same events or passes: into another (the guest
    # list of the first night for the second, --event 2) it adds other tickets
    targets = sorted({o.target_id for o in parsed.orders})
    into = ", ".join(f"{store.target(t)['kind']} {t}" for t in targets)
    digest = hashlib.sha256(f"into {targets}\n".encode() + import_content(data)).hexdigest()
    done = store.order_import(org, digest)
    if done is not None and not args.again:
        raise Refused(f"{args.file}: this file was imported already on {when(done['at'])} into {into} "
                      f"({done['orders']} order(s), {done['tickets']} ticket(s)); importing it again adds them "
                      "twice: give --again for that")
    before = quota_figures(store, org)
    if args.dry_run:            # the same warnings, on the quotas as the import would leave them
        result["oversold"] = warn_oversold(store, org, before, projected(before, _stock_moves(parsed.orders)))
    else:
        with Progress(None, "importing orders") as bar:
            store.add_orders(org, parsed.orders, progress=bar)
        store.record_order_import(org, digest, str(args.file), len(parsed.orders), parsed.tickets)
        result["oversold"] = warn_oversold(store, org, before)
    result["imported"] = not args.dry_run
    verb = "checked" if args.dry_run else "imported"
    return emit(args, result, f"{verb} {len(parsed.orders)} order(s), {parsed.tickets} ticket(s) into {into} from "
                              f"{args.file}")


def _stock_moves(orders) -> dict[tuple[int, str, int], int]:
    """What importing `orders` adds to each quota row (as store.add_orders counts them)."""
    moves: dict[tuple[int, str, int], int] = {}
    for o in orders:
        for key, n in needs(o.target_id, [(p.category, p.zone, 1) for p in o.positions]).items():
            moves[key] = moves.get(key, 0) + n
    return moves


def cmd_copy_to(args) -> int:
    from server_stub.store import database_url
    from server_stub.store.copy_to_pg import copy_to_postgres, summary
    url = database_url(args.db)
    if url is None:
        raise Refused("copy-to needs the target: --db postgresql://USER@HOST:PORT/DBNAME")
    result = copy_to_postgres(args.data, url)
    return emit(args, summary(result), f"copied {result.total} row(s) from {result.source} into {result.database}; "
                                       f"run the server with --db {result.database} --data {args.data}")


def run(args) -> int:
    try:
        if args.cmd == "init":
            return cmd_init(args)
        if args.cmd == "copy-to":
            return cmd_copy_to(args)
        try:
            store = open_store(args.data, create=False, db=getattr(args, "db", None))
        except StoreError as exc:
            fail("ticketgate server", exc)
            return 3
        try:
            org = args.org or store.get_setting("default_org") or _only_org(store)
            if store.organiser(org) is None:
                raise Refused(f"no organiser {org!r} in {args.data}")
            return HANDLERS[(args.cmd, getattr(args, "sub", None))](store, org, args)
        finally:
            store.close()
    except TicketgateError as exc:      # refusals and bad input; a bug keeps its traceback
        fail(f"ticketgate server {args.cmd}", f"{exc}{not_found_hint(str(exc))}")
        return 1
    except BrokenPipeError:
        raise                   # `… | head`: the reader left; agent.cli ends quietly
    except OSError as exc:
        fail(f"ticketgate server {args.cmd}", exc)
        return 1


HANDLERS = {
    ("event", "create"): event_create, ("event", "list"): event_list, ("event", "set"): event_set,
    ("event", "remove"): event_remove,
    ("pass", "create"): pass_create, ("pass", "list"): pass_list, ("pass", "edit"): pass_edit,
    ("pass", "remove"): pass_remove,
    ("order", "add"): order_add, ("order", "show"): order_show, ("order", "find"): order_find, ("order", "set"): order_set,
    ("order", "cancel"): order_change, ("order", "refund"): order_change, ("order", "validate"): order_change,
    ("import-orders", None): cmd_import,
    ("ticket", "block"): ticket_flag, ("ticket", "unblock"): ticket_flag, ("ticket", "reset"): ticket_flag,
    ("ticket", "show"): ticket_show, ("ticket", "revoke"): ticket_revoke,
    ("keys", "list"): keys_list, ("keys", "rotate"): keys_rotate, ("keys", "export"): keys_export,
    ("export-etickets", None): cmd_export,
    ("devices", None): cmd_devices, ("device", "register"): device_register, ("device", "revoke"): device_revoke,
    ("device", "uploads"): device_uploads, ("device", "rollback"): device_rollback,
    ("device", "annul"): device_annul, ("refusals", None): cmd_refusals,
    ("device", "configure"): device_configure, ("device", "commands"): device_commands,
    ("device", "events"): device_events_change,
    ("stats", None): cmd_stats, ("conflicts", None): cmd_conflicts,
    ("push", None): cmd_push, ("serve", None): cmd_serve,
    **DESK_HANDLERS,
    **REPORT_HANDLERS,
    ("staff", "add"): staff_add, ("staff", "list"): staff_list, ("staff", "set"): staff_set,
    ("staff", "deactivate"): staff_deactivate, ("staff", "badge"): staff_badge, ("staff", "actions"): staff_actions,
}
