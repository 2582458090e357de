"""Nothing is lost silently, part 2: a lossy, slow link between a door and the broker. The door runs in a network
namespace of its own joined to this machine by a veth pair, `tc qdisc … netem loss 30% delay 200ms` on both ends
(nothing leaves the machine; the namespace, the pair and the qdisc are removed after). Walked through the public
commands: `provision serve --start-broker` listening on the pair's address, `server serve`, the door's
`ticketgate agent …` run in the namespace (`ip netns exec`)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import ROOT, _env, _start, tg
from tests.test_qa_skew import _event_now, _server_entries

pytestmark = [pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed"),
              pytest.mark.skipif(shutil.which("ip") is None or shutil.which("tc") is None,
                                 reason="ip and tc (iproute2) make the lossy link"),
              pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace needs root")]


def _netem() -> bool:
    """This kernel has the netem qdisc (a container's kernel may not: 'Specified qdisc kind is unknown')."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc") is None:
        return False
    name = f"tgp{os.getpid()}"[:15]
    if subprocess.run(["ip", "link", "add", name, "type", "dummy"], capture_output=True, timeout=20).returncode:
        return False
    try:
        return subprocess.run(["tc", "qdisc", "add", "dev", name, "root", "netem", "delay", "1ms"],
                              capture_output=True, timeout=20).returncode == 0
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=20)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


@contextlib.contextmanager
def _lossy_namespace() -> Iterator[tuple[str, str]]:
    """A namespace joined to this machine by a veth pair, 30% loss and 200 ms delay each way: (its name, this
    machine's address on the pair). Removed after, whatever happened."""
    n = os.getpid() % 250
    ns, host_if, ns_if = f"tgloss{os.getpid()}", f"tgh{os.getpid()}"[:15], f"tgn{os.getpid()}"[:15]
    host, door = f"10.213.{n}.1", f"10.213.{n}.2"
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{door}/30", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        for where in ([], ["ip", "netns", "exec", ns]):
            subprocess.run([*where, "tc", "qdisc", "add", "dev", ns_if if where else host_if, "root", "netem",
                            "loss", "30%", "delay", "200ms"], check=True, capture_output=True, timeout=20)
        yield ns, host
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)     # its peer goes too
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def _in(ns: str, home: Path, *args: str, stdin: str = "", timeout: float = 90) -> subprocess.CompletedProcess:
    """`ticketgate …` of the device at `home`, run in the namespace."""
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "agent", *args], cwd=ROOT,
                          env=_env(home), input=stdin, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.skipif(not _netem(), reason="this kernel has no netem qdisc (tc … netem)")
def test_scans_over_a_lossy_slow_link_all_reach_the_server_once_and_agent_sync_says_what_it_does(
        tmp_path: Path) -> None:
    """Held: a door behind 30% packet loss and 200 ms delay each way enrols, takes its event data, lets in six
    tickets and syncs: its `agent sync` says what it does (syncing as …, online, the summary), all six are on the
    server exactly once, and a sync again sends nothing more."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    order = json.loads(tg(org, "server", "order", "add", "--event", "1", "--buyer", "Crowd", "--quantity", "6",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    keys = [t["ticket_key"] for t in order["tickets"]]
    payloads = [json.loads(tg(org, "server", "ticket", "show", k, "--json").stdout)["payload"] for k in keys]
    with _lossy_namespace() as (ns, host):
        http_port, broker_port = free_port(), free_port()
        prov = _start(org, "provision", "serve", "--org", "acme", "--start-broker", "--listen", host, "--port",
                      str(http_port), "--advertise", host, "--no-zeroconf", "--broker-port", str(broker_port),
                      "--for", "150")
        serve = None
        try:
            assert wait_for_line(prov, "enrollment endpoint", 30)
            serve = _start(org, "server", "serve")
            sheet = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                       "--events", "1", "--role", "door", "--out", str(org / "north.pdf")).stdout
            door = tmp_path / "door"
            door.mkdir()
            enrolled = _in(ns, door, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0],
                           "--server", f"{host}:{http_port}")
            assert enrolled.returncode == 0, (enrolled.stdout, enrolled.stderr)
            tg(org, "server", "push")
            first = _in(ns, door, "agent", "sync", "--until-idle", "--for", "50", "--json")
            assert json.loads(first.stdout.strip().splitlines()[-1])["bundle_version"] > 0, (first.stdout,
                                                                                                first.stderr)
            scanned = _in(ns, door, "agent", "scan", "--reread-window", "0", stdin="".join(p + "\n" for p in payloads))
            assert all(line.startswith("ACCEPTED") for line in scanned.stdout.splitlines()), scanned.stdout
            synced = _in(ns, door, "agent", "sync", "--until-idle", "--for", "50")
            said = synced.stdout.splitlines()
            assert synced.returncode == 0, (synced.stdout, synced.stderr)
            assert said[0].startswith("syncing as ") and "online" in said, said
            assert said[-1].startswith("event data v") and ", uploaded 6, waiting 0," in said[-1], said
            again = _in(ns, door, "agent", "sync", "--until-idle", "--for", "50", "--json")
            assert json.loads(again.stdout.strip().splitlines()[-1])["uploaded"] == 0, again.stdout
        finally:
            if serve is not None:
                stop_process(serve)
            stop_process(prov)
        assert sorted(e["ticket_key"] for e in _server_entries(org)) == sorted(keys)
        assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 6
