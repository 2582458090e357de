"""Attacks on provisioning (docs/security.md, issue 10 §2 §7 §9), one test each, against the real parts:
real mosquitto, the real enrollment endpoint on 127.0.0.1, a rogue broker answering on the broker's address."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.history import Action
from agent.ledger import Ledger
from agent.sync import BrokerConfig, device_transport, signed
from agent.sync.backoff import Backoff
from agent.sync.device import DeviceSync
from provisioning.device.link import DeviceLink
from provisioning.device.state import DeviceState
from provisioning.mqtt_connect import Refused
from provisioning.protocol import wipe_body
from tests.helpers import wait_for
from tests.rogue_broker import RogueBroker
from tests.test_provision_env import ORG, enroll_device, provision_env

ROOT = Path(__file__).resolve().parents[1]
NAME = "Zacharias Quelloworth"
AUTH = ("Not authorized", "Bad user name or password")
V5_REFUSALS = {0x86: "Bad user name or password", 0x87: "Not authorized", 0x88: "Server unavailable",
               0x89: "Server busy", 0x8A: "Banned", 0x9F: "Connection rate exceeded"}
V3_REFUSALS = {3: "Server unavailable", 4: "Bad user name or password", 5: "Not authorized"}
FAST = Backoff(0.2, 1.0)


def enrolled_this_morning(env, folder: Path) -> DeviceState:
    """An enrolled door an hour into its day: tickets with buyers' names, one check-in."""
    state, creds = enroll_device(env, folder)
    state.save(replace(creds, enrolled_at=time.time() - 3600))
    ledger = Ledger.open(state.ledger_path)
    ledger.upsert_events([{"event_id": env.events[0], "name": "Day 1", "starts_at": 0, "ends_at": 1e10}])
    ledger.upsert_tickets([{"ticket_key": "T1", "event_id": env.events[0], "order_number": "K7M2-Q9",
                            "buyer_name": NAME, "email": "zq@example.org"}])
    ledger.record("T1", Action("a-1", "entry", time.time(), creds.device_id, "north", env.events[0], "in"))
    ledger.close()
    return state


def device_files(state: DeviceState) -> dict:
    """Everything a wipe would remove; compared byte for byte before and after each attack."""
    files = {p.name: p.read_bytes() for p in (state.key_path, state.credentials_path, state.keyring_path)}
    ledger = Ledger.open(state.ledger_path)
    files["tickets"] = [t["buyer_name"] for t in ledger.search("Quelloworth")]
    files["checkins"] = ledger.counts()["checkins"]
    ledger.close()
    assert files["tickets"] == [NAME]
    return files


def start_sync(state: DeviceState, link: DeviceLink, backoff: Backoff = FAST) -> DeviceSync:
    c = link.creds
    config = BrokerConfig(c.broker.host, c.broker.port, c.username, c.password, refused_backoff=backoff)
    return DeviceSync(state.ledger_path, c.org, c.device_id, c.server_key,
                      device_transport(c.org, c.device_id, config), events=list(c.events),
                      on_refused=link.on_refused, on_command=link.on_command,
                      on_connected=link.on_connected).start()


