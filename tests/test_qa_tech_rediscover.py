"""The technician's day when the broker moves under enrolled devices (the broker port changed, the laptop got another
address from the hotspot's DHCP): `provision serve` announces its broker's address on zeroconf, signed with the
organiser's server key and counted, and a device that cannot reach its broker looks for it, checks the signature
against the key it pinned at enrolment, takes the new address (saved 0600) and sends what it queued meanwhile.
Anything else announced (another key, a replay of an older announcement, another organiser's) is ignored and said.
Through the public commands (a HOME each, `provision serve`'s own mosquitto; loopback, and a network namespace for
the address change)."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.device.discover import discover
from provisioning.server.advertiser import Advertiser, service_infos
from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import _start, tg
from tests.test_qa_skew import _event_now

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _serve(home: Path, http_port: int, broker_port: int) -> subprocess.Popen:
    """`provision serve` on loopback, announcing its broker on zeroconf (127.0.0.1)."""
    prov = _start(home, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1", "--port",
                  str(http_port), "--advertise", "127.0.0.1", "--broker-port", str(broker_port), "--for", "150")
    if not wait_for_line(prov, "advertised on zeroconf", 30):
        stop_process(prov)
        raise AssertionError("`provision serve` never said it advertises")
    return prov


def _server(home: Path) -> subprocess.Popen:
    serve = _start(home, "server", "serve")
    assert wait_for_line(serve, "sync server", 30)
    return serve


def _enroll(home: Path, device: Path, http_port: int) -> str:
    sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
               "--out", str(home / "north.pdf")).stdout
    tg(device, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
       f"127.0.0.1:{http_port}")
    return json.loads((device / "device" / "credentials.json").read_text())["device_id"]


def _broker_of(device: Path) -> tuple[str, int]:
    path = device / "device" / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    broker = json.loads(path.read_text())["broker"]
    return broker["host"], broker["port"]


def _announced(port: int) -> dict[str, str]:
    """The TXT entries `provision serve` announces on loopback, its endpoint on `port`."""
    for _ in range(3):
        found = [f for f in discover(3, interfaces=["127.0.0.1"]) if f.port == port]
        if found:
            return dict(found[0].txt)
    raise AssertionError(f"nothing announced for port {port}")


def _entries(home: Path) -> int:
    return int(json.loads(tg(home, "server", "stats", "--json").stdout)["entries"])


@needs_broker
def test_a_door_finds_the_broker_on_its_new_port_and_sends_what_it_queued(tmp_path):
    """The guide's `--broker-port` after the port was taken: the door enrolled on the first port was stranded
    ('cannot reach the broker … connection refused') with its entries. Now it finds the broker on the new port from
    serve's signed announcement, saves it, and its entries arrive, none lost."""
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir()
    door.mkdir()
    payloads = _event_now(home)
    http_port, first, second = free_port(), free_port(), free_port()
    prov = _serve(home, http_port, first)
    serve = _server(home)
    try:
        _enroll(home, door, http_port)
        tg(home, "server", "push")
        tg(door, "agent", "sync", "--until-idle", "--for", "40")
        stop_process(serve)
        stop_process(prov)
        for payload in payloads[:2]:             # the door keeps admitting people while the broker is away
            assert tg(door, "agent", "scan", stdin=payload + "\n").stdout.startswith("ACCEPTED — IN")

        prov = _serve(home, http_port, second)
        serve = _server(home)
        synced = tg(door, "agent", "sync", "--until-idle", "--for", "60", "--interface", "127.0.0.1")
        assert (f"the broker moved from 127.0.0.1:{first} to 127.0.0.1:{second} (announced by organiser acme's "
                "server, signed with its key)") in synced.stdout, synced.stdout + synced.stderr
        assert "uploaded 2" in synced.stdout and "waiting 0" in synced.stdout, synced.stdout
        assert _broker_of(door) == ("127.0.0.1", second)
        assert _entries(home) == 2
        again = tg(door, "agent", "sync", "--until-idle", "--for", "40", "--interface", "127.0.0.1")
        assert "moved" not in again.stdout, again.stdout          # said once: the next sync goes there directly
    finally:
        stop_process(serve)
        stop_process(prov)


