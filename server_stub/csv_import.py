"""CSV or XLSX import of orders: parse and check every line first, then import all of them in one transaction.

Columns (header line required; names case-insensitive; `,` `;` or tab separated; UTF-8, BOM allowed; or the one sheet
of an XLSX workbook, `xlsx_import`):

| column       | required | meaning |
|--------------|----------|---------|
| `buyer_name` | yes      | buyer's name (alias `name`), at most 200 characters (MAX_BUYER_NAME) |
| `email`      | no       | buyer's email |
| `status`     | no       | `paid` (default) or `pending` |
| `category`   | no       | category id or name, one the event defines (default 0) |
| `zone`       | no       | zone id or name, one the event defines; empty: every zone |
| `seat`       | no       | seat label (then `quantity` must be 1) |
| `quantity`   | no       | tickets on this line, 1..100 (default 1) |
| `order_ref`  | no       | lines with the same reference form ONE order (same buyer, email, status) |
| `event`      | no       | event or pass id for this line (default: `--event`) |

Any error (reported as `line N: ...`, N counting the header as line 1; `row N` in a workbook) and nothing is imported.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Callable, Iterator

from agent.errors import InvalidInput, TicketgateError
from server_stub.model import PAID, PENDING, OrderInput, Position
from server_stub.store.base import NotFound
from server_stub.xlsx_import import is_spreadsheet, sheet_rows

COLUMNS = ("buyer_name", "email", "status", "category", "zone", "seat", "quantity", "order_ref", "event")
ALIASES = {"name": "buyer_name", "buyer": "buyer_name", "e-mail": "email", "mail": "email", "qty": "quantity"}
MAX_QUANTITY = 100
MAX_ERRORS = 200


@dataclass(frozen=True)
class Catalogue:
    """Names a CSV may use for one event or pass."""
    categories: dict[str, int]
    zones: dict[str, int]


@dataclass
class Parsed:
    orders: list[OrderInput] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)        # first line (CSV) or row (XLSX) of each order
    unit: str = "line"
    errors: list[str] = field(default_factory=list)

    @property
    def tickets(self) -> int:
        return sum(len(o.positions) for o in self.orders)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInput(f"line {line}: not UTF-8 text (save the CSV as UTF-8)") from None


def _lookup(value: str, names: dict[str, int], what: str) -> int:
    """A category or zone given by name or number; a number must be one the event (or pass) defines."""
    if value.isascii() and value.isdigit():        # '²' is a digit int() does not read: a name, unknown
        number = int(value)
        if number in names.values() or (what == "category" and number == 0 and not names):
            return number
        known = ", ".join(f"{i}={n}" for n, i in sorted(names.items(), key=lambda kv: kv[1])) or "none defined"
        raise InvalidInput(f"{what} {number} is not a {what} of this event (known: {known})")
    found = names.get(value.casefold())
    if found is None:
        raise InvalidInput(f"unknown {what} {value!r} (known: {', '.join(sorted(names)) or 'none defined'})")
    return found


def _delimiter(text: str) -> str:
    """`;`, `,` or tab: the one the header line uses most (column names contain none). Guessing from the whole
    sample (csv.Sniffer) fails when one line has a field too few, and the error then blamed the header."""
    header = text.split("\n", 1)[0]
    return max(",;\t", key=header.count)


def parse_orders_csv(data: bytes | str, default_target: int | None,
                     catalogue: Callable[[int], Catalogue]) -> Parsed:
    """Pure parse + validation of a CSV, or of an XLSX workbook's sheet (`xlsx_import`: its rows, numbered as the
    spreadsheet shows them). `catalogue(target_id)` raises LookupError for an unknown event/pass."""
    if isinstance(data, bytes) and is_spreadsheet(data):
        try:
            return parse_order_rows(iter(sheet_rows(data)), default_target, catalogue, "row")
        except InvalidInput as exc:
            return Parsed(errors=[str(exc)])
    try:
        text = _decode(data) if isinstance(data, bytes) else data
    except ValueError as exc:
        return Parsed(errors=[str(exc)])
    return parse_order_rows(_csv_rows(text), default_target, catalogue, "line")


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the row's last line, fields); a malformed CSV is a line error."""
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text), quotechar='"', doublequote=True)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: malformed CSV ({exc})") from None


