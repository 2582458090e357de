"""A QA walk (session M) through the public commands, set up as the guides say (`server init`, `provision serve`
with its broker, `server serve`, `provision enroll`): the seams between organisers, devices and the server. Each
test fails on the defect it names."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Iterator

import pytest

from agent.sync.messages import ActionItem, RefusalItem
from tests.broker import mosquitto_binary
from tests.helpers import provision_serve, wait_for
from tests.test_qa_attacks import ROOT, StolenLogin, _env, _start, _stop, field, tg   # noqa: F401  (`field`: the fixture)

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
FMT = "%Y-%m-%d %H:%M"


@dataclass
class TwoOrgs:
    org: Path          # the server's home: organisers acme (event 1) and gala (event 2) in one data folder
    door: Path         # a door of acme enrolled for no event in particular (every event of acme)
    http_port: int


def _event(home: Path, org: str, name: str, buyer: str) -> None:
    now = time.time()
    tg(home, "server", "event", "create", "--org", org, "--name", name, "--tz", "UTC", "--zone", "1=Floor",
       "--category", "1=Adult", "--start", datetime.fromtimestamp(now - 3600, timezone.utc).strftime(FMT),
       "--end", datetime.fromtimestamp(now + 6 * 3600, timezone.utc).strftime(FMT))
    event = json.loads(tg(home, "server", "event", "list", "--org", org, "--json").stdout)[-1]["event_id"]
    tg(home, "server", "order", "add", "--org", org, "--event", str(event), "--buyer", buyer, "--email",
       f"{buyer.split()[0].lower()}@example.org", "--ticket", "category=Adult,zone=Floor")


@pytest.fixture
def two_orgs(tmp_path: Path) -> Iterator[TwoOrgs]:
    org, door = tmp_path / "org", tmp_path / "door"
    for home in (org, door):
        home.mkdir()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme")
    tg(org, "server", "init", "--org", "gala", "--name", "Gala")
    _event(org, "acme", "Tonight", "Ann Acme")
    _event(org, "gala", "Gala night", "Gus Gala")
    prov, http_port = provision_serve(partial(_start, org), seconds=300)
    serve = None
    try:
        serve_log = tmp_path / "serve.log"
        serve = _start(org, "server", "serve", "--org", "acme", log=serve_log)
        assert wait_for(lambda: "sync server" in serve_log.read_text(), 30)
        sheet = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--out", str(org / "north.pdf")).stdout
        tg(door, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
           f"127.0.0.1:{http_port}")
        yield TwoOrgs(org, door, http_port)
    finally:
        if serve is not None:
            _stop(serve)
        _stop(prov)


def test_a_device_of_every_event_gets_no_event_of_another_organiser(two_orgs):
    """A door of acme enrolled for every event of acme (no `--events`) whose credentials file a thief edits, before
    its first sync, to ask for gala's event 2 in its hello. Before: the server built it a bundle of gala's event
    (buyers, tickets, who is inside): `agent search Gus` on acme's door found gala's buyer. Now a hello's events are
    those of the device's organiser: it gets acme's events, as any device enrolled for all of them."""
    creds_file = two_orgs.door / "device" / "credentials.json"
    creds = json.loads(creds_file.read_text())
    assert creds["events"] == [] and creds["org"] == "acme"
    creds_file.write_text(json.dumps(dict(creds, events=[2])))
    tg(two_orgs.door, "agent", "sync", "--until-idle", "--for", "30")
    found = tg(two_orgs.door, "agent", "search", "Gus", "--json").stdout
    assert "Gus Gala" not in found, found
    assert "Ann Acme" in tg(two_orgs.door, "agent", "search", "Ann").stdout      # acme's own events: as before


def test_attack_a_ticket_signed_for_another_organiser_of_the_same_server_is_unknown_at_the_door(two_orgs):
    """Gala's genuine ticket (its QR signed by gala's key, on the server acme shares) shown at acme's door: the door
    trusts acme's keys only (held: `unknown_key`, naming the key, not admitted)."""
    tg(two_orgs.door, "agent", "sync", "--until-idle", "--for", "30")
    gus = json.loads(tg(two_orgs.org, "server", "order", "find", "Gus", "--org", "gala", "--json").stdout)[0]
    key = gus["tickets"][0]["ticket_key"]
    payload = json.loads(tg(two_orgs.org, "server", "ticket", "show", key, "--org", "gala", "--json").stdout)["payload"]
    scanned = subprocess.run([sys.executable, "-m", "agent", "agent", "scan", "--json", payload], cwd=ROOT,
                             env=_env(two_orgs.door), capture_output=True, text=True, timeout=120)
    verdict = json.loads(scanned.stdout)
    assert verdict["verdict"] == "unknown_key" and not verdict["accepted"], verdict
    assert "not in this device's keyring" in verdict["detail"], verdict


