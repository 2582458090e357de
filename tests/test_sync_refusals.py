"""Nothing is acknowledged and dropped: an upload the server cannot take is refused with a reason in the signed ack;
the device keeps it (marked, not deleted) and shows it (`ticketgate agent status`, the app's Sync screen); the
organiser sees it (`ticketgate server devices`, `server refusals`). Real mosquitto, real server, real ledgers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent import desk
from kiosk_ui.adapters.sync import SyncLink
from kiosk_ui.door import Door
from kiosk_ui.presenters.lists import sync_lines
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server

ROOT = Path(__file__).resolve().parent.parent


def test_refused_upload_is_kept_and_shown_on_both_sides(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: door.ready(2))
        pending = store.add_order(ORG, event, "Pay Later", status="pending", positions=[{"category": 1, "zone": 1}])
        assert wait_for(lambda: door.ledger.ticket(pending["tickets"][0]["ticket_key"]) is not None)
        assert door.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])).accepted
        desk.validate_payment(door.ledger, pending["number"], "gate-a", "Zoé")     # a door is not a ticket desk
        door.sync.notify()
        assert wait_for(lambda: door.ledger.outbox_size() == 0)
        [refused] = door.ledger.outbox_refused()
        assert refused["body"]["action"] == "payment_validated"
        assert "comes only from kiosk devices" in refused["refused"]
        assert store.scan_count(ORG) == 1 and store.order(pending["number"])["status"] == "pending"
    finally:
        door.close()
        server.stop()
    # the device shows it
    status = subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(tmp_path / "a"), "status", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    [shown] = json.loads(status.stdout)["refused_uploads"]
    assert shown["action"] == "payment_validated" and "kiosk devices" in shown["reason"]
    assert json.loads(status.stdout)["counts"]["outbox_refused"] == 1
    text = subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(tmp_path / "a"), "status"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "REFUSED by the server" in text and "payment_validated" in text
    app = Door.open_home(tmp_path / "a")
    try:
        lines = sync_lines(SyncLink(app, tmp_path / "a").status(), 0)
    finally:
        app.ledger.close()
    assert "Refused by the server: 1 (kept on this device)" in lines
    assert any("payment_validated" in line and "Only a kiosk may send this" in line for line in lines)  # its code
    # the organiser sees it
    organiser = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "server"), "devices"],
                               cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "1 upload(s) REFUSED" in organiser
    listed = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "server"), "refusals"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "gate-a" in listed and "payment_validated" in listed and "kiosk devices" in listed
    store.close()


def test_over_rate_batches_are_deferred_and_arrive_later(tmp_path, broker):
    """A door back from a long time offline: its backlog is over the per-device rate; the server defers, the device
    sends again after `retry_after`; everything arrives, nothing is refused."""
    from server_stub.sync.ratelimit import Limits
    store, event, orders = make_store(tmp_path / "server", tickets=3, devices=("gate-a",))
    server = start_server(store, broker.port, limits=Limits(items_per_s=400, items_burst=250))
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: door.ready(3))
        door.go_offline()
        for i in range(600):       # 600 refused scans (statistics): a big backlog for a small burst
            door.scan(f"TG1:garbage-{i}")
        door.go_online()
        assert wait_for(lambda: door.ledger.outbox_size() == 0, 30)
        assert door.ledger.outbox_refused_count() == 0 and server.stats["deferred"] > 0
        assert store.q1("SELECT count(*) FROM scans WHERE type='refusal'")[0] == 600
    finally:
        door.close()
        server.stop()
        store.close()
