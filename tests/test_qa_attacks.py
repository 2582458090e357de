"""Attacks with a real device's credentials, set up as the guides say (`server init`, `provision serve` with its
broker, `server serve`, `provision enroll` on two door homes) and made with a raw MQTT client logged in with the
stolen door's broker login. Each test fails on the defect it names."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import paho.mqtt.client as mqtt
import pytest

from agent.safe_text import timestamp
from agent.sync import topics
from agent.sync.messages import ActionItem, Batch
from kiosk_ui.presenters.verdict import fmt_datetime, fmt_time
from tests.broker import mosquitto_binary
from tests.helpers import provision_serve, stop_process, wait_for

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE")}
    return dict(env, HOME=str(home), PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home / "device"))


def tg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_env(home), capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stderr, (args, proc.stderr)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def _start(home: Path, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    out = log.open("w") if log else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_env(home), stdout=out,
                            stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True)


_stop = stop_process


@contextmanager
def serving(org: Path, log: Path) -> Iterator[int]:
    """`provision serve` and `server serve` (printing to `log`) of the organiser at `org`, both stopped at the end:
    the enrolment endpoint's port."""
    prov, http_port = provision_serve(partial(_start, org), seconds=300)
    serve = None
    try:
        serve = _start(org, "server", "serve", log=log)
        assert wait_for(lambda: "sync server" in log.read_text(), 30)
        yield http_port
    finally:
        if serve is not None:
            _stop(serve)
        _stop(prov)


def enroll(org: Path, home: Path, gate: str, http_port: int, role: str = "door", events: str = "1") -> None:
    """The organiser prints one enrolment code for `gate`; the device at `home` enrols with it, as the guide says."""
    sheet = tg(org, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", gate, "--role", role,
               "--events", events, "--out", str(org / f"{gate}.pdf")).stdout
    tg(home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
       f"127.0.0.1:{http_port}")


@dataclass
class Field:
    org: Path
    door: Path          # the stolen door
    gate: Path          # another door of the same event
    ticket: str         # a paid ticket of event 1: its key
    payload: str        # and its QR payload
    serve_log: Path     # what `server serve` printed


@pytest.fixture
def field(tmp_path: Path) -> Iterator[Field]:
    org, door, gate = (tmp_path / name for name in ("org", "door", "gate"))
    for home in (org, door, gate):
        home.mkdir()
    fmt = "%Y-%m-%d %H:%M"
    now = time.time()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme")
    tg(org, "server", "event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor", "--category",
       "1=Adult", "--start", datetime.fromtimestamp(now - 3600, timezone.utc).strftime(fmt),
       "--end", datetime.fromtimestamp(now + 6 * 3600, timezone.utc).strftime(fmt))
    tg(org, "server", "order", "add", "--event", "1", "--buyer", "Ann", "--email", "ann@example.org", "--ticket",
       "category=Adult,zone=Floor")
    ticket = json.loads(tg(org, "server", "order", "find", "Ann", "--json").stdout)[0]["tickets"][0]["ticket_key"]
    payload = json.loads(tg(org, "server", "ticket", "show", ticket, "--json").stdout)["payload"]
    serve_log = tmp_path / "serve.log"
    with serving(org, serve_log) as http_port:
        for home, gate_name in ((door, "north"), (gate, "south")):
            enroll(org, home, gate_name, http_port)
            tg(home, "agent", "sync", "--until-idle", "--for", "60")
        yield Field(org, door, gate, ticket, payload, serve_log)


def the_other_gate_is_still_counted(field: Field) -> None:
    """After an attack by the stolen door: the other gate's entry is uploaded and counted, and `server serve` logged
    no traceback and no failed ingestion (nothing of the other gates dropped with the attacker's messages)."""
    tg(field.gate, "agent", "scan", field.payload)
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    assert json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"] == 1
    log = field.serve_log.read_text()
    assert "Traceback" not in log and "ingestion failed" not in log, log[-3000:]


class StolenLogin:
    """A raw MQTT client logged in with a device's broker credentials (what a thief copies off the phone)."""

    def __init__(self, home: Path):
        self.creds = json.loads((home / "device" / "credentials.json").read_text())
        self.device = self.creds["device_id"]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, self.device, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(self.creds["username"], self.creds["password"])
        self.client.connect(self.creds["broker"]["host"], self.creds["broker"]["port"])
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def upload(self, bodies: list[dict]) -> None:
        rows = [(100 + i, "action", json.dumps(b)) for i, b in enumerate(bodies)]
        self.publish(topics.up("acme", self.device),
                     Batch.encode("acme", self.device, uuid.uuid4().hex, time.time(), rows))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_attack_entry_dated_in_the_year_33000_is_refused(field):
    """A stolen door uploads an entry for a real ticket of its event dated 9.9e11 s (year 33341) and a presence
    dated 1e300. Before: the entry was stored and relayed; it sat after every organiser reset of the ticket, the
    other gate said `already_used` and `agent scan` there died on a traceback printing its date, and
    `server devices`, `server stats` and `server device uploads` died too (OverflowError / year out of range)."""
    thief = StolenLogin(field.door)
    try:
        far = ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", 9.9e11, thief.device, "north").to_wire()
        thief.upload([far])
        thief.publish(topics.device_status("acme", thief.device),
                      json.dumps({"state": "online", "device": thief.device, "ts": 1e300}).encode(), retain=True)
        assert wait_for(lambda: "dated" in tg(field.org, "server", "refusals").stdout, 60)
    finally:
        thief.close()
    refusals = tg(field.org, "server", "refusals").stdout
    assert "h ahead of the server's clock" in refusals, refusals
    for command in (("devices",), ("devices", "--json"), ("stats",), ("stats", "--json"),
                    ("device", "uploads", thief.device)):
        tg(field.org, "server", *command)            # each exits 0 without a traceback
    seen = json.loads(tg(field.org, "server", "devices", "--json").stdout)
    assert all(d["last_seen"] is None or d["last_seen"] < time.time() + 60 for d in seen), seen
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")
    verdict = json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)
    assert verdict["verdict"] == "accepted", verdict                    # the holder gets in at the other gate
    assert (field.door / "device" / "credentials.json").exists()         # nothing wiped on the thief's phone


def test_attack_deeply_nested_json_is_one_refused_message(field):
    """A stolen door publishes `[` x 100,000 on its upload and presence topics. Before: json.loads raised
    RecursionError past the `malformed JSON` guard, the server logged a traceback and dropped the whole drain it was
    in ("ingestion failed"), genuine batches of other gates included. Now each is one refused message."""
    thief = StolenLogin(field.door)
    try:
        for topic in (topics.up("acme", thief.device), topics.device_status("acme", thief.device)):
            thief.publish(topic, b"[" * 100_000)
        assert wait_for(lambda: field.serve_log.read_text().count("nested too deep") >= 1, 60), \
            field.serve_log.read_text()[-3000:]
    finally:
        thief.close()
    the_other_gate_is_still_counted(field)


@pytest.mark.parametrize("ts", [9.9e11, -9.9e11, 1e300, math.nan, math.inf])
def test_a_date_no_calendar_holds_is_shown_not_raised(ts):
    """Times a device or a message carries go through one formatter: out of range, it shows the raw seconds."""
    assert timestamp(ts, "%Y-%m-%d").startswith("? (")
    assert fmt_datetime(ts).startswith("? (") and fmt_time(ts).startswith("? (")
    assert timestamp(0, "%Y-%m-%d") == "1970-01-01"
