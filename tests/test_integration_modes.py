"""The gate's outbox actions carry its mode, so the server's conflict rule never flags a multiple-entry gate.
Real gates, real ledgers, uploaded through a real mosquitto by the device sync."""
from __future__ import annotations

from dataclasses import replace

from agent.policy import Mode
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server


def test_multiple_entry_gate_is_never_a_conflict_two_normal_gates_are(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a", "gate-b", "gate-m"))
    key = store.server_public_key(ORG)
    server = start_server(store, broker.port)
    multi = start_door(tmp_path / "m", "gate-m", broker.port, key, event)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    try:
        assert wait_for(lambda: multi.ready(2) and a.ready(2) and b.ready(2), 15)
        multi.gate.set_policy(replace(multi.gate.policy, mode=Mode.MULTIPLE), save=False)
        t1, t2 = (store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders)
        assert multi.scan(t1).accepted and multi.scan(t1).accepted        # twice in at a multiple-entry gate
        b.go_offline()                                                    # no cross-gate relay: a real double entry
        assert a.scan(t2).accepted and b.scan(t2).accepted
        b.go_online()
        assert wait_for(lambda: all(d.ledger.outbox_size() == 0 for d in (multi, a, b)), 15)
        assert wait_for(lambda: store.scan_count(ORG) >= 4, 30)
        modes = {r[0]: r[1] for r in store.q("SELECT device_id, mode FROM scans WHERE type='action'")}
        assert modes == {"gate-m": "multiple", "gate-a": "normal", "gate-b": "normal"}
        conflicts = store.conflicts(ORG)
        assert [c["ticket_key"] for c in conflicts] == [orders[1]["tickets"][0]["ticket_key"]]
    finally:
        for d in (multi, a, b):
            d.close()
        server.stop()
        store.close()
