"""Fewer `server serve` workers than the run before: the broker must not keep handing a share of the uploads to the
persistent sessions of workers that no longer run (nobody reads them; the doors send again only after 10 s)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from server_stub.store import SqliteStore
from server_stub.sync import cli_hooks
from tests.helpers import ROOT, wait_for, wait_for_line
from tests.sync_fixtures import ORG, make_store, start_door

DOORS = ("gate-a", "gate-b")
TICKETS = 24
# one scan per batch, the default 10 s ack timer: a batch handed to a session nobody reads waits that long
ONE_BY_ONE = DeviceOptions(upload=UploadOptions(batch_size=1, window=8), hello_retry=0.5)
PROMPT = 4.0          # s: every scan acknowledged by then (well under the doors' 10 s timer)


class Serve:
    """`server serve` (cli_hooks.serve) in a thread, as the CLI runs it, until stop()."""

    def __init__(self, data: Path, port: int, workers: int, first: int = 1, end_after: float | None = None):
        self.said: list[str] = []
        self.end_after = end_after
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(data, port, workers, first), daemon=True)
        self.thread.start()
        assert wait_for(lambda: self.said or self.done.is_set(), 20), "serve never started"
        assert self.said and "worker(s) for" in self.said[0], self.said

    def _run(self, data: Path, port: int, workers: int, first: int) -> None:
        try:
            cli_hooks.serve(data, f"127.0.0.1:{port}", SqliteStore.open, orgs=[ORG], workers=workers,
                            stop=self.stopping, say=self.said.append, first_worker=first,
                            end_after=self.end_after)
        finally:
            self.done.set()

    def stop(self) -> None:
        self.stopping.set()
        assert self.done.wait(20), "serve did not stop"

    def __enter__(self) -> "Serve":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def world(tmp_path):
    """The organiser's store (TICKETS orders of one ticket, DOORS registered): (store, event, orders)."""
    store, event, orders = make_store(tmp_path / "server", tickets=TICKETS, devices=DOORS)
    try:
        yield store, event, orders
    finally:
        store.close()


def _scan_all(folder: Path, store, event: int, orders: list[dict], port: int) -> None:
    """Two doors scan every ticket of `orders`: each scan is acknowledged promptly, every scan so far stored once."""
    key = store.server_public_key(ORG)
    doors = [start_door(folder / d, d, port, key, event, options=ONE_BY_ONE) for d in DOORS]
    try:
        assert wait_for(lambda: all(d.ready(TICKETS) for d in doors), 30)
        payloads = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
        for i, p in enumerate(payloads):
            assert doors[i % 2].scan(p).accepted
        assert wait_for(lambda: all(d.ledger.outbox_size() == 0 for d in doors), PROMPT), \
            f"not acknowledged within {PROMPT} s: {[d.ledger.outbox_size() for d in doors]} scans left"
        assert all(d.online_sync.uploader.retries == 0 for d in doors)
    finally:
        for d in doors:
            d.close()
    rows = store.q("SELECT count(*), count(DISTINCT scan_uuid), count(DISTINCT ticket_key) FROM scans "
                   "WHERE type='action'")
    scanned = rows[0][2]
    assert rows == [(scanned, scanned, scanned)] and scanned >= len(orders)


def test_fewer_workers_than_last_run_leave_no_session_taking_uploads(tmp_path, broker, world):
    store, event, orders = world
    Serve(tmp_path / "server", broker.port, workers=3).stop()       # workers 2 and 3 leave their sessions
    with Serve(tmp_path / "server", broker.port, workers=1) as now:
        assert "ended the broker sessions of workers 2, 3," in now.said[1]
        _scan_all(tmp_path, store, event, orders, broker.port)


def test_stale_sessions_are_ended_once_a_broker_away_at_the_start_answers(tmp_path, broker, world):
    store, event, orders = world
    Serve(tmp_path / "server", broker.port, workers=3).stop()
    broker.stop()
    with Serve(tmp_path / "server", broker.port, workers=1) as now:      # says it keeps trying, after 10 s
        broker.start()
        ended = "ended the broker sessions of workers 2, 3, left by an earlier run"
        # (`server serve` also says when the broker answers again: that line may come first)
        assert wait_for(lambda: any(ended in line for line in now.said[1:]), 15), now.said
        _scan_all(tmp_path, store, event, orders, broker.port)


