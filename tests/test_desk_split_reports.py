"""The organiser's sales report and its exports sum a split payment per method: an order paid 30.00 cash and 20.00
card adds 30.00 to cash and 20.00 to card (table, JSON, CSV and XLSX through `ticketgate server report sales`), never
50.00 under "split"; an exchange's price difference settled at a desk adds each of its parts to its method."""
from __future__ import annotations

import csv
import io
import json

from agent.sync.messages import ExchangeRequest, PaymentPart, SaleLine, SaleRequest
from tests.helpers import fete, server_cmd


def test_the_sales_report_counts_each_part_of_a_split_payment_under_its_method(tmp_path):
    data = tmp_path / "server"
    e = fete(data, "1=Adulte", "2=VIP")
    server_cmd(data, "price", "set", str(e), "--category", "1", "--cents", "1500")
    server_cmd(data, "price", "set", str(e), "--category", "2", "--cents", "3500")
    server_cmd(data, "device", "register", "kiosk-1", "--role", "kiosk")
    from server_stub.store import open_store
    with open_store(data) as store:
        for request_id, parts, payment in (("split", (PaymentPart("cash", 3000), PaymentPart("card", 2000, "A1")), "cash"),
                                           ("card", (), "card")):
            sold = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", request_id, e,
                                                             (SaleLine(1, 1), SaleLine(2, 1)), payment=payment,
                                                             payment_ref="T", parts=parts))
            assert sold.ok, sold.reason
            if request_id == "split":
                adult = next(t["ticket_key"] for t in store.order(sold.order_number)["tickets"] if t["category"] == 1)
        # its Adulte ticket exchanged for a VIP one: 20.00 more, collected 5.00 cash and 15.00 by card
        up = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "up", adult, "upgrade",
                                                                    category=2, parts=(PaymentPart("cash", 500),
                                                                                       PaymentPart("card", 1500, "B"))))
        assert up.ok and up.difference_cents == 2000, up
    summary = json.loads(server_cmd(data, "report", "sales", "--json").stdout)["summary"]
    by_method = {k: v["total_cents"] for k, v in summary["by"]["payment"].items()}
    assert by_method == {"cash": 3000 + 500, "card": 2000 + 1500 + 5000}, by_method
    assert summary["totals"]["total_cents"] == 12000
    table = server_cmd(data, "report", "sales").stdout
    assert "split" not in table and "35.00 EUR" in table and "85.00 EUR" in table, table
    rows = list(csv.DictReader(io.StringIO(server_cmd(data, "report", "sales", "--format", "csv").stdout)))
    assert sum(int(r["cash_cents"]) for r in rows) == 3500 and sum(int(r["card_cents"]) for r in rows) == 8500, rows
    assert all(int(r["cash_cents"]) + int(r["card_cents"]) == int(r["total_cents"]) for r in rows)
    out = tmp_path / "sales.xlsx"
    server_cmd(data, "report", "sales", "--out", str(out))
    from openpyxl import load_workbook
    head, *body = [[c.value for c in r] for r in load_workbook(out).active.iter_rows()]
    lines = [dict(zip(head, r)) for r in body]
    assert sum(x["cash_cents"] for x in lines) == 3500 and sum(x["card_cents"] for x in lines) == 8500
