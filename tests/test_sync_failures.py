"""Failure behaviour against a real mosquitto: broker down during scanning, device killed with SIGKILL
mid-upload, server restarted, server down while the door scans (no copies piled up at the broker). Each time: no
scan lost, none ingested twice, devices resume."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from pathlib import Path

from agent.ledger import Ledger
from agent.sync import BrokerConfig, PahoTransport
from agent.sync.device import DeviceOptions
from agent.sync.uploader import UploadOptions
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server

ROOT = Path(__file__).resolve().parent.parent


def _local_uuids(ledger: Ledger) -> set[str]:
    return {r[0] for r in ledger.conn.execute("SELECT scan_uuid FROM checkins WHERE origin='local'")}


def _server_uuids(store) -> list[str]:
    return [r[0] for r in store.q("SELECT scan_uuid FROM scans WHERE org=? AND type='action' AND device_id!='server'",
                                  (ORG,))]


def _each_stored_once(store, ledger: Ledger, scans: int) -> bool:
    """The server holds each of the door's `scans` scans once: none lost, none twice."""
    uuids = _server_uuids(store)
    return sorted(uuids) == sorted(_local_uuids(ledger)) and len(uuids) == scans


def _stopped(pid: int) -> bool:
    """Every thread of the process is stopped (state T in /proc/PID/task/*/stat): none is still finishing a write."""
    states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in Path(f"/proc/{pid}/task").iterdir()]
    return all(state in "Tt" for state in states)


def _frozen_mid_upload(pid: int, ledger_file: Path, copy: Path, store, total: int) -> bool:
    """Freeze the device (SIGSTOP) and look at its ledger: True, leaving it frozen, when the server has 40 of its scans,
    some are still unacknowledged and it has not scanned everything yet; else let it run on (SIGCONT). A frozen
    process changes nothing, so the SIGKILL that follows hits exactly that state (no race with its uploads)."""
    if len(_server_uuids(store)) < 40:
        return False
    os.kill(pid, signal.SIGSTOP)
    assert wait_for(lambda: _stopped(pid), 10)      # a thread stops only once its current write (fsync) returned
    snapshot = copy / ledger_file.name          # what a SIGKILL now leaves on disk: the file and its WAL, whose
    for suffix in ("", "-wal"):                # last commit the frozen writer may not have indexed in -shm yet
        shutil.copyfile(f"{ledger_file}{suffix}", f"{snapshot}{suffix}")
    with closing(sqlite3.connect(snapshot)) as db:
        scanned = db.execute("SELECT count(*) FROM checkins WHERE origin='local'").fetchone()[0]
        unacked = db.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0]
    if 40 <= scanned < total and unacked > 0:
        return True
    os.kill(pid, signal.SIGCONT)
    return False


def test_broker_stopped_during_scanning(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=30)
    server = start_server(store, broker.port)
    a = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: a.ready(30))
        payloads = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
        for p in payloads[:10]:
            assert a.scan(p).accepted
        broker.stop()
        for p in payloads[10:25]:
            assert a.scan(p).accepted          # the door keeps working with no broker
        assert a.ledger.outbox_size() >= 15
        broker.start()                         # same port, persistent sessions kept on disk
        for p in payloads[25:]:
            assert a.scan(p).accepted
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 20), a.sync.rejections
        assert _each_stored_once(store, a.ledger, 30)
    finally:
        a.close()
        server.stop()
        store.close()