@needs_broker
def test_attack_broker_announcements_of_another_key_an_older_counter_or_another_organiser_are_ignored(tmp_path):
    """On the hotspot, anyone can answer zeroconf: an announcement naming the organiser but signed by another key, a
    genuine older announcement replayed (the broker's former address), another organiser's. A device following any
    of them would hand its broker password to whoever listens there. Each is said, and the address is kept."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from provisioning.broker_announce import announcement
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir()
    door.mkdir()
    _event_now(home)
    http_port, first, second = free_port(), free_port(), free_port()
    prov = _serve(home, http_port, first)
    try:
        _enroll(home, door, http_port)
        old = _announced(http_port)               # the broker's first address, genuinely signed
    finally:
        stop_process(prov)
    prov = _serve(home, http_port, second)
    try:
        followed = tg(door, "agent", "sync", "--for", "8", "--interface", "127.0.0.1").stdout    # online, no server
        assert f"the broker moved from 127.0.0.1:{first} to 127.0.0.1:{second}" in followed, followed
    finally:
        stop_process(prov)
    assert _broker_of(door) == ("127.0.0.1", second)

    rogue_key = Ed25519PrivateKey.generate()
    trap = free_port()                           # where a rogue would collect broker passwords
    tag = secrets.token_hex(3)

    def infos(name: str, org: str, fp: str, txt: dict[str, str]):
        return service_infos(f"rogue-{name}-{tag}", ["127.0.0.1"], free_port(), trap, org, fp, broker_at=txt)
    replay = {k: old[k] for k in ("at", "seq", "sig")}
    rogues = [infos("key", "acme", old["fp"], announcement(rogue_key.sign, "acme", "127.0.0.1", trap, False,
                                                           int(old["seq"]) * 2)),
              infos("replay", "acme", old["fp"], replay),
              infos("other", "beta", "ABCD:EF01:2345:6789", announcement(rogue_key.sign, "beta", "127.0.0.1", trap,
                                                                         False, int(old["seq"]) * 2))]
    advertisers = [Advertiser(i, interfaces=["127.0.0.1"]).start() for i in rogues]
    try:
        synced = tg(door, "agent", "sync", "--until-idle", "--for", "30", "--interface", "127.0.0.1", ok=False)
    finally:
        for a in advertisers:
            a.stop()
    said = synced.stdout
    assert synced.returncode == 1 and f"cannot reach the broker at 127.0.0.1:{second}" in synced.stderr, said
    assert (f"(127.0.0.1:{trap}): not signed by this organiser's server key (a forged or another server's "
            "announcement)") in said, said
    assert (f"(127.0.0.1:{first}): older than the address this device holds (counter {old['seq']} ≤ ") in said
    assert f"(127.0.0.1:{trap}): another organiser's (beta)" in said, said
    assert "moved" not in said and _broker_of(door) == ("127.0.0.1", second)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@needs_broker
def test_a_door_follows_the_laptops_new_address_on_the_hotspot_and_its_entries_arrive(tmp_path):
    """The hotspot's DHCP gives the laptop another address mid-event. `provision serve` (no --advertise) said so,
    and every door stayed offline until the laptop got its address back. Now serve announces the new one, signed,
    and a door that lost the broker (running `agent sync`, as on the event day) finds it within about 20 s and sends
    the entries it made meanwhile. Two network namespaces joined by a veth pair: the laptop and the door."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    from tests.qa_organiser import ROOT, _env
    from tests.test_qa_tech_address import _lines, _said_within
    tag = secrets.token_hex(3)
    lap, dev = f"tglap{tag}", f"tgdev{tag}"
    home, door = tmp_path / "org", tmp_path / "door"
    home.mkdir()
    door.mkdir()
    payloads = _event_now(home)
    http_port, broker_port = free_port(), free_port()

    def in_ns(ns: str, who: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "agent", *args], cwd=ROOT,
                                env=_env(who), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run_in(ns: str, who: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "agent", *args], cwd=ROOT,
                              env=_env(who), input=stdin, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stdout, done.stderr)
        return done

    def move_laptop(old: str, new: str) -> None:
        _ip("-n", lap, "addr", "del", f"{old}/24", "dev", f"vl{tag}")
        _ip("-n", lap, "addr", "add", f"{new}/24", "dev", f"vl{tag}")
        _ip("-n", lap, "route", "replace", "default", "dev", f"vl{tag}")
        _ip("-n", lap, "route", "replace", "224.0.0.0/4", "dev", f"vl{tag}")

    prov = serve = sync = None
    try:
        _ip("netns", "add", lap)
        _ip("netns", "add", dev)
        _ip("link", "add", f"vl{tag}", "type", "veth", "peer", "name", f"vd{tag}")
        _ip("link", "set", f"vl{tag}", "netns", lap)
        _ip("link", "set", f"vd{tag}", "netns", dev)
        for ns, link, addr in ((lap, f"vl{tag}", "10.79.0.10/24"), (dev, f"vd{tag}", "10.79.0.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", link)
            _ip("-n", ns, "link", "set", link, "up", "multicast", "on")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "dev", link)
        prov = in_ns(lap, home, "provision", "serve", "--org", "acme", "--start-broker", "--port", str(http_port),
                     "--broker-port", str(broker_port), "--for", "150")
        out = _lines(prov.stdout)
        assert _said_within(out, "advertised on zeroconf", 30), "provision serve did not start"
        serve = in_ns(lap, home, "server", "serve")
        assert wait_for_line(serve, "sync server", 30)
        sheet = run_in(lap, home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                       "--out", str(home / "north.pdf")).stdout
        run_in(dev, door, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0])
        assert _broker_of(door) == ("10.79.0.10", broker_port)
        run_in(lap, home, "server", "push")
        sync = in_ns(dev, door, "agent", "sync", "--for", "120")      # the door, syncing all day
        said = _lines(sync.stdout)
        assert _said_within(said, "online", 30)

        move_laptop("10.79.0.10", "10.79.0.23")                    # the hotspot's DHCP: another address
        announced = _said_within(out, "address changed", 20)
        assert "the broker is announced at 10.79.0.23:" in announced, announced
        assert _said_within(said, "offline", 30)
        assert run_in(dev, door, "agent", "scan", stdin=payloads[0] + "\n").stdout.startswith("ACCEPTED — IN")
        moved = _said_within(said, "the broker moved", 40)
        assert f"from 10.79.0.10:{broker_port} to 10.79.0.23:{broker_port}" in moved, moved
        assert _said_within(said, "online", 30)
        assert _broker_of(door) == ("10.79.0.23", broker_port)
        for _ in range(60):                                          # its queued entry arrives
            if json.loads(run_in(dev, door, "agent", "status", "--json").stdout).get("outbox_pending") == 0:
                break
            subprocess.run(["sleep", "0.5"], check=True)
        assert json.loads(run_in(lap, home, "server", "stats", "--json").stdout)["entries"] == 1
    finally:
        for p in (sync, serve, prov):
            if p is not None:
                stop_process(p)
        for ns in (lap, dev):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


