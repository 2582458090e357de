"""The till's currency is the server's, never the kiosk's word. A kiosk's till request said which currency its shift
was in and the server took it: a kiosk on a price list from before the organiser's currency change (or a forged
request) opened a USD shift on a EUR desk, and its Z report added euros as dollars. An offline sale stating another
currency than the event's was counted in the event's currency without a word. Now: a till request in another
currency is refused, in words, nothing opened; an offline sale in another currency is taken (the buyer paid) and
flagged for the organiser (`server device uploads`); the buyer's receipt of a sale the server made says the
server's currency.

Real mosquitto, the sync server over a real store (SQLite and PostgreSQL), the kiosk's app wiring (its sync, desk,
controller), the organiser's commands."""
from __future__ import annotations

import json

import pytest

from kiosk_ui.presenters.cart import receipt_for
from kiosk_ui.services import CartQuote, Payment, QuoteLine, SaleResult, SaleTarget
from tests.helpers import wait_for
from tests.kiosk_desk_field import kiosk_desk, prepare_kiosk, ready, sell
from tests.sync_fixtures import ORG, make_store, start_server
from tests.test_desk_offline_number import _server_cli


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def test_a_till_request_in_another_currency_than_the_servers_is_refused_in_words(tmp_path, broker, db):
    store, event, _ = make_store(tmp_path / "server", tickets=0, db=db)
    try:
        prepare_kiosk(store, event)                           # the event sells in EUR (the store's default)
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            refused = f.desk.till("open", 10_000, "USD")       # the kiosk's word: not the till's
            assert isinstance(refused, str), refused
            assert "This kiosk's till is in EUR, not USD: nothing done." in refused, refused
            assert store.shifts(ORG, "kiosk-1") == []
            opened = f.desk.till("open", 10_000)
            assert not isinstance(opened, str) and opened.ok and opened.currency == "EUR", opened
            shift = store.shifts(ORG, "kiosk-1")[0]
            assert shift["currency"] == "EUR"
            closing = f.desk.till("close", 10_000, "USD")
            assert isinstance(closing, str) and "not USD" in closing, closing
            assert store.shifts(ORG, "kiosk-1")[0]["closed_at"] is None       # still open: nothing closed
    finally:
        store.close()


def test_an_offline_sale_in_another_currency_than_the_events_is_taken_and_flagged(tmp_path, broker, db):
    store, event, _ = make_store(tmp_path / "server", tickets=0, db=db)
    try:
        prepare_kiosk(store, event)                           # the event sells in EUR (the store's default)
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            f.server[0].stop()                                # offline: the kiosk sells on its EUR price list
            assert wait_for(lambda: not f.desk.online, 15), "the kiosk never saw its server go offline"
            sold = sell(f.ctl, event, 1).result
            assert sold.ok and sold.offline, sold
            moved = _server_cli(tmp_path / "server", db, "price", "set", str(event), "--category", "1", "--cents",
                                "2000", "--currency", "CHF")   # the organiser's currency changes meanwhile
            assert moved.returncode == 0, moved.stderr
            f.server[0] = start_server(store, broker.port, limits=None)
            assert wait_for(lambda: f.kiosk.ledger.outbox_size() == 0, 30), "the offline sale never reached the server"
        uploads = _server_cli(tmp_path / "server", db, "device", "uploads", "kiosk-1", "--json")
        assert uploads.returncode == 0, uploads.stderr
        flags = [u["flag"] for u in json.loads(uploads.stdout) if u.get("flag")]
        assert any("sold offline in EUR, the event's currency is CHF: counted as 20.00 CHF" in x for x in flags), flags
        assert store.order(sold.order_number)["status"] == "paid"              # taken: the buyer paid
        shown = _server_cli(tmp_path / "server", db, "device", "uploads", "kiosk-1")
        assert "sold offline in EUR" in shown.stdout, shown.stdout
    finally:
        store.close()


def test_the_receipt_of_a_sale_the_server_made_is_in_the_servers_currency():
    """The kiosk's price list said EUR; the server's answer (its currency now CHF): the receipt says CHF. A sale made
    offline keeps the price list's currency (what the kiosk showed and took)."""
    target = SaleTarget(1, "Night", "2026-12-03", "EUR")
    quote = CartQuote(1, "EUR", (QuoteLine(1, "Standard", 1, 2000, 2000),), 2000)
    online = receipt_for(target, quote, Payment("cash", given_cents=2000), SaleResult(True, "A-1", False, 2000, "CHF"))
    offline = receipt_for(target, quote, Payment("cash", given_cents=2000), SaleResult(True, "k-1-1-1", True, 2000,
                                                                                        "EUR"))
    assert (online.currency, offline.currency) == ("CHF", "EUR")