def test_device_killed_mid_upload_and_restarted(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=400, devices=("gate-k",))
    server = start_server(store, broker.port)
    folder, copy = tmp_path / "k", tmp_path / "k-on-disk"
    copy.mkdir()
    payload_file = tmp_path / "payloads.txt"
    payload_file.write_text("\n".join(store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders))
    cmd = [sys.executable, "-m", "server_stub.sync.sim_run", "--folder", str(folder), "--org", ORG, "--device", "gate-k",
           "--port", str(broker.port), "--server-key", store.server_public_key(ORG).hex(), "--event", str(event),
           "--batch", "20"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd + ["--payloads", str(payload_file), "--interval", "0.003"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert wait_for(lambda: _frozen_mid_upload(proc.pid, folder / "ledger.sqlite", copy, store, 400), 30)
        os.kill(proc.pid, signal.SIGKILL)      # mid-scan and mid-upload: the state just checked while frozen
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    ledger = Ledger.open(folder / "ledger.sqlite")
    scanned = _local_uuids(ledger)
    assert 40 <= len(scanned) < 400 and ledger.outbox_size() > 0, "killed before the upload finished"
    ledger.close()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(_server_uuids(store)) >= len(scanned), 30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        uuids = _server_uuids(store)
        assert sorted(uuids) == sorted(scanned)      # nothing lost, nothing twice
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
        store.close()


def test_server_restarted_devices_resume_from_their_bundle_version(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=10)
    server = start_server(store, broker.port)
    a = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: a.ready(10))
        first_version = a.sync.bundle_version
        payloads = [store.issue_ticket_payload(o["tickets"][0]["ticket_key"]) for o in orders]
        for p in payloads[:4]:
            a.scan(p)
        server.stop()
        for p in payloads[4:]:
            a.scan(p)
        late = store.add_order(ORG, event, "Late Buyer", positions=[{"category": 1, "zone": 1}])
        server = start_server(store, broker.port, name="server-1")   # same client id: its session resumes
        assert wait_for(lambda: a.ledger.outbox_size() == 0 and a.ledger.ticket(late["tickets"][0]["ticket_key"]), 20), \
            (a.sync.rejections, server.rejections)
        assert a.sync.last_bundle["base_version"] == first_version, a.sync.last_bundle   # a delta, not a full one
        assert a.sync.last_bundle["tickets"] == 1, a.sync.last_bundle
        assert _each_stored_once(store, a.ledger, 10)
    finally:
        a.close()
        server.stop()
        store.close()


@contextmanager
def _server_down(tmp_path, broker, tickets: int, upload: UploadOptions, forget: bool = False):
    """A door got its event data from a server, which then stopped (its presence says offline), and scanned every
    ticket: yields (store, door, servers), `servers` a list the test adds the servers it starts to (stopped at the
    end). The stopped server's session stays at the broker (it holds the uploads), unless `forget`: then it ended
    before the scans (the broker holds them for nobody)."""
    store, event, orders = make_store(tmp_path / "server", tickets=tickets)
    servers = [start_server(store, broker.port, name="server-old" if forget else "server-1")]
    a = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event,
                   options=DeviceOptions(upload=upload, hello_retry=0.5))
    try:
        assert wait_for(lambda: a.ready(tickets))
        servers[0].stop()
        assert wait_for(lambda: a.online_sync.uploader is not None and a.online_sync.uploader.server_down, 10)
        if forget:
            gone = PahoTransport("server-old", BrokerConfig(port=broker.port), clean_start=True)
            gone.start()
            assert gone.wait_connected(10)
            gone.stop()
        for o in orders:
            assert a.scan(store.issue_ticket_payload(o["tickets"][0]["ticket_key"])).accepted
        yield store, a, servers
    finally:
        a.close()
        for server in servers[1:]:
            server.stop()
        store.close()


def test_uploads_are_not_sent_again_while_the_server_is_down_and_counted_once(tmp_path, broker):
    """The server down, the broker up: the door sent its unacknowledged uploads again on every retry (every 0.5 s
    here), and each copy waited in the broker's queue for the server's shared subscription; the restarted server
    got them all and the door counted every copy's ack as uploaded. The broker holds what it took: nothing is sent
    again while the server's presence says offline, so the restarted server gets each scan about once, and the door
    counts each acknowledged row once."""
    with _server_down(tmp_path, broker, 20, UploadOptions(batch_size=200, ack_timeout=0.5, max_backoff=0.5)) as \
            (store, a, servers):
        time.sleep(6)                               # twelve retry periods with the server down
        server = start_server(store, broker.port, name="server-1")    # same client id: its queue is delivered
        servers.append(server)
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 20), (a.sync.rejections, server.rejections)
        assert wait_for(lambda: server.stats["new"] == 20, 30), server.stats
        time.sleep(1)                               # anything still on its way arrives
        assert server.stats["dup"] <= 20, server.stats        # ~N at the most (old: ~N x 12)
        uploader = a.online_sync.uploader
        assert uploader is not None and uploader.acked_rows == 20 and uploader.sent_rows >= 20, vars(uploader)
        assert _each_stored_once(store, a.ledger, 20)


def test_uploads_the_broker_dropped_go_again_when_a_new_server_announces_itself(tmp_path, broker):
    """Uploads published while no server session existed at the broker go to nobody (a server never started with
    this client id, or its session expired). They are not sent again on a timer while the server is offline; the
    new server's presence makes the door send what it does not acknowledge within `back_wait` (2 s), not after the
    long timeout (30 s here)."""
    with _server_down(tmp_path, broker, 5, UploadOptions(batch_size=200, ack_timeout=30.0), forget=True) as \
            (store, a, servers):
        assert wait_for(lambda: a.ledger.outbox_size() == 5 and a.online_sync.uploader.sent_rows >= 5, 30)
        server = start_server(store, broker.port, name="server-new")     # no session held the uploads for it
        servers.append(server)
        assert wait_for(lambda: a.ledger.outbox_size() == 0, 15), (a.sync.rejections, server.rejections)
        assert _each_stored_once(store, a.ledger, 5)
