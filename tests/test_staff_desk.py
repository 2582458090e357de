"""Staff at the desk through the real server and a real mosquitto: the roster arrives with the kiosk's bundle; a desk
clerk sells (the server records who), cannot refund (refused on the device; a tampered kiosk's refund under the
clerk's name or an unknown id is refused by the server too); a supervisor refunds."""
from __future__ import annotations

import pytest

from agent.desk_sale import refund_request
from agent.policy import DevicePolicy
from agent.sync import BrokerConfig
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.desk import KioskDesk, SyncSaleLink
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from kiosk_ui.services import Payment
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_server


@pytest.fixture
def desk(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    store.set_price(ORG, event, 1, 2000)
    store.set_quota(ORG, event, 20)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    dee = store.add_staff(ORG, "Dee Clerk", "desk", pin="5555")["staff_id"]
    sam = store.add_staff(ORG, "Sam Boss", "supervisor", pin="9876")["staff_id"]
    server = start_server(store, broker.port, limits=None)
    sim = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                    [event], options=FAST, role="kiosk").go_online()
    door = Door(sim.ledger, sim.keyring, DevicePolicy(device_id="kiosk-1", gate="desk", events=frozenset({event})))
    ctl = Controller(door, build_services(door, tmp_path / "kiosk"))
    ctl.services.desk = kiosk = KioskDesk(door, tmp_path / "kiosk", SyncSaleLink(sim), timeout=5.0, org=ORG)
    try:
        assert wait_for(lambda: kiosk.online and kiosk.targets() and door.staff.configured, 20), "no bundle"
        door.reload_names()
        yield store, event, ctl, kiosk, dee, sam
    finally:
        sim.close()
        server.stop()
        store.close()


def _staff_of(store, order_number: str, kind: str) -> str:
    row = store.q1("SELECT r.staff FROM desk_requests r WHERE r.kind=? AND r.answer LIKE ?", (kind, f"%{order_number}%"))
    return row[0] if row else None


def test_clerk_sells_supervisor_refunds_server_refuses_the_rest(desk):
    store, event, ctl, kiosk, dee, sam = desk
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, 2)
    nobody = flow.confirm(Payment("cash", given_cents=5000))
    assert not nobody.result.ok and "log in" in nobody.result.problem.lower()       # nobody on duty: nothing sold
    assert ctl.login_pin(dee, "5555") == ""
    sold = flow.confirm(Payment("cash", given_cents=5000)).result
    assert sold.ok, sold.problem
    assert _staff_of(store, sold.order_number, "sale") == dee
    # the clerk may not refund: the device says so and sends nothing
    refused = flow.refund(sold.order_number, "Buyer cannot come")
    assert not refused.ok and "Dee Clerk may not do this" in refused.problem
    assert store.order(sold.order_number)["status"] == "paid"
    # a tampered kiosk sends it anyway, under the clerk's name, then under an id the organiser never gave
    link = kiosk.link
    for staff, reason in ((dee, "Dee Clerk (" + dee + ") (desk) cannot refund"), ("999", "unknown staff member '999'")):
        answer = link.ask(refund_request(sold.order_number, "forged", "refund", ORG, "kiosk-1", staff), 5.0)
        assert answer is not None and not answer.ok and reason in answer.reason, answer
    assert store.order(sold.order_number)["status"] == "paid"
    # the supervisor logs in (the same PIN popup that unlocked the kiosk before staff existed) and refunds
    assert ctl.lock.unlock("9876") == "ok" and ctl.door.staff.current().staff_id == sam
    back = flow.refund(sold.order_number, "Buyer cannot come")
    assert back.ok, back.problem
    assert store.order(sold.order_number)["status"] == "refunded"
    assert _staff_of(store, sold.order_number, "refund") == sam
