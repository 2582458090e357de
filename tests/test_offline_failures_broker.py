"""Nothing is lost silently, part 2: the broker killed under a burst, a door's queue far bigger than one message, a
lossy slow link between a door and the broker. Walked through the public commands (`ticketgate …` subprocesses with
their own HOME, `provision serve --start-broker` running the real mosquitto, `server serve`, real SQLite files)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import _start, organiser_running, tg
from tests.test_offline_failures import doors_with_offline_entries
from tests.test_qa_skew import _event_now, _server_entries
from tests.test_qa_walk_door_t import _provision_serve_again, _scan, _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _order(org: Path, quantity: int) -> tuple[list[str], list[str]]:
    """An order of `quantity` tickets on the event on now: (their keys, their payloads)."""
    order = json.loads(tg(org, "server", "order", "add", "--event", "1", "--buyer", "Crowd", "--quantity",
                          str(quantity), "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    keys = [t["ticket_key"] for t in order["tickets"]]
    return keys, [json.loads(tg(org, "server", "ticket", "show", k, "--json").stdout)["payload"] for k in keys]


def test_provision_serve_killed_mid_burst_from_three_doors_the_doors_reconnect_and_every_entry_arrives_once(
        tmp_path: Path) -> None:
    """Held: three doors, eight entries each scanned offline, all syncing at once; `provision serve` (it runs the
    broker) killed with -9 a moment into the burst and started again on the same ports. Its mosquitto does not
    outlive it (the port is free for the new one), the doors and `server serve` reconnect on their own (the syncs
    running through it end caught up, `server serve` is not restarted), every entry is on the server exactly once."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    keys, payloads = _order(org, 24)
    with organiser_running(org) as running:
        doors = doors_with_offline_entries(tmp_path, org, running, payloads, 3)
        broker_port = running.prov.args[running.prov.args.index("--broker-port") + 1]
        syncing = [_start(door, "agent", "sync", "--until-idle", "--for", "50") for door in doors]
        try:
            assert all(wait_for_line(p, "online", 30) for p in syncing)
            deadline = time.monotonic() + 30
            while not _server_entries(org) and time.monotonic() < deadline:     # killed once the burst arrives
                time.sleep(0.02)
            running.prov.kill()
            running.prov.wait(10)
            stored_at_kill = len(_server_entries(org))
            running.prov = _provision_serve_again(org, running.http_port, broker_port)
            ended = [p.communicate(timeout=70) for p in syncing]
        finally:
            for p in syncing:
                stop_process(p)
        assert all("Traceback" not in err for _, err in ended), ended
        assert 1 <= stored_at_kill, stored_at_kill
        for (out, err), p in zip(ended, syncing):       # each caught up on its own, through the broker's restart
            assert p.returncode == 0 and ", waiting 0," in out.splitlines()[-1], (out, err)
        assert any("offline: retrying" in out for out, _ in ended), ended
        entries = _server_entries(org)
        assert sorted(e["ticket_key"] for e in entries) == sorted(keys), entries
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 24


def test_a_door_with_three_thousand_entries_queued_offline_uploads_them_all_in_messages_the_broker_takes(
        tmp_path: Path) -> None:
    """Held: the broker `provision serve` configures refuses any packet over `max_packet_size` (mosquitto 2.x's
    message_size_limit: 4 MiB + 64 KiB, agent.sync.messages.broker_size_limit). A door that scanned 3000 tickets
    offline (the event data of 3000 tickets came down in chunks) uploads them in batches of at most 500 rows, each far
    under the limit: one sync sends them all, the server counts each once, nothing is refused or left waiting."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    keys = [t["ticket_key"] for buyer in ("Crowd A", "Crowd B", "Crowd C") for t in json.loads(tg(
        org, "server", "order", "add", "--event", "1", "--buyer", buyer, "--quantity", "1000", "--ticket",
        "category=Adult,zone=Floor", "--json").stdout)["tickets"]]
    from server_stub.store import open_store
    store = open_store(org / ".local/share/ticketgate/server", create=False)
    try:
        issue = store.payload_issuer("acme")
        payloads = [issue(k) for k in keys]      # the QR codes printed on the buyers' tickets
    finally:
        store.close()
    with organiser_running(org) as running:
        conf = next(org.rglob("mosquitto.conf")).read_text()
        assert f"max_packet_size {(4 << 20) + (64 << 10)}" in conf.splitlines(), conf
        door = tmp_path / "door"
        door.mkdir()
        running.enroll(door, "north", events="1")
        tg(org, "server", "push")
        assert _sync(door)["bundle_version"] > 0
        scanned = _scan(door, *payloads)
        assert len(scanned) == 3000 and all(line.startswith("ACCEPTED") for line in scanned), scanned[:3]
        said = tg(door, "agent", "sync", "--until-idle", "--for", "50", "--json").stdout
        summary = json.loads(said.strip().splitlines()[-1])
        assert summary["outbox_pending"] == 0 and summary["uploaded"] == 3000, summary
        assert summary["refused_by_server"] == [] and summary["rejected"] == [], summary
        assert sorted(e["ticket_key"] for e in _server_entries(org)) == sorted(keys)
