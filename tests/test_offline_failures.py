"""Nothing is lost silently: the devices and the organiser's servers under real failures, walked through the public
commands (`ticketgate …` subprocesses with their own HOME, `provision serve --start-broker`, `server serve`, real
SQLite files, small disks of their own). Each test names the defect it fails on (old code), or the path it keeps."""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import ROOT, Organiser, _env, _start, organiser_running, tg
from tests.test_qa_paths_l_walk import _fill, _own_disk
from tests.test_qa_skew import _event_now, _server_entries
from tests.test_qa_walk_door_t import _provision_serve_again, _scan, _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@contextlib.contextmanager
def _synced_door(tmp_path: Path, org: Path | None = None) -> Iterator[tuple[Path, Path, list[str], Organiser]]:
    """The organiser (at `org`, else tmp_path/org) serving an event on now (its ticket payloads), a door enrolled at
    gate north holding it."""
    if org is None:
        org = tmp_path / "org"
        org.mkdir()
    payloads = _event_now(org)
    with organiser_running(org) as running:
        door = tmp_path / "door"
        door.mkdir()
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        assert _sync(door)["bundle_version"] > 0
        yield org, door, payloads, running



def doors_with_offline_entries(tmp_path: Path, org: Path, running: Organiser, payloads: list[str],
                               count: int) -> list[Path]:
    """`count` doors (gate0, gate1 …) enrolled and holding the pushed event, each having let in its share of
    `payloads` since (entries not sent yet)."""
    per = len(payloads) // count
    doors = [tmp_path / f"door{i}" for i in range(count)]
    for i, door in enumerate(doors):
        door.mkdir()
        running.enroll(door, f"gate{i}", events="1")
    tg(org, "server", "push")
    for i, door in enumerate(doors):
        assert _sync(door)["bundle_version"] > 0
        assert all(line.startswith("ACCEPTED") for line in _scan(door, *payloads[i * per:(i + 1) * per]))
    return doors

def test_server_serve_on_a_full_disk_says_so_once_keeps_the_entries_on_the_door_and_takes_them_when_space_is_back(
        tmp_path: Path) -> None:
    """The organiser's laptop disk fills while `server serve` runs (SQLite store): every batch of uploads ended in a
    traceback 'sqlite3.OperationalError: database or disk is full' and 'ingestion failed (OperationalError)', again
    at each retry of each door, never naming the disk nor saying when it was back. It now says once which file
    cannot be written, that the disk holding it is full and to free space, that the uploads stay on the devices;
    once space is freed, that the database can be written again. Nothing is lost: the door keeps its entries
    queued while the disk is full and the server counts each once after."""
    with _own_disk(tmp_path / "org", size="40m") as org, \
            _synced_door(tmp_path, org) as (_, door, payloads, running):
        _fill(org)
        assert all(line.startswith("ACCEPTED") for line in _scan(door, *payloads))
        full = tg(door, "agent", "sync", "--until-idle", "--for", "10", "--json", ok=False)
        assert json.loads(full.stdout.strip().splitlines()[-1])["outbox_pending"] == 2, full.stdout
        (org / "filler").unlink()
        assert _sync(door)["outbox_pending"] == 0
        stats = json.loads(tg(org, "server", "stats", "--json").stdout)
        serve = running.serve
        assert serve is not None
        stop_process(serve)
        said = serve.stderr.read() if serve.stderr else ""
    assert stats["entries"] == 2, stats
    assert "Traceback" not in said and "ingestion failed" not in said, said
    assert said.count("is full (database or disk is full); free some space on it; uploads stay on the devices") == 1
    assert "server.sqlite cannot be written: the disk holding" in said, said
    assert said.count("the database can be written again") == 1, said


