"""An annulment undoes one entry or quick cancellation, once. The server refuses, in the signed ack, an annulment
that names another annulment, or a check-in another annulment already undid — in the same batch as what it names or
in a later one; the device keeps the rows marked refused with the reason, `server refusals` lists them, nothing of
them is stored as a scan. The same annulment sent again (a lost ack) is a duplicate, not a refusal."""
from __future__ import annotations

import time
import uuid

from agent.sync.messages import ActionItem
from tests.helpers import server_refusals, wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server



def _annul(key: str, event: int, ref: str, scan_uuid: str | None = None) -> dict:
    return ActionItem(scan_uuid or str(uuid.uuid4()), "annul", key, event, None, time.time(), "gate-a", "gate-a",
                      ref_uuid=ref, reason="undo").to_wire()


def _refused(door) -> dict[str, str]:
    """scan uuid -> refusal reason of every refused row."""
    return {r["body"]["scan_uuid"]: r["refused"] for r in door.ledger.outbox_refused()}


def test_an_annulment_of_an_annulment_or_of_an_annulled_checkin_is_refused(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: door.ready(2))
        key = orders[0]["tickets"][0]["ticket_key"]
        door.go_offline()
        entry = door.scan(store.issue_ticket_payload(key))
        assert entry.accepted
        first = door.gate.annul("wrong person", entry.scan_uuid)["scan_uuid"]
        # one batch: the entry, its annulment, an annulment of that annulment, a second annulment of the entry
        undo_undo = _annul(key, event, first)
        twice = _annul(key, event, entry.scan_uuid)
        door.ledger.enqueue("action", undo_undo)
        door.ledger.enqueue("action", twice)
        door.go_online()
        assert wait_for(lambda: door.ledger.outbox_size() == 0)
        refused = _refused(door)
        assert set(refused) == {undo_undo["scan_uuid"], twice["scan_uuid"]}
        assert "names an annulment, not an entry or cancellation" in refused[undo_undo["scan_uuid"]]
        assert "already annulled" in refused[twice["scan_uuid"]]

        # a later batch: the server holds the entry and its annulment now; the first annulment again is a duplicate
        later_undo = _annul(key, event, first)
        later_twice = _annul(key, event, entry.scan_uuid)
        for body in (later_undo, later_twice, _annul(key, event, entry.scan_uuid, scan_uuid=first)):
            door.ledger.enqueue("action", body)
        assert wait_for(lambda: door.ledger.outbox_size() == 0)
        refused = _refused(door)
        assert len(refused) == 4 and first not in refused
        assert "names an annulment" in refused[later_undo["scan_uuid"]]
        assert "already annulled" in refused[later_twice["scan_uuid"]]
        assert sorted(k for k, in store.q("SELECT kind FROM scans")) == ["annul", "entry"]
        assert store.q("SELECT scan_uuid FROM scans WHERE kind='annul'") == [(first,)]
    finally:
        door.close()
        server.stop()
        store.close()
    listed = server_refusals(tmp_path / "server")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("names an annulment") == 2 and listed.stdout.count("already annulled") == 2
