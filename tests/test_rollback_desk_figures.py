"""`server device rollback` of a stolen kiosk and the figures the organiser and the desk read afterwards: a refund it
undoes gives the buyer their seats back past a quota's capacity, and the rollback says so (text and JSON, as
`quota list` counts it); the till's Z report lists the moves it cancelled apart ("cancelled by rollback"), their
cash not in the drawer, so the expected cash is what the desk holds."""
from __future__ import annotations

import json
import uuid

from agent.sync.messages import RefundRequest, SaleLine, SaleRequest
from tests.helpers import fete, server_cmd


def _sell(store, device: str, event: int, quantity: int) -> str:
    sold = store.sell("fest", device, SaleRequest("fest", device, uuid.uuid4().hex, event, (SaleLine(1, quantity),)))
    assert sold.ok, sold.reason
    return sold.order_number


def test_a_rollback_says_the_quota_it_oversold_and_the_z_report_keeps_its_cancelled_cash_apart(tmp_path, french):
    data = tmp_path / "server"
    e = fete(data, "1=Adulte")
    server_cmd(data, "price", "set", str(e), "--category", "1", "--cents", "2000")
    server_cmd(data, "quota", "set", str(e), "--capacity", "3")
    for kiosk in ("kiosk-1", "kiosk-2"):
        server_cmd(data, "device", "register", kiosk, "--role", "kiosk", "--events", str(e))
    shift = json.loads(server_cmd(data, "till", "open", "kiosk-1", "--float-cents", "10000", "--json").stdout)["shift_id"]
    from server_stub.store import open_store
    with open_store(data) as store:
        ann = _sell(store, "kiosk-2", e, 2)                              # a genuine buyer, 40.00 cash at the other desk
        # kiosk-1 stolen: the thief refunds Ann (40.00 in cash to themself) and sells one ticket for 20.00 cash
        back = store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", uuid.uuid4().hex, ann, "ill"))
        assert back.ok and back.total_cents == 4000, back
        _sell(store, "kiosk-1", e, 1)
    server_cmd(data, "order", "add", "--event", str(e), "--buyer", "Guest", "--ticket", "category=1", "--quantity", "2")
    assert json.loads(server_cmd(data, "quota", "list", str(e), "--json").stdout)[0]["sold"] == 3       # 3 of 3
    server_cmd(data, "device", "revoke", "kiosk-1")

    text = server_cmd(data, "device", "rollback", "kiosk-1", "--reason", "stolen").stdout
    assert f"OVERSOLD: event {e} is now OVERSOLD by 1 (4 sold, capacity 3)" in text, text
    assert f"ticketgate server quota set {e} --capacity 4" in text, text
    (quota,) = json.loads(server_cmd(data, "quota", "list", str(e), "--json").stdout)
    assert (quota["sold"], quota["oversold"]) == (4, 1), quota                           # the same figures
    again = json.loads(server_cmd(data, "device", "rollback", "kiosk-1", "--reason", "stolen", "--json").stdout)
    assert again["oversold"] == [], again                                      # nothing more oversold by a second run

    z = json.loads(server_cmd(data, "till", "close", str(shift), "--counted-cents", "10000", "--json").stdout)["report"]
    assert (z["sales"]["count"], z["refunds"]["count"], z["payments"]) == (0, 0, {}), z
    assert (z["expected_cash_cents"], z["difference_cents"]) == (10000, 0), z          # before: 8000, "-20.00"
    undone = z["rolled_back"]
    assert (undone["count"], undone["total_cents"], undone["cash_cents"]) == (2, -2000, -2000), undone
    assert sorted((m["what"], m["amount_cents"]) for m in undone["moves"]) == [("refund", -4000), ("sale", 2000)]
    printed = server_cmd(data, "till", "z-report", str(shift)).stdout
    assert "CANCELLED BY ROLLBACK" in printed and "cash not in the drawer" in printed, printed

    from kiosk_ui.presenters.till import method_label, z_rows
    rows = dict(z_rows(z))                                                    # the kiosk's cash-up screen, in French
    assert method_label("split") == "Fractionné (plusieurs moyens)"        # a split move's method, not "split"
    assert rows["Annulé par l'organisateur (appareil révoqué)"] == "2 · -20,00 EUR", rows
    assert rows["  Espèces absentes du tiroir"] == "-20,00 EUR", rows


def test_a_z_report_closed_before_the_rollback_says_what_it_cancelled_since(tmp_path):
    """The organiser closed the stolen kiosk's shift first (the kept Z report counts the thief's 20.00 cash sale:
    expected 120.00, counted 100.00), then rolled it back: `till z-report` keeps the report as closed and adds what
    the rollback cancelled since, with the expected cash and the difference without it (100.00, 0.00). Before: the
    kept report alone, a drawer 20.00 short that nobody could explain."""
    data = tmp_path / "server"
    e = fete(data, "1=Adulte")
    server_cmd(data, "price", "set", str(e), "--category", "1", "--cents", "2000")
    server_cmd(data, "device", "register", "kiosk-1", "--role", "kiosk", "--events", str(e))
    shift = json.loads(server_cmd(data, "till", "open", "kiosk-1", "--float-cents", "10000", "--json").stdout)["shift_id"]
    from server_stub.store import open_store
    with open_store(data) as store:
        _sell(store, "kiosk-1", e, 1)                                    # the thief's 20.00 cash sale
    kept = json.loads(server_cmd(data, "till", "close", str(shift), "--counted-cents", "10000", "--json").stdout)["report"]
    assert (kept["expected_cash_cents"], kept["difference_cents"]) == (12000, -2000), kept
    server_cmd(data, "device", "revoke", "kiosk-1")
    server_cmd(data, "device", "rollback", "kiosk-1", "--reason", "stolen")
    z = json.loads(server_cmd(data, "till", "z-report", str(shift), "--json").stdout)
    assert (z["expected_cash_cents"], z["difference_cents"]) == (12000, -2000), z      # as it was closed
    since = z["rolled_back_since"]
    assert (since["count"], since["cash_cents"], since["expected_cash_cents"], since["difference_cents"]) == \
        (1, 2000, 10000, 0), since
    printed = server_cmd(data, "till", "z-report", str(shift)).stdout
    assert "after closing, 1: 20.00 EUR" in printed, printed
    assert any("expected cash without" in line and line.endswith(" 100.00 EUR") for line in printed.splitlines())
