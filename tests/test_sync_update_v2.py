"""The compact live update (`update2`, docs/sync-protocol.md "Update v2"): ticket keys as key sets grouped by what they
share, a few kB for 1,000 cancellations; a corrupt or forged one changes nothing on the device; a device that reads
only the form before (its presence says no `live` form) gets that form as well."""
from __future__ import annotations

import json
import random
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.sync import BrokerConfig, PahoTransport, keyset, topics
from agent.sync.messages import LIVE_FORM, Update, UpdateV2
from agent.sync.signed import Rejected, Verifier, seal
from server_stub.sync.server import fit
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server, subscribed


def test_key_sets_pack_decimal_keys_as_gaps_and_keep_the_others():
    keys = ["907", "12", "0", "007", "A-1", "12345678901234567890", "٣"]
    packed = keyset.pack(keys)
    assert packed == {"ids": [0, 12, 895], "keys": ["007", "12345678901234567890", "A-1", "٣"]}
    assert sorted(keyset.unpack(packed, "x")) == sorted(keys)
    assert keyset.pack([]) == {} and keyset.unpack({}, "x") == []


@pytest.mark.parametrize("bad,reason", [
    ({"ids": [5, 0]}, "positive gap"), ({"ids": [5, -2]}, "positive gap"), ({"ids": [-1]}, "positive gap"),
    ({"ids": [1, True]}, "positive gap"), ({"ids": [1.5]}, "positive gap"), ({"ids": ["1"]}, "positive gap"),
    ({"ids": [10 ** 18]}, "over 18 digits"), ({"keys": ["k" * 65]}, "bad s.keys"), ({"keys": [""]}, "bad s.keys"),
    ({"keys": [7]}, "bad s.keys"), ({"ids": "1,2"}, "not a key set"), ([1, 2], "not a key set")])
def test_a_malformed_key_set_is_refused_by_name(bad, reason):
    with pytest.raises(Rejected, match=reason):
        keyset.unpack(bad, "s")


def _cancellation(keys: list[str], at: float = 1_800_000_000.25) -> UpdateV2:
    return UpdateV2.of(7, {"revocations": [{"ticket_key": k, "reason": "order cancelled", "at": at} for k in keys],
                           "states": [[k, "cancelled"] for k in keys]})


def test_a_cancellation_of_1000_tickets_is_a_few_kb_and_reads_back_row_for_row():
    rnd = random.Random(14)
    keys = [str(k) for k in rnd.sample(range(1, 1 << 47), 1000)]      # the store's ticket ids: 47-bit, random
    u = _cancellation(keys)
    wire = u.to_wire()
    assert len(json.dumps(wire, separators=(",", ":"))) < 14_000
    old = Update(7, revocations=tuple({"ticket_key": k, "reason": "order cancelled", "at": 1.8e9} for k in keys),
                 states=tuple((k, "cancelled") for k in keys)).to_wire()
    assert len(json.dumps(old, separators=(",", ":"))) > 8 * len(json.dumps(wire, separators=(",", ":")))
    assert list(wire) == ["type", "event", "revoked"] and len(wire["revoked"]) == 1    # statuses ride on the group
    back = UpdateV2.from_wire(json.loads(json.dumps(wire)))
    assert back.revoked == tuple(sorted((k, "order cancelled", 1_800_000_000.0) for k in keys))   # to the second
    assert back.states == tuple(sorted((k, "cancelled") for k in keys))
    assert UpdateV2.from_wire(back.to_wire()) == back


def test_every_part_travels_and_statuses_without_a_revocation_keep_their_own_group():
    u = UpdateV2.of(3, {"revocations": [{"ticket_key": "10", "reason": "refund", "at": 5.0}],
                        "blocks": [{"ticket_key": "B-1", "reason": "lost", "at": 6.0}],
                        "unrevoked": ["11", "X"], "unblocked": ["12"],
                        "states": [["10", "refunded"], ["11", "paid"]],
                        "resets": [{"scan_uuid": "u1", "kind": "reset", "ticket_key": "13", "event_id": 3,
                                    "direction": None, "at": 7.0}],
                        "tickets": {"columns": ["ticket_key", "order_status"], "rows": [["14", "paid"]]}})
    wire = u.to_wire()
    assert wire["revoked"] == [{"reason": "refund", "at": 5, "status": "refunded", "ids": [10]}]
    assert wire["states"] == [{"status": "paid", "ids": [11]}]
    assert UpdateV2.from_wire(wire) == u


