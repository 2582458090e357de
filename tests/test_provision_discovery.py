"""Discovery with real zeroconf: on loopback, and between two network namespaces joined by a veth pair
(real multicast across a link, as on the event hotspot). The namespaces are removed even on failure."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provisioning.device.discover import discover, manual
from provisioning.protocol import BadInput
from provisioning.server.advertiser import Advertiser, service_infos

ROOT = Path(__file__).resolve().parent.parent


def test_discovery_on_loopback_with_txt():
    instance = f"tg-test-{secrets.token_hex(3)}"
    org = f"org-{secrets.token_hex(3)}"          # other tests may advertise on this host at the same time
    infos = service_infos(instance, ["127.0.0.1"], 8787, 1883, org, "ABCD:EF01:2345:6789", tls=True)
    with Advertiser(infos, interfaces=["127.0.0.1"]):
        found = discover(5, org=org, interfaces=["127.0.0.1"], first=True)
    assert len(found) == 1
    f = found[0]
    assert (f.host, f.port, f.org, f.fingerprint, f.version, f.tls) == ("127.0.0.1", 8787, org, "ABCD:EF01:2345:6789", "1", True)
    assert f.address == "127.0.0.1:8787"


def test_discovery_finds_nothing_for_another_organiser():
    assert discover(0.5, org=f"nobody-{secrets.token_hex(3)}", interfaces=["127.0.0.1"]) == []


@pytest.mark.parametrize("text,expected", [("192.168.8.10:8787", ("192.168.8.10", 8787)),
                                           ("[fe80::1]:8787", ("fe80::1", 8787)), (" tg.local:80 ", ("tg.local", 80))])
def test_manual_address(text, expected):
    assert manual(text) == expected


@pytest.mark.parametrize("text", ["", "host", "host:", "host:0", "host:70000", "ho st:1", ":80"])
def test_manual_address_malformed(text):
    with pytest.raises(BadInput):
        manual(text)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def two_namespaces():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = secrets.token_hex(3)
    srv, dev = f"tgsrv{tag}", f"tgdev{tag}"
    try:
        _ip("netns", "add", srv)
        _ip("netns", "add", dev)
        _ip("link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vd{tag}")
        _ip("link", "set", f"vs{tag}", "netns", srv)
        _ip("link", "set", f"vd{tag}", "netns", dev)
        for ns, link, addr in ((srv, f"vs{tag}", "10.77.0.1/24"), (dev, f"vd{tag}", "10.77.0.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", link)
            _ip("-n", ns, "link", "set", link, "up", "multicast", "on")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", link)
        yield srv, dev
    finally:
        for ns in (srv, dev):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def _in_ns(ns: str, code: str, timeout: float = 30) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def test_discovery_across_network_namespaces(two_namespaces):
    srv, dev = two_namespaces
    advertiser = _in_ns(srv, """
        import sys, time
        from provisioning.server.advertiser import Advertiser, service_infos
        infos = service_infos("tg-ns", ["10.77.0.1"], 8787, 1883, "acme", "ABCD:EF01:2345:6789")
        with Advertiser(infos, interfaces=["10.77.0.1"]):
            print("ready", flush=True)
            time.sleep(20)
        """)
    try:
        assert advertiser.stdout.readline().strip() == "ready"
        browser = _in_ns(dev, """
            import json
            from provisioning.device.discover import discover
            print(json.dumps([f.__dict__ for f in discover(10, org="acme", interfaces=["10.77.0.2"], first=True)]))
            """)
        out, err = browser.communicate(timeout=30)
        assert browser.returncode == 0, err
        found = json.loads(out)
        assert [(f["host"], f["port"], f["fingerprint"]) for f in found] == [("10.77.0.1", 8787, "ABCD:EF01:2345:6789")]
    finally:
        advertiser.kill()
        advertiser.wait(10)


def test_enroll_says_so_when_the_qr_hint_and_the_server_zeroconf_finds_are_both_unreachable(tmp_path):
    """The QR's server hint does not answer, zeroconf finds the organiser's server, and it does not answer either:
    a refusal naming the server (exit 1, no traceback), not a crash on credentials that never came."""
    import socket

    from provisioning.protocol import EnrollQR, new_token
    org, fp = f"acme-{secrets.token_hex(3)}", secrets.token_hex(8).upper()
    with socket.socket() as s:                      # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    qr = EnrollQR(new_token(), fp, f"127.0.0.1:{dead}", org).text()
    infos = service_infos(f"tg-{org}", ["127.0.0.1"], dead, 1883, org, ":".join(fp[i:i + 4] for i in range(0, 16, 4)))
    with Advertiser(infos, interfaces=["127.0.0.1"]):
        done = subprocess.run([sys.executable, "-m", "agent", "provision", "enroll", "--qr", qr, "--interface",
                               "127.0.0.1", "--home", str(tmp_path / "device")], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    assert "trying zeroconf" in done.stdout and f"found 127.0.0.1:{dead}" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1 and "cannot reach the server" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
                    reason="mosquitto not installed")
@pytest.mark.parametrize("first", ["other", "right"])
def test_enroll_by_code_sends_it_only_to_its_server_of_two_provision_serve_on_the_network(tmp_path, first):
    """`provision enroll --code` (no --server) on a hotspot where two organisers run `provision serve` (here both
    named 'acme', as two events' servers can be): the code went to whichever answered zeroconf first, and there it
    was "unknown organiser code" (with a second code tried at the next: the other organiser saw the code). Now it
    goes only to the server whose key it fits (its check character), whichever answers first; the other never
    receives it."""
    from functools import partial

    from tests.helpers import provision_serve, stop_process
    from tests.qa_organiser import _start, tg
    from tests.test_qa_skew import _event_now
    homes = {"other": tmp_path / "other", "right": tmp_path / "right"}
    running = {}
    try:
        for name in (first, *(n for n in homes if n != first)):     # the first one advertised answers first
            homes[name].mkdir()
            _event_now(homes[name])
            running[name] = provision_serve(partial(_start, homes[name]), seconds=120, zeroconf=True)
        ports = {name: port for name, (_, port) in running.items()}
        announced = json.loads(tg(homes["right"], "provision", "discover", "--json", "--interface", "127.0.0.1",
                                  "--timeout", "3").stdout)
        other_fp = next(f["fingerprint"] for f in announced if f["port"] == ports["other"])
        from provisioning.protocol import code_fits, normalize_code
        printed = tg(homes["right"], "provision", "tokens", "create", "--org", "acme", "--count", "5", "--gate",
                     "south", "--out", str(homes["right"] / "sheet.pdf")).stdout
        codes = [line.split()[1] for line in printed.splitlines() if line.startswith("  code ")]
        code = next(c for c in codes if not code_fits(normalize_code(c), other_fp))    # 1 in 30 fits the other
        door = tmp_path / "door"
        door.mkdir()
        done = tg(door, "provision", "enroll", "--code", code, "--interface", "127.0.0.1", "--no-connect")
        assert f"enrolling with 127.0.0.1:{ports['right']}" in done.stdout, done.stdout
        assert f"enrolling with 127.0.0.1:{ports['other']}" not in done.stdout, done.stdout
        device_id = done.stdout.split("enrolled as ")[1].split()[0]
        said = {}
        for name in list(running):
            prov, _ = running.pop(name)
            stop_process(prov)
            said[name] = prov.stdout.read()
        assert f"enrolled #1: {device_id} gate=south" in said["right"] and "enrolled #" not in said["other"], said
    finally:
        for prov, _ in running.values():
            stop_process(prov)


def test_discover_answers_json_like_every_read_command(capsys):
    """README: read commands take --json; `provision discover --json` was refused (unrecognized argument), so a
    script picking the server had to parse the columns."""
    from agent.cli import main as ticketgate
    org = f"org-{secrets.token_hex(3)}"
    infos = service_infos(f"tg-test-{secrets.token_hex(3)}", ["127.0.0.1"], 8787, 1883, org, "ABCD:EF01:2345:6789")
    with Advertiser(infos, interfaces=["127.0.0.1"]):
        assert ticketgate(["provision", "discover", "--json", "--org", org, "--interface", "127.0.0.1",
                           "--timeout", "3"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(f["address"], f["org"], f["fingerprint"], f["tls"]) for f in found] == \
        [("127.0.0.1:8787", org, "ABCD:EF01:2345:6789", False)]