def parse_order_rows(rows: Iterator[tuple[int, list[str]]], default_target: int | None,
                     catalogue: Callable[[int], Catalogue], unit: str) -> Parsed:
    """Check every row (numbered `line N` in a CSV, `row N` in a spreadsheet), the first one the header."""
    out = Parsed(unit=unit)
    try:
        head, header = next(rows)
    except StopIteration:
        out.errors.append(f"{unit} 1: empty file (a header {unit} is required)")
        return out
    except InvalidInput as exc:                 # a malformed CSV header
        out.errors.append(str(exc))
        return out
    cols = [ALIASES.get(h.strip().casefold(), h.strip().casefold()) for h in header]
    unknown = [h for h in cols if h not in COLUMNS]
    if unknown or "buyer_name" not in cols or len(set(cols)) != len(cols):
        why = (f"unknown column(s) {', '.join(unknown)}" if unknown else
               "duplicate column" if len(set(cols)) != len(cols) else "missing column buyer_name")
        out.errors.append(f"{unit} {head}: {why}; columns are {', '.join(COLUMNS)}")
        return out
    groups: dict[str, int] = {}          # order_ref -> index in out.orders
    catalogues: dict[int, Catalogue] = {}
    try:
        for line, row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if len(out.errors) >= MAX_ERRORS:
                out.errors.append(f"{unit} {line}: too many errors, stopped checking")
                break
            try:
                _parse_row(row, cols, line, default_target, catalogue, catalogues, groups, out)
            except TicketgateError as exc:      # this line's problem; a bug is not dressed up as one
                out.errors.append(f"{unit} {line}: {exc}")
    except InvalidInput as exc:                 # a malformed CSV: where it broke
        out.errors.append(str(exc))
    if not out.orders and not out.errors:
        out.errors.append("no orders in the file")
    return out


def _parse_row(row, cols, line, default_target, catalogue, catalogues, groups, out: Parsed) -> None:
    if len(row) != len(cols):
        raise InvalidInput(f"{len(row)} fields, the header has {len(cols)}")
    f = {c: v.strip() for c, v in zip(cols, row)}
    nul = next((c for c, v in f.items() if "\x00" in v), None)
    if nul is not None:              # a damaged export (PostgreSQL's text refuses it; no buyer is called that)
        raise InvalidInput(f"{nul}: a NUL character (\\x00): not text, is the file damaged?")
    if f.get("event") and not (f["event"].isascii() and f["event"].isdigit() and len(f["event"]) <= 10):
        raise InvalidInput(f"event {f['event']!r}: an event or pass id (a number)")
    target = int(f["event"]) if f.get("event") else default_target
    if target is None:
        raise InvalidInput("no event: give --event or an `event` column")
    if target not in catalogues:
        catalogues[target] = catalogue(target)
    cat = catalogues[target]
    status = (f.get("status") or PAID).casefold()
    if status not in (PAID, PENDING):
        raise InvalidInput(f"status {status!r}: paid or pending")
    qty_text = f.get("quantity") or "1"
    if not (qty_text.isascii() and qty_text.isdigit()) or not 1 <= int(qty_text) <= MAX_QUANTITY:
        raise InvalidInput(f"quantity {qty_text!r}: a whole number 1..{MAX_QUANTITY}")
    quantity = int(qty_text)
    seat = f.get("seat") or None
    if seat and quantity != 1:
        raise InvalidInput("a line with a seat is one ticket (quantity 1)")
    category = _lookup(f["category"], cat.categories, "category") if f.get("category") else 0
    zone = _lookup(f["zone"], cat.zones, "zone") if f.get("zone") else None
    positions = tuple(Position(category, zone, seat) for _ in range(quantity))
    ref = f.get("order_ref") or ""
    if ref and ref in groups:
        i = groups[ref]
        prev = out.orders[i]
        if (prev.buyer_name, prev.email, prev.status, prev.target_id) != (f["buyer_name"], f.get("email", ""), status, target):
            raise InvalidInput(f"order_ref {ref!r} was used with another buyer, email, status or event on {out.unit} {out.lines[i]}")
        out.orders[i] = OrderInput(target, prev.buyer_name, prev.email, prev.status, prev.positions + positions)
        return
    order = OrderInput(target, f["buyer_name"], f.get("email", ""), status, positions)
    if ref:
        groups[ref] = len(out.orders)
    out.orders.append(order)
    out.lines.append(line)


def store_catalogue(store, org: str) -> Callable[[int], Catalogue]:
    """Catalogue lookups backed by the store (names of the event, or of every event of a pass)."""
    def lookup(target_id: int) -> Catalogue:
        target = store.target(target_id)
        if target["org"] != org:
            raise NotFound(f"no event or pass {target_id} for organiser {org!r}")
        if target.get("removed_at") is not None:
            raise NotFound(f"pass {target_id} was removed (`ticketgate server pass remove`): it takes no orders")
        cats: dict[str, int] = {}                    # name (casefolded) -> id
        zones: dict[str, int] = {}
        for e in target["event_ids"]:
            ev = store.event(e)
            if ev.get("removed_at") is not None:
                raise NotFound(f"event {e} was removed (`ticketgate server event remove`): it takes no orders")
            cats.update((c["name"].casefold(), c["category_id"]) for c in ev["categories"])
            zones.update((z["name"].casefold(), z["zone_id"]) for z in ev["zones"])
        return Catalogue(cats, zones)
    return lookup


def import_orders(store, org: str, data: bytes, default_target: int | None, progress=None) -> Parsed:
    """Parse everything; import only when there is no error (one transaction: all or nothing)."""
    parsed = parse_orders_csv(data, default_target, store_catalogue(store, org))
    if not parsed.errors:
        store.add_orders(org, parsed.orders, progress=progress)
    return parsed