def test_a_stolen_door_cannot_make_its_rollback_leave_its_entries_in_place(field):
    """A stolen door admits a real ticket (its holder is then refused `already_used` at every other gate) and, with
    the same upload, a refusal whose scan id is the one the organiser's rollback would give the annulment of that
    entry (derived from the entry's id: a thief reading the code knows it). Before: `server device rollback` said
    it annulled 1 entry but stored nothing (the id was taken: ON CONFLICT DO NOTHING), and the holder stayed
    refused at the other gate. Now the rollback's annulment is stored whatever a device uploaded."""
    thief = StolenLogin(field.door)
    entry = str(uuid.uuid4())
    taken = "rollback-" + hashlib.sha256(entry.encode()).hexdigest()[:32]
    try:
        thief.upload([ActionItem(entry, "entry", field.ticket, 1, "in", time.time(), thief.device, "north").to_wire(),
                      RefusalItem("unknown_key", None, 1, time.time(), thief.device, "north",
                                  scan_uuid=taken).to_wire()])
        assert wait_for(lambda: "1 upload(s)" in tg(field.org, "server", "device", "uploads", thief.device).stdout,
                        60)
    finally:
        thief.close()
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    before = json.loads(tg(field.gate, "agent", "scan", "--json", "--events", "1", field.payload).stdout)
    assert before["verdict"] == "already_used", before          # the stolen door's entry reached the other gate
    tg(field.org, "server", "device", "revoke", thief.device)
    done = json.loads(tg(field.org, "server", "device", "rollback", thief.device, "--reason", "device stolen",
                         "--json").stdout)
    assert done["annulled"] == 1, done
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    after = json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)
    assert after["verdict"] == "accepted", after                # the holder gets in at the other gate


def test_an_entry_under_a_scan_id_already_stored_is_not_relayed_unstored(field):
    """A stolen door uploads a refusal (statistics, never relayed) and an entry for a real ticket under the same scan
    id. Before: the store kept the refusal and took the entry for a re-upload of it (ON CONFLICT DO NOTHING:
    `duplicate`), yet the sync server acked and relayed the entry: the other gate said `already_used` for an entry
    the server does not hold, that `device uploads` does not list and `device rollback` cannot undo. Now the entry
    is refused (its scan id names another record), kept on the device, listed, and never relayed."""
    thief = StolenLogin(field.door)
    same = str(uuid.uuid4())
    try:
        thief.upload([RefusalItem("unknown_key", None, 1, time.time(), thief.device, "north",
                                  scan_uuid=same).to_wire(),
                      ActionItem(same, "entry", field.ticket, 1, "in", time.time(), thief.device, "north").to_wire()])
        assert wait_for(lambda: "1 refused)" in tg(field.org, "server", "stats").stdout, 60)   # the batch is in
    finally:
        thief.close()
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    verdict = json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)
    assert verdict["verdict"] == "accepted", verdict                # the holder gets in at the other gate
    assert "0 upload(s)" in tg(field.org, "server", "device", "uploads", thief.device).stdout
    refusals = tg(field.org, "server", "refusals").stdout
    assert field.ticket in refusals and "scan id" in refusals, refusals


