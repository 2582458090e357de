"""`server import-orders orders.xlsx`: an order list kept in a spreadsheet (openpyxl writes it as Excel does: numbers
as numbers, empty cells left out) imports as its CSV would, its errors named by the row the spreadsheet shows,
nothing half-imported; a second sheet with orders and an old .xls are refused, never read in part."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl

from tests.helpers import ROOT, fete, server_cmd


def _workbook(path: Path, *sheets: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    for i, rows in enumerate(sheets):
        ws = book.active if i == 0 else book.create_sheet(f"Sheet{i + 1}")
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


def _import(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "import-orders", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=dict(os.environ, TICKETGATE_SERVER_DB=""))


def _tickets(data: Path, event: int) -> list[dict]:
    return json.loads(server_cmd(data, "report", "participants", "--event", str(event), "--json").stdout)


HEADER = ["buyer_name", "email", "category", "quantity", "status", "order_ref"]


def test_an_order_list_saved_as_xlsx_imports_its_rows_as_the_csv_would(tmp_path):
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte", "2=Enfant")
    book = _workbook(tmp_path / "orders.xlsx", [
        HEADER,
        ["Hélène Dupont", "h@example.org", "Adulte", 2, "paid", 1001.0],     # numbers typed in cells
        ["Hélène Dupont", "h@example.org", "Enfant", None, "paid", 1001],    # an empty quantity: 1
        [],
        ["Bob Roy", None, 1, 1, "pending"],                                  # the last cells left empty
    ])
    checked = _import(data, str(book), "--event", str(ev), "--dry-run")
    assert checked.returncode == 0, checked.stderr
    assert "checked 2 order(s), 4 ticket(s)" in checked.stdout and _tickets(data, ev) == []
    done = _import(data, str(book), "--event", str(ev), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] is True
    rows = _tickets(data, ev)
    assert sorted((r["buyer"], r["category"], r["order_status"]) for r in rows) == [
        ("Bob Roy", "Adulte", "pending"), ("Hélène Dupont", "Adulte", "paid"), ("Hélène Dupont", "Adulte", "paid"),
        ("Hélène Dupont", "Enfant", "paid")]
    assert len({r["order"] for r in rows if r["buyer"] == "Hélène Dupont"}) == 1
    again = _import(data, str(book), "--event", str(ev))
    assert again.returncode == 1 and "imported already" in again.stderr and len(_tickets(data, ev)) == 4


def test_a_bad_row_is_named_as_the_spreadsheet_numbers_it_and_nothing_is_imported(tmp_path):
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    book = _workbook(tmp_path / "orders.xlsx", [
        HEADER, ["Ann", "ann@example.org", "Adulte", 2], [], ["Ben", "ben@example.org", "Senior", 1],
        ["Cy", "cy@example.org", "Adulte", 2.5], ["Dee", "dee@example.org", "Adulte", 1, "paid", "R", "a note"]])
    r = _import(data, str(book), "--event", str(ev))
    assert r.returncode == 1 and "3 error(s), nothing imported" in r.stderr, r.stderr
    assert "row 4: unknown category 'Senior'" in r.stderr
    assert "row 5: quantity '2.5'" in r.stderr
    assert "row 6: 7 fields, the header has 6" in r.stderr
    assert _tickets(data, ev) == []


def test_a_workbook_with_orders_on_two_sheets_or_an_old_xls_is_refused_whole(tmp_path):
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    book = _workbook(tmp_path / "orders.xlsx", [HEADER, ["Ann", "", "Adulte", 1]], [HEADER, ["Ben", "", "Adulte", 1]])
    r = _import(data, str(book), "--event", str(ev))
    assert r.returncode == 1 and "2 sheets with data (Sheet, Sheet2)" in r.stderr, r.stderr
    xls = tmp_path / "orders.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    r = _import(data, str(xls), "--event", str(ev))
    assert r.returncode == 1 and "Excel 97-2003 workbook (.xls): save it as .xlsx" in r.stderr, r.stderr
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(book.read_bytes()[:200])
    r = _import(data, str(broken), "--event", str(ev))
    assert r.returncode == 1 and "not an XLSX workbook" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert _tickets(data, ev) == []


def test_the_same_workbook_saved_again_is_still_the_file_imported_already(tmp_path):
    """A spreadsheet rewrites its zip on every save (timestamps): the same orders, other bytes. The import compared
    bytes, so the workbook opened, looked at and saved again imported its orders a second time."""
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    first = _workbook(tmp_path / "orders.xlsx", [HEADER, ["Ann", "ann@example.org", "Adulte", 2]])
    assert _import(data, str(first), "--event", str(ev)).returncode == 0
    book = openpyxl.load_workbook(first)
    book.properties.modified = book.properties.modified.replace(year=2020)
    book.properties.lastModifiedBy = "someone else"
    again = tmp_path / "orders-saved-again.xlsx"
    book.save(again)
    assert again.read_bytes() != first.read_bytes()
    r = _import(data, str(again), "--event", str(ev))
    assert r.returncode == 1 and "imported already" in r.stderr, r.stderr
    assert len(_tickets(data, ev)) == 2
    other = _workbook(tmp_path / "more.xlsx", [HEADER, ["Ann", "ann@example.org", "Adulte", 3]])
    assert _import(data, str(other), "--event", str(ev)).returncode == 0 and len(_tickets(data, ev)) == 5
