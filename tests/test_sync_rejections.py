"""Malformed, oversized, unsigned, forged and replayed messages on every topic: refused with a logged
reason; the device and the server keep running (a rogue publisher on the hotspot changes nothing)."""
from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.sync import topics
from agent.sync.device import DeviceOptions
from agent.sync.signed import seal
from agent.sync.transport import BrokerConfig, PahoTransport
from agent.sync.uploader import UploadOptions
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, start_door, start_server

OPTIONS = DeviceOptions(upload=UploadOptions(batch_size=50, ack_timeout=0.5, max_backoff=1.0), hello_retry=0.5,
                        max_message=64 * 1024)


@pytest.fixture
def world(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=4)
    server = start_server(store, broker.port, max_upload=64 * 1024)
    a = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event, options=OPTIONS)
    rogue = PahoTransport("rogue", BrokerConfig(port=broker.port), clean_start=True)
    rogue.start()
    assert rogue.wait_connected(5) and wait_for(lambda: a.ready(4))
    yield store, server, a, rogue, event, orders
    rogue.stop()
    a.close()
    server.stop()
    store.close()


def _sent(rogue, topic: str, payload: bytes) -> None:
    assert rogue.publish(topic, payload, wait=5)


def _refused(who, count_before: int, fragment: str) -> bool:
    return wait_for(lambda: any(fragment in r for _, r in list(who.rejections)[count_before:]), 5)


def test_device_refuses_bad_messages_on_down_live_and_cmd(world):
    store, server, a, rogue, event, orders = world
    key1 = orders[1]["tickets"][0]["ticket_key"]
    forger = Ed25519PrivateKey.generate()
    real = store.server_key(ORG)
    down, live, cmd = topics.down(ORG, "gate-a"), topics.live(ORG, event), topics.cmd(ORG, "gate-a")
    revoke = {"type": "update", "event": event, "revocations": [{"ticket_key": key1, "reason": "rogue", "at": 1}]}
    wipe = {"type": "cmd", "cmd": "wipe", "device": "gate-a"}
    cases = [
        (down, b"\x00\xffnot json", "malformed JSON"),
        (down, b"x" * (70 * 1024), "oversized"),
        (down, json.dumps({"type": "ack", "org": ORG, "device": "gate-a", "ids": [1]}).encode(), "unsigned"),
        (live, json.dumps(dict(revoke, org=ORG)).encode(), "unsigned"),
        (live, seal(dict(revoke, org=ORG, id="f1", ts=time.time()), forger.sign), "bad signature"),
        (cmd, seal(dict(wipe, org=ORG, id="f2", ts=time.time()), forger.sign), "bad signature"),
        (down, b"TGB1" + bytes(16) + b"\x00\x00\x00\x00garbage", "chunk of a bundle we did not accept"),
        (live, seal(dict(revoke, org=ORG, event=event + 1, id="r0", ts=time.time()), real.sign), "on the topic of event"),
        (cmd, seal(dict(wipe, org=ORG, device="gate-b", id="r1", ts=time.time()), real.sign), "for device"),
        (live, seal(dict(revoke, org=ORG, id="r3", ts=time.time(), tickets={"rows": 5}), real.sign), "bad tickets.columns"),
        (down, seal({"type": "clock", "org": ORG, "device": "gate-a", "probe": None, "id": "r4", "ts": time.time()},
                    real.sign), "no outstanding probe"),
    ]
    for topic, payload, reason in cases:
        before = len(a.sync.rejections)
        _sent(rogue, topic, payload)
        assert _refused(a.sync, before, reason), (reason, list(a.sync.rejections))
    # a genuine update two hours old (it waited at the broker, or is replayed): not applied, counted as late (its
    # changes come with the event data), not reported as refused
    late = a.sync.stats["late"]
    before = len(a.sync.rejections)
    _sent(rogue, live, seal(dict(revoke, org=ORG, id="r2", ts=time.time() - 7200), real.sign))
    assert wait_for(lambda: a.sync.stats["late"] == late + 1)
    assert len(a.sync.rejections) == before and a.ledger.history(key1).revoked is None
    # one two hours ahead of the server time the device holds waited nowhere (a clock is wrong): reported, same words
    before = len(a.sync.rejections)
    _sent(rogue, live, seal(dict(revoke, org=ORG, id="r5", ts=time.time() + 7200), real.sign))
    assert _refused(a.sync, before, "stale message (-7")
    assert a.sync.stats["late"] == late + 1 and a.ledger.history(key1).revoked is None
    # a genuine signed message, then the same bytes replayed
    genuine = seal(dict(revoke, org=ORG, id="g1", ts=time.time()), real.sign)
    _sent(rogue, live, genuine)
    assert wait_for(lambda: a.ledger.history(key1).revoked == "rogue")
    a.ledger.unrevoke([key1])
    before = len(a.sync.rejections)
    _sent(rogue, live, genuine)
    assert _refused(a.sync, before, "replayed")
    assert a.ledger.history(key1).revoked is None
    # still alive: data intact, scans still sync
    assert a.ledger.counts()["tickets"] == 4
    assert a.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])).accepted
    assert wait_for(lambda: a.ledger.outbox_size() == 0)


