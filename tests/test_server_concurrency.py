"""Two store objects on one file (two ingestion workers), the progress helper."""
from __future__ import annotations

import io
import threading
import time
import uuid

from server_stub.cli_progress import Progress
from server_stub.store import open_store


def test_two_workers_ingest_overlapping_batches_exactly_once(open_backend, tmp_path):
    first = open_backend(tmp_path / "srv")
    first.create_organiser("fest", "Fest")
    ev = first.create_event("fest", "E", time.time(), time.time() + 3600, "UTC", [], [])
    second = open_backend(tmp_path / "srv", create=False)
    actions = [{"type": "action", "scan_uuid": str(uuid.uuid4()), "kind": "entry", "ticket_key": str(i), "event_id": ev,
                "direction": "in", "at": 1000.0 + i, "device_id": f"d{i % 3}", "org": "fest"} for i in range(3000)]
    batches = [actions[i:i + 250] for i in range(0, len(actions), 250)]
    results: list[tuple[int, int]] = []

    def work(store, order):      # each worker gets every batch (a redelivery storm), in its own order
        for b in order:
            results.append(store.ingest(b))
    threads = [threading.Thread(target=work, args=(first, batches)),
               threading.Thread(target=work, args=(second, list(reversed(batches))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(n for n, _ in results) == 3000 and sum(d for _, d in results) == 3000
    assert first.scan_count("fest") == 3000
    # writes from one worker are visible to a bundle stream of the other
    first.add_order("fest", ev, "Ann")
    assert len(list(second.tickets_for_event(ev))) == 1


def test_progress_bar_draws_and_stays_quiet_off_a_terminal():
    stream = io.StringIO()
    with Progress(200, "importing", stream=stream, enabled=True, interval=0) as bar:
        bar(100)
        bar(200)
    text = stream.getvalue()
    assert "importing [" in text and " 50% 100/200" in text and "100% 200/200" in text and text.endswith("\n")
    quiet = io.StringIO()
    with Progress(10, "x", stream=quiet) as bar:      # StringIO is not a tty
        bar(10)
    assert quiet.getvalue() == ""
    p = Progress(None, "pushing", stream=io.StringIO())
    p.update(1234)
    assert p.line().startswith("pushing 1,234 ")


def test_a_busy_sqlite_store_fails_the_batch_cleanly_and_recovers(tmp_path):
    """Another writer holds the file (a big import elsewhere): ingest raises, nothing half-done, then it works."""
    import sqlite3

    import pytest
    store = open_store(tmp_path / "srv", busy_timeout=0.2)
    store.create_organiser("fest", "Fest")
    batch = [{"type": "action", "scan_uuid": f"u{i}", "kind": "entry", "ticket_key": str(i), "at": 1.0 + i,
              "device_id": "d", "org": "fest"} for i in range(10)]
    other = sqlite3.connect(tmp_path / "srv" / "server.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.ingest(batch)                      # the sync layer acknowledges nothing; the device retries
    other.execute("ROLLBACK")
    other.close()
    assert not store.conn.in_transaction
    assert store.ingest(batch) == (10, 0) and store.ingest(batch) == (0, 10)
    store.close()


def test_a_lost_postgres_connection_fails_the_batch_cleanly_and_recovers(pg_server, tmp_path):
    """The database drops the worker's connection (restart, failover): that batch raises (nothing acked, the device
    sends it again), nothing of it is half-stored, and the next batch reconnects."""
    import psycopg
    import pytest
    url = pg_server.create_database()
    store = open_store(tmp_path / "srv", db=url)
    store.create_organiser("fest", "Fest")
    batch = [{"type": "action", "scan_uuid": f"u{i}", "kind": "entry", "ticket_key": str(i), "at": 1.0 + i,
              "device_id": "d", "org": "fest"} for i in range(10)]
    assert store.ingest(batch[:5]) == (5, 0)
    pid = store.q1("SELECT pg_backend_pid()")[0]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        store.ingest(batch)
    assert not store.conn.in_transaction
    assert store.ingest(batch) == (5, 5) and store.ingest(batch) == (0, 10)
    assert store.scan_count("fest") == 10 and store.q1("SELECT pg_backend_pid()")[0] != pid
    store.close()
    pg_server.drop_database(url)


_HOLD = """
import sys, time
from server_stub.store import open_store
store = open_store(sys.argv[1], create=False, db=sys.argv[2] or None)
batch = [{"type": "action", "scan_uuid": f"u{i}", "kind": "entry", "ticket_key": str(i), "at": 1.0 + i,
          "device_id": "d", "org": "fest"} for i in range(0, 200, 2)]
with store.tx():                     # a worker in the middle of its batch transaction
    store.ingest(batch)
    print("inside", flush=True)
    time.sleep(120)
"""


def test_a_worker_killed_mid_transaction_leaves_nothing_half_stored(open_backend, tmp_path):
    """SIGKILL while a worker holds half of the batch uncommitted: none of it is visible, nothing stays locked,
    and the batch the device sends again is stored whole, once."""
    import signal
    import subprocess
    import sys
    from pathlib import Path
    store = open_backend(tmp_path / "srv")
    store.create_organiser("fest", "Fest")
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "srv"), open_backend.url(tmp_path / "srv") or ""],
                             cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "inside"
        assert store.scan_count("fest") == 0                  # uncommitted: invisible to the other worker
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    batch = [{"type": "action", "scan_uuid": f"u{i}", "kind": "entry", "ticket_key": str(i), "at": 1.0 + i,
              "device_id": "d", "org": "fest"} for i in range(200)]
    assert store.ingest(batch) == (200, 0) and store.ingest(batch) == (0, 200)
    assert store.q("SELECT count(*), count(DISTINCT scan_uuid) FROM scans") == [(200, 200)]


def _race(stores, action) -> list:
    """Run action(store) on every store at the same moment (one thread each); -> results or exceptions."""
    barrier = threading.Barrier(len(stores))
    results: list = [None] * len(stores)

    def run(i, s):
        barrier.wait(10)
        try:
            results[i] = action(s)
        except Exception as exc:      # noqa: BLE001 - collected and asserted by the caller
            results[i] = exc
    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_racing_workers_apply_a_state_change_once(open_backend, tmp_path):
    """Four workers (own connection each) validate the same payment, exchange the same ticket, ask for the first
    key of a new organiser and register one device for two organisers, all at once: each change happens once,
    the others are refused (PostgreSQL runs them concurrently; the organiser row lock orders them)."""
    from server_stub.store import StoreError
    stores = [open_backend(tmp_path / "srv")] + [None] * 3
    first = stores[0]
    first.create_organiser("fest", "Fest")
    stores[1:] = [open_backend(tmp_path / "srv", create=False) for _ in range(3)]
    ev = first.create_event("fest", "E", time.time(), time.time() + 3600, "UTC", [], [])
    for _ in range(3):
        pending = first.add_order("fest", ev, "Ann", status="pending")["number"]
        results = _race(stores, lambda s: s.validate_payment(pending))
        assert sum(isinstance(r, dict) for r in results) == 1, results
        assert all(isinstance(r, StoreError) for r in results if not isinstance(r, dict))
        key = first.add_order("fest", ev, "Ben")["tickets"][0]["ticket_key"]
        results = _race(stores, lambda s: s.exchange_ticket(key, "torn"))
        assert sum(isinstance(r, dict) for r in results) == 1, results
        order = first.order(first.ticket(key)["order_number"])
        assert len(order["tickets"]) == 2 and sum(t["revoked"] is None for t in order["tickets"]) == 1
    first.create_organiser("late", "Late")
    keys = _race(stores, lambda s: s.current_key("late").key_id)
    assert len(set(keys)) == 1 and isinstance(keys[0], int) and len(first.key_infos("late")) == 1
    first.create_organiser("other", "Other")
    results = _race(stores, lambda s: s.register_device("fest" if stores.index(s) % 2 else "other", "tab-1"))
    owner = first.device("tab-1")["org"]
    assert all(isinstance(r, StoreError) if (("fest" if i % 2 else "other") != owner) else isinstance(r, dict)
               for i, r in enumerate(results)), results
    results = _race(stores, lambda s: s.create_organiser("twin", "Twin"))
    assert sum(isinstance(r, dict) for r in results) == 1 and sum(isinstance(r, StoreError) for r in results) == 3
