"""The rows of an order list saved as an XLSX workbook (openpyxl), for `csv_import`: cells as the text a CSV of
the sheet would hold (2.0 -> "2"), numbered as the spreadsheet shows them. The workbook must hold its orders on one
sheet: a second sheet with data is refused, never left out unread."""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

from agent.errors import InvalidInput

ZIP = b"PK\x03\x04"             # XLSX (and ODS) are zip files
OLE = b"\xd0\xcf\x11\xe0"       # Excel 97-2003 .xls


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
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(f"not an XLSX workbook Excel can open ({exc}): save it as .xlsx or as CSV (UTF-8)") from None
    try:
        sheets = []
        for ws in book.worksheets:
            ws.reset_dimensions()       # the file's own <dimension> may be wrong: read the cells there are
            rows = [(n, [_text(v) for v in values]) for n, values in enumerate(ws.iter_rows(values_only=True), 1)]
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
