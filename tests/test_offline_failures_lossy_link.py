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
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.helpers import stop_process, wait_for_line
from tests.qa_organiser import ROOT, _env, _start, tg
from tests.test_offline_failures_broker import _order
from tests.test_qa_skew import _event_now, _server_entries

pytestmark = [pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed"),
              pytest.mark.skipif(shutil.which("ip") is None or shutil.which("tc") is None,
                                 reason="ip and tc (iproute2) make the lossy link"),
              ]


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
    keys, payloads = _order(org, 6)
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


class _BadLink:
    """A TCP relay on `listen` to the broker at `target` (both loopback): every chunk held `delay` seconds, and each
    connection cut with probability `cut` at each chunk (what was in flight lost), as a flaky mobile link does where
    the kernel cannot drop packets (no netem). `cuts` counts them."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int], delay: float, cut: float, seed: int) -> None:
        import random
        import socket
        import threading
        self.target, self.delay, self.cut, self.random = target, delay, cut, random.Random(seed)
        self.cuts = 0
        self.mute_up = False        # what the door sends is dropped (not forwarded), the connection left open
        self.open: list = []
        self.lock = threading.Lock()
        self.server = socket.create_server(listen)
        self.server.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        import socket
        import threading
        while not self.stopped.is_set():
            try:
                door, _ = self.server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                broker = socket.create_connection(self.target, timeout=5)
            except OSError:
                door.close()
                continue
            self.open += [door, broker]
            for a, b in ((door, broker), (broker, door)):
                threading.Thread(target=self._pump, args=(a, b, door, broker), daemon=True).start()

    def _pump(self, src, dst, *both) -> None:
        import time as clock
        try:
            while not self.stopped.is_set():
                data = src.recv(65536)
                if not data:
                    break
                clock.sleep(self.delay)
                with self.lock:
                    lost = self.random.random() < self.cut
                    self.cuts += lost
                if lost:
                    break
                if not (self.mute_up and src is both[0]):
                    dst.sendall(data)
        except OSError:
            pass
        for s in both:
            with contextlib.suppress(OSError):
                s.close()

    def cut_all(self) -> None:
        """Every connection through the link cut now."""
        for s in self.open:
            with contextlib.suppress(OSError):
                s.shutdown(2)

    def close(self) -> None:
        self.cut_all()
        self.stopped.set()
        self.server.close()
        self.thread.join(5)


@contextlib.contextmanager
def _door_behind_a_link(org: Path, tmp_path: Path, delay: float) -> Iterator[tuple[Path, "_BadLink"]]:
    """The organiser's `provision serve` (broker on 127.0.0.1, devices told 127.0.0.2) and `server serve`; a door
    enrolled at gate north reaching the broker through a _BadLink from 127.0.0.2 (holding each chunk `delay` s, no
    cuts yet), the event pushed. Everything stopped at the end."""
    http_port, broker_port = free_port(), free_port()
    prov = _start(org, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1", "--port",
                  str(http_port), "--advertise", "127.0.0.1", "--broker-host", "127.0.0.2", "--no-zeroconf",
                  "--broker-port", str(broker_port), "--for", "150")
    serve = link = None
    try:
        assert wait_for_line(prov, "enrollment endpoint", 30)
        serve = _start(org, "server", "serve")
        link = _BadLink(("127.0.0.2", broker_port), ("127.0.0.1", broker_port), delay=delay, cut=0.0, seed=7)
        sheet = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--events", "1", "--role", "door", "--out", str(org / "north.pdf")).stdout
        door = tmp_path / "door"
        door.mkdir()
        tg(door, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
           f"127.0.0.1:{http_port}")
        tg(org, "server", "push")
        yield door, link
    finally:
        if link is not None:
            link.close()
        if serve is not None:
            stop_process(serve)
        stop_process(prov)


def test_scans_over_a_link_that_delays_and_keeps_cutting_all_reach_the_server_once(tmp_path: Path) -> None:
    """Held: a door reaches the broker (`provision serve --broker-host 127.0.0.2`, the broker on 127.0.0.1) through
    a link that holds every chunk 200 ms and cuts the connection at 8% of them. Six tickets let in offline, then one
    `agent sync --until-idle`: it says what it does (syncing as …, online, offline: retrying, online again, the
    summary), all six reach the server exactly once though batches were cut mid-way and sent again."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    keys, payloads = _order(org, 6)
    with _door_behind_a_link(org, tmp_path, delay=0.2) as (door, link):
        first = tg(door, "agent", "sync", "--until-idle", "--for", "50", "--json")
        assert json.loads(first.stdout.strip().splitlines()[-1])["bundle_version"] > 0, first.stdout
        scanned = tg(door, "agent", "scan", "--reread-window", "0", stdin="".join(p + "\n" for p in payloads))
        assert all(line.startswith("ACCEPTED") for line in scanned.stdout.splitlines()), scanned.stdout
        link.cut = 0.08
        synced = tg(door, "agent", "sync", "--until-idle", "--for", "55", ok=False)
        said = synced.stdout.splitlines()
        assert synced.returncode == 0, (synced.stdout, synced.stderr)
        assert said[0].startswith("syncing as ") and "online" in said, said
        assert said[-1].startswith("event data v") and ", uploaded 6, waiting 0," in said[-1], said
        cuts = link.cuts
    assert cuts >= 1 and "offline: retrying" in said, (cuts, said)
    assert sorted(e["ticket_key"] for e in _server_entries(org)) == sorted(keys)
    assert json.loads(tg(org, "server", "stats", "--json").stdout)["entries"] == 6


def test_a_live_update_sent_again_after_its_acknowledgement_was_lost_is_not_reported_as_refused(
        tmp_path: Path) -> None:
    """A door syncing through a link that loses what the door sends for a moment (its acknowledgement of a live
    update gone), then cuts: the broker sends the update again after the reconnection (MQTT's duplicate flag set).
    The door had applied it and refused the copy, and `agent sync` ended '1 message(s) from the server refused'
    and 'refused on tg/acme/ev/1/live: replayed message …', which reads as an attack. A redelivery of a message it
    already applied is now taken silently (not applied twice); a replayed copy published again (no duplicate flag)
    is still refused and reported (tests/test_sync_live_relay.py)."""
    org = tmp_path / "org"
    org.mkdir()
    _event_now(org)
    order = json.loads(tg(org, "server", "order", "add", "--event", "1", "--buyer", "Crowd", "--quantity", "1",
                          "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    key = order["tickets"][0]["ticket_key"]
    with _door_behind_a_link(org, tmp_path, delay=0.0) as (door, link):
        assert json.loads(tg(door, "agent", "sync", "--until-idle", "--for", "40", "--json").stdout.strip()
                          .splitlines()[-1])["bundle_version"] > 0
        syncing = _start(door, "agent", "sync", "--for", "25")
        try:
            assert wait_for_line(syncing, "online", 30)
            time.sleep(2)
            link.mute_up = True
            tg(org, "server", "ticket", "block", key, "--reason", "stolen")
            time.sleep(3)         # the update arrives, is applied; its acknowledgement is lost
            link.cut_all()
            link.mute_up = False
            assert wait_for_line(syncing, "online", 30)       # again, after "offline: retrying"
            time.sleep(4)
            syncing.send_signal(signal.SIGTERM)
            out, err = syncing.communicate(timeout=30)
        finally:
            stop_process(syncing)
    assert "Traceback" not in err, err
    assert "0 message(s) from the server refused" in out and "replayed" not in out, out
