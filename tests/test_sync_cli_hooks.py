"""The organiser CLI's entry points: `push` reaches online devices and, through their persistent sessions,
offline ones; `serve` runs the sync server on a data folder until told to stop."""
from __future__ import annotations

import threading

from server_stub.store import open_store
from server_stub.sync.cli_hooks import broker_config, push, serve
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server


def test_push_reaches_online_and_offline_devices(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=5)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    try:
        assert wait_for(lambda: a.ready(5) and b.ready(5))
        server.stop()                 # no server process: push alone must deliver
        b.go_offline()
        store.add_order(ORG, event, "New Buyer", positions=[{"category": 1, "zone": 2}])
        seen = []
        result = push(store, ORG, [event], f"127.0.0.1:{broker.port}", progress=seen.append)
        assert result["devices"] == 2 and result["delivered"] == 2 and result["tickets"] == 6 and seen[-1] == 6
        assert wait_for(lambda: a.ledger.counts()["tickets"] == 6 and a.sync.bundle_version == result["version"])
        b.go_online()                 # its session kept the bundle while it was away
        assert wait_for(lambda: b.ledger.counts()["tickets"] == 6), b.sync.rejections
    finally:
        a.close()
        b.close()
        store.close()


def test_serve_runs_until_stopped(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=3, devices=("gate-a",))
    key = store.server_public_key(ORG)
    payload = store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])
    store.close()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(tmp_path / "server", broker_config(f"127.0.0.1:{broker.port}")),
                              kwargs={"stop": stop, "workers": 2,
                                      "store_factory": lambda data: open_store(data, create=False)}, daemon=True)
    thread.start()
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    try:
        assert wait_for(lambda: a.ready(3), 15)
        assert a.scan(payload).accepted
        assert wait_for(lambda: a.ledger.outbox_size() == 0)
    finally:
        a.close()
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
