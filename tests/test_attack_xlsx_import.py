"""`server import-orders` of a hostile workbook: a few hundred kB of zip that openpyxl would unfold into gigabytes
(a cell in column XFD on every row, a shared-strings part of hundreds of MiB). Each is refused with its reason, at
once and in bounded memory; nothing imported; a genuine workbook with formatted empty cells still imports."""
from __future__ import annotations

import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from tests.helpers import ROOT, fete
from tests.test_server_xlsx_import import _import, _tickets

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _text(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _raw_workbook(path: Path, rows: list[str], shared_strings: int = 0) -> Path:
    """An .xlsx written part by part as Excel lays it out, with the sheet's rows as given (XML) and, when asked, a
    shared-strings part of `shared_strings` short strings (streamed: the test never holds it)."""
    sheet = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>{"".join(rows)}</sheetData></worksheet>'
    strings = shared_strings and '<Override PartName="/xl/sharedStrings.xml" ContentType="' + TYPE + '.sharedStrings+xml"/>'
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        f'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        f'workbook.xml" ContentType="{TYPE}.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{TYPE}.worksheet+xml"/>{strings or ""}</Types>',
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" '
        f'Type="{DOC}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{DOC}"><sheets>'
        '<sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}">'
        f'<Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (f'<Relationship Id="rId2" Type="{DOC}/sharedStrings" Target="sharedStrings.xml"/>' if shared_strings else "")
        + "</Relationships>",
        "xl/worksheets/sheet1.xml": sheet,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
        if shared_strings:
            with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
                f.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">'.encode())
                block = b"<si><t>Ann</t></si>" * 65536
                for _ in range(shared_strings // 65536):
                    f.write(block)
                f.write(b"</sst>")
    return path


HEADER = '<row r="1">' + _text("A1", "buyer_name") + _text("B1", "quantity") + "</row>"
ANN = '<row r="2">' + _text("A2", "Ann") + '<c r="B2"><v>1</v></c></row>'


def _import_bounded(data: Path, book: Path, event: int) -> tuple[subprocess.CompletedProcess[str], float]:
    """The command in 1 GiB of address space (the old code's gigabytes end in a MemoryError, not in the host's)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "import-orders", str(book),
                        "--event", str(event)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       preexec_fn=limit)
    return r, time.monotonic() - started


def test_attack_a_workbook_with_a_cell_in_column_xfd_on_every_row_is_refused_at_once(tmp_path):
    """An order list whose 20,000 rows each hold one empty cell in column XFD (16,384): a 150 kB file. Before:
    openpyxl filled every row up to that cell and the import held 16,384 values a row: 2.6 GB (MemoryError under
    1 GiB; 4 s and 134 MB for each 1,000 rows). Now the first such row is named, exit 1, nothing imported."""
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    rows = [HEADER, ANN] + [f'<row r="{r}"><c r="XFD{r}" t="inlineStr"><is><t></t></is></c></row>' for r in range(3, 20_003)]
    book = _raw_workbook(tmp_path / "orders.xlsx", rows)
    assert book.stat().st_size < 200_000
    r, took = _import_bounded(data, book, ev)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "row 3: cells up to column XFD" in r.stderr, r.stderr
    assert took < 30, took
    assert _tickets(data, ev) == []


def test_attack_a_workbook_unpacking_to_hundreds_of_mib_is_refused_before_it_is_read(tmp_path):
    """A workbook whose shared-strings part unpacks to 304 MiB (a few hundred kB of zip): before, openpyxl read
    every string into memory before the first row (MemoryError under 1 GiB). Now refused by the sizes the zip
    declares, at once."""
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    book = _raw_workbook(tmp_path / "orders.xlsx", [HEADER, ANN], shared_strings=(320 << 20) // 20)
    r, took = _import_bounded(data, book, ev)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "the workbook unpacks to 304 MiB" in r.stderr, r.stderr
    assert took < 30, took
    assert _tickets(data, ev) == []


def test_formatted_empty_cells_right_of_the_orders_are_read_past(tmp_path):
    """Empty cells a spreadsheet wrote for formatting, up to column AZ (52), are not a field too many: the order
    imports. A value out there is still refused (a field too many), never dropped."""
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    rows = [HEADER, '<row r="2">' + _text("A2", "Ann") + '<c r="B2"><v>1</v></c><c r="AZ2" s="1"/></row>']
    done = _import(data, str(_raw_workbook(tmp_path / "orders.xlsx", rows)), "--event", str(ev))
    assert done.returncode == 0, done.stderr
    assert [t["buyer"] for t in _tickets(data, ev)] == ["Ann"]
    rows = [HEADER, '<row r="2">' + _text("A2", "Bob") + '<c r="B2"><v>1</v></c>' + _text("AZ2", "x") + "</row>"]
    refused = _import(data, str(_raw_workbook(tmp_path / "more.xlsx", rows)), "--event", str(ev))
    assert refused.returncode == 1 and "row 2: " in refused.stderr, refused.stderr
