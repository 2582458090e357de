"""QA defects of the door and server commands, each walked through the public commands (`ticketgate …` in
subprocesses, fresh HOME, real broker): each test fails on the defect it names."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.broker import free_port, mosquitto_binary
from tests.test_qa_user_paths import _start, _stop, organiser, tg  # noqa: F401 (organiser: fixture)

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


class Door:
    """`provision serve` (broker, enrollment) and `server serve` running for one organiser HOME."""

    def __init__(self, home: Path):
        self.home = home
        self.http_port, broker_port = free_port(), free_port()
        self.prov = _start(home, "provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1",
                           "--port", str(self.http_port), "--advertise", "127.0.0.1", "--no-zeroconf",
                           "--broker-port", str(broker_port), "--for", "180")
        self.serve = None
        assert "enrollment endpoint" in self.prov.stdout.readline()
        self.serve = _start(home, "server", "serve")
        assert "sync server" in self.serve.stdout.readline()

    def enroll(self, events: str) -> str:
        """A door enrolled with a fresh one-time code (this HOME's device), synced; its device id."""
        sheet = tg(self.home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--events", events, "--out", str(self.home / "doors.pdf")).stdout
        tg(self.home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
           f"127.0.0.1:{self.http_port}")
        tg(self.home, "server", "push")
        self.sync()
        return json.loads((self.home / "device" / "credentials.json").read_text())["device_id"]

    def sync(self) -> None:
        tg(self.home, "agent", "sync", "--until-idle", "--for", "30")

    def close(self) -> None:
        if self.serve is not None:
            _stop(self.serve)
        _stop(self.prov)


@pytest.fixture
def door(organiser):
    d = Door(organiser)
    try:
        yield d
    finally:
        d.close()


def _order(home: Path, event: int, quantity: int = 1) -> list[str]:
    order = json.loads(tg(home, "server", "order", "add", "--event", str(event), "--buyer", "Ann Martin", "--quantity",
                          str(quantity), "--ticket", "category=Adult,zone=Floor", "--json").stdout)
    return [t["ticket_key"] for t in order["tickets"]]


def _payload(home: Path, key: str) -> str:
    return json.loads(tg(home, "server", "ticket", "show", key, "--json").stdout)["payload"]


@needs_broker
def test_checkin_by_key_judges_the_validity_window_like_a_scan(door):
    """`agent checkin KEY` admitted a ticket whose QR the same door refused as expired: a check-in by key has no QR to
    carry the window, so it now comes from the event's dates and the server's margin (6 h) in the bundle."""
    home, now = door.home, time.time()
    tg(home, "server", "event", "create", "--name", "Last night", "--start", _utc(now - 12 * 3600), "--end",
       _utc(now - 7 * 3600), "--zone", "1=Floor", "--category", "1=Adult")          # event 2: closed 1 h ago
    tg(home, "server", "event", "create", "--name", "This afternoon", "--start", _utc(now - 9 * 3600), "--end",
       _utc(now - 5 * 3600), "--zone", "1=Floor", "--category", "1=Adult")          # event 3: open 1 h more
    closed, still_open = _order(home, 2, 2), _order(home, 3, 2)
    door.enroll("2,3")
    verdicts = {}
    for name, keys in (("closed", closed), ("open", still_open)):
        scanned = tg(home, "agent", "scan", "--json", _payload(home, keys[0]), ok=False).stdout
        by_key = tg(home, "agent", "checkin", keys[1], "--reason", "phone dead", "--json", ok=False).stdout
        verdicts[name] = (json.loads(scanned)["verdict"], json.loads(by_key)["verdict"])
    assert verdicts == {"closed": ("expired", "expired"), "open": ("accepted", "accepted")}, verdicts
