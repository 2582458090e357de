"""Exchange at the kiosk, end to end on a real mosquitto: the kiosk queues the exchange, the server revokes the
old ticket and issues the replacement (same order, new id), the replacement reaches the kiosk with its payload
and prints; the door refuses the old ticket as `revoked` and admits the new one."""
from __future__ import annotations

import time

import pytest

from agent.payload import OK, read_payload
from server_stub.store.base import StoreError
from tests.helpers import wait_for
from tests.integration_kiosk_env import ORG, kiosk_env
from tests.sync_fixtures import make_store
from tests.test_integration_kiosk import qr_texts_of_zpl


def test_store_exchange_issues_a_replacement_in_the_same_order(tmp_path):
    store, event, orders = make_store(tmp_path, tickets=1, devices=())
    old = orders[0]["tickets"][0]
    v0 = store.version(ORG)
    new = store.exchange_ticket(old["ticket_key"], "wrong zone", zone=2)
    assert new["replaces"] == old["ticket_key"] and new["ticket_key"] != old["ticket_key"]
    assert new["order_number"] == orders[0]["number"] and new["zone"] == 2 and new["category"] == old["category"]
    order = store.order(orders[0]["number"])
    assert [t["ticket_key"] for t in order["tickets"]] == [old["ticket_key"], new["ticket_key"]]
    assert order["tickets"][0]["revoked"] == "exchanged: wrong zone" and order["tickets"][1]["revoked"] is None
    assert store.version(ORG) == v0 + 1                          # one change: devices learn both together
    with pytest.raises(StoreError):
        store.exchange_ticket(old["ticket_key"], "again")         # an exchanged ticket is not exchanged twice
    with pytest.raises(ValueError):
        store.exchange_ticket(new["ticket_key"], " ")
    # the kiosk message: applied once even when uploaded twice
    msg = {"type": "kiosk", "action": "exchange", "ticket_key": new["ticket_key"], "reason": "seat", "org": ORG,
           "device_id": "kiosk-1", "outbox_id": 7}
    store.ingest([msg])
    store.ingest([msg])
    assert len(store.order(orders[0]["number"])["tickets"]) == 3
    store.close()


def test_exchange_at_the_kiosk_end_to_end(tmp_path, broker):
    from drivers.testkit.fake_printer import FakePrinter
    with kiosk_env(tmp_path, broker.port, tickets=2) as env:
        order = env.orders[0]
        old = order["tickets"][0]["ticket_key"]
        old_payload = env.store.issue_ticket_payload(old)
        assert wait_for(lambda: env.kiosk_has(old), 15), env.link.sync.rejections
        assert wait_for(lambda: env.gate.ready(2), 15)

        env.kiosk.exchange(old, "Wrong date bought")               # queued as a kiosk outbox message
        env.link.sync.notify()
        server_order = lambda: env.store.order(order["number"])["tickets"]
        assert wait_for(lambda: len(server_order()) == 2, 10)
        new = server_order()[1]["ticket_key"]
        assert server_order()[0]["revoked"].startswith("exchanged")
        assert wait_for(lambda: env.kiosk_has(new), 10), env.link.sync.rejections   # next delta, with its payload
        assert wait_for(lambda: env.kiosk.outbox_size() == 0, 10)

        with FakePrinter("zpl") as zebra:
            assert env.ctl.add_printer(f"127.0.0.1:{zebra.port}", language="zpl") == ""
            result = env.ctl.print_order(order["number"], ticket_keys=(new,))
            assert result.ok and result.printed == 1, result.message
            texts = qr_texts_of_zpl(zebra.last_job)
        assert read_payload(texts[0], env.store.keyring(ORG), time.time()).status == OK

        assert wait_for(lambda: env.gate.ledger.ticket(new) is not None, 10)
        assert wait_for(lambda: env.gate.scan(old_payload).code == "revoked", 10)
        assert env.gate.scan(texts[0]).accepted
