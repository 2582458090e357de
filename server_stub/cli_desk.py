"""`ticketgate server price|quota|promo|sales-window|allotment …`: the desk's catalogue (prices in cents of the
event's currency, stock, promotions, sales windows) and the kiosks' offline allotments. Every read takes --json."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable

from agent.safe_text import printable
from server_stub.cli_output import Refused, emit, parse_time, when


def add_parsers(sub: Any, add: Callable[[Any, str, str], argparse.ArgumentParser]) -> None:
    pr = sub.add_parser("price", help="prices per category, in cents of the event's currency").add_subparsers(
        dest="sub", required=True)
    c = add(pr, "set", "set the price of a category for an event or pass")
    c.add_argument("target", type=int, help="event or pass id")
    c.add_argument("--category", type=int, required=True, metavar="CATEGORY",
        help="the category's id (`server event list`)")
    c.add_argument("--cents", type=int, required=True, help="the price in cents (2500 = 25.00)")
    c.add_argument("--currency", default=None, help="the event's currency (ISO 4217: EUR, CHF…)")
    c = add(pr, "list", "prices of an event or pass")
    c.add_argument("target", type=int, metavar="EVENT", help="event or pass id")
    qt = sub.add_parser("quota", help="stock per event, category or zone").add_subparsers(dest="sub", required=True)
    c = add(qt, "set", "create or resize a quota")
    c.add_argument("target", type=int, metavar="EVENT", help="event or pass id")
    c.add_argument("--capacity", type=int, required=True, help="how many tickets at most")
    c.add_argument("--category", type=int, default=None, metavar="CATEGORY", help="only this category's tickets (id)")
    c.add_argument("--zone", type=int, default=None, metavar="ZONE", help="only this zone's tickets (id)")
    c = add(qt, "list", "quotas: capacity, sold, held by allotments, left")
    c.add_argument("target", type=int, metavar="EVENT", help="event or pass id")
    pm = sub.add_parser("promo", help="promotions and promo codes").add_subparsers(dest="sub", required=True)
    c = add(pm, "add", "add a promotion: --x-for-y 4:3, --percent N or --fixed-cents N")
    c.add_argument("--target", type=int, default=None, help="event or pass (default: every one)")
    c.add_argument("--category", type=int, default=None, metavar="CATEGORY",
        help="only this category (id; default: every one)")
    c.add_argument("--x-for-y", default=None, metavar="X:Y", type=_x_for_y, help="X tickets for the price of Y (4:3)")
    c.add_argument("--percent", type=int, default=0, help="a discount in per cent (1..100)")
    c.add_argument("--fixed-cents", type=int, default=0, help="a discount in cents off each ticket")
    c.add_argument("--code", default=None, help="the code the buyer gives at the desk (default: no code, for everyone)")
    c.add_argument("--max-uses", type=int, default=None, help="how many times the code may be used (default: no limit)")
    for bound in ("--valid-from", "--valid-until"):
        c.add_argument(bound, default=None, metavar="TIME", help="'YYYY-MM-DD HH:MM' in the --target event's time "
                                                                  "zone (UTC without --target), ISO 8601, or UNIX time")
    add(pm, "list", "promotions, with the uses left of each code")
    sw = sub.add_parser("sales-window", help="when a target is on sale; per-order limit").add_subparsers(
        dest="sub", required=True)
    c = add(sw, "set", "change the sales window: what is given; the rest is kept")
    c.add_argument("target", type=int, metavar="EVENT", help="event or pass id")
    for when_ in ("opens", "closes"):
        c.add_argument(f"--{when_}", default=None, metavar="TIME",
                       help="'YYYY-MM-DD HH:MM' in the event's time zone (as `event create`), ISO 8601, UNIX time, "
                            f"or 'none' ({'from now' if when_ == 'opens' else 'no end'})")
    c.add_argument("--door-only", action=argparse.BooleanOptionalAction, default=None,
                   help="only at the door (kiosks on site); --no-door-only: online too")
    c.add_argument("--max-per-order", default=None, metavar="N", help="1..1000, or 'none' (no limit)")
    c = add(sw, "show", "the sales window")
    c.add_argument("target", type=int, metavar="EVENT", help="event or pass id")
    al = sub.add_parser("allotment", help="kiosks' offline sales allotments").add_subparsers(dest="sub", required=True)
    c = add(al, "set", "size a kiosk's allotment (it gets it, and refills it, when online)")
    c.add_argument("device_id", metavar="DEVICE", help="the kiosk's device id (`server devices`)")
    c.add_argument("--events", required=True, help="comma-separated event or pass ids (1..4)")
    c.add_argument("--categories", default="", help="comma-separated (default: every category)")
    c.add_argument("--count", type=int, required=True, help="tickets it may sell offline")
    c.add_argument("--hours", type=float, default=24.0, help="hours it is valid (default 24)")
    c = add(al, "list", "allotments granted (range, count, used, revoked)")
    c.add_argument("--device", default=None, metavar="DEVICE", help="only this kiosk's")
    c = add(al, "revoke", "revoke an allotment: doors refuse its tickets, its unsold rest goes back on sale")
    c.add_argument("allotment_id", type=int, metavar="ALLOTMENT", help="the allotment's id (`server allotment list`)")
    c.add_argument("--reason", required=True, help="why (kept with the allotment)")


def _ids(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def price_set(store, org, args) -> int:
    store.check_target_refs(org, args.target, args.category)          # before the currency: nothing changes
    if args.currency:
        store.set_currency(org, args.target, args.currency)
    row = store.set_price(org, args.target, args.category, args.cents)
    return emit(args, row, f"{args.target} category {row['category']}: {row['cents'] / 100:.2f} {row['currency']}")


def price_list(store, org, args) -> int:
    store._own_target(org, args.target)
    prices, cur = store.prices(args.target), store.currency(args.target)
    return emit(args, {"target_id": args.target, "currency": cur, "prices": prices},
                "\n".join(f"category {k}: {v / 100:.2f} {cur}" for k, v in prices.items()) or "no prices")


def _target_name(store, target_id: int) -> str:
    return f"{store.target(target_id)['kind']} {target_id}"


def _quota_label(store, target_id: int, q: dict) -> str:
    """`event 1`, `pass 7 category 2`, `event 1 zone 3`: what the quota counts (a whole-event quota's ref is 0)."""
    name = _target_name(store, target_id)
    return name if q["scope"] == "event" else f"{name} {q['scope']} {q['ref']}"


def quota_set(store, org, args) -> int:
    scope, ref = ("category", args.category) if args.category is not None else (
        ("zone", args.zone) if args.zone is not None else ("event", 0))
    store.check_target_refs(org, args.target, args.category, args.zone)
    q = store.set_quota(org, args.target, args.capacity, scope, ref)
    return emit(args, q, f"{_quota_label(store, args.target, q)}: {q['capacity']} ({q['sold']} sold, "
                         f"{q['left']} left)")


def quota_list(store, org, args) -> int:
    store._own_target(org, args.target)
    qs = store.quotas(args.target)
    return emit(args, qs, "\n".join(f"{_quota_label(store, args.target, q)}: {q['capacity']} capacity, {q['sold']} "
                                    f"sold, {q['held']} held, {q['left']} left"
                                    + (f", OVERSOLD by {q['oversold']}" if q["oversold"] else "") for q in qs)
                or "no quota (unlimited)")


def quota_figures(store, org: str) -> dict[tuple, dict]:
    """Every quota of the organiser's events and passes: {(target, scope, ref): {capacity, sold, held, …}}."""
    targets = [e["event_id"] for e in store.events(org)] + [p["pass_id"] for p in store.passes(org)]
    return {(t, q["scope"], q["ref"]): q for t in targets for q in store.quotas(t)}


def pushed_quotas(store, org: str, before: dict[tuple, dict], after: dict[tuple, dict] | None = None) -> list[dict]:
    """The quotas a step sold further past their capacity than in `before` (quota_figures), or further into what
    kiosks' allotments hold (server_stub.quota_warnings.pushed_past): read again now, or `after` as a dry run projects
    it. Each with `label` (`event 1 category 2`), `by` (how far past it) and `raise_with` (the `quota set` that
    covers it)."""
    from server_stub.quota_warnings import pushed_past
    found = []
    for w in pushed_past(before, quota_figures(store, org) if after is None else after):
        option = "" if w["scope"] == "event" else f" --{w['scope']} {w['ref']}"
        found.append(dict(w, label=_quota_label(store, w["target_id"], w), by=w["oversold"],
                          raise_with=f"ticketgate server quota set {w['target_id']}{option} --capacity {w['raise_to']}"))
    return found


def newly_oversold(store, org: str, before: dict[tuple, dict]) -> list[dict]:
    """The quotas sold further past their capacity than in `before` (quota_figures), as `pushed_quotas` gives them."""
    return [q for q in pushed_quotas(store, org, before) if q["oversold"]]


def oversold_text(q: dict) -> str:
    """'event 1 is now OVERSOLD by 2 (4 sold, capacity 2)'."""
    return f"{q['label']} is now OVERSOLD by {q['by']} ({q['sold']} sold, capacity {q['capacity']})"


def warn_oversold(store, org: str, before: dict[tuple, dict], after: dict[tuple, dict] | None = None) -> list[dict]:
    """Say on stderr which quotas the step pushed past (pushed_quotas; the organiser's own orders are never refused
    by a quota: overbooking on purpose is theirs to decide). -> those quotas (--json)."""
    from server_stub.quota_warnings import warning_lines
    pushed = pushed_quotas(store, org, before, after)
    labels = {(q["target_id"], q["scope"], q["ref"]): q["label"] for q in pushed}
    for line in warning_lines(pushed, lambda t, scope, ref: labels[(t, scope, ref)], dry_run=after is not None):
        print(printable(line), file=sys.stderr)
    return pushed


def _x_for_y(text: str) -> tuple[int, int]:
    """'4:3' -> (4, 3); anything else is argparse's one-line usage error."""
    x, sep, y = text.partition(":")
    if not (sep and text.isascii() and x.strip().isdigit() and y.strip().isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: two whole numbers, X:Y (e.g. 4:3, 4 for the price of 3)")
    return int(x), int(y)


def promo_add(store, org, args) -> int:
    given = [name for name, value in (("--x-for-y", args.x_for_y), ("--percent", args.percent),
                                      ("--fixed-cents", args.fixed_cents)) if value]
    if len(given) > 1:           # one promotion is one discount: the others were dropped without a word
        raise Refused(f"{' and '.join(given)}: one discount per promotion (add one promotion for each)")
    kind, x, y = ("percent", 0, 0) if args.percent else (("fixed", 0, 0) if args.fixed_cents else ("x_for_y", 0, 0))
    if args.x_for_y:
        x, y = args.x_for_y
    if args.target is not None:
        store.check_target_refs(org, args.target, args.category)
    p = store.add_promotion(org, kind, args.target, args.category, x, y, args.percent, args.fixed_cents, args.code,
                            args.max_uses, _local_time(store, args.target, args.valid_from),
                            _local_time(store, args.target, args.valid_until))
    return emit(args, p, f"promotion {p['promo_id']}: {p['label']}{_promo_dates(store, p)}")


def _promo_dates(store, p: dict) -> str:
    """', from … until …' in the promotion's event's time zone (UTC for every event), '' with no dates."""
    tz = _target_tz(store, p["target_id"]) if p["target_id"] else "UTC"
    return (f", from {when(p['valid_from'], tz)}" if p["valid_from"] else "") + (
        f", until {when(p['valid_until'], tz)}" if p["valid_until"] else "")


def promo_list(store, org, args) -> int:
    ps = store.promotions(org)
    return emit(args, ps, "\n".join(f"{p['promo_id']}: {p['label']} (target {p['target_id'] or 'any'}, category "
                                    f"{p['category'] if p['category'] is not None else 'any'}, uses {p['uses']}"
                                    f"{'/' + str(p['max_uses']) if p['max_uses'] else ''}{_promo_dates(store, p)})" for p in ps) or "none")


def _window_text(store, target_id: int, w: dict) -> str:
    """The sales window in the time zone of the target's (first) event: `event 1: on sale from 2026-12-01 10:00 CET
    until 2026-12-31 20:00 CET, only at the door (kiosks on site), at most 6 per order`."""
    tz = _target_tz(store, target_id)
    opens = f"from {when(w['opens_at'], tz)}" if w["opens_at"] else "from now"
    closes = f"until {when(w['closes_at'], tz)}" if w["closes_at"] else "with no end"
    where = "only at the door (kiosks on site)" if w["door_only"] else "at the door and online"
    limit = f"at most {w['max_per_order']} per order" if w["max_per_order"] else "no limit per order"
    if w["closes_at"] and w["closes_at"] <= time.time():     # not "on sale … until" a date gone by
        return (f"{_target_name(store, target_id)}: sales CLOSED since {when(w['closes_at'], tz)}: the kiosks sell "
                f"none of it (a later --closes reopens them); {where}, {limit}")
    return f"{_target_name(store, target_id)}: on sale {opens} {closes}, {where}, {limit}"


def _local_time(store, target_id: int | None, text: str | None) -> float | None:
    """A sales window's or a promotion's bound: UNIX time, or a date and time in the target's (first) event's time
    zone (UTC for a promotion of every event)."""
    if text is None or (text.strip().isascii() and text.strip().replace(".", "", 1).isdigit()):
        return None if text is None else float(text)
    if target_id is None:
        return parse_time(text, "UTC", "UTC")
    return parse_time(text, _target_tz(store, target_id), "the event's time zone")


def _target_tz(store, target_id: int) -> str:
    events = store.target(target_id)["event_ids"]
    return store.event(events[0])["timezone"] if events else "UTC"


def window_set(store, org, args) -> int:
    """Changes what is given, keeps the rest ('none' clears a bound or the limit): `--max-per-order 4` alone no
    longer drops the closing time set before."""
    store._own_target(org, args.target)
    w = store.sales_window(args.target)

    def given(text: str | None, key: str, read: Callable[[str], Any]) -> Any:
        if text is None:
            return w[key]
        return None if text.strip().lower() == "none" else read(text)

    opens, closes = (given(t, k, lambda t: _local_time(store, args.target, t))
                     for t, k in ((args.opens, "opens_at"), (args.closes, "closes_at")))
    limit = given(args.max_per_order, "max_per_order", _per_order_limit)
    door_only = w["door_only"] if args.door_only is None else args.door_only
    w = store.set_sales_window(org, args.target, opens, closes, door_only, limit)
    return emit(args, w, _window_text(store, args.target, w))


def _per_order_limit(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()):
        raise Refused(f"--max-per-order {text!r}: a number 1..1000, or 'none' (no limit)")
    return int(text)


def window_show(store, org, args) -> int:
    store._own_target(org, args.target)
    return emit(args, (w := store.sales_window(args.target)), _window_text(store, args.target, w))


def allotment_set(store, org, args) -> int:
    a = store.set_allotment_size(org, args.device_id, _ids(args.events), args.count, args.hours,
                                 _ids(args.categories))
    return emit(args, a, f"{a['device_id']}: {a['size']} tickets for {a['events']} during {a['hours']} h")


def allotment_list(store, org, args) -> int:
    rows = store.allotments(org, args.device)
    granted = {a["device_id"] for a in rows if not a["revoked"] and not a["superseded_at"]}
    waiting = [f"{device}: {a['size']} tickets for {a['events']} during {a['hours']} h set, not granted yet: the "
               "kiosk gets it when online" for device, a in store.allotment_sizes(org).items()
               if device not in granted and args.device in (None, device)]
    return emit(args, rows, "\n".join([
        f"{a['allotment_id']} {a['device_id']}: {a['used']}/{a['max_count']} sold, ids {a['first_id']}..{a['last_id']}"
        f", valid until {when(a['valid_until'])}{' REVOKED: ' + a['reason'] if a['revoked'] else ''}"
        f"{' (refilled since)' if a['superseded_at'] and not a['revoked'] else ''}" for a in rows] + waiting) or "none")


def allotment_revoke(store, org, args) -> int:
    a = store.revoke_allotment(org, args.allotment_id, args.reason)
    return emit(args, a, f"allotment {a['allotment_id']} revoked ({a['max_count'] - a['used']} back on sale)")


HANDLERS: dict[tuple[str, str | None], Callable[..., int]] = {("price", "set"): price_set, ("price", "list"): price_list, ("quota", "set"): quota_set,
            ("quota", "list"): quota_list, ("promo", "add"): promo_add, ("promo", "list"): promo_list,
            ("sales-window", "set"): window_set, ("sales-window", "show"): window_show,
            ("allotment", "set"): allotment_set, ("allotment", "list"): allotment_list,
            ("allotment", "revoke"): allotment_revoke}
