"""One device home, one identity, one address type (agent.home): the folder every device command uses, the
move of the two older default folders, the enrolled identity applied to the policy, HOST:PORT parsing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.home import (BadAddress, Broker, Credentials, DeviceHome, HomeError, HostPort, adopt_identity,
                        migrate_legacy, open_home, resolve_home)
from agent.policy import DevicePolicy

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text,default,want", [
    ("192.168.8.10:1883", None, ("192.168.8.10", 1883)),
    (" box.local:8787 ", None, ("box.local", 8787)),
    ("[fe80::1]:1883", None, ("fe80::1", 1883)),
    ("fe80::1", 9100, ("fe80::1", 9100)),
    ("printer.local", 9100, ("printer.local", 9100)),
])
def test_hostport_parses_what_people_type(text, default, want):
    address = HostPort.parse(text, default)
    assert (address.host, address.port) == want
    assert HostPort.parse(str(address)) == address        # printed form reads back


@pytest.mark.parametrize("text", ["", "box", "box:", "box:0", "box:65536", "box:http", "a b:1883", "[fe80::1", "[::1]x"])
def test_hostport_refuses_with_a_reason(text):
    with pytest.raises(BadAddress, match="HOST:PORT"):
        HostPort.parse(text)


def _creds(device_id="dev-k3m9", gate="north", events=(2,), role="door", port=1883) -> Credentials:
    return Credentials(device_id, "acme", "", gate, events, device_id, "pw", Broker("127.0.0.1", port), b"k" * 32,
                       1.0, role)


def _save(folder: Path, creds: Credentials) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "credentials.json").write_text(json.dumps(creds.to_json()))


def test_identity_is_adopted_once_then_staff_choices_stay():
    identity = _creds().identity
    fresh = adopt_identity(DevicePolicy(), identity)
    assert (fresh.device_id, fresh.gate, fresh.events) == ("dev-k3m9", "north", frozenset({2}))
    moved = DevicePolicy(device_id="dev-k3m9", gate="south", events=frozenset({2, 3}))
    assert adopt_identity(moved, identity) is moved          # the technician's later gate/selection stay
    assert adopt_identity(DevicePolicy(), None) == DevicePolicy()


def test_open_home_acts_as_the_enrolled_device(tmp_path):
    _save(tmp_path, _creds())
    ledger, _ = open_home(tmp_path)
    try:
        from agent.stored_policy import load_policy
        assert load_policy(ledger).device_id == "dev-k3m9"
    finally:
        ledger.close()
    assert DeviceHome(tmp_path).identity().role == "door"
    (tmp_path / "credentials.json").write_text("{damaged")
    assert DeviceHome(tmp_path).identity() is None           # never trusted


def test_older_default_folders_move_into_the_one_home(tmp_path):
    agent, prov, home = tmp_path / "agent", tmp_path / "prov", tmp_path / "home"
    agent.mkdir()
    (agent / "ledger.sqlite").write_bytes(b"L")
    _save(prov, _creds())
    moved = migrate_legacy(home, [agent, prov])
    assert sorted(Path(m.split(" -> ")[1]).name for m in moved) == ["credentials.json", "ledger.sqlite"]
    assert (home / "ledger.sqlite").read_bytes() == b"L" and DeviceHome(home).enrolled()
    assert not agent.exists() and not prov.exists()
    assert migrate_legacy(home, [agent, prov]) == []


def test_two_ledgers_in_the_older_folders_stop_the_move_and_lose_nothing(tmp_path):
    a, b, home = tmp_path / "a", tmp_path / "b", tmp_path / "home"
    for folder, data in ((a, b"A"), (b, b"B")):
        folder.mkdir()
        (folder / "ledger.sqlite").write_bytes(data)
    with pytest.raises(HomeError, match="--home"):
        migrate_legacy(home, [a, b])
    assert (a / "ledger.sqlite").read_bytes() == b"A" and (b / "ledger.sqlite").read_bytes() == b"B"
    assert not home.exists()


def test_default_home_and_its_variables(tmp_path, monkeypatch):
    monkeypatch.delenv("TICKETGATE_HOME", raising=False)
    monkeypatch.delenv("TICKETGATE_DEVICE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_home() == tmp_path / ".local/share/ticketgate/device"
    monkeypatch.setenv("TICKETGATE_DEVICE_DIR", str(tmp_path / "old"))
    assert resolve_home() == tmp_path / "old"
    monkeypatch.setenv("TICKETGATE_HOME", str(tmp_path / "new"))
    assert resolve_home() == tmp_path / "new" and resolve_home(tmp_path / "x") == tmp_path / "x"


def _cli(home_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TICKETGATE_HOME", "TICKETGATE_DEVICE_DIR")}
    env.update(HOME=str(home_dir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_every_device_command_reads_the_same_default_home(tmp_path):
    """Credentials left by `provision enroll` in the older folder are found by the agent and by provisioning."""
    from tests.broker import free_port
    _save(tmp_path / ".ticketgate/device", _creds(device_id="dev-old1", gate="east", port=free_port()))
    status = _cli(tmp_path, "agent", "status", "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["identity"]["device_id"] == "dev-old1" and info["policy"]["device_id"] == "dev-old1"
    assert info["policy"]["gate"] == "east"
    assert info["home"] == str(tmp_path / ".local/share/ticketgate/device")
    prov = _cli(tmp_path, "provision", "status", "--json")
    assert prov.returncode == 0, prov.stderr
    assert json.loads(prov.stdout)["device_id"] == "dev-old1"
    refused = _cli(tmp_path, "agent", "configure", "--device-id", "someone-else")
    assert refused.returncode == 1 and "enrolled as dev-old1" in refused.stderr
    offline = _cli(tmp_path, "agent", "sync", "--for", "0.5")
    assert offline.returncode == 1 and "cannot reach the broker at 127.0.0.1:" in offline.stderr


def test_what_a_device_did_before_enrollment_becomes_its_own(tmp_path):
    """Scans made before `provision enroll` (as the unenrolled id "device") upload under the enrolled id; the
    server would refuse a body naming another device than the topic."""
    from agent.gate import Gate
    ledger, keyring = open_home(tmp_path)
    Gate(ledger, keyring).scan("not a ticket")                    # refusal logged for the server, as "device"
    ledger.close()
    _save(tmp_path, _creds(device_id="dev-new1"))
    ledger, _ = open_home(tmp_path)
    try:
        bodies = [body for _, _, body in ledger.outbox_pending()]
        assert bodies and {b.get("device_id") for b in bodies} == {"dev-new1"}
    finally:
        ledger.close()


def test_the_setup_name_is_a_display_name_once_enrolled(tmp_path):
    from kiosk_ui.door import Door
    door = Door.open_home(tmp_path / "a")                      # not enrolled: the name is its id (it never syncs)
    door.set_identity("Porte nord", "north")
    assert (door.policy.device_id, door.display_name) == ("Porte nord", "Porte nord")
    door.close()
    _save(tmp_path / "b", _creds(device_id="dev-b1"))
    door = Door.open_home(tmp_path / "b")
    try:
        door.set_identity("Porte sud", "south")
        assert (door.policy.device_id, door.policy.gate, door.display_name) == ("dev-b1", "south", "Porte sud")
    finally:
        door.close()
    door = Door.open_home(tmp_path / "b")                      # and after a restart
    try:
        assert (door.policy.device_id, door.display_name) == ("dev-b1", "Porte sud")
    finally:
        door.close()
