"""The ledger keeps what the server refused, and never drops a relayed row silently (real SQLite files)."""
from __future__ import annotations

import sqlite3

import pytest

from agent.ledger import Ledger


def test_relayed_rows_with_null_gate_and_reason_are_stored_not_dropped(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    rows = [{"scan_uuid": "r1", "kind": "entry", "ticket_key": "7", "event_id": 1, "direction": "in", "at": 10.0,
             "device_id": "gate-b", "gate": None, "reason": None},
            {"scan_uuid": "r2", "kind": "entry", "ticket_key": "8", "event_id": 1, "direction": "in", "at": 11.0,
             "device_id": None}]
    assert led.merge_remote(rows) == 2
    stored = led.conn.execute("SELECT scan_uuid, gate, reason, device_id FROM checkins ORDER BY scan_uuid").fetchall()
    assert stored == [("r1", "", "", "gate-b"), ("r2", "", "", "")]
    assert led.merge_remote(rows) == 0          # a duplicate is the only thing skipped


def test_a_relayed_row_the_table_cannot_hold_raises_instead_of_vanishing(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        led.merge_remote([{"scan_uuid": "ok", "kind": "entry", "ticket_key": "1", "at": 1.0},
                          {"scan_uuid": "bad", "kind": "entry", "ticket_key": None, "at": 1.0}])
    assert led.conn.execute("SELECT count(*) FROM checkins").fetchone()[0] == 0    # all or nothing


def test_refused_outbox_rows_are_kept_with_their_reason(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    a = led.enqueue("kiosk", {"type": "kiosk", "action": "exchange", "ticket_key": "5", "device_id": "k"})
    b = led.enqueue("kiosk", {"type": "kiosk", "action": "print", "device_id": "k"})
    led.outbox_refuse({a: "not allowed: ticket 5 is not of an event of this device"})
    assert led.outbox_size() == 1 and [r[0] for r in led.outbox_pending()] == [b]
    [refused] = led.outbox_refused()
    assert refused["id"] == a and refused["body"]["ticket_key"] == "5" and refused["refused"].startswith("not allowed")
    assert led.counts()["outbox_refused"] == 1
    led.close()
    again = Ledger.open(tmp_path / "l.sqlite")
    assert again.outbox_refused_count() == 1


def test_refused_rows_can_be_queued_again(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    led = Ledger.open(tmp_path / "ledger.sqlite")
    a = led.enqueue("kiosk", {"type": "kiosk", "action": "payment_validated", "order_number": "X", "device_id": "k"})
    led.outbox_refuse({a: "not allowed: order X is not of an event of k"})
    assert led.outbox_size() == 0
    led.close()
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(tmp_path), "resend-refused", "--json"],
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and '"requeued": 1' in done.stdout
    led = Ledger.open(tmp_path / "ledger.sqlite")
    assert [r[0] for r in led.outbox_pending()] == [a] and led.outbox_refused_count() == 0