def test_a_second_sync_of_one_device_folder_stops_at_once_naming_the_first_and_sigterm_ends_a_sync_cleanly(
        tmp_path: Path) -> None:
    """Two `agent sync` on one device folder (started again in another terminal, or beside the app): both logged in
    with the device's one broker client id, so the broker dropped each at the other's connection; both said
    'online', 'offline: retrying' in turn for their whole --for, and one ended 'not caught up … messages kept
    arriving' (exit 1) having sent nothing. The second now stops at once (exit 1), naming the first's pid, before it
    connects; the first goes on undisturbed. SIGTERM (a service manager stopping it) ends a sync with its summary,
    exit 0, and the entry scanned meanwhile reaches the server at the next sync (held: it did before)."""
    with _synced_door(tmp_path) as (org, door, payloads, running):
        first = _start(door, "agent", "sync", "--for", "60")
        try:
            assert wait_for_line(first, "online", 30)
            began = time.monotonic()
            second = tg(door, "agent", "sync", "--until-idle", "--for", "20", ok=False)
            assert second.returncode == 1 and time.monotonic() - began < 10, (second.stdout, second.stderr)
            assert f"another process syncs this device ({door / 'device'}, pid {first.pid}" in second.stderr, \
                second.stderr
            assert "Nothing was sent" in second.stderr and "online" not in second.stdout, second.stdout
            assert _scan(door, payloads[0])[0].startswith("ACCEPTED")
            time.sleep(2)
            first.send_signal(signal.SIGTERM)
            out, err = first.communicate(timeout=30)
        finally:
            stop_process(first)
        assert first.returncode == 0 and "Traceback" not in err, (out, err)
        assert "offline: retrying" not in out and "event data v" in out.splitlines()[-1], out
        assert _sync(door)["outbox_pending"] == 0
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 1


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell takes the organiser's backup")
def test_the_store_file_deleted_under_server_serve_acknowledges_nothing_and_the_door_sends_again_to_the_backup(
        tmp_path: Path) -> None:
    """The organiser (or a clean-up script) deletes server.sqlite and its -wal/-shm while `server serve` runs: the
    open connection went on writing into the deleted file, every upload was acknowledged and dropped from the door,
    and all of it vanished when serve stopped: the backup put back counted 0 entries, the door held none to send.
    Before each commit the store now checks its path still holds the file it opened: it stores nothing more, says
    once which file went and what to do, acknowledges nothing; the door keeps its entry and sends it to the backup
    put back, counted once."""
    with _synced_door(tmp_path) as (org, door, payloads, running):
        db = org / ".local/share/ticketgate/server/server.sqlite"
        backup = tmp_path / "backup.sqlite"
        subprocess.run(["sqlite3", str(db), f".backup {backup}"], check=True, timeout=30)
        for gone in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            gone.unlink(missing_ok=True)
        assert _scan(door, payloads[0])[0].startswith("ACCEPTED")
        meanwhile = tg(door, "agent", "sync", "--until-idle", "--for", "10", "--json", ok=False)
        assert json.loads(meanwhile.stdout.strip().splitlines()[-1])["outbox_pending"] == 1, meanwhile.stdout
        serve = running.serve
        assert serve is not None
        stop_process(serve)
        said = serve.stderr.read() if serve.stderr else ""
        assert said.count(f"{db} was deleted or replaced while this process had it open") == 1, said
        assert "restore your backup" in said and "Traceback" not in said, said
        backup.rename(db)
        running.start_serve()
        assert _sync(door)["outbox_pending"] == 0
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 1


