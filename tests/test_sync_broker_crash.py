"""The broker killed (a crash, `kill -9`, the machine's OOM killer) and started again by `provision serve`: mosquitto
writes its persistence only on an orderly stop (or every `autosave_interval`, 30 min), so every offline device's
session, with the check-ins of the other gates queued for it, is gone. Real mosquitto, real SQLite."""
from __future__ import annotations

import signal

from agent.verdicts import Code
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server


def _knows(door, scan_uuid: str) -> bool:
    return door.ledger.conn.execute("SELECT 1 FROM checkins WHERE scan_uuid=?", (scan_uuid,)).fetchone() is not None


def test_a_gate_offline_while_the_broker_crashed_learns_the_entries_it_missed(tmp_path, broker):
    """Before: gate B, offline while the broker crashed and came back, had no session there any more, so the
    entries gate A made meanwhile were relayed to nobody for it; B's next sync said it was up to date and B admitted
    the same ticket again (the cross-gate double entry the relay exists to stop; the server listed it only afterwards
    as a conflict). Now a device whose broker session is gone asks for its events' whole data again, with every
    entry made so far, and refuses the ticket: ALREADY USED at gate A."""
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    a = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    b = start_door(tmp_path / "b", "gate-b", broker.port, key, event)
    try:
        assert wait_for(lambda: a.ready(3) and b.ready(3), 30)
        ticket = store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])
        b.go_offline()                                  # its session (and queue) waits at the broker

        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGKILL)         # the broker crashes: nothing of it saved
        broker.proc.wait(10)
        broker.start()                                  # `provision serve` starts it again on the same port

        entry = a.scan(ticket)
        assert entry.accepted and entry.scan_uuid
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 30), a.online_sync.rejections

        b.go_online()
        assert wait_for(lambda: _knows(b, entry.scan_uuid), 20), "gate B never learnt gate A's entry"
        again = b.scan(ticket)
        assert again.code is Code.ALREADY_USED and again.first_use and again.first_use.gate == "gate-a"
        assert b.online_sync.bundle_version == store.version(ORG)
    finally:
        a.close()
        b.close()
        server.stop()
        store.close()
