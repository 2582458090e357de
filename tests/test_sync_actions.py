"""Every kind of action flows both ways: quick cancellations and annulments relayed to the other gate,
server resets and signed commands reaching the device, kiosk messages acknowledged, and a device whose
clock is hours off still syncing with the right offset on its scans."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from agent.policy import Mode
from agent.sync.transport import BrokerConfig, PahoTransport
from server_stub.sync.server import SyncServer
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_door, start_server


@pytest.fixture
def two_gates(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=6)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    assert wait_for(lambda: a.ready(6) and b.ready(6))
    payloads = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
    keys = [o["tickets"][0]["ticket_key"] for o in orders]
    yield store, server, a, b, payloads, keys
    a.close()
    b.close()
    server.stop()
    store.close()


def _server_kinds(store) -> list[str]:
    return [r[0] for r in store.q("SELECT kind FROM scans WHERE type='action' AND device_id!='server' ORDER BY seq")]


def test_quick_cancel_and_annulment_reach_the_other_gate_and_the_server(two_gates):
    store, server, a, b, payloads, keys = two_gates
    a.gate.set_policy(replace(a.gate.policy, mode=Mode.QUICK_CANCEL), save=False)
    assert a.scan(payloads[0]).code.value == "cancelled"
    assert wait_for(lambda: b.ledger.history(keys[0]).cancelled is not None)
    assert b.scan(payloads[0]).code.value == "cancelled"
    assert b.scan(payloads[1]).accepted
    b.gate.annul("wrong ticket scanned")
    assert wait_for(lambda: not a.ledger.history(keys[1]).entries and len(a.ledger.actions(keys[1])) == 2)
    assert wait_for(lambda: sorted(_server_kinds(store)) == ["annul", "cancel", "entry"])


def test_server_reset_and_signed_commands(two_gates):
    store, server, a, b, payloads, keys = two_gates
    assert a.scan(payloads[2]).accepted
    assert wait_for(lambda: b.ledger.history(keys[2]).entries)
    store.reset_ticket(keys[2], "let her in again")          # announced live to the event's devices
    assert wait_for(lambda: not b.ledger.history(keys[2]).entries and not a.ledger.history(keys[2]).entries)
    assert b.scan(payloads[2]).accepted

    assert server.send_command(ORG, "gate-a", "config", config={"gate": "east", "mode": "multiple"})
    assert wait_for(lambda: a.ledger.get_setting("policy", {}).get("gate") == "east")
    before = a.sync.stats["commands"]
    assert server.send_command(ORG, "gate-a", "wipe")
    assert wait_for(lambda: a.ledger.counts()["tickets"] == 0)
    assert a.sync.stats["commands"] == before + 1
    assert a.ledger.counts()["checkins"] >= 1, "the scan log survives a wipe"
    assert wait_for(lambda: a.ledger.outbox_size() == 0), "command results are uploaded and acknowledged"


def test_kiosk_messages_are_uploaded_and_acknowledged(two_gates):
    store, server, a, b, payloads, keys = two_gates
    store.register_device(ORG, "gate-a", gate="gate-a", events=a.events, role="kiosk")     # kiosk messages: kiosks only
    pending = store.add_order(ORG, a.events[0], "Pay At Door", status="pending", positions=[{"category": 1, "zone": 1}])
    a.ledger.enqueue("kiosk", {"type": "kiosk", "action": "payment_validated", "order_number": pending["number"],
                               "at": time.time(), "device_id": "gate-a"})
    a.sync.notify()
    assert wait_for(lambda: a.ledger.outbox_size() == 0)
    assert [k["action"] for k in store.kiosk_actions(ORG)] == ["payment_validated"]
    assert store.order(pending["number"])["status"] == "paid"
    a.sync.uploader.restart()                              # uploaded again (as after a lost ack): stored once
    a.ledger.conn.execute("UPDATE outbox SET acked=NULL")
    a.sync.notify()
    assert wait_for(lambda: a.ledger.outbox_size() == 0)
    assert len(store.kiosk_actions(ORG)) == 1


def test_device_clock_hours_off(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=3, devices=("gate-late",))
    server = start_server(store, broker.port)
    skew = -3 * 3600.0                                        # the device thinks it is three hours earlier
    late = SimDevice(tmp_path / "late", ORG, "gate-late", store.server_public_key(ORG), BrokerConfig(port=broker.port),
                     [event], options=FAST, clock=lambda: time.time() + skew).go_online()
    try:
        assert wait_for(lambda: late.ready(3))
        assert abs(late.ledger.get_setting("clock_offset") + skew) < 1.0
        assert late.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])).accepted
        assert wait_for(lambda: late.ledger.outbox_size() == 0)
        at, offset = store.q("SELECT at, clock_offset FROM scans WHERE device_id='gate-late' AND type='action'")[0]
        assert abs(at + offset - time.time()) < 5                # on the server's time line
        store.cancel_order(orders[1]["number"], "refunded")      # live messages pass the freshness check
        assert wait_for(lambda: late.ledger.history(orders[1]["tickets"][0]["ticket_key"]).revoked)
    finally:
        late.close()
        server.stop()
        store.close()


def test_two_servers_never_double_ingest_after_a_restart_of_one(tmp_path, broker):
    """A second server instance started while devices upload: still every scan once."""
    store, event, orders = make_store(tmp_path / "server", tickets=40, devices=("gate-a",))
    first = start_server(store, broker.port)
    a = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    second = None
    try:
        assert wait_for(lambda: a.ready(40))
        for i, o in enumerate(orders):
            a.scan(store.issue_ticket_payload(o["tickets"][0]["ticket_key"]))
            if i == 20:
                second = SyncServer(store, PahoTransport("server-2", BrokerConfig(port=broker.port)), name="server-2",
                                    announce=False, orgs=[ORG]).start()
        assert wait_for(lambda: a.ledger.outbox_size() == 0)
        assert store.q("SELECT count(*), count(DISTINCT scan_uuid) FROM scans WHERE type='action'")[0] == (40, 40)
    finally:
        a.close()
        if second:
            second.stop()
        first.stop()
        store.close()


def test_blocks_and_payment_validation_reach_devices_live(two_gates):
    store, server, a, b, payloads, keys = two_gates
    store.block_ticket(keys[3], "lost ticket reported")
    assert wait_for(lambda: a.ledger.history(keys[3]).blocked == "lost ticket reported")
    assert a.scan(payloads[3]).code.value == "blocked"
    store.unblock_ticket(keys[3])
    assert wait_for(lambda: a.ledger.history(keys[3]).blocked is None)
    pending = store.add_order(ORG, a.events[0], "Pay Later", status="pending", positions=[{"category": 1, "zone": 1}])
    key = pending["tickets"][0]["ticket_key"]
    payload = store.issue_ticket_payload(key)
    assert wait_for(lambda: b.ledger.ticket(key) is not None)        # a small sale travels live
    assert b.scan(payload).code.value == "unpaid"
    store.validate_payment(pending["number"])
    assert wait_for(lambda: b.ledger.ticket(key)["order_status"] == "paid")
    assert b.scan(payload).accepted


def test_a_command_queued_for_hours_while_the_door_was_off_is_applied_and_its_replay_refused(two_gates):
    """The organiser set a door from the office the evening before; the door was switched off and found the command
    at the broker the next morning. It was refused as "stale" (older than the 10-minute window of live messages), so
    the door kept its old settings. A command is now taken up to 7 days old (its broker session); its replay is still
    refused (by id, and as no newer than the last command executed), and one older than 7 days as stale."""
    import uuid

    from agent.sync import topics
    from agent.sync.messages import Command
    from agent.sync.signed import seal
    store, server, a, b, payloads, keys = two_gates
    key = store.server_key(ORG)

    def sent_ago(seconds: float, config: dict) -> bytes:
        body = Command("config", "gate-a", {"config": config}).to_wire()
        return seal(dict(body, org=ORG, id=uuid.uuid4().hex, ts=time.time() - seconds), key.sign)

    evening = sent_ago(12 * 3600, {"gate": "east"})
    assert server.transport.publish(topics.cmd(ORG, "gate-a"), evening, wait=5.0)
    assert wait_for(lambda: a.ledger.get_setting("policy", {}).get("gate") == "east")
    refused = len(a.sync.rejections)
    assert server.transport.publish(topics.cmd(ORG, "gate-a"), evening, wait=5.0)          # the same, replayed
    assert server.transport.publish(topics.cmd(ORG, "gate-a"), sent_ago(8 * 86400, {"gate": "west"}), wait=5.0)
    assert wait_for(lambda: len(a.sync.rejections) == refused + 2)
    reasons = [why for _, why in list(a.sync.rejections)[refused:]]
    assert "replayed" in reasons[0] and "stale" in reasons[1], reasons
    assert a.ledger.get_setting("policy", {}).get("gate") == "east"
