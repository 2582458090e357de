"""Scale-out: two ingestion workers (own store connection, own MQTT client) share the uploads through
`$share/ingest/...`; both get work, every scan is stored once, every device gets its acks."""
from __future__ import annotations

from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from server_stub.store import SqliteStore
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server

DEVICES = ("gate-a", "gate-b", "gate-c", "gate-d")
SLOW_RETRY = DeviceOptions(upload=UploadOptions(batch_size=10, window=4, ack_timeout=10.0), hello_retry=0.5)


def test_two_workers_split_the_load_without_duplicates(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=200, devices=DEVICES)
    second_store = SqliteStore.open(tmp_path / "server", create=False)
    primary = start_server(store, broker.port, name="server-1")
    worker = start_server(second_store, broker.port, name="server-2", announce=False)
    key = store.server_public_key(ORG)
    doors = [start_door(tmp_path / d, d, broker.port, key, event, options=SLOW_RETRY) for d in DEVICES]
    try:
        assert wait_for(lambda: all(d.ready(200) for d in doors), 20)
        for i, o in enumerate(orders):   # every ticket once, spread over the four gates
            assert doors[i % 4].scan(store.issue_ticket_payload(o["tickets"][0]["ticket_key"])).accepted
        assert wait_for(lambda: all(d.ledger.outbox_size() == 0 for d in doors), 30)
        assert primary.stats["batches"] > 0 and worker.stats["batches"] > 0, (primary.stats, worker.stats)
        assert primary.stats["new"] + worker.stats["new"] == 200
        assert store.q("SELECT count(*), count(DISTINCT scan_uuid) FROM scans WHERE type='action'")[0] == (200, 200)
        assert primary.stats["dup"] + worker.stats["dup"] == 0
    finally:
        for d in doors:
            d.close()
        worker.stop()
        primary.stop()
        second_store.close()
        store.close()
