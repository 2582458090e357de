"""The organiser's commands on the broker `provision serve --start-broker` runs (issue 9 §4), through the public
commands in subprocesses: push and serve log in with the server login provision wrote, side by side (distinct
client ids), a refused login says so, a killed server is marked offline by its Last Will, SIGTERM stops the
broker too; tokens before serve; order quantities; a pass as a device's events."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line

ROOT = Path(__file__).resolve().parent.parent
ORG = "acme"
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def tg(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if check:
        assert proc.returncode == 0, f"ticketgate {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


def start(*args: str, ready: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if wait_for_line(proc, ready, 30):
        return proc
    proc.kill()
    raise AssertionError(f"{args} never said {ready!r}: {proc.stderr.read()}")


stop = stop_process


def broker_pid(data: str) -> int:
    path = Path(data) / "provision" / "mosquitto" / "mosquitto.pid"
    deadline = time.monotonic() + 15
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(path.read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.fixture
def data(tmp_path):
    d = str(tmp_path / "data")
    tg("server", "--data", d, "init", "--org", ORG, "--name", "Acme Festival")
    tg("server", "--data", d, "event", "create", "--name", "Day 1", "--start", "2026-07-01 18:00", "--end",
       "2026-07-02 02:00", "--tz", "Europe/Paris", "--zone", "1=Floor", "--zone", "2=Balcony", "--category", "1=Adult",
       "--category", "2=Child")
    return d


def test_order_quantity_makes_exactly_what_was_asked(data):
    out = tg("server", "--data", data, "order", "add", "--event", "1", "--buyer", "Ann", "--quantity", "3",
             "--ticket", "category=Child,zone=Balcony", "--json")
    tickets = json.loads(out.stdout)["tickets"]
    assert [(t["category"], t["zone"]) for t in tickets] == [(2, 2)] * 3
    plain = json.loads(tg("server", "--data", data, "order", "add", "--event", "1", "--buyer", "Bob", "--json").stdout)
    assert [(t["category"], t["zone"]) for t in plain["tickets"]] == [(0, None)]
    seat = tg("server", "--data", data, "order", "add", "--event", "1", "--buyer", "Cy", "--quantity", "2",
              "--ticket", "seat=B12", check=False)
    assert seat.returncode == 1 and "seat" in seat.stderr


def test_tokens_before_serve_and_a_pass_as_events(data, tmp_path):
    tg("server", "--data", data, "event", "create", "--name", "Day 2", "--start", "2026-07-02 18:00", "--end",
       "2026-07-03 02:00", "--tz", "Europe/Paris")
    made = json.loads(tg("server", "--data", data, "pass", "create", "--name", "Weekend", "--events", "1,2",
                         "--json").stdout)
    out = tg("provision", "tokens", "create", "--data", data, "--org", ORG, "--count", "1", "--events",
             str(made["pass_id"]), "--out", str(tmp_path / "sheet.png"))
    assert "no `provision serve` has run yet" in out.stdout and "code " in out.stdout
    bad = tg("provision", "tokens", "create", "--data", data, "--org", ORG, "--events", "999", "--out",
             str(tmp_path / "x.png"), check=False)
    assert bad.returncode == 1 and "no event or pass 999" in bad.stderr
    reg = json.loads(tg("server", "--data", data, "device", "register", "dev-pass", "--events", str(made["pass_id"]),
                        "--json").stdout)
    assert reg["events"] == [1, 2]


def test_push_and_serve_on_the_provisioned_broker(data, tmp_path):
    broker_port, http_port = free_port(), free_port()
    tg("server", "--data", data, "order", "add", "--event", "1", "--buyer", "Ann", "--quantity", "2")
    prov = start("provision", "serve", "--data", data, "--org", ORG, "--listen", "127.0.0.1", "--port", str(http_port),
                 "--advertise", "127.0.0.1", "--broker-port", str(broker_port), "--start-broker", "--no-zeroconf",
                 ready="enrollment endpoint")
    broker_dir = Path(data) / "provision" / "mosquitto"
    mosquitto_pid = broker_pid(data)
    login = json.loads((Path(data) / "provision" / "broker-login.json").read_text())
    assert login["broker"] == f"127.0.0.1:{broker_port}" and login["username"] == f"server-{ORG}"
    assert (Path(data) / "provision" / "broker-login.json").stat().st_mode & 0o077 == 0
    serve = None
    try:
        tg("server", "--data", data, "device", "register", "dev-a", "--events", "1")   # a device to push to
        serve = start("server", "--data", data, "serve", "--workers", "2", ready="sync server on")
        pushed = tg("server", "--data", data, "push", "--json")
        assert json.loads(pushed.stdout)["devices"] == 1
        tg("server", "--data", data, "push")                                   # again: still no one kicked off
        assert serve.poll() is None
        log = (broker_dir / "mosquitto.log").read_text()
        assert "already connected" not in log, "two server connections shared a client id"

        pw = tmp_path / "pw"
        pw.write_text("wrong\n")
        refused = tg("server", "--data", data, "push", "--broker-user", "intruder", "--broker-password-file", str(pw),
                     check=False)
        assert refused.returncode == 1
        assert "refused user 'intruder-push': Not authorized" in refused.stderr and "no broker" not in refused.stderr

        serve.send_signal(signal.SIGKILL)                                      # dies without a goodbye
        serve.wait(10)
        state = _retained_status(login, broker_port)
        assert state["state"] == "offline", state
        # one worker now: worker 2's session (its login `server-ORG-w2`) is ended, its share of the uploads with it
        serve = start("server", "--data", data, "serve", "--workers", "1",
                      ready="ended the broker sessions of workers 2,")
    finally:
        if serve is not None:
            stop(serve)
        assert stop(prov, signal.SIGTERM) == 0
    deadline = time.monotonic() + 10
    while alive(mosquitto_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(mosquitto_pid), "provision serve left its mosquitto running after SIGTERM"


def test_killed_provision_serve_takes_its_broker_along(data):
    prov = start("provision", "serve", "--data", data, "--org", ORG, "--listen", "127.0.0.1", "--port",
                 str(free_port()), "--advertise", "127.0.0.1", "--broker-port", str(free_port()), "--start-broker",
                 "--no-zeroconf", ready="enrollment endpoint")
    pid = broker_pid(data)
    prov.kill()                                         # SIGKILL: no clean-up code runs in provision serve
    prov.wait(10)
    deadline = time.monotonic() + 20
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "mosquitto outlived a killed provision serve"


def _retained_status(login: dict, port: int) -> dict:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    got: list[bytes] = []
    user = f"{login['username']}-cmd"
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, login["password"])
    c.on_message = lambda client, userdata, msg: got.append(bytes(msg.payload))
    c.on_connect = lambda client, userdata, flags, rc, props: client.subscribe(f"tg/{ORG}/server/status", qos=1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if got and json.loads(got[-1]).get("state") == "offline":
                break
            time.sleep(0.05)
    finally:
        c.disconnect()
        c.loop_stop()
    assert got, "no retained server presence"
    return json.loads(got[-1])


def test_a_revoked_device_syncing_from_the_command_line_wipes_itself(data, tmp_path):
    """`agent sync` takes provisioning's revocation rules like the app: the organiser's signed wipe empties it."""
    http_port = free_port()
    prov = start("provision", "serve", "--data", data, "--org", ORG, "--listen", "127.0.0.1", "--port", str(http_port),
                 "--advertise", "127.0.0.1", "--broker-port", str(free_port()), "--start-broker", "--no-zeroconf",
                 ready="enrollment endpoint")
    device = dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(tmp_path / "door"), HOME=str(tmp_path))
    try:
        out = tg("provision", "tokens", "create", "--data", data, "--org", ORG, "--gate", "north", "--events", "1",
                 "--out", str(tmp_path / "sheet.png")).stdout
        code = out.split("code ")[1].split()[0]
        enrolled = subprocess.run([sys.executable, "-m", "agent", "provision", "enroll", "--code", code, "--server",
                                   f"127.0.0.1:{http_port}"], cwd=ROOT, env=device, capture_output=True, text=True,
                                  timeout=60)
        assert enrolled.returncode == 0, enrolled.stderr
        device_id = enrolled.stdout.split("enrolled as ")[1].split()[0]
        tg("provision", "revoke", "--data", data, "--org", ORG, device_id)
        synced = subprocess.run([sys.executable, "-m", "agent", "agent", "sync", "--for", "20"], cwd=ROOT, env=device,
                                capture_output=True, text=True, timeout=60)
        assert synced.returncode == 1 and "revoked by the organiser and wiped" in synced.stderr, synced.stderr
        assert not (tmp_path / "door" / "credentials.json").exists()
    finally:
        stop(prov)


def test_a_taken_broker_port_is_said_plainly(data):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = tg("provision", "serve", "--data", data, "--org", ORG, "--listen", "127.0.0.1", "--port",
                 str(free_port()), "--advertise", "127.0.0.1", "--broker-port", str(port), "--start-broker",
                 "--no-zeroconf", "--for", "1", check=False)
    assert out.returncode == 1 and f"broker port {port} is in use" in out.stderr, out.stderr


def test_push_over_tls_to_the_provisioned_broker(data, tmp_path):
    """--broker-ca: the organiser's commands reach the broker's TLS listener with the event CA."""
    tls_port = free_port()
    tg("server", "--data", data, "device", "register", "dev-t", "--events", "1")
    prov = start("provision", "serve", "--data", data, "--org", ORG, "--listen", "127.0.0.1", "--port", str(free_port()),
                 "--advertise", "127.0.0.1", "--broker-port", str(free_port()), "--start-broker", "--no-zeroconf",
                 "--tls", "--tls-port", str(tls_port), ready="enrollment endpoint")
    try:
        ca = Path(data) / "provision" / "tls" / "ca.crt"
        pushed = tg("server", "--data", data, "push", "--broker", f"127.0.0.1:{tls_port}", "--broker-ca", str(ca),
                    "--json")
        assert json.loads(pushed.stdout)["devices"] == 1
        plain = tg("server", "--data", data, "push", "--broker", f"127.0.0.1:{tls_port}", "--timeout", "5",
                   check=False)                                # no TLS to a TLS listener: a clear failure
        assert plain.returncode == 1 and "push failed" in plain.stderr
    finally:
        stop(prov)
