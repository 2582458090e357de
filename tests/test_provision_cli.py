"""`ticketgate provision …` end to end: serve (real mosquitto started by it), tokens sheet, enroll by QR and by
code, status, devices, revoke, wifi-qr; plus the errors a technician meets."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.cli import main as ticketgate
from tests.broker import free_port, mosquitto_binary

ROOT = Path(__file__).resolve().parent.parent
ORG = "acme"
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@pytest.fixture
def served(tmp_path):
    from server_stub.store import SqliteStore
    store = SqliteStore.open(tmp_path / "data")
    store.create_organiser(ORG, "Acme")
    event = store.create_event(ORG, "Day 1", time.time(), time.time() + 86400)
    store.current_key(ORG)
    store.close()
    http_port, broker_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "provision", "serve", "--data", str(tmp_path / "data"), "--org", ORG,
         "--listen", "127.0.0.1", "--port", str(http_port), "--advertise", "127.0.0.1", "--broker-port",
         str(broker_port), "--start-broker", "--for", "120"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        line = proc.stdout.readline()
        assert "enrollment endpoint" in line, line + proc.stderr.read() if proc.poll() is not None else line
        yield tmp_path, event, http_port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _decode_sheet(path: Path) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image
    return [r.text for r in zxingcpp.read_barcodes(Image.open(path).convert("L"),
                                                   formats=zxingcpp.BarcodeFormat.QRCode)]


def test_cli_whole_flow(served, capsys):
    tmp, event, http_port, proc = served
    data = ["--data", str(tmp / "data"), "--org", ORG]
    assert ticketgate(["provision", "tokens", "create", *data, "--count", "2", "--gate", "north", "--events",
                       str(event), "--out", str(tmp / "sheet.png")]) == 0
    out = capsys.readouterr().out
    codes = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("code ")]
    assert len(codes) == 2 and "rendering" not in out     # no progress lines when stdout is not a terminal
    qrs = _decode_sheet(tmp / "sheet.png")
    assert len(qrs) == 2 and all(q.startswith("TGE1:") and f":127.0.0.1:{http_port}:" in q for q in qrs)

    assert ticketgate(["provision", "enroll", "--qr", qrs[0], "--dir", str(tmp / "d1"), "--name", "north-1"]) == 0
    assert "ready to scan" in capsys.readouterr().out
    # the second QR's token, typed as its code instead (find which code is still unused: try both)
    results = [ticketgate(["provision", "enroll", "--code", c, "--server", f"127.0.0.1:{http_port}",
                           "--dir", str(tmp / f"d2{i}")]) for i, c in enumerate(codes)]
    assert sorted(results) == [0, 1]
    capsys.readouterr()

    assert ticketgate(["provision", "status", "--dir", str(tmp / "d1"), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["gate"] == "north" and status["events"] == [event] and status["org"] == ORG

    assert ticketgate(["provision", "devices", *data, "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert len(devices) == 2 and all(d["broker_login"] and not d["revoked"] for d in devices)

    assert ticketgate(["provision", "revoke", *data, status["device_id"]]) == 0
    assert "revoked" in capsys.readouterr().out
    assert ticketgate(["provision", "devices", *data, "--json"]) == 0
    devices = {d["device_id"]: d for d in json.loads(capsys.readouterr().out)}
    assert devices[status["device_id"]]["revoked"]

    # reused QR: refused, clear message, nothing saved
    assert ticketgate(["provision", "enroll", "--qr", qrs[0], "--dir", str(tmp / "d3")]) == 1
    assert "already used" in capsys.readouterr().err
    assert ticketgate(["provision", "status", "--dir", str(tmp / "d3")]) == 1

    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and out.count("enrolled #") == 2


def test_cli_wifi_qr(tmp_path, capsys):
    assert ticketgate(["provision", "wifi-qr", "--ssid", "Door;Net", "--password", "pass:word", "--out",
                       str(tmp_path / "wifi.png")]) == 0
    assert _decode_sheet(tmp_path / "wifi.png") == ["WIFI:S:Door\\;Net;T:WPA;P:pass\\:word;;"]
    assert ticketgate(["provision", "wifi-qr", "--ssid", "x", "--out", str(tmp_path / "w.png")]) == 1
    assert "password" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["enroll", "--qr", "garbage"], "not a ticketgate enrollment QR"),
    (["enroll", "--code", "K7M2"], "organiser code"),
    (["enroll", "--code", "K7M2-Q9XB", "--server", "127.0.0.1:1"], "cannot reach"),
    (["enroll", "--code", "K7M2-Q9XB", "--server", "127.0.0.1:1", "--name", "North gate tablet " * 4],
     "--name: at most 64 characters (this one has 72)"),     # was the server's "nonce and name are short strings"
    (["status"], "not enrolled"),
    (["wipe"], "--yes"),
])
def test_cli_device_errors(tmp_path, capsys, argv, message):
    assert ticketgate(["provision", *argv, "--dir", str(tmp_path / "dev")]) == 1
    captured = capsys.readouterr()
    assert message in captured.err + captured.out


def test_cli_server_errors(tmp_path, capsys):
    assert ticketgate(["provision", "devices", "--data", str(tmp_path / "none"), "--org", ORG]) == 1
    assert "no server" in capsys.readouterr().err
    assert ticketgate(["provision", "nonsense"]) == 2


def test_cli_discover_bad_interface(capsys):
    assert ticketgate(["provision", "discover", "--timeout", "0.5", "--interface", "192.0.2.77"]) == 1
    assert "ticketgate provision:" in capsys.readouterr().err


def test_discover_finding_nothing_names_a_command_that_takes_the_address(capsys):
    """`provision discover` finding no server said "type its address with --server", an option discover does not
    take; it now names the enroll command that does."""
    assert ticketgate(["provision", "discover", "--timeout", "0.3", "--interface", "127.0.0.1", "--org",
                       "no-such-organiser"]) == 1
    err = capsys.readouterr().err
    assert "no ticketgate server answered" in err and "provision enroll --code CODE --server HOST:PORT" in err, err


def test_a_serve_that_could_not_start_leaves_the_organisers_broker_login_as_it_was(served):
    """`provision serve` started again with a broker port already taken (Debian's mosquitto on 1883, the `--broker-port`
    of yesterday forgotten) said so and stopped, but had rewritten `broker-login.json` first: `server serve|push`
    then logged in to the other mosquitto on that port ("Not authorized"). The login is written once serve runs."""
    import socket
    tmp_path, _, _, proc = served
    proc.send_signal(signal.SIGINT)
    proc.wait(15)
    login_file = tmp_path / "data" / "provision" / "broker-login.json"
    before = login_file.read_text()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "agent.cli", "provision", "serve", "--data", str(tmp_path / "data"),
                               "--org", ORG, "--listen", "127.0.0.1", "--port", str(free_port()), "--no-zeroconf",
                               "--broker-port", str(port), "--start-broker", "--for", "5"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 1 and f"the broker port {port} is in use" in done.stderr, done.stderr
    assert login_file.read_text() == before


def test_devices_says_which_are_kiosks(served, capsys):
    """The technician's guide prints a sheet of kiosk QRs (`--role kiosk`) and checks `provision devices` ("who is
    enrolled"): it listed gate and events but not the role, so a kiosk enrolled from the door sheet by mistake (it
    never gets the ticket payloads to print) did not show."""
    tmp, event, http_port, _ = served
    data = ["--data", str(tmp / "data"), "--org", ORG]
    for role, gate in (("kiosk", "desk"), ("door", "north")):
        assert ticketgate(["provision", "tokens", "create", *data, "--role", role, "--gate", gate, "--events",
                           str(event), "--out", str(tmp / f"{role}.png")]) == 0
        code = [line.split()[-1] for line in capsys.readouterr().out.splitlines() if line.strip().startswith("code ")][0]
        assert ticketgate(["provision", "enroll", "--code", code, "--server", f"127.0.0.1:{http_port}", "--dir",
                           str(tmp / role), "--no-connect"]) == 0
    capsys.readouterr()
    assert ticketgate(["provision", "devices", *data, "--json"]) == 0
    assert sorted((d["gate"], d["role"]) for d in json.loads(capsys.readouterr().out)) == [("desk", "kiosk"),
                                                                                          ("north", "door")]
    assert ticketgate(["provision", "devices", *data]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "role" in table[0] and any(" kiosk " in line and " desk " in line for line in table)
