"""An offline sale after a price change: the kiosk sold a Standard (20.00) and a VIP (50.00) ticket offline, 70.00
cash; before it reached the server the organiser priced both 30.00. The server filed the sale's 70.00 over its
categories at the prices of the day it arrived (35.00 and 35.00): `report sales` per category said the kiosk took
35.00 for a Standard ticket it sold for 20.00. `OfflineSale` now carries what the kiosk charged for each ticket
(`SoldTicket.price_cents`); a kiosk's message without it is still taken as before.

The way a user meets it: real mosquitto, the sync server over a real store (SQLite and PostgreSQL), the kiosk's app
wiring (its sync, desk, controller) selling through the sale flow, `ticketgate server report sales`."""
from __future__ import annotations

import json
import time

import pytest

from agent.sync.messages import OfflineSale, Rejected, SoldTicket, item_from_wire
from kiosk_ui.services import Payment
from server_stub.sync.contract import Upload
from tests.helpers import wait_for
from tests.kiosk_desk_field import kiosk_desk, prepare_kiosk, ready
from tests.sync_fixtures import ORG, make_store, start_server
from tests.test_desk_offline_number import _server_cli


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else None


def test_an_offline_sale_after_a_price_change_is_reported_per_category_at_what_the_kiosk_charged(tmp_path, broker,
                                                                                                  db):
    store, event, _ = make_store(tmp_path / "server", tickets=0, categories=("Standard", "VIP"), db=db)
    try:
        prepare_kiosk(store, event)                              # Standard 20.00
        store.set_price(ORG, event, 2, 5000)                     # VIP 50.00
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            f.server[0].stop()
            assert wait_for(lambda: not f.desk.online, 15), "the kiosk never saw its server go offline"
            flow = f.ctl.sale
            flow.choose(event)
            flow.add(1, 1)
            flow.add(2, 1)
            sold = flow.confirm(Payment("cash", given_cents=7000)).result
            assert sold.ok and sold.offline and sold.total_cents == 7000, sold
            store.set_price(ORG, event, 1, 3000)                 # the organiser's new prices, before it arrives
            store.set_price(ORG, event, 2, 3000)
            f.server[0] = start_server(store, broker.port, limits=None)
            assert wait_for(lambda: f.kiosk.ledger.outbox_size() == 0, 30), "the offline sale never reached the server"
        shown = _server_cli(tmp_path / "server", db, "report", "sales", "--event", str(event), "--json")
        assert shown.returncode == 0, shown.stderr
        lines = [x for x in json.loads(shown.stdout)["lines"] if x["order"] == sold.order_number]
        assert {x["category"]: (x["quantity"], x["total_cents"]) for x in lines} == {"Standard": (1, 2000),
                                                                                      "VIP": (1, 5000)}, lines
        by_category = json.loads(shown.stdout)["summary"]["by"]["category"]
        assert by_category["Standard"]["total_cents"] == 2000 and by_category["VIP"]["total_cents"] == 5000
        assert sum(x["total_cents"] for x in lines) == 7000
    finally:
        store.close()


def _sale(cert_first: int, allotment: int, event: int, prices: tuple[int | None, ...], total: int) -> OfflineSale:
    return OfflineSale(f"s-{cert_first}", allotment, event,
                       tuple(SoldTicket(str(cert_first + i), 1 + i, None, "", p) for i, p in enumerate(prices)),
                       total, "kiosk-9")


def test_a_kiosk_message_without_ticket_prices_is_taken_as_before_and_prices_that_do_not_add_up_are_malformed(store):
    """Backward compatible: an older kiosk's offline sale (no `price_cents`) is filed as before (its total shared at
    the current prices); the prices, when sent, are every ticket's and add up to the total, else the message is
    malformed (refused, kept in the refusals, never filed at made-up prices)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    now = time.time()
    e = store.create_event("fest", "Night", now - 3600, now + 7200,
                           categories=[{"category_id": 1, "name": "Std"}, {"category_id": 2, "name": "VIP"}])
    store.set_price("fest", e, 1, 3000)
    store.set_price("fest", e, 2, 3000)
    store.register_device("fest", "kiosk-9", events=[e], role="kiosk")
    store.set_allotment_size("fest", "kiosk-9", [e], 6)
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cert = store.grant_allotment("fest", "kiosk-9", key)
    old = _sale(cert.first_id, cert.allotment_id, e, (None, None), 7000)
    assert "price_cents" not in json.dumps(old.to_wire())                 # the wire as a kiosk before it sent it
    assert not store.ingest_uploads([Upload("fest", "kiosk-9", 1, old)]).refused
    assert sorted(x["total_cents"] for x in store.sales_lines("fest") if x["status"] == "paid") == [3500, 3500]
    charged = _sale(cert.first_id + 2, cert.allotment_id, e, (2000, 5000), 7000)
    assert item_from_wire(json.loads(json.dumps(charged.to_wire()))) == charged
    for prices, total in (((2000, None), 7000), ((2000, 4000), 7000)):
        with pytest.raises(Rejected, match="price_cents"):
            item_from_wire(dict(charged.to_wire(), tickets=[
                {**{k: v for k, v in t.to_wire().items() if k != "price_cents"},
                 **({"price_cents": p} if p is not None else {})}
                for t, p in zip(charged.tickets, prices)], total_cents=total))
    assert not store.ingest_uploads([Upload("fest", "kiosk-9", 2, charged)]).refused
    mine = [x for x in store.sales_lines("fest") if x["order"] != store.sales_lines("fest")[0]["order"]]
    assert {x["category_id"]: x["total_cents"] for x in mine} == {1: 2000, 2: 5000}
