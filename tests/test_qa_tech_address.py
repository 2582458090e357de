"""The technician's day when the broker's address changes under enrolled devices (the guide's `--broker-port 1884`
when the port is taken, the laptop's address on the hotspot changed after a reboot): a device keeps the address its
enrolment gave it, so `provision serve` must say which devices it leaves behind and what to do. Through the public
commands (a HOME each, `provision serve`'s own mosquitto on loopback)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from provisioning.server.broker_address import address_changed_words, left_behind, moved_words
from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import _start, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _serve(home: Path, ip: str, http_port: int, broker_port: int) -> subprocess.Popen:
    prov = _start(home, "provision", "serve", "--org", "acme", "--start-broker", "--listen", ip, "--port",
                  str(http_port), "--advertise", ip, "--no-zeroconf", "--broker-port", str(broker_port), "--for", "120")
    if not wait_for_line(prov, "Ctrl-C to stop", 30):      # said after the devices it leaves behind
        stop_process(prov)
        raise AssertionError("`provision serve` never said its enrollment endpoint listens")
    return prov


def _stopped(prov: subprocess.Popen) -> str:
    """`provision serve` stopped (Ctrl-C): what it said on stderr."""
    stop_process(prov)
    assert prov.stderr is not None
    return prov.stderr.read()


def _enroll(home: Path, device: Path, ip: str, http_port: int, gate: str) -> str:
    sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", gate,
               "--out", str(home / f"{gate}.pdf")).stdout
    tg(device, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server", f"{ip}:{http_port}")
    return json.loads((device / "device" / "credentials.json").read_text())["device_id"]


@needs_broker
def test_a_serve_on_another_broker_port_names_the_devices_it_leaves_behind_and_they_come_back(tmp_path):
    """The guide: 'if provision serve says the broker port is in use … add --broker-port 1884'. Devices enrolled on
    the first port never learn the new one: serve said nothing, `agent sync` said 'connection refused' while serve
    ran. Now serve names them and the port to keep; started on it again, they sync by themselves."""
    home, north, south = tmp_path / "org", tmp_path / "north", tmp_path / "south"
    for h in (home, north, south):
        h.mkdir()
    _event_now(home)
    http_port, first, second = free_port(), free_port(), free_port()
    prov = _serve(home, "127.0.0.1", http_port, first)
    serve = _start(home, "server", "serve")
    try:
        assert wait_for_line(serve, "sync server", 30)
        door = _enroll(home, north, "127.0.0.1", http_port, "north")
        assert "[!]" not in _stopped(prov)

        prov = _serve(home, "127.0.0.1", http_port, second)          # the port was taken: the guide's --broker-port
        late = _enroll(home, south, "127.0.0.1", http_port, "south")    # enrolled here: knows the second port
        said = _stopped(prov)
        assert (f"[!] 1 enrolled device(s) ({door}) know the broker at 127.0.0.1:{first}, not 127.0.0.1:{second}: "
                "they cannot reach it and keep their scans until they can. Start `provision serve` again with "
                f"--broker-port {first}") in said, said
        assert late not in said, said

        prov = _serve(home, "127.0.0.1", http_port, first)
        tg(home, "server", "push")
        synced = tg(north, "agent", "sync", "--until-idle", "--for", "40")      # the door is back on its own
        assert "cannot reach the broker" not in synced.stdout + synced.stderr, synced.stderr
        said = _stopped(prov)
        assert door not in said and (f"[!] 1 enrolled device(s) ({late}) know the broker at 127.0.0.1:{second}, "
                                     f"not 127.0.0.1:{first}") in said, said
    finally:
        stop_process(serve)
        stop_process(prov)


@needs_broker
def test_a_serve_advertising_another_address_names_the_address_its_devices_know(tmp_path):
    """The laptop restarted on another interface (its default address is not the hotspot's): serve says the devices
    know the old address, that this machine still has it, and the option that gives it back."""
    home, north = tmp_path / "org", tmp_path / "north"
    home.mkdir()
    north.mkdir()
    _event_now(home)
    http_port, broker_port = free_port(), free_port()
    prov = _serve(home, "127.0.0.2", http_port, broker_port)
    try:
        door = _enroll(home, north, "127.0.0.2", http_port, "north")
        _stopped(prov)
        prov = _serve(home, "127.0.0.3", http_port, broker_port)
        said = _stopped(prov)
    finally:
        stop_process(prov)
    assert (f"[!] 1 enrolled device(s) ({door}) know the broker at 127.0.0.2:{broker_port}, not "
            f"127.0.0.3:{broker_port}: they cannot reach it and keep their scans until they can. This machine still "
            "has 127.0.0.2: start `provision serve` again with --advertise 127.0.0.2.") in said, said


def test_an_address_this_machine_lost_is_said_as_dhcp_with_what_to_do():
    behind = left_behind({"dev-a": "192.168.8.10:1883"}, "192.168.8.10:1883", ["dev-a", "dev-b", "dev-c"],
                         "192.168.8.23:1883")
    assert behind == {"192.168.8.10:1883": ["dev-a", "dev-b", "dev-c"]}      # older enrolments: the last serve's
    [line] = moved_words(behind, "192.168.8.23:1883", lambda host: False)
    assert line.startswith("3 enrolled device(s) (dev-a, dev-b, dev-c) know the broker at 192.168.8.10:1883, not "
                           "192.168.8.23:1883") and "give it 192.168.8.10 again" in line and "DHCP" in line
    assert left_behind({"dev-a": "192.168.8.23:1883"}, None, ["dev-a", "dev-b"], "192.168.8.23:1883") == {}
    assert "changed from 192.168.8.10 to 192.168.8.23 (DHCP)" in address_changed_words("192.168.8.10",
                                                                                         "192.168.8.23", 1883)
    assert "lost its network address" in address_changed_words("192.168.8.10", "127.0.0.1", 1883)


def _lines(stream) -> "queue.Queue[str | None]":
    """Every line of `stream`, read by a thread (None at its end): waited for with a deadline, never a blocking read."""
    import queue
    import threading
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)
    threading.Thread(target=read, daemon=True).start()
    return lines


def _said_within(lines, text: str, seconds: float) -> str:
    """The first line holding `text` within `seconds`, '' otherwise."""
    import queue
    import time
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        if text in line:
            return line
    return ""


@needs_broker
def test_a_running_serve_says_when_the_laptops_address_changes_and_when_it_is_back(tmp_path):
    """The hotspot's DHCP gives the laptop another address mid-event (`provision serve` started without
    --advertise: it gave the devices the address it had then). It said nothing while every device lost the broker;
    now it says it once, with what to do, and again when the address is back. A network namespace with one veth
    pair stands for the laptop on the hotspot (root and iproute2; skipped otherwise)."""
    import os
    import secrets
    import shutil
    import sys

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    from tests.qa_organiser import ROOT, _env

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)
    ns = f"tgdhcp{secrets.token_hex(3)}"
    home = tmp_path / "org"
    home.mkdir()
    _event_now(home)
    prov = None
    try:
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "add", "hot0", "type", "veth", "peer", "name", "hot1")     # the hotspot's link
        ip("-n", ns, "addr", "add", "10.78.0.10/24", "dev", "hot0")
        ip("-n", ns, "link", "set", "hot0", "up")
        ip("-n", ns, "link", "set", "hot1", "up")
        ip("-n", ns, "route", "add", "default", "dev", "hot0")
        prov = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "agent", "provision", "serve",
                                 "--org", "acme", "--start-broker", "--port", str(free_port()), "--no-zeroconf",
                                 "--broker-port", str(free_port()), "--for", "90"], cwd=ROOT, env=_env(home),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = _lines(prov.stdout), _lines(prov.stderr)
        started = _said_within(out, "Ctrl-C to stop", 30)
        assert started.startswith("broker 10.78.0.10:"), started
        ip("-n", ns, "addr", "del", "10.78.0.10/24", "dev", "hot0")        # the hotspot's DHCP: another address
        ip("-n", ns, "addr", "add", "10.78.0.23/24", "dev", "hot0")
        subprocess.run(["ip", "-n", ns, "route", "replace", "default", "dev", "hot0"], capture_output=True)
        moved = _said_within(err, "address changed", 20)
        assert ("[!] this machine's address changed from 10.78.0.10 to 10.78.0.23 (DHCP): the devices know the "
                "broker at 10.78.0.10:") in moved and "Give this machine 10.78.0.10 again" in moved, moved
        ip("-n", ns, "addr", "del", "10.78.0.23/24", "dev", "hot0")        # given back (a DHCP reservation)
        ip("-n", ns, "addr", "add", "10.78.0.10/24", "dev", "hot0")
        subprocess.run(["ip", "-n", ns, "route", "replace", "default", "dev", "hot0"], capture_output=True)
        back = _said_within(out, "again", 20)
        assert "this machine has its address 10.78.0.10 again: the devices reach the broker" in back, back
    finally:
        if prov is not None:
            stop_process(prov)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


@needs_broker
def test_a_broker_port_taken_under_enrolled_devices_is_to_be_freed_not_changed(tmp_path):
    """The broker port taken by something else after devices were enrolled on it (another program started on the
    laptop): serve said 'another mosquitto runs there … or choose --broker-port', the way out that strands every
    enrolled device. Now it names how to see what holds it, and that the port is to be freed."""
    import socket
    home, north = tmp_path / "org", tmp_path / "north"
    home.mkdir()
    north.mkdir()
    _event_now(home)
    http_port, broker_port = free_port(), free_port()
    prov = _serve(home, "127.0.0.1", http_port, broker_port)
    try:
        _enroll(home, north, "127.0.0.1", http_port, "north")
    finally:
        _stopped(prov)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", broker_port))
        squatter.listen()
        said = tg(home, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1", "--port",
                  str(http_port), "--advertise", "127.0.0.1", "--no-zeroconf", "--broker-port", str(broker_port),
                  "--for", "5", ok=False)
    assert said.returncode == 1 and f"the broker port {broker_port} is in use" in said.stderr, said.stderr
    assert (f"`sudo ss -ltnp 'sport = :{broker_port}'` names it. 1 enrolled device(s) know the broker on this port: "
            "free it rather than choose another --broker-port") in said.stderr, said.stderr
