"""Attacks on ingestion, one test each, through a real mosquitto and the real `ticketgate server serve` process.

The attacker holds a door device's identity (gate-a: role door, event 1 only) and publishes crafted uploads on its
own upload topic, exactly what a stolen door phone can do. The victim is another door of event 1 (gate-b, a real
DeviceSync + Gate). docs/security.md lists these attacks with their trials and outcome.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.sync import topics
from agent.sync.messages import Ack, ActionItem, Batch
from agent.sync.signed import Verifier
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door

ROOT = Path(__file__).resolve().parent.parent


class Attacker:
    """A raw MQTT client logged in as a registered device: publishes any batch on its own upload topic and reads the
    signed acks the server sends back."""

    def __init__(self, port: int, device: str, server_key: bytes):
        self.device, self.verifier, self.acks, self.clocks = device, Verifier(server_key), [], []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, device, protocol=mqtt.MQTTv5)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topics.down(ORG, device), qos=1)
        self.client.loop_start()

    def _message(self, _c, _u, msg) -> None:
        if msg.payload[:4] == b"TGB1":
            return                                   # a bundle chunk (after a hello)
        body = self.verifier.open(msg.payload)
        if body.get("type") == "ack":
            self.acks.append(Ack.from_wire(body))
        elif body.get("type") == "clock":
            self.clocks.append(body)

    def upload(self, bodies: list[dict], first_id: int = 1) -> str:
        batch = uuid.uuid4().hex
        rows = [(first_id + i, b.get("type", "action"), json.dumps(b)) for i, b in enumerate(bodies)]
        info = self.client.publish(topics.up(ORG, self.device), Batch.encode(ORG, self.device, batch, time.time(), rows),
                                   qos=1)
        info.wait_for_publish(10)
        return batch

    def ack(self, batch: str, timeout: float = 15.0) -> Ack:
        assert wait_for(lambda: any(a.batch == batch for a in self.acks), timeout), f"no ack for batch {batch}"
        return next(a for a in self.acks if a.batch == batch)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def entry(device: str, ticket_key: str, event_id: int, kind: str = "entry") -> dict:
    return ActionItem(str(uuid.uuid4()), kind, ticket_key, event_id, "in" if kind == "entry" else None, time.time(),
                      device, device).to_wire()


def serve(folder: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agent", "server", "serve", "--data", str(folder),
                             "--broker", f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


@pytest.fixture
def field(tmp_path, broker):
    """Organiser with events 1 and 2; doors gate-a (the attacker) and gate-b (event 1), kiosk-1 (kiosk, event 1);
    the server process; gate-b online and loaded."""
    store, event1, orders1 = make_store(tmp_path / "server", tickets=6, devices=("gate-a", "gate-b"))
    now = time.time()
    event2 = store.create_event(ORG, "Second night", now - 3600, now + 6 * 3600, "Europe/Paris",
                                categories=[{"category_id": 1, "name": "Standard"}])
    orders2 = [store.add_order(ORG, event2, f"Other {i}", positions=[{"category": 1}]) for i in range(3)]
    store.register_device(ORG, "kiosk-1", gate="desk", events=[event1], role="kiosk")
    server = serve(tmp_path / "server", broker.port)
    key = store.server_public_key(ORG)
    victim = start_door(tmp_path / "b", "gate-b", broker.port, key, event1)
    attacker = Attacker(broker.port, "gate-a", key)
    try:
        assert wait_for(lambda: victim.ready(6), 20), "the victim gate never got its bundle"
        yield {"store": store, "event1": event1, "event2": event2, "orders1": orders1, "orders2": orders2,
               "victim": victim, "attacker": attacker, "broker": broker, "server": server, "key": key,
               "folder": tmp_path}
    finally:
        attacker.close()
        victim.close()
        server.terminate()
        server.wait(10)
        store.close()


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(folder / "server"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_attack_door_validates_payment_refused(field):
    store, attacker = field["store"], field["attacker"]
    pending = store.add_order(ORG, field["event2"], "Not Paid", status="pending", positions=[{"category": 1}])
    own_event = store.add_order(ORG, field["event1"], "Not Paid Either", status="pending", positions=[{"category": 1}])
    batch = attacker.upload([
        {"type": "kiosk", "action": "payment_validated", "order_number": pending["number"], "device_id": "gate-a"},
        {"type": "kiosk", "action": "payment_validated", "order_number": own_event["number"], "device_id": "gate-a"}])
    ack = attacker.ack(batch)
    assert ack.ids == () and len(ack.refused) == 2
    assert all("comes only from kiosk devices" in r.reason for r in ack.refused)
    assert store.order(pending["number"])["status"] == "pending"
    assert store.order(own_event["number"])["status"] == "pending"
    listed = json.loads(cli(field["folder"], "refusals", "--device", "gate-a", "--json").stdout)
    assert sorted(r["body"]["order_number"] for r in listed) == sorted([pending["number"], own_event["number"]])
    devices = {d["device_id"]: d for d in json.loads(cli(field["folder"], "devices", "--json").stdout)}
    assert devices["gate-a"]["refused_uploads"] == 2 and devices["gate-b"]["refused_uploads"] == 0


def test_attack_kiosk_validates_other_event_payment_refused(field):
    store = field["store"]
    pending = store.add_order(ORG, field["event2"], "Other Event", status="pending", positions=[{"category": 1}])
    kiosk = Attacker(field["broker"].port, "kiosk-1", field["key"])
    try:
        ack = kiosk.ack(kiosk.upload([{"type": "kiosk", "action": "payment_validated",
                                        "order_number": pending["number"], "device_id": "kiosk-1"}]))
    finally:
        kiosk.close()
    assert ack.ids == () and "not of an event of kiosk-1" in ack.refused[0].reason
    assert store.order(pending["number"])["status"] == "pending"


def test_attack_door_exchange_other_event_refused(field):
    store, attacker = field["store"], field["attacker"]
    other = field["orders2"][0]["tickets"][0]["ticket_key"]
    kiosk = Attacker(field["broker"].port, "kiosk-1", field["key"])
    try:
        door_ack = attacker.ack(attacker.upload([{"type": "kiosk", "action": "exchange", "ticket_key": other,
                                                   "reason": "lost", "device_id": "gate-a"}]))
        kiosk_ack = kiosk.ack(kiosk.upload([{"type": "kiosk", "action": "exchange", "ticket_key": other,
                                              "reason": "lost", "device_id": "kiosk-1"}]))
    finally:
        kiosk.close()
    assert "comes only from kiosk devices" in door_ack.refused[0].reason
    assert "not of an event of kiosk-1" in kiosk_ack.refused[0].reason
    assert store.order(field["orders2"][0]["number"])["tickets"][0]["revoked"] is None
    assert len(store.order(field["orders2"][0]["number"])["tickets"]) == 1      # no replacement issued


def test_attack_reset_from_device_refused(field):
    store, attacker, victim = field["store"], field["attacker"], field["victim"]
    key = field["orders1"][0]["tickets"][0]["ticket_key"]
    assert victim.scan(store.issue_ticket_payload(key)).accepted
    assert wait_for(lambda: store.scan_count(ORG) == 1)
    reset = dict(entry("gate-a", key, field["event1"], kind="reset"), reason="let me in again")
    ack = attacker.ack(attacker.upload([reset]))
    assert ack.ids == () and "comes only from the organiser" in ack.refused[0].reason
    time.sleep(0.5)                                            # a relay would have arrived by now (p95 < 100 ms)
    assert victim.ledger.actions(key) and all(a.kind == "entry" for a in victim.ledger.actions(key))
    assert victim.scan(store.issue_ticket_payload(key)).code.value == "already_used"


def test_attack_5000_fabricated_entries_not_relayed(field):
    store, attacker, victim = field["store"], field["attacker"], field["victim"]
    genuine = [o["tickets"][0]["ticket_key"] for o in field["orders1"]]
    fabricated = [entry("gate-a", genuine[i % len(genuine)], field["event1"]) for i in range(5000)]
    ack = attacker.ack(attacker.upload(fabricated))
    assert ack.ids == () and len(ack.refused) == 5000
    assert all(r.reason.startswith("rate:") for r in ack.refused)
    time.sleep(0.5)
    assert [a for k in genuine for a in victim.ledger.actions(k)] == []       # nothing relayed to the other gate
    assert store.scan_count(ORG) == 0
    assert all(victim.scan(store.issue_ticket_payload(k)).accepted for k in genuine)   # genuine holders get in
    assert store.refusal_counts(ORG) == {"gate-a": 5000}


def test_attack_door_entries_for_other_event_refused(field):
    store, attacker, victim = field["store"], field["attacker"], field["victim"]
    own = field["orders1"][0]["tickets"][0]["ticket_key"]
    other = field["orders2"][0]["tickets"][0]["ticket_key"]
    ack = attacker.ack(attacker.upload([entry("gate-a", other, field["event2"]), entry("gate-a", own, field["event1"]),
                                        entry("gate-b", own, field["event1"])]))
    assert len(ack.ids) == 1 and len(ack.refused) == 2
    reasons = " | ".join(r.reason for r in ack.refused)
    assert "cannot upload for device 'gate-b'" in reasons and f"event {field['event2']} is not an event" in reasons
    assert wait_for(lambda: len(victim.ledger.actions(own)) == 1)   # its own entry for its own event: relayed
    assert [r[0] for r in store.q("SELECT event_id FROM scans WHERE device_id='gate-a'")] == [field["event1"]]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_attack_64mib_publish_refused(field):
    store, attacker, victim, server = field["store"], field["attacker"], field["victim"], field["server"]
    before = _peak_rss_kib(server.pid)
    big = attacker.client.publish(topics.up(ORG, "gate-a"), b'{"type":"batch","items":[' + b" " * (64 << 20) + b"]}",
                                  qos=1)
    time.sleep(3)
    assert not big.is_published()                              # the broker never took it
    grown = _peak_rss_kib(server.pid) - before
    assert grown < 20 * 1024, f"server peak memory grew by {grown} KiB"
    # the broker and the server are still serving everyone else
    key = field["orders1"][1]["tickets"][0]["ticket_key"]
    assert victim.scan(store.issue_ticket_payload(key)).accepted
    assert wait_for(lambda: victim.ledger.outbox_size() == 0 and store.scan_count(ORG) == 1)
    assert server.poll() is None


def test_attack_revoked_device_uploads_rolled_back(field):
    """The door was stolen and used before anyone noticed: revoke it, list what it uploaded, roll it back; the other
    gate admits the genuine holders again."""
    store, attacker, victim = field["store"], field["attacker"], field["victim"]
    keys = [o["tickets"][0]["ticket_key"] for o in field["orders1"][:3]]
    ack = attacker.ack(attacker.upload([entry("gate-a", k, field["event1"]) for k in keys]))
    assert len(ack.ids) == 3
    assert wait_for(lambda: all(victim.ledger.actions(k) for k in keys))
    assert victim.scan(store.issue_ticket_payload(keys[0])).code.value == "already_used"
    assert cli(field["folder"], "device", "rollback", "gate-a", "--reason", "stolen").returncode == 1   # revoke first
    assert cli(field["folder"], "device", "revoke", "gate-a").returncode == 0
    listed = json.loads(cli(field["folder"], "device", "uploads", "gate-a", "--json").stdout)
    assert sorted(u["ticket_key"] for u in listed) == sorted(keys) and not any(u["rolled_back"] for u in listed)
    done = cli(field["folder"], "device", "rollback", "gate-a", "--reason", "stolen", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["annulled"] == 3
    assert wait_for(lambda: all(not victim.ledger.history(k).entries for k in keys), 10)
    assert victim.scan(store.issue_ticket_payload(keys[1])).accepted
    listed = json.loads(cli(field["folder"], "device", "uploads", "gate-a", "--json").stdout)
    assert all(u["rolled_back"] for u in listed)
    late = attacker.upload([entry("gate-a", keys[2], field["event1"])], first_id=50)
    time.sleep(1)
    assert not any(a.batch == late for a in attacker.acks)    # revoked: nothing it sends is taken any more


def test_attack_door_annuls_other_gates_entry_refused(field):
    """A stolen door annuls the entries another gate recorded, to let the same tickets in again."""
    store, attacker, victim = field["store"], field["attacker"], field["victim"]
    key = field["orders1"][2]["tickets"][0]["ticket_key"]
    verdict = victim.scan(store.issue_ticket_payload(key))
    assert verdict.accepted and wait_for(lambda: store.scan_count(ORG) == 1)
    annul = dict(entry("gate-a", key, field["event1"], kind="annul"), ref_uuid=verdict.scan_uuid, reason="x")
    no_ref = dict(entry("gate-a", key, field["event1"], kind="annul"), reason="x")
    ack = attacker.ack(attacker.upload([annul, no_ref]))
    assert ack.ids == () and "cannot annul an action of gate-b" in ack.refused[0].reason
    assert "names the action it annuls" in ack.refused[1].reason
    time.sleep(0.5)
    assert victim.scan(store.issue_ticket_payload(key)).code.value == "already_used"
    own = entry("gate-a", field["orders1"][3]["tickets"][0]["ticket_key"], field["event1"])
    undo = dict(entry("gate-a", own["ticket_key"], field["event1"], kind="annul"), ref_uuid=own["scan_uuid"],
                reason="wrong ticket")
    assert attacker.ack(attacker.upload([own, undo], first_id=10)).ids == (10, 11)    # its own: fine


def test_attack_hello_flood_limited(field):
    """Each hello costs the server a signed clock reply and a store write: 2,000 of them from one device."""
    store, attacker, victim = field["store"], field["attacker"], field["victim"]
    started = time.monotonic()
    for i in range(2000):
        attacker.client.publish(topics.up(ORG, "gate-a"), json.dumps(
            {"type": "hello", "org": ORG, "device": "gate-a", "probe": f"p{i}", "t0": time.time(),
             "bundle_version": 0, "events": [field["event1"]]}).encode(), qos=0)
    key = field["orders1"][4]["tickets"][0]["ticket_key"]
    assert victim.scan(store.issue_ticket_payload(key)).accepted              # the others are served meanwhile
    assert wait_for(lambda: store.scan_count(ORG) == 1 and victim.ledger.outbox_size() == 0, 20)
    time.sleep(1)
    answered = len(attacker.clocks)
    assert 1 <= answered <= 20 + (time.monotonic() - started) * 1.0 + 2, f"{answered} hellos answered"