def test_a_door_steward_cannot_make_the_door_trust_another_signing_key(field, tmp_path):
    """The organiser keeps staff; a door steward (role door: admit only) is on duty at a laptop door. Before:
    `agent trust FILE` (and `trust-pretix`) needed no permission at all, while changing the zones needs a
    supervisor: the steward made the door trust a key of their own, and the tickets they signed with it were
    admitted there (and uploaded: the server takes a ticket it did not issue as the gate saw it). Now trusting keys
    needs the permission `configure` (a supervisor), like any change of the door's settings."""
    added = subprocess.run([sys.executable, "-m", "agent", "server", "staff", "add", "--name", "Léa", "--role", "door",
                            "--pin"], cwd=ROOT, env=_env(field.org), input="1234\n", capture_output=True, text=True,
                           timeout=60)
    assert added.returncode == 0, added.stderr
    assert wait_for(lambda: json.loads(tg(field.door, "agent", "sync", "--until-idle", "--for", "30")
                                       and tg(field.door, "agent", "status", "--json").stdout)["staff_on_device"] == 1,
                    60)
    login = subprocess.run([sys.executable, "-m", "agent", "agent", "login", "--staff", "Léa", "--pin"], cwd=ROOT,
                           env=_env(field.door), input="1234\n", capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stderr
    rogue = tmp_path / "rogue"
    rogue.mkdir()
    tg(rogue, "server", "init", "--org", "rogue", "--name", "Rogue")
    tg(rogue, "server", "keys", "export", "--out", str(rogue / "keyring.json"))
    before = json.loads(tg(field.door, "agent", "status", "--json").stdout)["trusted_keys"]
    trust = subprocess.run([sys.executable, "-m", "agent", "agent", "trust", str(rogue / "keyring.json")], cwd=ROOT,
                           env=_env(field.door), capture_output=True, text=True, timeout=60)
    assert trust.returncode == 1 and "cannot change modes, events and zones" in trust.stderr, (trust.stdout,
                                                                                               trust.stderr)
    assert json.loads(tg(field.door, "agent", "status", "--json").stdout)["trusted_keys"] == before


def test_trusting_another_organisers_keyring_does_not_replace_the_trusted_key(tmp_path):
    """A laptop door trusts acme's exported keyring (ticket key 1), then, by mistake, the keyring of another
    organiser's data folder: its ticket key is key 1 too. Before: `agent trust` said `1 trusted key(s)` and had
    replaced acme's key 1: every acme ticket was refused at that door from then on. Now the clash is refused,
    naming the key, exit 1, and the door keeps the key it trusted."""
    homes = {name: tmp_path / name for name in ("acme", "other", "door")}
    for home in homes.values():
        home.mkdir()
    for org in ("acme", "other"):
        tg(homes[org], "server", "init", "--org", org, "--name", org.title())
        tg(homes[org], "server", "keys", "export", "--out", str(homes[org] / "keyring.json"))
    tg(homes["door"], "agent", "trust", str(homes["acme"] / "keyring.json"))
    before = json.loads(tg(homes["door"], "agent", "status", "--json").stdout)["trusted_keys"]
    assert [k["organiser"] for k in before] == ["acme"]
    clash = subprocess.run([sys.executable, "-m", "agent", "agent", "trust", str(homes["other"] / "keyring.json")],
                           cwd=ROOT, env=_env(homes["door"]), capture_output=True, text=True, timeout=60)
    assert clash.returncode == 1 and "nothing trusted" in clash.stderr and "key 1 (" in clash.stderr, clash
    assert json.loads(tg(homes["door"], "agent", "status", "--json").stdout)["trusted_keys"] == before
    tg(homes["door"], "agent", "trust", str(homes["acme"] / "keyring.json"))       # the same keyring again: fine


def test_a_gate_cannot_undo_an_entry_another_gate_made(field):
    """The north door admits a ticket; the south gate learns it (relayed). Before: `agent annul --scan UUID` at the
    south gate annulled north's entry there (exit 0): the south gate admitted the ticket again while the server
    refused the annulment (`annul_other_device`) and every other gate still said `already_used`. Now the gate
    refuses it, exit 1, naming the gate that made it and the organiser's command; nothing is recorded."""
    entry = json.loads(tg(field.door, "agent", "scan", "--json", field.payload).stdout)
    assert entry["verdict"] == "accepted", entry
    tg(field.door, "agent", "sync", "--until-idle", "--for", "60")
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    undo = subprocess.run([sys.executable, "-m", "agent", "agent", "annul", "--scan", entry["scan_uuid"], "--reason",
                           "mistake"], cwd=ROOT, env=_env(field.gate), capture_output=True, text=True, timeout=60)
    assert undo.returncode == 1 and "only the organiser can undo it" in undo.stderr and "north" in undo.stderr, undo
    assert json.loads(tg(field.gate, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0
    again = json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)
    assert again["verdict"] == "already_used", again


def test_a_device_enrolled_for_every_event_gets_an_event_created_later(two_orgs):
    """A door of acme enrolled for every event of acme (no `--events`) syncs; the organiser then creates a second
    night and sells a ticket for it. Before: the door's hello named the events it held, the server took them as the
    events it wanted, and the door never got the second night (its tickets `unknown`, its buyers not found by
    `agent search`) though the server took its uploads for it and its broker login read its live topic. Now a
    device enrolled for every event gets every event of its organiser on its next sync."""
    tg(two_orgs.door, "agent", "sync", "--until-idle", "--for", "30")
    assert "Ann Acme" in tg(two_orgs.door, "agent", "search", "Ann").stdout
    _event(two_orgs.org, "acme", "Second night", "Bea Acme")
    tg(two_orgs.door, "agent", "sync", "--until-idle", "--for", "30")
    assert "Bea Acme" in tg(two_orgs.door, "agent", "search", "Bea").stdout


def test_agent_search_refuses_a_limit_of_no_rows(tmp_path):
    """`agent search NAME --limit 0` (or -1) said `no match`, exit 0, on a device holding that buyer's tickets: a
    door steward would send the guest away. Now it is bad input: exit 2, naming the range."""
    for limit in ("0", "-1", "x"):
        proc = subprocess.run([sys.executable, "-m", "agent", "agent", "search", "Ann", "--limit", limit], cwd=ROOT,
                              env=_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "1 to 1000" in proc.stderr and "no match" not in proc.stdout, proc


def test_a_flood_of_actions_under_taken_scan_ids_is_one_log_line(tmp_path, caplog):
    """The store refuses an action under a scan id another record holds (above). A door sending them by the
    hundred logged a line each: one batch of 200 is now one line (the refusals themselves are all kept)."""
    import logging

    from server_stub.sync.contract import Upload
    from tests.sync_fixtures import ORG, make_store
    store, event, orders = make_store(tmp_path / "server", tickets=2, devices=("gate-a",))
    try:
        key, ids = orders[0]["tickets"][0]["ticket_key"], [str(uuid.uuid4()) for _ in range(200)]
        now = time.time()
        store.ingest_uploads([Upload(ORG, "gate-a", n, RefusalItem("unknown_key", None, 1, now, "gate-a", "north",
                                                                   scan_uuid=s)) for n, s in enumerate(ids, 1)])
        with caplog.at_level(logging.WARNING):
            result = store.ingest_uploads([Upload(ORG, "gate-a", 1000 + n, ActionItem(s, "entry", key, event, "in",
                                                                                       now, "gate-a", "north"))
                                           for n, s in enumerate(ids)])
        assert result.new == 0 and len(result.refused) == 200
        assert {r.code for r in result.refused.values()} == {"scan_id_taken"}
        lines = [r for r in caplog.records if "scan id another record holds" in r.getMessage()]
        assert len(lines) == 1 and "200 action(s)" in lines[0].getMessage(), [r.getMessage() for r in caplog.records]
    finally:
        store.close()
