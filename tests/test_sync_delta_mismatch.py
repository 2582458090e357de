"""A delta built on another version than the device's (two hellos crossed a change) was refused with a warning
"delta from version N does not fit this device" and the device stayed behind until some later hello. It now asks
again at once and gets the delta that fits; the log says so, not as a rejected message. Real broker and server."""
from __future__ import annotations

import logging

from agent.sync.apply import current_bundle
from server_stub.sync import bundles
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server


def test_a_delta_that_does_not_fit_makes_the_device_ask_for_the_one_that_does(tmp_path, broker, caplog):
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: door.ready(2))
        held = current_bundle(door.ledger)["version"]
        assert held >= 2
        door.go_offline()
        store.add_order(ORG, event, "Late Buyer", positions=[{"category": 1, "zone": 1}])
        store.add_order(ORG, event, "Later Buyer", positions=[{"category": 1, "zone": 1}])
        door.go_online()
        assert wait_for(lambda: current_bundle(door.ledger)["version"] == store.version(ORG), 15)
        caplog.clear()
        newest = store.add_order(ORG, event, "Last Buyer", positions=[{"category": 1, "zone": 1}])
        stale_base = current_bundle(door.ledger)["version"] - 1          # answers a hello older than the device's
        with caplog.at_level(logging.INFO, logger="ticketgate"):
            server.send_bundle(ORG, ["gate-a"], bundles.build(store, ORG, [event], stale_base))
            assert wait_for(lambda: current_bundle(door.ledger)["version"] == store.version(ORG), 15), \
                (current_bundle(door.ledger), store.version(ORG), door.sync.rejections)
        assert door.ledger.ticket(newest["tickets"][0]["ticket_key"]) is not None
        assert not [r for r in door.sync.rejections if "does not fit" in r[1]]
        assert any("asking the server for the changes since" in r.getMessage() for r in caplog.records)
    finally:
        door.close()
        server.stop()
        store.close()