def provision_status(state: DeviceState) -> str:
    out = subprocess.run([sys.executable, "-m", "agent", "provision", "status", "--dir", str(state.folder)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def app_sync_line(state: DeviceState, until, timeout: float = 20.0) -> str:
    """The app's sync line (kiosk_ui SyncLink on this home) once `until(line)` holds; the app is stopped after."""
    from kiosk_ui.adapters import build_services
    from kiosk_ui.door import Door
    door = Door.open_home(state.folder)
    sync = build_services(door, state.folder).sync
    try:
        assert sync.start()
        assert wait_for(lambda: until(sync.status().detail), timeout), sync.status()
        return sync.status().detail
    finally:
        sync.stop()
        door.close()


def test_attack_refused_login_does_not_wipe(tmp_path):
    """mosquitto restarted with a password file that lost the device: its login is refused ("not authorised").
    The device retries with backoff, shows why, asks the endpoint (not revoked) and keeps everything."""
    with provision_env(tmp_path / "env") as env:
        state = enrolled_this_morning(env, tmp_path / "door")
        link = DeviceLink(state)
        sync = start_sync(state, link)
        try:
            assert wait_for(lambda: sync.transport.connected and link.status.state == "connected", 15)
            before = device_files(state)
            env.broker.stop()
            env.prov.admin.sync({link.creds.device_id: None}, reload=False)     # the device is gone from passwd
            env.broker.start()
            assert wait_for(lambda: link.status.refusals >= 3, 20), link.status
            assert link.wiped is None and state.enrolled()
            assert link.status.reason in AUTH
            assert "not revoked" in link.status.revocation
            shown = provision_status(state)
            assert f"refused by the broker: {link.status.reason}" in shown and "retrying" in shown
            agent = subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(state.folder), "status"],
                                   cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert f"broker login: refused by the broker: {link.status.reason}" in agent.stdout, agent.stderr
            line = app_sync_line(state, lambda line: "Broker login refused" in line)
            assert line.startswith(f"Broker login refused: {link.status.reason} (") and "retrying by itself" in line
            env.prov.admin.sync()                       # the organiser restores the file: the door comes back
            assert wait_for(lambda: sync.transport.connected and link.status.state == "connected", 20)
        finally:
            sync.stop()
        assert device_files(state) == before
        assert "broker_login accepted (last connected " in " ".join(provision_status(state).split())


class RogueEndpoint:
    """Answers every revocation question with a wipe for the asking device, signed by the rogue's own key."""

    def __init__(self, port: int):
        key = Ed25519PrivateKey.generate()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                device = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["device"]
                data = json.dumps({"signed": signed.seal(wipe_body(ORG, device, time.time()), key.sign).decode()})
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "RogueEndpoint":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_attack_rogue_broker_connack_codes(tmp_path):
    """Someone answers on the broker's address (and the endpoint's) with every refusal CONNACK, MQTT 5 (the
    sync) and 3.1.1 (the CLI's login): the device retries with growing delays, shows the code, survives intact."""
    with provision_env(tmp_path / "env") as env:
        state = enrolled_this_morning(env, tmp_path / "door")
        before = device_files(state)
        env.broker.stop()
        env.http.stop()
        with RogueEndpoint(env.http.port):
            for code, reason in V5_REFUSALS.items():
                with RogueBroker(env.broker.port, code) as rogue:
                    link = DeviceLink(state)
                    sync = start_sync(state, link)
                    try:
                        assert rogue.wait_connects(4, 15), f"{reason}: not retried"
                    finally:
                        sync.stop()
                    times = [t for t, level in rogue.connects if level == 5]
                    gaps = [b - a for a, b in zip(times, times[1:])]
                    assert len(times) == len(rogue.connects) and min(gaps) >= 0.09, (reason, gaps)  # no hot loop
                    assert gaps[2] >= 0.35, (reason, gaps)    # backing off: the 3rd wait is 0.4-0.8 s, the 1st 0.1-0.2 s
                    assert link.wiped is None and link.status.reason == reason
                    if reason in AUTH:
                        assert "not signed by the organiser" in link.status.revocation
                assert device_files(state) == before, reason
            for code, reason in V3_REFUSALS.items():
                with RogueBroker(env.broker.port, code) as rogue:
                    link = DeviceLink(state, backoff=Backoff(0.1, 0.4))
                    with pytest.raises(Refused) as refused:
                        link.connect(timeout=3.0)
                    assert refused.value.reason == reason and link.wiped is None
                    assert len(rogue.connects) >= 2 and {level for _, level in rogue.connects} == {4}
                assert device_files(state) == before, reason
            assert "refused by the broker: Not authorized" in provision_status(state)
        assert device_files(state) == before


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_attack_provision_files_modes(tmp_path):
    """A curious local user on the organiser's laptop or a device (umask 022): every private file of provisioning
    is 0600 from creation — the registry and its WAL/SHM, broker password/ACL files, TLS keys, the device's key,
    credentials and link state — and the server's broker password is in no SQLite file or WAL."""
    old_umask = os.umask(0o022)
    try:
        legacy = tmp_path / "legacy" / "provision.sqlite"          # an older registry: 0644, password in a table
        legacy.parent.mkdir()
        conn = sqlite3.connect(legacy)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE server_login (org TEXT PRIMARY KEY, password TEXT NOT NULL)")
        conn.execute("INSERT INTO server_login VALUES ('acme', 'legacy-secret-0123456789')")
        conn.commit()
        conn.close()
        from provisioning.server.registry import Registry
        registry = Registry(legacy)
        assert registry.server_login("acme") == ("server-acme", "legacy-secret-0123456789")
        for path in legacy.parent.iterdir():
            assert _mode(path) == 0o600, path.name
            if path.suffix != ".json":
                assert b"legacy-secret-0123456789" not in path.read_bytes(), path.name
        registry.close()

        with provision_env(tmp_path / "env", tls=True) as env:
            state, _ = enroll_device(env, tmp_path / "door")
            link = DeviceLink(state)
            link.connect(timeout=10)
            link.close()
            _, password = env.prov.registry.server_login(ORG)
            prov, tls = env.prov.paths, tmp_path / "env" / "tls"
            private = [prov.registry, Path(f"{prov.registry}-wal"), Path(f"{prov.registry}-shm"), prov.password_file,
                       prov.acl_file, env.prov.registry.secrets_path, tls / "ca.key", tls / "broker.key",
                       state.key_path, state.credentials_path, state.link_path]
            assert {p.name: _mode(p) for p in private} == {p.name: 0o600 for p in private}
            folders = [prov.state, prov.password_file.parent, tls]         # mosquitto.db (queued bundles) is in one
            assert {p.name: _mode(p) for p in folders} == {p.name: 0o700 for p in folders}
            for path in private[:3]:
                assert password.encode() not in path.read_bytes(), path.name

        data = tmp_path / "cli"
        from server_stub.store import SqliteStore
        store = SqliteStore.open(data)
        store.create_organiser(ORG, "Acme")
        store.current_key(ORG)
        store.close()
        out = subprocess.run([sys.executable, "-m", "agent", "provision", "tokens", "create", "--data", str(data),
                              "--org", ORG, "--count", "1", "--server", "127.0.0.1:8787", "--out",
                              str(tmp_path / "sheet.png")], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert _mode(data / "provision") == 0o700
        made = [p for p in (data / "provision").rglob("*") if p.is_file()]
        assert any(p.name == "provision.sqlite" for p in made)
        assert {p.name: _mode(p) for p in made} == {p.name: 0o600 for p in made}
    finally:
        os.umask(old_umask)


def test_attack_rogue_endpoint_retry_after_in_other_digits(tmp_path):
    """Someone answering on the enrollment endpoint's address refuses `provision enroll` with 429 and `Retry-After:
    ²` (latin-1 0xB2: a digit to str.isdigit, not to float()). Before: a traceback (ValueError), the refusal unsaid.
    Now the refusal and its words, exit 1; nothing written in the device folder."""
    class Handler(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"error": "slow down"}'
            self.send_response(429)
            self.send_header("Content-Length", str(len(body)))
            self._headers_buffer.append(b"Retry-After: \xb2\r\n")     # type: ignore[attr-defined]
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = _refuse

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        env = dict(os.environ, HOME=str(tmp_path), TICKETGATE_HOME=str(tmp_path / "device"), PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-m", "agent", "provision", "enroll", "--code", "K7M2-Q9XB", "--server",
                              f"127.0.0.1:{httpd.server_address[1]}"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "server refused (429): slow down" in out.stderr, out.stderr
    assert not (tmp_path / "device" / "credentials.json").exists()


def test_attack_a_captured_wipe_replayed_to_another_device_or_a_re_enrolled_one(tmp_path):
    """The organiser revokes a stolen door; the thief's phone asks the endpoint and captures the organiser's signed
    wipe for it. Replayed (by a rogue broker on the cmd topic, or a rogue endpoint) to another door, and to the same
    handheld enrolled again after a technician's wipe: nothing is wiped. The wipe names its device, and every
    enrollment gets a new random device id (tried, holds: nothing to fix)."""
    from provisioning.device import revocation
    with provision_env(tmp_path / "env") as env:
        stolen_state, stolen = enroll_device(env, tmp_path / "stolen", gate="north")
        other_state, _ = enroll_device(env, tmp_path / "other", gate="south")
        env.prov.revoke(stolen.device_id)
        captured = revocation.ask(env.server, stolen.device_id)
        assert captured is not None
        again_state, again = enroll_device(env, tmp_path / "again", gate="north")     # the handheld, wiped, enrolled
        assert again.device_id != stolen.device_id
        for state in (other_state, again_state):
            before = {p.name: p.read_bytes() for p in (state.key_path, state.credentials_path)}
            link = DeviceLink(state)
            link.on_command(captured)
            assert link.wiped is None and before == {p.name: p.read_bytes() for p in (state.key_path,
                                                                                      state.credentials_path)}
        link = DeviceLink(stolen_state)
        link.on_command(captured)
        assert link.wiped is not None                 # for the device it names, it is the organiser's wipe