@pytest.mark.parametrize("change,reason", [
    ({"revoked": {"ids": [1]}}, "bad revoked"), ({"revoked": [{"ids": [1]}]}, "missing at"),
    ({"revoked": [{"at": 1, "status": "", "ids": [1]}]}, "bad status"),
    ({"revoked": [{"at": 1, "ids": [1, 0]}]}, "positive gap"), ({"states": [{"ids": [1]}]}, "missing status"),
    ({"unrevoked": ["1"]}, "not a key set"), ({"resets": [{"kind": "reset"}]}, "missing scan_uuid"),
    ({"tickets": {"rows": 5}}, "bad tickets.columns"), ({"event": "7"}, "bad event"), ({"type": "update"}, "not a")])
def test_a_malformed_update2_is_refused_by_the_field_it_trips_on(change, reason):
    with pytest.raises(Rejected, match=reason):
        UpdateV2.from_wire(dict({"type": "update2", "event": 7}, **change))


def test_an_update_too_big_for_one_message_is_split_and_keeps_every_row():
    keys = [f"K-{i:06d}" for i in range(3000)]
    u = _cancellation(keys)
    parts = fit(u, limit=2048 + 10_000)
    assert len(parts) >= 4 and all(len(json.dumps(p)) + 2048 <= 2048 + 10_000 for p in parts)
    back = [UpdateV2.from_wire(p) for p in parts]
    assert sorted(r for b in back for r in b.revoked) == [(k, why, 1_800_000_000.0) for k, why, _ in u.revoked]
    assert sorted(s for b in back for s in b.states) == list(u.states)


def _live_watcher(port: int, event: int, key: bytes) -> tuple[PahoTransport, list[dict]]:
    seen: list[dict] = []
    verify = Verifier(key).open
    watcher = PahoTransport(f"watch-{uuid.uuid4().hex[:6]}", BrokerConfig(port=port), clean_start=True)
    watcher.on_message = lambda topic, payload: seen.append(verify(payload))   # (a forged one: logged, not kept)
    watcher.subscribe(topics.live(ORG, event))
    acked = subscribed(watcher)        # connected is not subscribed: what is sent before is lost
    watcher.start()
    assert acked.wait(5)
    return watcher, seen


def _state(door, key: str) -> tuple:
    history = door.ledger.history(key)
    return history.revoked, history.order_status


def test_corrupt_or_forged_update2_changes_nothing_and_a_genuine_one_applies(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=6)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    door = start_door(tmp_path / "a", "gate-a", broker.port, key, event)
    rogue = PahoTransport("rogue", BrokerConfig(port=broker.port), clean_start=True)
    rogue.start()
    watcher, seen = _live_watcher(broker.port, event, key)
    try:
        assert rogue.wait_connected(5) and wait_for(lambda: ready(door, 6)), door.sync.rejections
        t0, t1 = (o["tickets"][0]["ticket_key"] for o in orders[:2])
        real, forger = store.server_key(ORG), Ed25519PrivateKey.generate()
        good = {"reason": "rogue", "at": 1, "status": "cancelled", **keyset.pack([t0])}
        base = {"type": "update2", "org": ORG, "event": event, "ts": time.time()}
        cases = [
            (seal(dict(base, id="f1", revoked=[good]), forger.sign), "bad signature"),
            (seal(dict(base, id="c1", revoked=[good, {"at": 1, "ids": [5, 0]}]), real.sign), "positive gap"),
            (seal(dict(base, id="c2", revoked=[good], states=[{"status": "x" * 65, "ids": [1]}]), real.sign),
             "bad status"),
            (seal(dict(base, id="c3", revoked=[good], unrevoked={"keys": [None]}), real.sign), "bad unrevoked"),
        ]
        before = _state(door, t0)
        for payload, reason in cases:
            count = len(door.sync.rejections)
            assert rogue.publish(topics.live(ORG, event), payload, wait=5)
            assert wait_for(lambda: any(reason in r for _, r in list(door.sync.rejections)[count:]), 5), \
                (reason, list(door.sync.rejections))
            assert _state(door, t0) == before == (None, "paid")      # nothing of the good group applied
        # the id of a refused message was not remembered: the same id, well formed, is taken
        assert rogue.publish(topics.live(ORG, event), seal(dict(base, id="c1", revoked=[good]), real.sign), wait=5)
        assert wait_for(lambda: _state(door, t0) == ("rogue", "cancelled"))

        store.cancel_order(orders[1]["number"], "chargeback")      # the server's own, through the announcer
        assert wait_for(lambda: _state(door, t1) == ("chargeback", "cancelled"))
        assert wait_for(lambda: any(b.get("revoked") for b in seen))
        sent = [b for b in seen if b["type"] in ("update", "update2") and b["id"] not in ("c1", "c2", "c3")]
        assert [b["type"] for b in sent] == ["update2"], sent       # no device here reads only the form before
        assert door.ledger.search("buyer 1")[0]["order_number"] == orders[1]["number"]     # search index intact
    finally:
        rogue.stop()
        watcher.stop()
        door.close()
        server.stop()
        store.close()


