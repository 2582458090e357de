"""The organiser's reports and the till's Z report, computed from the store's rows (server_stub.store.reports).
Pure: rows in, figures out; amounts are integer cents, never floats.

Cash rules of the till (expected cash in the drawer): the float, plus cash sales that were paid, minus money handed
back for refunds and cancellations of orders paid in cash, plus the price differences of exchanges settled in cash
(collected when positive, handed back when negative). Card, invoice and voucher sales and exchange differences are
counted per method but move no cash. A pending order (an invoice sale, an order added unpaid) paid later at the desk
counts in the payments of its method and, paid in cash, in the drawer. What a kiosk took money for and the server
refused for good (an offline sale, a payment) is listed apart as refused, with its amount per method: it is not in
the expected cash, so it explains a drawer over by as much. What a stolen kiosk did that the organiser's rollback
cancelled (`server device rollback`: its sales, refunds, exchanges) is listed apart too, "cancelled by rollback":
its money never reached the desk's drawer, so it is in neither the sales, the payments nor the expected cash. What the
desk did while no shift was open (a sale before the shift, an offline sale arriving after the last one was closed)
is in the next shift's report, listed apart as taken outside a shift, with its amount and cash: it is in neither
that shift's sales, payments nor expected cash (the float was the drawer's cash when the shift opened), so it explains
a drawer over by its cash; added to the shifts' sales, a desk's Z reports hold every cent its sales took.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from server_stub.stats import OTHER_CONFLICTS, zone_key

SOLD = ("paid", "pending")
SALES_DIMENSIONS = ("event", "category", "promotion", "payment", "desk", "staff")


# -- sales ------------------------------------------------------------------------------------------------------
def spread(total: int, weights: list[int]) -> list[int]:
    """`total` in parts proportional to `weights` (equal parts when they are all 0), summing to `total` exactly."""
    weights = weights if any(weights) else [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    parts[-1] += total - sum(parts)
    return parts


def net_paid(paid: list[tuple[str, int, str]], settled: list[tuple[str, int, str]],
             limit: int = 4) -> list[tuple[str, int, str]]:
    """What a buyer holds paid, each way it was taken: `paid`, the sale's or payment's parts (method, cents,
    reference), and `settled`, its exchanges' price differences, collected (+: added to the part of that method and
    reference, else a part of its own) or handed back (-: out of the parts of that method first, the latest first,
    then out of the others), in order. Only parts left above 0, at most `limit` (past it, one per method, with its
    first reference). A 10.00 cash + 10.00 card sale whose upgrade collected 30.00 cash: 40.00 cash, 10.00 card (a
    refund then hands back no more on the card than was taken on it)."""
    held: list[list] = [[m, c, r] for m, c, r in paid if c > 0]
    for method, cents, reference in settled:
        if cents > 0:
            same = next((x for x in held if x[0] == method and x[2] == reference), None)
            if same is None:
                held.append([method, cents, reference])
            else:
                same[1] += cents
            continue
        owed = -cents
        for part in sorted(reversed(held), key=lambda x: x[0] != method):   # that method's, latest first
            taken = min(owed, part[1])
            part[1] -= taken
            owed -= taken
    left = [(m, c, r) for m, c, r in held if c > 0]
    if len(left) <= limit:
        return left
    merged: dict[str, list] = {}
    for m, c, r in left:
        cell = merged.setdefault(m, [0, r])
        cell[0] += c
    return [(m, c, r) for m, (c, r) in merged.items()]


def lines_by_method(totals: list[int], parts: list[tuple[str, int]]) -> list[dict[str, int]]:
    """An order's line totals, each as {method: cents} of the ways the order was paid (`parts`: a split's, or one,
    and its exchanges' differences, collected + or handed back -, netted per method). Each method's share is its
    net amount (spread over the lines' sum in proportion when they differ), each line takes the shares in
    proportion to its total, the last line what is left: each line adds up to its total and each method to its
    share (a 30.00 cash + 20.00 card order: 30.00 under cash, 20.00 under card, whatever its lines)."""
    net: dict[str, int] = defaultdict(int)
    for method, cents in parts:
        net[method] += cents
    methods, whole = list(net), sum(totals)
    if sum(net.values()) == whole:
        left = [net[m] for m in methods]
    elif all(net[m] > 0 for m in methods):
        left = spread(whole, [net[m] for m in methods])
    else:                                   # nothing to share in proportion: under its largest method
        left = [whole if m == max(methods, key=lambda k: net[k]) else 0 for m in methods]
    out = []
    for i, total in enumerate(totals):
        share = left if i == len(totals) - 1 or not sum(left) else spread(total, left)
        out.append({m: c for m, c in zip(methods, share) if c})
        left = [a - b for a, b in zip(left, share)]
    return out


def sales_summary(lines: Iterable[dict]) -> dict:
    """Tickets and amount sold per event, category, promotion, payment method, desk and staff (paid and pending
    orders), and what was refunded or cancelled. Per payment method, an order paid several ways adds each part to
    its method (`by_method`: the amounts add up to the total) and its tickets to each of them (a ticket is not paid
    by one method): `tickets_paid_several_ways` counts those tickets, and the table says so under its rows."""
    by: dict[str, dict[str, dict]] = {d: {} for d in SALES_DIMENSIONS}
    totals = {"tickets": 0, "total_cents": 0, "refunded_or_cancelled_tickets": 0, "refunded_or_cancelled_cents": 0,
              "tickets_paid_several_ways": 0}
    for x in lines:
        if x["status"] not in SOLD:
            totals["refunded_or_cancelled_tickets"] += x["quantity"]
            totals["refunded_or_cancelled_cents"] += x["total_cents"]
            continue
        totals["tickets"] += x["quantity"]
        totals["total_cents"] += x["total_cents"]
        totals["tickets_paid_several_ways"] += x["quantity"] if len(x.get("by_method") or {}) > 1 else 0
        for d in SALES_DIMENSIONS:
            # per payment: each method its part of the line (a split order's), else the line under its method
            shares = (x.get("by_method") or {"-": x["total_cents"]} if d == "payment"
                      else {str(x[d] or "-"): x["total_cents"]})
            for key, cents in shares.items():
                cell = by[d].setdefault(key, {"tickets": 0, "total_cents": 0, "currency": x["currency"]})
                cell["tickets"] += x["quantity"]
                cell["total_cents"] += cents
    return {"totals": totals, "by": by}


def money(cents: int, currency: str = "") -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}" + (f" {currency}" if currency else "")


def sales_text(summary: dict) -> str:
    t = summary["totals"]
    rows = [f"sold: {t['tickets']} ticket(s), {money(t['total_cents'])}; refunded or cancelled: "
            f"{t['refunded_or_cancelled_tickets']} ticket(s), {money(t['refunded_or_cancelled_cents'])}"]
    if t.get("unpriced_tickets"):
        rows.append(f"not counted above: {t['unpriced_tickets']} ticket(s) of paid or pending orders with no price "
                    f"(imported, or added with `order add`)")
    for d in SALES_DIMENSIONS:
        rows.append(f"per {d}:")
        for key, cell in sorted(summary["by"][d].items()):
            rows.append(f"  {key:<28} {cell['tickets']:>7}  {money(cell['total_cents'], cell['currency']):>16}")
        if d == "payment" and t.get("tickets_paid_several_ways"):
            rows.append(f"  note: {t['tickets_paid_several_ways']} ticket(s) of orders paid several ways are under "
                        "each of their methods, with that method's part of the amount: the methods' tickets add up to more than sold, "
                        "their amounts to the total")
    return "\n".join(rows)


# -- entries --------------------------------------------------------------------------------------------------
def _id(key: object) -> object:
    return int(key) if isinstance(key, str) and key.isascii() and key.isdigit() else key


ENTRY_COLUMNS = ("per", "event_id", "key", "entries", "inside_now", "refused", "exits")   # exits: last, as added


def entries_rows(stats: dict) -> list[dict]:
    """Flat rows of `store.stats`, what `server stats` shows: entries per event (inside now), zone (inside now,
    exits), gate (exits) and hour; per device its entries, exits and refusals; the refusals per verdict; the double entries (`server conflicts`)."""
    inside = stats["inside_now"]

    def row(per: str, event_id: object, key: object, entries: object = "", inside_now: object = "",
            refused: object = "", exits: object = "") -> dict:
        return {"per": per, "event_id": event_id, "key": key, "entries": entries, "inside_now": inside_now,
                "refused": refused, "exits": exits}
    # the event's id a number, as in the zone and hour rows (stats keys are JSON's strings): a spreadsheet filter
    # on event_id = 1 found the zone and hour rows and not the event's own
    rows = [row("event", _id(k), _id(k), v, inside.get(str(k), 0)) for k, v in stats["entries_per_event"].items()]
    rows += [row("zone", z["event_id"], zone_key(z), z["entries"], z.get("inside_now", 0), exits=z.get("exits", 0))
             for z in stats["entries_per_zone"]]
    gates, exits = stats["entries_per_gate"], stats.get("exits_per_gate", {})
    rows += [row("gate", "", k, gates.get(k, 0), exits=exits.get(k, 0)) for k in sorted(set(gates) | set(exits))]
    rows += [row("hour", h["event_id"], h["hour"], h["entries"]) for h in stats["entries_per_hour"]]
    rows += [row("device", "", k, d["entries"], refused=d["refusals"], exits=d.get("exits", 0))
             for k, d in stats["devices"].items()]
    rows += [row("refusal", "", k, refused=v) for k, v in stats["refusals"].items()]
    doubles = stats["double_entries"]
    rows += [row("double entry", "", "admitted twice", doubles["conflicts"]),
             row("double entry", "", "refused as already used", refused=doubles["refused_already_used"])]
    for key, what in OTHER_CONFLICTS:
        if doubles.get(key):
            rows.append(row("double entry", "", what, doubles[key]))
    return rows


def participants_text(rows: list[dict], inside_not_issued: int = 0) -> str:
    """The guest list: the tickets this server issued. `inside_not_issued`: tickets inside it did not issue (pretix,
    `stats`' `inside_now_not_issued`), not listed: said on the first line, so its inside now adds up to `server stats`'."""
    out = [f"{len(rows)} ticket(s) issued here; inside now: {sum(r['check_in'] == 'inside' for r in rows)}; "
           f"checked in: {sum(r['check_in'] != 'not checked in' for r in rows)}"
           + (f"; also inside, not listed: {inside_not_issued} ticket(s) not issued here (pretix), counted by "
              "`server stats`" if inside_not_issued else "")]
    for r in rows:   # a ticket of a valid order revoked on its own (exchanged), quick-cancelled at a door, or blocked
        valid = r["order_status"] in ("paid", "pending")
        status = ("revoked" if r["revoked"] and valid else "on sale" if r.get("quick_cancelled") and valid
                  else "blocked" if r.get("blocked") and valid else r["order_status"])
        out.append(f"  {r['ticket']:>10}  {r['order']:<12} {r['buyer'][:28]:<28} {r['event'][:20]:<20} "
                   f"{r['category'][:14]:<14} {status:<9} {r['check_in']}")
    return "\n".join(out)


# -- till -------------------------------------------------------------------------------------------------------
def z_report(shift: dict, moves: list[dict], staff_names: dict[str, str],
             unsent: tuple[int, float] | None = None) -> dict:
    """The Z report of a shift from its desk moves (server_stub.store.reports.desk_moves); `unsent`: the kiosk's
    sales made offline not received yet, as its last status counted them (count, when), shown as a warning."""
    by_cat: dict[tuple, dict] = {}
    payments: dict[str, int] = defaultdict(int)
    refunds = {"count": 0, "total_cents": 0}
    voids = {"count": 0, "total_cents": 0}
    received = {"count": 0, "total_cents": 0}
    invoices = {"count": 0, "total_cents": 0, "settled_count": 0, "settled_cents": 0}
    settled = {m["order"] for m in moves if m["kind"] == "payment"}     # pending orders paid in this shift
    exchanges: dict = {"count": 0, "collected_cents": 0, "refunded_cents": 0, "payments": defaultdict(int)}
    sales = {"count": 0, "tickets": 0, "total_cents": 0}
    refused: dict = {"count": 0, "total_cents": 0, "payments": defaultdict(int), "moves": []}
    cash = 0
    per_staff: dict[str, dict] = {}

    def staff_cell(m: dict) -> dict:
        key = m["staff_id"] or ""
        return per_staff.setdefault(key, {"staff_id": key, "staff": staff_names.get(key, key) or "-", "sales": 0,
                                          "tickets": 0, "total_cents": 0, "refunded_cents": 0, "exchanges": 0,
                                          "cash_cents": 0, "taken": {}})

    undone: dict = {"count": 0, "total_cents": 0, "cash_cents": 0, "moves": []}
    # made while no shift was open: listed apart, as refused moves are
    outside = outside_shift([m for m in moves if m["at"] < shift["opened_at"]])
    for m in moves:
        parts = m.get("parts") or [(m["payment"] or "cash", m["total_cents"])]     # [(method, cents)]: a split's
        in_cash = sum(cents for method, cents in parts if method == "cash")
        if m.get("rolled_back"):            # a stolen kiosk's move a rollback cancelled: its money never reached
            signed = moved_cents(m, in_cash)                      # the drawer, listed apart
            undone["count"] += 1
            undone["total_cents"] += signed[0]
            undone["cash_cents"] += signed[1]
            undone["moves"].append({"at": m["at"], "what": m["kind"], "id": m["request_id"], "order": m["order"],
                                    "payment": m["payment"] or "cash", "amount_cents": signed[0],
                                    "cash_cents": signed[1]})
            continue
        if m["kind"] == "refused":          # the kiosk took the money, the server refused the sale or payment
            refused["count"] += 1
            refused["total_cents"] += m["total_cents"]
            for method, cents in parts:
                refused["payments"][method] += cents
            refused["moves"].append({"at": m["at"], "what": m.get("what", "sale"), "id": m["request_id"],
                                     "order": m["order"], "payment": m["payment"] or "cash",
                                     "total_cents": m["total_cents"], "reason": m.get("reason", "")})
            continue
        if m["at"] < shift["opened_at"]:    # made while no shift was open: listed apart (`outside`), its cash not in
            continue                        # this shift's float
        who = staff_cell(m)
        for method, cents in taken(m):       # what this member took, by means (cash, card, voucher)
            who["taken"][method] = who["taken"].get(method, 0) + cents
        who["cash_cents"] = who["taken"].get("cash", 0)
        if m["kind"] == "sale":
            sales["count"] += 1
            who["sales"] += 1
            for x in m["lines"]:
                cell = by_cat.setdefault((x["category"], x["promotion"]), {"category": x["category"],
                                                                           "name": x.get("name", ""),
                                                                           "promotion": x["promotion"],
                                                                           "quantity": 0, "total_cents": 0})
                cell["quantity"] += x["quantity"]
                cell["total_cents"] += x["total_cents"]
                sales["tickets"] += x["quantity"]
                who["tickets"] += x["quantity"]
            sales["total_cents"] += m["total_cents"]
            who["total_cents"] += m["total_cents"]
            paid_here = m["status"] == "pending" and m["order"] in settled
            if m["status"] == "pending":       # an invoice: no money yet; counted under the method it is paid with
                invoices["count"] += 1
                invoices["total_cents"] += m["total_cents"]
                invoices["settled_count"] += paid_here
                invoices["settled_cents"] += m["total_cents"] if paid_here else 0
            if not paid_here:                  # paid in this shift: its payment counts it, once, under its method
                for method, cents in parts:    # a split payment: each part under its method
                    payments[method] += cents
            if m["status"] == "paid":
                cash += in_cash
        elif m["kind"] == "payment":           # a pending order (an invoice sale…) paid at this desk
            received["count"] += 1
            received["total_cents"] += m["total_cents"]
            for method, cents in parts:
                payments[method] += cents
            cash += in_cash
        elif m["kind"] == "refund":            # handed back the ways it was paid: only its cash part leaves the drawer
            bucket = refunds if m["status"] == "refunded" else voids
            bucket["count"] += 1
            bucket["total_cents"] += m["total_cents"]
            who["refunded_cents"] += m["total_cents"]
            cash -= in_cash
        elif m["kind"] == "exchange":
            exchanges["count"] += 1
            who["exchanges"] += 1
            d = m["difference_cents"]        # each part of it collected (+) or handed back (-) its way (cash: the
            exchanges["collected_cents" if d >= 0 else "refunded_cents"] += abs(d)    # drawer; no method sent: cash)
            for method, cents in parts:
                if cents:                    # (a same-price exchange settles nothing: no method to list)
                    exchanges["payments"][method] += cents if d >= 0 else -cents
            cash += in_cash if d >= 0 else -in_cash
    exchanges["payments"] = dict(sorted(exchanges["payments"].items()))   # method -> net difference
    refused["payments"] = dict(sorted(refused["payments"].items()))       # method -> taken, not counted above
    expected = shift["float_cents"] + cash
    counted = shift.get("counted_cents")
    return {"shift_id": shift["shift_id"], "device_id": shift["device_id"], "currency": shift["currency"],
            "opened_at": shift["opened_at"], "closed_at": shift.get("closed_at"),
            "opened_by": staff_names.get(shift["staff"], shift["staff"]) or "-",
            "closed_by": staff_names.get(shift.get("closed_by") or "", shift.get("closed_by") or "") or "-",
            "final": shift.get("closed_at") is not None,
            "sales": sales, "by_category": sorted(by_cat.values(), key=lambda c: (c["category"], c["promotion"])),
            "payments": dict(sorted(payments.items())), "refunds": refunds, "voids": voids, "exchanges": exchanges,
            "pending_paid": received, "invoices": invoices, "refused": refused, "rolled_back": undone,
            "outside_shift": outside,
            "float_cents": shift["float_cents"], "cash_movement_cents": cash, "expected_cash_cents": expected,
            "counted_cash_cents": counted, "difference_cents": None if counted is None else counted - expected,
            "per_staff": sorted(({**s, "taken": dict(sorted(s["taken"].items()))} for s in per_staff.values()),
                                key=lambda s: s["staff"]),
            "unsent_sales": ({"count": unsent[0], "counted_at": unsent[1]} if unsent and unsent[0] > 0 else None)}


def taken(m: dict) -> list[tuple[str, int]]:
    """What a desk move took, by means: [(method, cents)], + money taken (a sale paid at once, a pending order paid,
    an exchange's difference collected), - money handed back (a refund, a difference handed back); nothing for a
    sale on invoice (its payment, later, takes it). The one read model of "what did this staff member take, and
    how": the Z report's per-staff lines (cash, card, voucher), whatever kind of move took it."""
    parts = m.get("parts") or [(m["payment"] or "cash", m["total_cents"])]
    if m["kind"] == "sale":
        return [(method, cents) for method, cents in parts if method != "invoice"] if m["status"] == "paid" else []
    if m["kind"] == "payment":
        return list(parts)
    if m["kind"] == "refund":
        return [(method, -cents) for method, cents in parts if method != "invoice"]
    if m["kind"] == "exchange":
        sign = 1 if m["difference_cents"] >= 0 else -1
        return [(method, sign * cents) for method, cents in parts if cents]
    return []


def taken_text(taken_: dict[str, int], currency: str) -> str:
    """'cash 35.00 EUR, card 35.00 EUR' (cash always, the other means when they took or handed back anything)."""
    means = {"cash": taken_.get("cash", 0), **{m: c for m, c in taken_.items() if m != "cash" and c}}
    return ", ".join(f"{method} {money(cents, currency)}" for method, cents in means.items())


def rolled_back_since(z: dict, moves: list[dict]) -> dict:
    """A kept Z report's moves a rollback cancelled after it was closed (z_report's `rolled_back` moves): their
    amount, their cash (not in the drawer) and the expected cash and difference without them."""
    cash = sum(m["cash_cents"] for m in moves)
    expected = z["expected_cash_cents"] - cash
    counted = z.get("counted_cash_cents")
    return {"count": len(moves), "total_cents": sum(m["amount_cents"] for m in moves), "cash_cents": cash,
            "moves": moves, "expected_cash_cents": expected,
            "difference_cents": None if counted is None else counted - expected}


def outside_shift(moves: list[dict]) -> dict:
    """Desk moves made while no shift was open (not refused, not rolled back): how many, their amount and cash (a
    sale or payment +, a refund -, an exchange its difference), each listed."""
    out: dict = {"count": 0, "total_cents": 0, "cash_cents": 0, "moves": []}
    for m in moves:
        if m.get("rolled_back") or m["kind"] == "refused":
            continue
        parts = m.get("parts") or [(m["payment"] or "cash", m["total_cents"])]
        amount, cash = moved_cents(m, sum(cents for method, cents in parts if method == "cash"))
        out["count"] += 1
        out["total_cents"] += amount
        out["cash_cents"] += cash
        out["moves"].append({"at": m["at"], "what": m["kind"], "id": m["request_id"], "order": m["order"],
                             "payment": m["payment"] or "cash", "amount_cents": amount, "cash_cents": cash})
    return out


def outside_shift_text(device_id: str, outside: dict, currency: str) -> str:
    """'kiosk-1: 2 desk move(s) while no shift was open, …: in no Z report yet' ('' when none)."""
    if not outside["count"]:
        return ""
    return (f"{device_id}: {outside['count']} desk move(s) while no shift was open, "
            f"{money(outside['total_cents'], currency)} (cash {money(outside['cash_cents'], currency)}): in no Z "
            "report yet, its next shift's")


def moved_cents(m: dict, in_cash: int) -> tuple[int, int]:
    """(amount, cash part) a desk move moved as the kiosk showed it: a sale or payment taken (+), a refund handed
    back (-), an exchange's difference (its method's)."""
    if m["kind"] == "exchange":
        d = m["difference_cents"]
        return d, in_cash if d >= 0 else -in_cash
    sign = -1 if m["kind"] == "refund" else 1
    return sign * m["total_cents"], sign * in_cash


def unsent_warning(device_id: str, unsent: dict | None, when) -> str:
    """'kiosk K had N sales not yet received at …' ('' when none)."""
    if not unsent:
        return ""
    return f"kiosk {device_id} had {unsent['count']} sale(s) not yet received at {when(unsent['counted_at'])}"


def z_lines(z: dict, when) -> list[tuple[str, str]]:
    """The Z report as (label, value) rows: one layout for the terminal, the receipt printer and the PDF."""
    cur = z["currency"]
    rows: list[tuple[str, str]] = [
        ("Z REPORT" if z["final"] else "X REPORT (shift open)", f"shift {z['shift_id']}"),
        *([("WARNING", unsent_warning(z["device_id"], z["unsent_sales"], when) + ": not counted here")]
          if z.get("unsent_sales") else []),
        ("Desk", z["device_id"]), ("Opened", f"{when(z['opened_at'])} by {z['opened_by']}"),
        ("Closed", f"{when(z['closed_at'])} by {z['closed_by']}" if z["final"] else "-"),
        ("Sales", f"{z['sales']['count']} ({z['sales']['tickets']} tickets)"),
        ("Sales total", money(z["sales"]["total_cents"], cur)), ("", "")]
    rows.append(("By category / promotion", ""))
    for c in z["by_category"]:
        name = c.get("name") or f"cat {c['category']}"         # (a Z report kept before names: the id)
        rows.append((f"  {name}" + (f" {c['promotion']}" if c["promotion"] else ""),
                     f"{c['quantity']} x = {money(c['total_cents'], cur)}"))
    rows.append(("Payments by method", ""))
    for method, cents in z["payments"].items():
        rows.append((f"  {method}", money(cents, cur)))
    paid_later = z.get("pending_paid") or {"count": 0, "total_cents": 0}     # a Z report kept before it: none
    rows.append(("Pending orders paid", f"{paid_later['count']}: {money(paid_later['total_cents'], cur)}"))
    invoices = z.get("invoices")
    if invoices and invoices["count"]:
        rows.append(("Invoices issued", f"{invoices['count']}: {money(invoices['total_cents'], cur)}, settled "
                                        f"{invoices['settled_count']}: {money(invoices['settled_cents'], cur)}"))
    rows += [("Refunds", f"{z['refunds']['count']}: {money(z['refunds']['total_cents'], cur)}"),
             ("Voids (cancelled)", f"{z['voids']['count']}: {money(z['voids']['total_cents'], cur)}"),
             ("Exchanges", f"{z['exchanges']['count']}: +{money(z['exchanges']['collected_cents'], cur)} "
                           f"-{money(z['exchanges']['refunded_cents'], cur)}")]
    rows += [(f"  settled {method}", money(cents, cur)) for method, cents in z["exchanges"].get("payments", {}).items()]
    refused = z.get("refused")           # (a Z report kept before it: none)
    if refused and refused["count"]:     # taken by the kiosk, refused by the server: not in the expected cash
        rows += [("REFUSED by the server", f"{refused['count']}: {money(refused['total_cents'], cur)}"),
                 ("  taken, not in expected cash", "")]
        for r in refused["moves"]:
            rows += [(f"  {r['what']} {r['order'] or r['id']}"[:26], f"{r['payment']} {money(r['total_cents'], cur)}"),
                     (f"    {r['reason']}", "")]
    outside = z.get("outside_shift")     # (a Z report kept before it: none)
    if outside and outside["count"]:     # made while no shift was open: not counted above nor in the expected cash
        rows += [("TAKEN OUTSIDE A SHIFT", f"{outside['count']}: {money(outside['total_cents'], cur)}"),
                 ("  before it opened, not above", ""),
                 ("  cash not in expected cash", money(outside["cash_cents"], cur))]
        rows += [(f"  {r['what']} {r['order'] or r['id']}"[:26], f"{r['payment']} {money(r['amount_cents'], cur)}")
                 for r in outside["moves"]]
    undone = z.get("rolled_back")        # (a Z report kept before it: none)
    if undone and undone["count"]:       # a stolen kiosk's moves the organiser's rollback cancelled
        rows += [("CANCELLED BY ROLLBACK", f"{undone['count']}: {money(undone['total_cents'], cur)}"),
                 ("  cash not in the drawer", money(undone["cash_cents"], cur))]
        rows += [(f"  {r['what']} {r['order'] or r['id']}"[:26], f"{r['payment']} {money(r['amount_cents'], cur)}")
                 for r in undone["moves"]]
    since = z.get("rolled_back_since")   # cancelled by a rollback after this report was closed: it counts them
    if since:
        rows += [("CANCELLED BY ROLLBACK", f"after closing, {since['count']}: {money(since['total_cents'], cur)}"),
                 ("  cash not in the drawer", money(since["cash_cents"], cur))]
        rows += [(f"  {r['what']} {r['order'] or r['id']}"[:26], f"{r['payment']} {money(r['amount_cents'], cur)}")
                 for r in since["moves"]]
        rows += [("  expected cash without", money(since["expected_cash_cents"], cur)),
                 ("  difference without", "-" if since["difference_cents"] is None
                  else money(since["difference_cents"], cur))]
    rows += [("", ""),
             ("Float", money(z["float_cents"], cur)), ("Expected cash", money(z["expected_cash_cents"], cur)),
             ("Counted cash", "-" if z["counted_cash_cents"] is None else money(z["counted_cash_cents"], cur)),
             ("Difference", "-" if z["difference_cents"] is None else money(z["difference_cents"], cur)), ("", ""),
             ("Per staff member", "")]
    for s in z["per_staff"]:
        means = s.get("taken", {"cash": s["cash_cents"]})        # (a Z report kept before it: its cash)
        rows.append((f"  {s['staff']}", f"{s['sales']} sales {money(s['total_cents'], cur)}, "
                                        f"{taken_text(means, cur)}"))
    return rows


def z_text(z: dict, when) -> str:
    return "\n".join(f"{label:<26} {value}".rstrip() for label, value in z_lines(z, when))