def test_replayed_bundle_is_refused(world, tmp_path):
    """An older version replayed is refused; the version the device holds, again (a second `server push`), is a
    duplicate dropped quietly."""
    store, server, a, rogue, event, orders = world
    from agent.sync.apply import current_bundle
    from server_stub.sync import bundles
    built = bundles.build(store, ORG, [event], 0)
    old = built.manifest(ORG, "gate-a", store.server_key(ORG).sign)   # genuine, the version the device holds
    before = len(a.sync.rejections)
    _sent(rogue, topics.down(ORG, "gate-a"), old)
    assert not _refused(a.sync, before, "bundle")
    store.add_order(ORG, event, "Late Buyer", positions=[{"category": 1, "zone": 1}])
    server.send_bundle(ORG, ["gate-a"], bundles.build(store, ORG, [event], 0))
    assert wait_for(lambda: current_bundle(a.ledger)["version"] == store.version(ORG), 15)
    _sent(rogue, topics.down(ORG, "gate-a"), old)                     # now older than what it has
    assert _refused(a.sync, before, "stale or replayed bundle")
    other = built.manifest(ORG, "gate-b", store.server_key(ORG).sign)
    _sent(rogue, topics.down(ORG, "gate-a"), other)
    assert _refused(a.sync, before, "for device 'gate-b'")


def test_server_refuses_bad_uploads_and_keeps_ingesting(world):
    store, server, a, rogue, event, orders = world
    up = topics.up(ORG, "gate-a")
    cases = [
        (up, b"{not json", "malformed JSON"),
        (up, b"[" + b"1," * 40000 + b"1]", "oversized"),
        (up, json.dumps({"type": "batch", "org": ORG, "device": "gate-b", "batch": "x", "items": []}).encode(), "names"),
        (up, json.dumps({"type": "batch", "org": ORG, "device": "gate-a", "batch": "x", "items": "no"}).encode(),
         "malformed batch"),
        (topics.up(ORG, "stranger"), json.dumps({"type": "hello", "org": ORG, "device": "stranger"}).encode(),
         "not registered"),
    ]
    for topic, payload, reason in cases:
        before = len(server.rejections)
        _sent(rogue, topic, payload)
        assert _refused(server, before, reason), (reason, list(server.rejections))
    # a forged action inside an otherwise fine batch is acknowledged (never retried) but not stored
    bad = {"type": "batch", "org": ORG, "device": "gate-a", "batch": "y",
           "items": [{"id": 999999, "kind": "action", "body": {"type": "action", "kind": "entry", "device_id": "gate-b",
                                                              "scan_uuid": "spoof", "ticket_key": "1", "at": 1.0}}]}
    _sent(rogue, up, json.dumps(bad).encode())
    assert a.scan(store.issue_ticket_payload(orders[2]["tickets"][0]["ticket_key"])).accepted
    assert wait_for(lambda: a.ledger.outbox_size() == 0)
    assert store.q("SELECT count(*) FROM scans WHERE scan_uuid='spoof'")[0][0] == 0
