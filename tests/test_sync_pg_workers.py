"""Ingestion scaled out on PostgreSQL: three `ticketgate server serve` processes share the uploads through the
broker's `$share/ingest/…` subscription and write to one database; one is killed (SIGKILL) while the doors
upload. Every scan is stored exactly once (the unique scan uuid, not luck) and every door gets its acks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door

ROOT = Path(__file__).resolve().parent.parent
DEVICES = ("gate-a", "gate-b", "gate-c", "gate-d")
TICKETS = 240
# small batches, a short ack timeout: a batch lost with the killed worker is sent again quickly
RETRY = DeviceOptions(upload=UploadOptions(batch_size=5, window=4, ack_timeout=2.0, max_backoff=2.0), hello_retry=0.5)


def start_worker(data: Path, url: str, port: int, number: int, log: Path) -> subprocess.Popen:
    """One `serve` process with one worker; worker 1 also announces live changes."""
    argv = [sys.executable, "-m", "agent", "server", "--data", str(data), "--db", url, "serve",
            "--broker", f"127.0.0.1:{port}", "--first-worker", str(number)]
    with open(log, "w") as err:
        return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1", PGAPPNAME=f"ticketgate-w{number}"))


def _sessions(store, name: str) -> int:
    """The worker's connections to the database (libpq names them from PGAPPNAME)."""
    return store.q1("SELECT count(*) FROM pg_stat_activity WHERE application_name=?", (f"ticketgate-{name}",))[0]


def wait_serving(proc: subprocess.Popen, log: Path) -> None:
    """Until it says it serves (connected to the broker), or it exits."""
    line = proc.stdout.readline()
    assert "worker(s) for" in line, f"worker did not start: {line} {log.read_text()[-2000:]}"


def test_worker_killed_mid_run_loses_and_doubles_nothing(tmp_path, broker, pg_server):
    url = pg_server.create_database()
    store, event, orders = make_store(tmp_path / "server", tickets=TICKETS, devices=DEVICES, db=url)
    logs = [tmp_path / f"w{i}.log" for i in (1, 2, 3)]
    workers = [start_worker(tmp_path / "server", url, broker.port, i, logs[i - 1]) for i in (1, 2, 3)]
    doors = []
    try:
        for w, log in zip(workers, logs):
            wait_serving(w, log)
        key = store.server_public_key(ORG)
        doors = [start_door(tmp_path / d, d, broker.port, key, event, options=RETRY) for d in DEVICES]
        assert wait_for(lambda: all(d.ready(TICKETS) for d in doors), 30)
        payloads = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
        for i, p in enumerate(payloads):
            assert doors[i % 4].scan(p).accepted
            if i == TICKETS // 3:                     # uploads are flowing: kill a worker without warning
                assert workers[1].poll() is None and _sessions(store, "w2") >= 1
                workers[1].send_signal(signal.SIGKILL)
        assert workers[1].wait(10) == -signal.SIGKILL
        assert wait_for(lambda: _sessions(store, "w2") == 0, 15)     # PostgreSQL saw it die (and rolled back)
        assert wait_for(lambda: all(d.ledger.outbox_size() == 0 for d in doors), 60), \
            [d.ledger.outbox_size() for d in doors]
        rows = store.q("SELECT count(*), count(DISTINCT scan_uuid), count(DISTINCT ticket_key) FROM scans "
                       "WHERE type='action'")
        assert rows == [(TICKETS, TICKETS, TICKETS)]
        assert store.scan_count(ORG) == TICKETS and store.conflicts(ORG) == []
        assert all(w.poll() is None for w in (workers[0], workers[2]))      # the others kept working
    finally:
        for d in doors:
            d.close()
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait(5)
            w.stdout.close()
        store.close()
        pg_server.drop_database(url)