def test_the_brokers_persistence_file_corrupted_while_it_was_down_loses_no_entry(tmp_path: Path) -> None:
    """Held (it did before): an entry uploaded while `server serve` was off waits in the broker's queue; the broker
    stopped (its queue saved to mosquitto.db), the second half of that file garbled, `provision serve` started again.
    The broker starts, the queued upload is gone with the file, but the door never dropped it (no ack came): the
    next sync sends it again, counted once."""
    with _synced_door(tmp_path) as (org, door, payloads, running):
        running.stop_serve()
        assert _scan(door, payloads[0])[0].startswith("ACCEPTED")
        queued = tg(door, "agent", "sync", "--until-idle", "--for", "5", "--json", ok=False)
        assert json.loads(queued.stdout.strip().splitlines()[-1])["sent"] == 1, queued.stdout
        broker_port = running.prov.args[running.prov.args.index("--broker-port") + 1]
        assert stop_process(running.prov) == 0
        saved = list(org.rglob("mosquitto.db"))
        assert len(saved) == 1 and saved[0].stat().st_size > 0, saved
        data = bytearray(saved[0].read_bytes())
        for i in range(len(data) // 2, len(data)):
            data[i] ^= 0x5A
        saved[0].write_bytes(bytes(data))
        running.prov = _provision_serve_again(org, running.http_port, broker_port)
        running.start_serve()
        assert _sync(door)["outbox_pending"] == 0
        stats = json.loads(tg(org, "server", "stats", "--json").stdout)
        assert stats["entries"] == 1, stats


@pytest.mark.skipif(shutil.which("faketime") is None, reason="faketime not installed")
def test_a_door_whose_clock_jumps_back_an_hour_mid_shift_still_refuses_a_ticket_used_and_stamps_server_time(
        tmp_path: Path) -> None:
    """Held (it did before): a door synced on the true time, then its wall clock set back an hour (faketime '-1h',
    its monotonic clock untouched). A ticket let in before the jump is ALREADY USED after it, a new one is let in,
    and the server files both entries at the true hour (the device's offset from server time carried), the refusal
    counted as already used."""
    with _synced_door(tmp_path) as (org, door, payloads, running):
        assert _scan(door, payloads[0])[0].startswith("ACCEPTED")
        back = dict(_env(door), FAKETIME_DONT_FAKE_MONOTONIC="1")

        def an_hour_back(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
            proc = subprocess.run(["faketime", "-f", "-1h", sys.executable, "-m", "agent", *args], cwd=ROOT,
                                  env=back, input=stdin, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
            return proc
        lines = an_hour_back("agent", "scan", "--reread-window", "0", stdin=f"{payloads[0]}\n{payloads[1]}\n")
        assert [line.split(" |")[0] for line in lines.stdout.splitlines()] == ["ALREADY USED", "ACCEPTED — IN"]
        now = time.time()
        synced = an_hour_back("agent", "sync", "--until-idle", "--for", "40", "--json")
        assert json.loads(synced.stdout.strip().splitlines()[-1])["outbox_pending"] == 0, synced.stdout
        entries = _server_entries(org)
        assert len(entries) == 2 and all(abs(e["at"] + e["clock_offset"] - now) < 300 for e in entries), entries
        stats = json.loads(tg(org, "server", "stats", "--json").stdout)
        assert stats["entries"] == 2 and sum(h["entries"] for h in stats["entries_per_hour"]) == 2, stats


def test_server_serve_killed_mid_burst_from_five_doors_loses_and_doubles_no_entry(tmp_path: Path) -> None:
    """Five doors, five entries each scanned offline, all syncing at once; `server serve` killed (-9) a moment into
    the burst and started again. Every entry is on the server exactly once: what it stored before the kill was
    acknowledged or is taken again as a duplicate, what it had not stored the doors still hold and send again."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    order = json.loads(tg(org, "server", "order", "add", "--event", "1", "--buyer", "Crowd", "--quantity", "25",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    payloads = [json.loads(tg(org, "server", "ticket", "show", t["ticket_key"], "--json").stdout)["payload"]
                for t in order["tickets"]]
    with organiser_running(org) as running:
        doors = doors_with_offline_entries(tmp_path, org, running, payloads, 5)
        syncing = [_start(door, "agent", "sync", "--until-idle", "--for", "60", "--json") for door in doors]
        try:
            deadline = time.monotonic() + 30
            while not _server_entries(org) and time.monotonic() < deadline:     # killed once the burst arrives
                time.sleep(0.02)
            serve = running.serve
            assert serve is not None
            serve.kill()
            serve.wait(10)
            stored_at_kill = len(_server_entries(org))
            running.serve = None
            running.start_serve()
            ended = [p.communicate(timeout=90) for p in syncing]
        finally:
            for p in syncing:
                stop_process(p)
        assert all("Traceback" not in err for _, err in ended), ended
        assert stored_at_kill >= 1        # killed mid-burst (10 of 25 stored in a run here)
        for door in doors:        # a door whose sync ended while the server was away sends the rest now
            assert _sync(door)["outbox_pending"] == 0
        entries = _server_entries(org)
        assert sorted(e["ticket_key"] for e in entries) == sorted(t["ticket_key"] for t in order["tickets"])
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 25


def _garble(db: Path) -> str:
    """The file's pages after the first garbled (its WAL folded in first, as after a clean stop): its digest after."""
    subprocess.run(["sqlite3", str(db), "PRAGMA wal_checkpoint(TRUNCATE)"], check=True, capture_output=True,
                   timeout=30)
    data = bytearray(db.read_bytes())
    for i in range(4096, len(data) * 3 // 4):
        data[i] ^= 0x33
    db.write_bytes(bytes(data))
    return hashlib.sha256(db.read_bytes()).hexdigest()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell folds the WAL in")
def test_a_damaged_store_or_ledger_at_start_says_what_to_do_and_is_left_as_it_was(tmp_path: Path) -> None:
    """server.sqlite or a door's ledger.sqlite damaged (a power cut on a cheap SD card, a bad copy): the commands
    refused it, left untouched, but said only "failed its integrity check (*** in database main ***\\x0aPage 3: …);
    it was left untouched", an escaped line break in the middle, and nothing of what to do. The server's words now
    say to keep a copy and put the latest backup in its place (`server init` does not replace it), the door's to copy
    it aside for the organiser (entries not uploaded) and move it away: the next sync brings the event data back,
    which it does. Every file is left as it was."""
    with _synced_door(tmp_path) as (org, door, payloads, running):
        assert _scan(door, payloads[0])[0].startswith("ACCEPTED")
        ledger = door / "device" / "ledger.sqlite"
        digest = _garble(ledger)
        for said in (tg(door, "agent", "scan", payloads[1], ok=False), tg(door, "agent", "status", ok=False),
                     tg(door, "agent", "sync", "--until-idle", "--for", "10", ok=False)):
            assert said.returncode != 0 and "left untouched" in said.stderr, (said.stdout, said.stderr)
            assert "\\x0a" not in said.stderr and "it may hold entries not uploaded yet), then move it away: " \
                "the next `ticketgate agent sync` brings the event data back" in said.stderr, said.stderr
        assert hashlib.sha256(ledger.read_bytes()).hexdigest() == digest
        aside = tmp_path / "ledger-damaged.sqlite"
        ledger.rename(aside)
        # as the words say (within a minute: the server sends the same full bundle to a device again after 30 s)
        back = tg(door, "agent", "sync", "--until-idle", "--for", "100", "--json").stdout
        assert json.loads(back.strip().splitlines()[-1])["bundle_version"] > 0
        assert _scan(door, payloads[1])[0].startswith("ACCEPTED")
    store = org / ".local/share/ticketgate/server/server.sqlite"
    digest = _garble(store)
    for said in (tg(org, "server", "stats", ok=False), tg(org, "server", "init", "--org", "acme", "--name", "A",
                                                         ok=False)):
        assert said.returncode != 0 and "left untouched" in said.stderr, (said.stdout, said.stderr)
        assert "\\x0a" not in said.stderr and "put your latest backup of it in its place" in said.stderr, said.stderr
    assert hashlib.sha256(store.read_bytes()).hexdigest() == digest


def test_a_door_whose_disk_filled_mid_sync_gets_the_changes_it_could_not_write_once_space_is_back(
        tmp_path: Path) -> None:
    """A door syncing for hours (the app, `agent sync --for …`) whose disk fills while the organiser sells: the new
    tickets' update could not be written, was left unacknowledged, and came again only after a reconnection, which a
    door on a steady network may not have all evening: space freed, it still did not know the new tickets (they read
    as unknown at its gate). Each failure logged a traceback and 'not applied: the ledger write failed
    (OperationalError); it comes again after a reconnection'. The door now says its disk is full and to free space,
    and asks for what it could not write by a hello every 35 s: once space is back the same running sync has them."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    with organiser_running(org) as running, _own_disk(tmp_path / "door", size="12m") as door:
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        assert _sync(door)["bundle_version"] > 0
        syncing = _start(door, "agent", "sync", "--for", "150")
        try:
            assert wait_for_line(syncing, "online", 30)
            time.sleep(2)
            _fill(door)
            tg(org, "server", "order", "add", "--event", "1", "--buyer", "Bob Late", "--quantity", "2", "--ticket",
               "category=Adult,zone=Floor")
            tg(org, "server", "push")
            time.sleep(8)
            (door / "filler").unlink()
            deadline = time.monotonic() + 90
            while "Bob Late" not in tg(door, "agent", "search", "Bob").stdout and time.monotonic() < deadline:
                time.sleep(2)
            found = tg(door, "agent", "search", "Bob").stdout
        finally:
            stop_process(syncing)
        err = syncing.stderr.read() if syncing.stderr else ""
    assert found.count("Bob Late") == 2, (found, err)
    assert "is full — free some space on it; asked for again every 35 s" in err and "Traceback" not in err, err


def test_sigterm_stops_agent_scan_with_a_word_and_keeps_the_entries_it_recorded(tmp_path: Path) -> None:
    """`agent scan` reading a laser line by line (stdin), stopped by SIGTERM (a service manager, a shutdown): it died
    at once, exit -15, not a word on stderr. It now stops as Ctrl-C does, saying so (exit 143); the entry it
    recorded is kept whole, and the same ticket read again after is ALREADY USED."""
    org = tmp_path / "org"
    org.mkdir()
    payloads = _event_now(org)
    door = tmp_path / "door"
    door.mkdir()
    with organiser_running(org) as running:
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        assert _sync(door)["bundle_version"] > 0
    scanning = subprocess.Popen([sys.executable, "-m", "agent", "agent", "scan", "--reread-window", "0"], cwd=ROOT,
                                env=_env(door), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert scanning.stdin is not None
        scanning.stdin.write(payloads[0] + "\n")
        scanning.stdin.flush()
        assert wait_for_line(scanning, "ACCEPTED", 30)
        scanning.send_signal(signal.SIGTERM)
        scanning.wait(20)
    finally:
        stop_process(scanning)
    err = scanning.stderr.read() if scanning.stderr else ""
    assert scanning.returncode == 143 and "stopped (SIGTERM)" in err and "Traceback" not in err, \
        (scanning.returncode, err)
    assert "checkins 1" in tg(door, "agent", "status").stdout
    assert _scan(door, payloads[0])[0].startswith("ALREADY USED")