@needs_broker
def test_the_apps_sync_finds_the_broker_that_moved_and_gets_its_event_data(tmp_path, broker):
    """The app (kiosk_ui's SyncLink, the same on Android) enrolled on a broker address nobody answers at any more:
    it stayed offline all day. Now it follows the organiser's signed announcement of the broker's new address, saves
    it, and gets its event data there."""
    from provisioning.broker_announce import announcement
    from tests.helpers import wait_for
    from tests.integration_kiosk_env import ORG, Env, kiosk_credentials
    env = Env(tmp_path, broker.port)
    dead = free_port()
    kiosk_credentials(env.home, dead, env.server_key, env.event)      # enrolled when the broker was there
    announced = announcement(env.store.server_key(ORG).sign, ORG, "127.0.0.1", broker.port, False, 10 ** 12)
    infos = service_infos(f"tg-app-{secrets.token_hex(3)}", ["127.0.0.1"], free_port(), broker.port, ORG,
                          "ABCD:EF01:2345:6789", broker_at=announced)
    advertiser = Advertiser(infos, interfaces=["127.0.0.1"]).start()
    try:
        env.link.interfaces, env.link.follow_after = ["127.0.0.1"], 1.0
        assert env.link.start(), env.link.status().detail
        keys = [t["ticket_key"] for o in env.orders for t in o["tickets"]]
        assert wait_for(lambda: all(env.kiosk_has(k) for k in keys), 40), env.link.status()
        saved = json.loads((env.home / "credentials.json").read_text())["broker"]
        assert (saved["host"], saved["port"], saved["seq"]) == ("127.0.0.1", broker.port, 10 ** 12)
        assert (env.home / "credentials.json").stat().st_mode & 0o777 == 0o600
    finally:
        advertiser.stop()
        env.close()
