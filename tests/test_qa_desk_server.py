"""The server's desk answers to kiosks over a real mosquitto, for kiosks enrolled as the technician's guide allows
(`provision tokens create --events` takes event or pass ids). Fails on the defect it names."""
from __future__ import annotations

import time

from agent.sync.messages import RefundRequest, SaleLine, SaleRequest
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_server
from tests.test_desk_server import Kiosk


def test_a_kiosk_enrolled_for_a_pass_sells_and_refunds_for_its_events(tmp_path, broker):
    """A kiosk enrolled for a festival pass (its token named the pass id: "a pass: its events") had every online sale
    and refund of the pass's own events refused ("not allowed: 1 is not an event of kiosk-1"): the desk compared the
    events sold with the registered ids as they were, passes unexpanded, while uploads were judged on the events the
    pass opens. An event outside the pass is still refused."""
    now = time.time()
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    second = store.create_event(ORG, "Night 2", now, now + 7200, categories=[{"category_id": 1, "name": "S"}])
    outside = store.create_event(ORG, "Other", now, now + 7200, categories=[{"category_id": 1, "name": "S"}])
    festival = store.create_pass(ORG, "Both nights", [event, second])
    for target in (event, second, outside):
        store.set_price(ORG, target, 1, 1000)
    store.register_device(ORG, "kiosk-1", events=[festival], role="kiosk")
    server = start_server(store, broker.port)
    kiosk = Kiosk("kiosk-1", broker.port, store.server_public_key(ORG))
    try:
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "s1", second, (SaleLine(1, 1),)))
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "s2", outside, (SaleLine(1, 1),)))
        assert wait_for(lambda: {"s1", "s2"} <= set(kiosk.answers), 15)
        assert kiosk.answers["s1"].ok, kiosk.answers["s1"].reason
        assert kiosk.answers["s2"].reason == f"not allowed: {outside} is not an event of kiosk-1"
        kiosk.ask(RefundRequest(ORG, "kiosk-1", "r1", kiosk.answers["s1"].order_number, "changed plans"))
        assert wait_for(lambda: "r1" in kiosk.answers, 15)
        assert kiosk.answers["r1"].ok, kiosk.answers["r1"].reason
        assert store.order(kiosk.answers["s1"].order_number)["status"] == "refunded"
    finally:
        kiosk.t.stop()
        server.stop()
        store.close()
