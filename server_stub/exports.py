"""Report exports the organiser opens in a spreadsheet: CSV (UTF-8 with BOM, so Excel keeps the accents) and XLSX
(openpyxl). Buyer and staff names are untrusted: `safe_cell` neutralises them (OWASP CSV injection guidance).

- A text cell starting with = + - @ (a formula to a spreadsheet), or with tab / carriage return, gets a leading `'`;
  so does such a formula after a `;` inside it (spaces or a `"` between): Excel set for `;` as its list separator
  (French and most European settings) cuts a CSV line there, whatever the quoting, and the rest is a cell of its own.
- Control characters (and bidi overrides) are escaped as text (`\\x07`), never written raw (agent.safe_text).
- Numbers we computed (counts, cents) stay numbers.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from agent import private_files
from agent.errors import InvalidInput
from agent.safe_text import printable

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_AFTER_SEMICOLON = re.compile(r';([\s"]*)(?=[=+\-@])')    # (tab and CR are escaped by `printable`)


Value = str | int | float      # what a neutralised cell holds


def safe_cell(value: object) -> Value:
    """A value safe to put in a spreadsheet cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return _FORMULA_AFTER_SEMICOLON.sub(r";\1'", printable(text))


def table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> tuple[list[str], list[list[Value]]]:
    """Header and neutralised cells; columns default to the first row's keys."""
    cols = list(columns or (rows[0].keys() if rows else ()))
    return cols, [[safe_cell(r.get(c)) for c in cols] for r in rows]


def csv_bytes(rows: Sequence[dict], columns: Sequence[str] | None = None) -> bytes:
    cols, cells = table(rows, columns)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([safe_cell(c) for c in cols])
    w.writerows(cells)
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheets: Iterable[tuple[str, Sequence[dict]]], columns: Sequence[str] | None = None) -> bytes:
    """One sheet per (title, rows), streamed (openpyxl's write-only mode), with `columns` as `csv_bytes` (default:
    the first row's keys). Text cells are typed as strings (`s`), so a neutralised value can never be read back as a
    formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    wb = Workbook(write_only=True)
    for title, rows in sheets:
        ws = wb.create_sheet(title=title[:31])
        cols, cells = table(rows, columns)

        def typed(value: str | float) -> Cell:
            cell = WriteOnlyCell(ws, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            return cell
        ws.append([typed(str(safe_cell(c))) for c in cols])
        for row in cells:
            ws.append([typed(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def write_private(path: Path, data: bytes) -> None:
    """Reports name buyers: written 0600, replaced atomically (agent.private_files), no partial file left behind. A
    folder that is not there, a full disk, a read-only one: said plainly, naming the file asked for."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: there is no folder {path.parent}")
    try:
        private_files.write_private(path, data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}; nothing was written") from None
