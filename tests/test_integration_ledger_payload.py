"""Ledger migration 4: a nullable `payload` column on tickets (kiosk devices), kept out of the search index."""
from agent.ledger import Ledger


def _row(**kw):
    base = {"ticket_key": "77", "event_id": 1, "order_number": "K7M2-Q9", "buyer_name": "Hélène Dupont", "email": "h@x.org"}
    return {**base, **kw}


def test_payload_stored_returned_and_kept_by_rows_without_one(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    led.upsert_tickets([_row(payload="TG1:SECRETPAYLOAD")])
    assert led.ticket("77")["payload"] == "TG1:SECRETPAYLOAD"
    led.upsert_tickets([_row(buyer_name="Helene D")])        # a live update carries no payload: kept
    t = led.ticket("77")
    assert t["payload"] == "TG1:SECRETPAYLOAD" and t["buyer_name"] == "Helene D"
    led.upsert_tickets([_row(ticket_key="78")])
    assert led.ticket("78")["payload"] is None
    led.close()


def test_payload_is_not_searchable(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    led.upsert_tickets([_row(payload="TG1:SECRETPAYLOAD")])
    assert led.search("SECRETPAYLOAD") == []
    assert [t["ticket_key"] for t in led.search("helene")] == ["77"]
    fts_cols = [r[1] for r in led.conn.execute("PRAGMA table_info(tickets_fts)")]
    assert "payload" not in fts_cols
    led.close()
