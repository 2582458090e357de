"""The rows of an order list saved as an XLSX workbook (openpyxl), for `csv_import`: cells as the text a CSV of
the sheet would hold (2.0 -> "2"), numbered as the spreadsheet shows them. The workbook must hold its orders on one
sheet: a second sheet with data is refused, never left out unread. A hostile workbook is refused before it costs
more than its bounds: what its parts unpack to (MAX_UNPACKED), how far right a row reaches (MAX_SPAN; openpyxl fills
every row up to its last cell) and where a value may stand (MAX_COLUMNS)."""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Iterator

from agent.errors import InvalidInput

ZIP = b"PK\x03\x04"             # XLSX (and ODS) are zip files
OLE = b"\xd0\xcf\x11\xe0"       # Excel 97-2003 .xls
MAX_UNPACKED = 256 << 20        # the parts' sizes as the zip declares them (zipfile reads no further)
MAX_COLUMNS = 32                # a value past it is refused at once (an order list has 9 columns: csv_import)
MAX_SPAN = 1024                 # empty (formatted) cells up to it are dropped; a row reaching past it is refused


def is_spreadsheet(data: bytes) -> bool:
    return data.startswith((ZIP, OLE))


def content(data: bytes) -> bytes:
    """What makes an order file the same file again: a CSV's bytes; a workbook's rows (saving it again in a
    spreadsheet rewrites its zip, its timestamps: the same orders would otherwise import twice)."""
    if not is_spreadsheet(data):
        return data
    return json.dumps(sheet_rows(data), ensure_ascii=False).encode()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))          # a quantity or an order_ref typed as a number
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    return str(value)


def sheet_rows(data: bytes) -> list[tuple[int, list[str]]]:
    """(row number, cells as text) of the workbook's one sheet holding data; empty cells after the header's last
    column dropped (a data cell out there stays: the row then has a field too many)."""
    if data.startswith(OLE):
        raise InvalidInput("an Excel 97-2003 workbook (.xls): save it as .xlsx or as CSV (UTF-8)")
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException
    _check_unpacked(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(f"not an XLSX workbook Excel can open ({exc}): save it as .xlsx or as CSV (UTF-8)") from None
    try:
        sheets = []
        for ws in book.worksheets:
            ws.reset_dimensions()       # the file's own <dimension> may be wrong: read the cells there are
            rows = [(n, [_text(v) for v in values]) for n, values in _bounded_rows(ws)]
            rows = [(n, r) for n, r in rows if any(c.strip() for c in r)]
            if rows:
                sheets.append((ws.title, rows))
    finally:
        book.close()
    if len(sheets) > 1:
        raise InvalidInput(f"the workbook has {len(sheets)} sheets with data ({', '.join(t for t, _ in sheets)}): "
                           "put every order on one sheet, the import reads one")
    if not sheets:
        return []
    rows = sheets[0][1]
    header = rows[0][1]
    while header and not header[-1].strip():
        header.pop()
    width = len(header)
    out = [(rows[0][0], header)]
    for n, cells in rows[1:]:
        while len(cells) > width and not cells[-1].strip():
            cells.pop()
        out.append((n, cells + [""] * (width - len(cells))))
    return out


def _check_unpacked(data: bytes) -> None:
    """A few kB of zip can unpack to gigabytes of XML (openpyxl holds every shared string): refused, by the sizes the
    zip declares (zipfile stops reading a part there). A zip that does not open is load_workbook's to name."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            size = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if size > MAX_UNPACKED:
        raise InvalidInput(f"the workbook unpacks to {size >> 20} MiB, more than an order list's {MAX_UNPACKED >> 20} MiB: "
                           "save it as CSV (UTF-8), or split it")


def _bounded_rows(ws) -> Iterator[tuple[int, tuple]]:
    """(row number, values up to MAX_COLUMNS) of a read-only sheet. Cells written far right (openpyxl pads every row
    up to its last cell: one in column XFD costs 16,384 values a row) are dropped when empty, up to MAX_SPAN; a value
    past MAX_COLUMNS or a cell past MAX_SPAN is refused at once (a field too many that is never left out unread)."""
    from openpyxl.utils import get_column_letter
    for n, values in enumerate(ws.iter_rows(values_only=True), 1):
        if len(values) > MAX_COLUMNS:
            tail = values[MAX_COLUMNS:]
            if len(values) > MAX_SPAN or tail.count(None) + tail.count("") != len(tail):
                last = get_column_letter(len(values))
                raise InvalidInput(f"row {n}: cells up to column {last}, far past an order list's columns: delete "
                                   "the columns after its last one")
            values = values[:MAX_COLUMNS]
        yield n, values
