"""A kiosk that got no answer in time sells the same cart offline with the same id (kiosk_ui/adapters/desk.py):
the server counts that sale once, whichever reaches it first — on both store backends."""
from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.sync.messages import OfflineSale, SaleLine, SaleRequest, SoldTicket
from server_stub.sync.contract import Upload


def _setup(store):
    now = time.time()
    e = store.create_event("fest", "Night", now - 3600, now + 7200, categories=[{"category_id": 1, "name": "Std"}])
    store.set_price("fest", e, 1, 1500)
    store.set_quota("fest", e, 10)
    store.register_device("fest", "kiosk-1", role="kiosk")
    store.set_allotment_size("fest", "kiosk-1", [e], 4, hours=2)
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return e, store.grant_allotment("fest", "kiosk-1", raw)


def _offline(cert, e, sale_id: str, first: int, n: int) -> OfflineSale:
    return OfflineSale(sale_id, cert.allotment_id, e, tuple(SoldTicket(str(first + i), 1) for i in range(n)),
                       1500 * n, "kiosk-1")


def test_late_online_sale_is_voided_by_the_offline_one_of_the_same_id(store):
    e, cert = _setup(store)
    online = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "r-1", e, (SaleLine(1, 2),)))
    assert online.ok and store.quotas(e)[0]["sold"] == 2
    # the kiosk never saw that answer: it sold the same cart offline with the same id
    result = store.ingest_uploads([Upload("fest", "kiosk-1", 1, _offline(cert, e, "r-1", cert.first_id, 2))])
    assert not result.refused
    assert store.order(online.order_number)["status"] == "cancelled"
    assert all(store.ticket(t.ticket_key)["order_status"] == "cancelled" for t in online.tickets)
    assert [store.ticket(str(cert.first_id + i))["order_status"] for i in range(2)] == ["paid", "paid"]
    assert store.quotas(e)[0]["sold"] == 2                       # counted once: the offline tickets


def test_late_copy_of_the_request_after_the_offline_sale_sells_nothing(store):
    e, cert = _setup(store)
    store.ingest_uploads([Upload("fest", "kiosk-1", 1, _offline(cert, e, "r-2", cert.first_id, 1))])
    sold = store.quotas(e)[0]["sold"]
    late = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "r-2", e, (SaleLine(1, 1),)))
    assert not late.ok and "sold offline by the kiosk" in late.reason and not late.tickets
    assert store.quotas(e)[0]["sold"] == sold == 1
    # the same offline sale uploaded again is still one order
    store.ingest_uploads([Upload("fest", "kiosk-1", 1, _offline(cert, e, "r-2", cert.first_id, 1))])
    assert store.quotas(e)[0]["sold"] == 1