def test_a_process_ends_no_session_another_process_runs_and_those_it_left(tmp_path, broker, world):
    """Worker numbers are global (`--first-worker`): a process with workers 1.. never ends a session another process
    runs now (its presence says online); once that process stopped, the next start ends its sessions."""
    store, event, orders = world
    with Serve(tmp_path / "server", broker.port, workers=2, first=2):             # workers 2 and 3
        with Serve(tmp_path / "server", broker.port, workers=1) as first:
            assert first.said[1:] == []           # nothing ended
            assert "already connected" not in broker.log_path.read_text(), "a running worker was kicked off"
            _scan_all(tmp_path / "before", store, event, orders[:TICKETS // 2], broker.port)
    with Serve(tmp_path / "server", broker.port, workers=1) as again:
        assert "ended the broker sessions of workers 2, 3," in again.said[1]
        _scan_all(tmp_path / "after", store, event, orders[TICKETS // 2:], broker.port)


def test_the_sessions_of_killed_workers_end_when_fewer_start(tmp_path, broker, world):
    """`server serve --workers 3` killed (SIGKILL: its workers' Last Wills say offline), then `--workers 1`: workers
    2 and 3 take no share of the uploads any more."""
    store, event, orders = world
    argv = [sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "server"), "serve", "--broker",
            f"127.0.0.1:{broker.port}", "--workers", "3"]
    killed = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert wait_for_line(killed, "worker(s) for", 30), killed.stderr.read() if killed.poll() is not None else ""
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(10) == -signal.SIGKILL
        with Serve(tmp_path / "server", broker.port, workers=1) as now:
            assert "ended the broker sessions of workers 2, 3," in now.said[1]
            _scan_all(tmp_path, store, event, orders, broker.port)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait(5)
        killed.stdout.close()
        killed.stderr.close()


def test_a_running_process_ends_the_sessions_of_workers_stopped_for_good(tmp_path, broker, world):
    """Workers 2 and 3 (another process) stop for good while worker 1 keeps running: once their presence has said
    offline for `end_after` seconds, worker 1's process ends their sessions (a restart within it keeps them)."""
    store, event, orders = world
    with Serve(tmp_path / "server", broker.port, workers=1, end_after=1.0) as first:
        Serve(tmp_path / "server", broker.port, workers=2, first=2).stop()
        assert wait_for(lambda: first.said[1:], 10), "no session ended"
        assert "ended the broker sessions of workers 2, 3, stopped for 1 s or more" in first.said[1]
        _scan_all(tmp_path, store, event, orders, broker.port)


def test_a_restart_keeps_the_sessions_and_what_they_queued(tmp_path, broker, world):
    """Workers 2 and 3 stopped and started again within `end_after`: what the broker queued for them meanwhile is
    ingested when they are back, promptly (the doors are not made to send it again)."""
    store, event, orders = world
    key = store.server_public_key(ORG)
    doors = [start_door(tmp_path / d, d, broker.port, key, event, options=ONE_BY_ONE) for d in DOORS]
    try:
        with Serve(tmp_path / "server", broker.port, workers=1, end_after=30.0) as first:
            Serve(tmp_path / "server", broker.port, workers=2, first=2).stop()
            assert wait_for(lambda: all(d.ready(TICKETS) for d in doors), 30)
            for i, o in enumerate(orders):
                assert doors[i % 2].scan(store.issue_ticket_payload(o["tickets"][0]["ticket_key"])).accepted
            assert wait_for(lambda: sum(d.ledger.outbox_size() for d in doors) < TICKETS, PROMPT)  # worker 1's share
            assert sum(d.ledger.outbox_size() for d in doors) > 0       # the rest waits in the sessions of 2 and 3
            with Serve(tmp_path / "server", broker.port, workers=2, first=2):
                assert wait_for(lambda: all(d.ledger.outbox_size() == 0 for d in doors), PROMPT)
                assert all(d.online_sync.uploader.retries == 0 for d in doors)
            assert first.said[1:] == []
        assert store.q("SELECT count(*), count(DISTINCT scan_uuid) FROM scans WHERE type='action'") == \
            [(TICKETS, TICKETS)]
    finally:
        for d in doors:
            d.close()


def test_a_presence_under_a_leaf_of_other_unicode_digits_is_a_fence_not_a_worker(broker, caplog):
    """'²' is a digit to str.isdigit, not to int(): such a leaf on the presence topic raised ValueError in the
    connection's message handler ("sync handler failed" logged); it is no worker number. A real worker's presence
    after it is still read."""
    from agent.sync import topics
    from agent.sync.transport import BrokerConfig, PahoTransport
    from server_stub.sync import sessions
    from tests.sync_fixtures import subscribed
    reader = PahoTransport("presence-reader", BrokerConfig(port=broker.port), clean_start=True)
    writer = PahoTransport("presence-writer", BrokerConfig(port=broker.port), clean_start=True)
    presences = sessions.Presences(reader, ORG)
    acked = subscribed(reader)
    reader.start()
    writer.start()
    try:
        assert acked.wait(10) and wait_for(lambda: writer.connected, 10)
        prefix = topics.server_workers(ORG)[:-1]
        writer.publish(prefix + "\u00b2", sessions.presence(2, "online"), retain=True, wait=5.0)
        writer.publish(prefix + "3", sessions.presence(3, "online"), retain=True, wait=5.0)
        assert wait_for(lambda: presences.running(3), 10)
        assert not presences.running(2) and presences.current()
        assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    finally:
        writer.stop()
        reader.stop()


def test_a_broker_lost_right_after_the_start_line_is_said(tmp_path, broker, world):
    """The broker went (the technician stopped `provision serve`) just after `server serve` said it runs: the watch
    started reading the link already down and said nothing, ever (CI: test_qa_paths_l_walk's broker-lost line never
    came). The loss is said against what the start line said."""
    said: list[str] = []
    stopping, done = threading.Event(), threading.Event()

    def say(line: str) -> None:
        said.append(line)
        if "worker(s) for" in line:
            broker.stop()
            time.sleep(1.5)           # the client has read the closed socket long before the watch's first look

    def run() -> None:
        try:
            cli_hooks.serve(tmp_path / "server", f"127.0.0.1:{broker.port}", SqliteStore.open, orgs=[ORG], stop=stopping,
                            say=say, end_after=None)
        finally:
            done.set()
    threading.Thread(target=run, daemon=True).start()
    try:
        assert wait_for(lambda: any("lost the broker at 127.0.0.1:" in line for line in said), 15), said
    finally:
        stopping.set()
        assert done.wait(20), "serve did not stop"