def test_a_device_that_reads_only_the_form_before_gets_it_as_well_while_online(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=4)
    server = start_server(store, broker.port)
    key = store.server_public_key(ORG)
    watcher, seen = _live_watcher(broker.port, event, key)
    old = PahoTransport("gate-b", BrokerConfig(port=broker.port), clean_start=True)    # its presence, as it sends it
    old.start()
    try:
        assert old.wait_connected(5)
        presence = lambda state, **more: json.dumps({"state": state, "device": "gate-b", "ts": time.time(),  # noqa: E731
                                                     **more}).encode()
        status = topics.device_status(ORG, "gate-b")
        for i, (state, more, forms) in enumerate([("online", {}, ["update", "update2"]),
                                                  ("online", {"live": LIVE_FORM}, ["update2"]),
                                                  ("online", {"live": 1}, ["update", "update2"]),
                                                  ("offline", {}, ["update2"])]):
            old.publish(status, presence(state, **more), retain=True, wait=5)
            assert wait_for(lambda: (store.device("gate-b") or {}).get("status") == state)
            time.sleep(0.3)        # the presence and the change are taken by different server threads
            seen.clear()
            store.refund_order(orders[i]["number"])
            assert wait_for(lambda: len([b for b in seen if b.get("type", "").startswith("update")]) >= len(forms))
            time.sleep(0.3)
            got = sorted(b["type"] for b in seen if b["type"].startswith("update"))
            assert got == forms, (state, more, got)
            old_form = next((b for b in seen if b["type"] == "update"), None)
            if old_form is not None:        # the form before, whole: what such a device applies
                ticket = orders[i]["tickets"][0]["ticket_key"]
                assert [r["ticket_key"] for r in old_form["revocations"]] == [ticket]
                assert old_form["states"] == [[ticket, "refunded"]]
    finally:
        old.stop()
        watcher.stop()
        server.stop()
        store.close()


class _Holding:
    """`with _Holding(lock) as holder:` another thread holds `lock` (as ingestion holds the store's lock through its
    fsync) until the block ends, at most 60 s: what waited for the lock could only finish once the holder let it go,
    whatever the host's speed (a hold of a few seconds was over before a slow host's work was done)."""

    def __init__(self, lock) -> None:
        held, self._let_go = threading.Event(), threading.Event()

        def hold() -> None:
            with lock:
                held.set()
                self._let_go.wait(60)
        self.thread = threading.Thread(target=hold, daemon=True)
        self.thread.start()
        assert held.wait(30)

    def __enter__(self) -> _Holding:
        return self

    def __exit__(self, *_) -> None:
        self._let_go.set()
        self.thread.join(30)

    def holding(self) -> bool:
        return self.thread.is_alive()


def test_the_announcers_own_connection_reads_while_the_store_lock_is_held(store):
    ev = store.create_event("fest", "Night", 1e9, 1e9 + 3600, "Europe/Paris", [], [])
    order = store.add_order("fest", ev, "Ann", positions=[{}])
    v = store.version("fest")
    store.cancel_order(order["number"], "chargeback")
    reads = store.reopen()
    try:
        with _Holding(store.lock) as holder:
            assert reads.version("fest") > v
            assert [r["ticket_key"] for r in reads.revocations_for_event(ev, v)] == [order["tickets"][0]["ticket_key"]]
            assert [t["order_status"] for t in reads.tickets_for_event(ev, v)] == ["cancelled"]
            assert holder.holding(), "the reads waited for the held lock"
    finally:
        reads.close()


def test_a_cancellation_reaches_the_door_while_ingestion_holds_the_store(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=3)
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    organiser = type(store).open(tmp_path / "server")        # the organiser's CLI: another connection
    try:
        assert wait_for(lambda: ready(door, 3)), door.sync.rejections
        ticket = orders[1]["tickets"][0]["ticket_key"]
        with _Holding(store.lock) as holder:
            organiser.cancel_order(orders[1]["number"], "chargeback")
            assert wait_for(lambda: _state(door, ticket) == ("chargeback", "cancelled"), 45)
            assert holder.holding(), "the announcer waited for the server store's lock"
    finally:
        organiser.close()
        door.close()
        server.stop()
        store.close()
