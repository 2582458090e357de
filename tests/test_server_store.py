"""Server store: catalogue, orders, versioned deltas, revocations, keys, devices, ingest, conflicts, stats."""
from __future__ import annotations

import os
import stat
import time

import pytest

from agent.gate import Gate
from agent.ledger import Ledger
from agent.payload import read_payload
from agent.policy import DevicePolicy, Mode
from server_stub.model import ORDER_NUMBER, new_order_number, normalize_order_number
from server_stub.store import NotFound, ServerStore, StoreError, open_store

NOW = time.time()


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "server")
    s.create_organiser("fest", "Summer Fest")
    yield s
    s.close()


def make_event(store, name="Night 1", zones=((1, "Floor"), (2, "Balcony"))) -> int:
    return store.create_event("fest", name, NOW - 3600, NOW + 3600, "Europe/Paris",
                              [{"zone_id": z, "name": n, "message": ""} for z, n in zones],
                              [{"category_id": 1, "name": "Adult", "message": ""}])


def test_store_implements_the_interface(store):
    assert isinstance(store, ServerStore)


def test_event_dict_feeds_the_device_ledger(store, tmp_path):
    ev = make_event(store)
    pass_id = store.create_pass("fest", "Weekend", [ev])
    assert pass_id != ev
    event = store.event(ev)
    assert event["passes"] == [{"pass_id": pass_id, "name": "Weekend"}]
    ledger = Ledger.open(tmp_path / "dev.sqlite")
    ledger.upsert_events([event])
    assert ledger.events()[0]["zones"][1]["name"] == "Balcony"
    assert ledger.pass_events() == {pass_id: frozenset({ev})}
    assert [e["event_id"] for e in store.events("fest")] == [ev]


def test_order_numbers_are_short_and_typable():
    numbers = {new_order_number() for _ in range(2000)}
    assert len(numbers) == 2000 and all(ORDER_NUMBER.match(n) for n in numbers)
    assert not any(c in "".join(numbers) for c in "01OILU")
    assert normalize_order_number(" k7m2 q9 ") == "K7M2-Q9" and normalize_order_number("k7m2-q9") == "K7M2-Q9"


def test_bad_catalogue_input(store):
    with pytest.raises(ValueError):
        store.create_event("fest", "x", NOW, NOW - 1, "UTC", [], [])
    with pytest.raises(ValueError):
        store.create_event("fest", "x", NOW, NOW + 1, "Mars/Olympus", [], [])
    with pytest.raises(ValueError):
        store.create_event("fest", "x", NOW, NOW + 1, "UTC", [{"zone_id": 300, "name": "z"}], [])
    with pytest.raises(NotFound):
        store.create_event("nobody", "x", NOW, NOW + 1, "UTC", [], [])
    with pytest.raises(NotFound):
        store.create_pass("fest", "p", [999])
    with pytest.raises(StoreError):
        store.create_organiser("fest", "again")
    with pytest.raises(ValueError):
        store.create_organiser("Bad/Slug", "x")


def test_orders_versions_and_deltas(store):
    ev = make_event(store)
    v0 = store.version("fest")
    a = store.add_order("fest", ev, "Hélène Dupont", "helene@example.org",
                        positions=[{"category": 1, "zone": 1}, {"category": 1, "zone": 2, "seat": "B12"}])
    assert len(a["tickets"]) == 2 and a["status"] == "paid"
    assert ORDER_NUMBER.match(a["number"])
    v1 = store.version("fest")
    assert v1 > v0
    rows = list(store.tickets_for_event(ev))
    assert {r["ticket_key"] for r in rows} == {t["ticket_key"] for t in a["tickets"]}
    assert rows[0].keys() == {"ticket_key", "event_id", "order_number", "buyer_name", "email", "category", "zone", "seat",
                              "order_status"}
    b = store.add_order("fest", ev, "Bob Martin", status="pending")
    delta = list(store.tickets_for_event(ev, since_version=v1))
    assert [r["order_number"] for r in delta] == [b["number"]]
    v2 = store.version("fest")
    store.validate_payment(b["number"])
    delta = list(store.tickets_for_event(ev, since_version=v2))
    assert [(r["order_number"], r["order_status"]) for r in delta] == [(b["number"], "paid")]
    assert list(store.tickets_for_event(ev, since_version=store.version("fest"))) == []


def test_cancel_and_refund_revoke_every_ticket(store):
    ev = make_event(store)
    a = store.add_order("fest", ev, "Ann", positions=[{}, {}, {}])
    b = store.add_order("fest", ev, "Ben")
    v = store.version("fest")
    store.cancel_order(a["number"], "chargeback")
    revs = store.revocations_for_event(ev, since_version=v)
    assert {r["ticket_key"] for r in revs} == {t["ticket_key"] for t in a["tickets"]}
    assert all(r["active"] and r["reason"] == "chargeback" for r in revs)
    assert {r["order_status"] for r in store.tickets_for_event(ev, v)} == {"cancelled"}
    assert store.order(a["number"])["tickets"][0]["revoked"] == "chargeback"
    store.refund_order(b["number"])
    assert len(store.revocations_for_event(ev)) == 4
    with pytest.raises(StoreError):
        store.validate_payment(b["number"])          # refunded cannot become paid
    with pytest.raises(StoreError):
        store.cancel_order(b["number"])
    with pytest.raises(NotFound):
        store.cancel_order("ZZZZ-ZZ")


def test_blocks_unblocks_and_resets_are_versioned(store):
    ev = make_event(store)
    key = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    v = store.version("fest")
    store.block_ticket(key, "lost, reprinted")
    assert [(b["ticket_key"], b["active"]) for b in store.blocks_for_event(ev, v)] == [(key, True)]
    v2 = store.version("fest")
    store.unblock_ticket(key)
    assert [(b["ticket_key"], b["active"]) for b in store.blocks_for_event(ev, v2)] == [(key, False)]
    assert store.blocks_for_event(ev) == []            # a full bundle carries only active blocks
    reset = store.reset_ticket(key, "wristband torn")
    assert reset["kind"] == "reset" and reset["event_ids"] == [ev] and reset["device_id"] == "server"
    assert [r["scan_uuid"] for r in store.resets_for_event(ev, v2)] == [reset["scan_uuid"]]
    with pytest.raises(NotFound):
        store.block_ticket("123", "x")
    with pytest.raises(NotFound):
        store.block_ticket("not-a-number", "x")


def test_pass_tickets_belong_to_every_event_of_the_pass(store):
    e1, e2, e3 = make_event(store, "Fri"), make_event(store, "Sat"), make_event(store, "Sun")
    weekend = store.create_pass("fest", "Weekend", [e1, e2])
    t = store.add_order("fest", weekend, "Pat")["tickets"][0]["ticket_key"]
    assert [r["event_id"] for r in store.tickets_for_event(e1)] == [e1]
    assert [r["ticket_key"] for r in store.tickets_for_event(e2)] == [t]
    assert list(store.tickets_for_event(e3)) == []
    ring = store.keyring("fest")
    decoded = read_payload(store.issue_ticket_payload(t), ring, NOW)
    assert decoded.status == "ok" and decoded.ticket.is_pass and decoded.ticket.event_id == weekend


def test_issued_payload_verifies_and_carries_the_ticket(store):
    ev = make_event(store)
    order = store.add_order("fest", ev, "Ann", positions=[{"category": 1, "zone": 2, "seat": "R3-14"}])
    t = order["tickets"][0]
    decoded = read_payload(store.issue_ticket_payload(t["ticket_key"]), store.keyring("fest"), NOW)
    assert decoded.status == "ok"
    tk = decoded.ticket
    assert (tk.ticket_id, tk.event_id, tk.category, tk.zones, tk.seat, tk.is_pass) == (t["ticket_id"], ev, 1, (2,), "R3-14", False)
    margin = store.validity_margin_hours * 3600
    assert tk.valid_from == int(NOW - 3600 - margin) and tk.valid_until >= NOW + 3600 + margin


def test_key_rotation_keeps_old_tickets_valid(store, tmp_path):
    ev = make_event(store)
    t = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    old_payload = store.issue_ticket_payload(t)
    first = store.current_key("fest")
    new = store.rotate_key("fest")
    assert new.key_id != first.key_id and store.current_key("fest").key_id == new.key_id
    assert [k.key_id for k in store.signing_keys("fest")] == [first.key_id, new.key_id]
    ring = store.keyring("fest")
    assert read_payload(old_payload, ring, NOW).status == "ok"
    new_payload = store.issue_ticket_payload(t)
    assert new_payload != old_payload and read_payload(new_payload, ring, NOW).ticket.key_id == new.key_id
    store.rotate_key("fest", retire_old_at=NOW - 1)     # retire the second key: its tickets stop scanning
    assert read_payload(new_payload, store.keyring("fest"), NOW).status == "unknown_key"
    # private keys: files 0600 in a 0700 folder, never in the database
    keys_dir = tmp_path / "server" / "keys" / "fest"
    assert stat.S_IMODE(os.stat(keys_dir).st_mode) == 0o700
    pems = list(keys_dir.glob("*.pem"))
    assert len(pems) == 3 and all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in pems)
    assert b"PRIVATE KEY" not in (tmp_path / "server" / "server.sqlite").read_bytes()


def test_server_key_is_separate_and_stable(store):
    server = store.server_key("fest")
    assert server.key_id != store.current_key("fest").key_id
    assert store.server_key("fest").public_raw == server.public_raw == store.server_public_key("fest")
    assert server.key_id not in store.keyring("fest").keys


def test_missing_private_key_file_is_a_clear_error(store, tmp_path):
    key = store.current_key("fest")
    for p in (tmp_path / "server" / "keys" / "fest").glob("ticket-*.pem"):
        p.unlink()
    with pytest.raises(Exception, match="missing"):
        store.current_key("fest")
    assert key.key_id


def test_devices(store):
    ev = make_event(store)
    d = store.register_device("fest", "tablet-1", "North tablet", "north", [ev], b"\x01" * 32)
    assert d["events"] == [ev] and not d["revoked"]
    store.touch_device("tablet-1", 1000.0, "online")
    store.touch_device("unknown-device", 1000.0, "online")       # ignored
    assert store.device("tablet-1")["status"] == "online" and store.device("tablet-1")["last_seen"] == 1000.0
    assert store.revoke_device("tablet-1")["revoked"]
    assert store.register_device("fest", "tablet-1", gate="south")["revoked"] is False   # re-enrolment
    assert [x["device_id"] for x in store.devices("fest")] == ["tablet-1"]
    assert store.device("nope") is None
    with pytest.raises(ValueError):
        store.register_device("fest", "bad/id")
    with pytest.raises(NotFound):
        store.revoke_device("nope")


def test_find_orders(store):
    ev = make_event(store)
    a = store.add_order("fest", ev, "Hélène Dupont", "helene@example.org")
    store.add_order("fest", ev, "Bob Martin", "bob@example.org")
    assert [o["number"] for o in store.find_orders("helene")] == [a["number"]]
    assert [o["number"] for o in store.find_orders(a["number"].lower().replace("-", ""))] == [a["number"]]
    assert [o["buyer_name"] for o in store.find_orders("bob@example")] == ["Bob Martin"]
    assert store.find_orders("nobody") == []


# -- ingest, conflicts, stats: actions produced by the real gate ------------------------------------------------------

def door(tmp_path, store, ev, device_id, gate, mode=Mode.NORMAL) -> Gate:
    ledger = Ledger.open(tmp_path / f"{device_id}.sqlite")
    ledger.upsert_events([store.event(ev)])
    ledger.upsert_tickets(store.tickets_for_event(ev))
    return Gate(ledger, store.keyring("fest"), DevicePolicy(device_id=device_id, gate=gate, mode=mode,
                                                             events=frozenset({ev}), reread_window=0))


def outbox(gate: Gate) -> list[dict]:
    return [body for _id, _kind, body in gate.ledger.outbox_pending(10_000)]


def test_ingest_is_idempotent_and_rejects_malformed(store, tmp_path):
    ev = make_event(store)
    keys = [t["ticket_key"] for t in store.add_order("fest", ev, "Ann", positions=[{}] * 3)["tickets"]]
    g = door(tmp_path, store, ev, "t1", "north")
    for k in keys + keys[:1]:
        g.scan(store.issue_ticket_payload(k))
    msgs = outbox(g)
    assert [m["type"] for m in msgs] == ["action"] * 3 + ["refusal"]
    assert store.ingest(msgs) == (4, 0)
    assert store.ingest(msgs) == (0, 4)                      # re-upload after a lost ack
    bad = [{"type": "action"}, {"type": "action", "scan_uuid": "x", "kind": "teleport", "ticket_key": "1", "at": 1},
           {"type": "weird"}, "not a dict", {"type": "action", "scan_uuid": "y", "kind": "entry", "ticket_key": "1",
                                             "at": "yesterday"}]
    assert store.ingest(bad + msgs[:1]) == (1, 1)             # {"type": "weird"}: an unknown message, kept whole
    assert len(store.last_rejected) == 4
    assert store.ingest([{"type": "weird"}]) == (0, 1)
    assert store.scan_count("fest") == 4


def test_conflicts_rule_normal_and_entry_exit(store, tmp_path):
    ev = make_event(store)
    k1, k2, k3, k4 = [t["ticket_key"] for t in store.add_order("fest", ev, "Ann", positions=[{}] * 4)["tickets"]]
    a, b = door(tmp_path, store, ev, "ta", "north"), door(tmp_path, store, ev, "tb", "south")
    for g in (a, b):                       # offline gates: both admit k1 (normal mode) -> one conflict
        g.scan(store.issue_ticket_payload(k1))
    a.scan(store.issue_ticket_payload(k2))
    b.scan(store.issue_ticket_payload(k2))
    b.annul("wrong person let in")         # the second admission of k2 is annulled -> no conflict
    ea, eb = door(tmp_path, store, ev, "xa", "east", Mode.ENTRY_EXIT), door(tmp_path, store, ev, "xb", "west", Mode.ENTRY_EXIT)
    p3 = store.issue_ticket_payload(k3)
    ea.scan(p3), ea.scan(p3)               # in, out at east
    eb.scan(p3)                            # in at west: legitimate re-entry
    p4 = store.issue_ticket_payload(k4)
    ea.scan(p4), eb.scan(p4)               # in at east, in at west (offline): two people inside
    for g in (a, b, ea, eb):
        store.ingest(outbox(g))
    found = store.conflicts("fest")
    assert sorted(c["ticket_key"] for c in found) == sorted([k1, k4])
    c1 = next(c for c in found if c["ticket_key"] == k1)
    assert {x["gate"] for x in c1["admissions"]} == {"north", "south"} and c1["buyer_name"] == "Ann"
    assert c1["event_id"] == ev and len(c1["duplicates"]) == 1
    assert store.conflicts("fest", event_id=ev + 1000) == []
    store.reset_ticket(k1, "organiser cleared")          # resets clear earlier admissions
    assert [c["ticket_key"] for c in store.conflicts("fest")] == [k4]


def test_conflict_order_uses_clock_offsets(store):
    ev = make_event(store)
    k = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    base = {"type": "action", "kind": "entry", "ticket_key": k, "event_id": ev, "direction": "in"}
    # device B's clock is 3 hours behind; corrected, its entry comes after A's
    store.ingest([dict(base, scan_uuid="a", at=1000.0, clock_offset=0.0, device_id="A", gate="n"),
                  dict(base, scan_uuid="b", at=1000.0 - 3 * 3600 + 60, clock_offset=3 * 3600, device_id="B", gate="s")])
    c = store.conflicts("fest")[0]
    assert c["first"]["device_id"] == "A" and c["duplicates"][0]["device_id"] == "B"
    assert c["duplicates"][0]["server_at"] == pytest.approx(1060.0)


def test_multiple_entry_mode_is_never_a_conflict(store):
    ev = make_event(store)
    k = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    base = {"type": "action", "kind": "entry", "ticket_key": k, "event_id": ev, "direction": "in", "mode": "multiple"}
    store.ingest([dict(base, scan_uuid=f"u{i}", at=1000.0 + i, device_id="A") for i in range(3)])
    assert store.conflicts("fest") == []


def test_stats(store, tmp_path):
    ev = make_event(store)
    keys = [t["ticket_key"] for t in store.add_order("fest", ev, "Ann", positions=[{"zone": 1}] * 3 + [{"zone": 2}])["tickets"]]
    store.register_device("fest", "ta", gate="north", events=[ev])
    a, x = door(tmp_path, store, ev, "ta", "north"), door(tmp_path, store, ev, "xa", "east", Mode.ENTRY_EXIT)
    for k in keys[:3]:
        a.scan(store.issue_ticket_payload(k))
    a.scan(store.issue_ticket_payload(keys[0]))          # already_used refusal
    p = store.issue_ticket_payload(keys[3])
    x.scan(p), x.scan(p), x.scan(p)                      # in, out, in
    store.ingest(outbox(a) + outbox(x))
    s = store.stats("fest", event_id=ev)
    assert s["entries"] == 5
    assert s["entries_per_event"] == {str(ev): 5}
    assert {(z["zone"], z["entries"]) for z in s["entries_per_zone"]} == {(1, 3), (2, 2)}
    assert s["entries_per_gate"] == {"north": 3, "east": 2}
    assert sum(h["entries"] for h in s["entries_per_hour"]) == 5
    assert s["inside_now"] == {str(ev): 4}
    assert s["double_entries"] == {"refused_already_used": 1, "conflicts": 0}
    assert s["devices"]["ta"]["scans"] == 4 and s["devices"]["ta"]["refusals"] == 1
    assert s["devices"]["xa"]["entries"] == 3


def test_corrupt_or_foreign_store_file_is_left_untouched(tmp_path):
    folder = tmp_path / "server"
    folder.mkdir()
    db = folder / "server.sqlite"
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        open_store(folder)
    assert db.read_bytes() == before
    import sqlite3
    db.unlink()
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE x (y)")
    other.commit()
    other.close()
    with pytest.raises(StoreError, match="another application"):
        open_store(folder)
    with pytest.raises(StoreError, match="init"):
        open_store(tmp_path / "missing", create=False)


def test_store_reopens_with_its_data(tmp_path):
    s = open_store(tmp_path / "srv")
    s.create_organiser("fest", "Fest")
    ev = s.create_event("fest", "E", NOW, NOW + 10, "UTC", [], [])
    n = s.add_order("fest", ev, "Ann")["number"]
    key = s.current_key("fest").public_raw
    s.close()
    s = open_store(tmp_path / "srv", create=False)
    assert s.order(n)["buyer_name"] == "Ann" and s.current_key("fest").public_raw == key
    s.close()


def test_kiosk_actions_flow_back_and_apply_once(store, tmp_path):
    ev = make_event(store)
    pending = store.add_order("fest", ev, "Ann", status="pending")
    exchanged = store.add_order("fest", ev, "Ben")["tickets"][0]["ticket_key"]
    store.register_device("fest", "kiosk-1", gate="box office", events=[ev])
    # exactly what kiosk_ui.door queues in the device outbox
    msgs = [{"type": "kiosk", "action": "payment_validated", "order_number": pending["number"], "device_id": "kiosk-1",
             "operator": "Zoé", "outbox_id": 7},
            {"type": "kiosk", "action": "exchange", "ticket_key": exchanged, "reason": "torn", "device_id": "kiosk-1",
             "outbox_id": 8},
            {"type": "kiosk", "action": "print", "kind": "ticket", "order_number": pending["number"],
             "tickets": [], "device_id": "kiosk-1", "printer": "zebra-1", "outbox_id": 9}]
    v = store.version("fest")
    assert store.ingest(msgs) == (3, 0)
    assert store.order(pending["number"])["status"] == "paid"
    assert [(r["ticket_key"], r["reason"]) for r in store.revocations_for_event(ev, v)] == [(exchanged, "exchanged: torn")]
    assert store.ingest(msgs) == (0, 3)                      # re-uploaded: stored once, applied once
    assert [m["action"] for m in store.kiosk_actions("fest")] == ["payment_validated", "exchange", "print"]
    # a validation for an order cancelled meanwhile is kept but not applied (and does not stop the batch)
    late = store.add_order("fest", ev, "Cy", status="pending")
    store.cancel_order(late["number"], "sold out")
    bad = {"type": "kiosk", "action": "payment_validated", "order_number": late["number"], "device_id": "kiosk-1",
           "outbox_id": 10}
    assert store.ingest([bad, {"type": "kiosk", "action": "exchange", "ticket_key": "999", "device_id": "kiosk-1",
                               "outbox_id": 11}]) == (2, 0)
    assert store.order(late["number"])["status"] == "cancelled"


def test_schema_upgrade_from_version_1(tmp_path):
    """A store created by the first schema opens and gains the new column, data intact."""
    import sqlite3
    from server_stub.store.base import split_sql
    from server_stub.store.schema import APPLICATION_ID, MIGRATIONS
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "server.sqlite")
    for statement in split_sql(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("INSERT INTO organisers(org, name, created_at) VALUES ('fest', 'Fest', 0)")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    s = open_store(folder, create=False)
    assert s.organiser("fest")["name"] == "Fest" and s.q1("PRAGMA user_version")[0] == len(MIGRATIONS)
    s.close()


def test_hourly_entries_are_labelled_in_the_event_time_zone(store):
    ev = store.create_event("fest", "NYE", 1798743600.0, 1798765200.0, "Europe/Paris", [], [])
    k = store.add_order("fest", ev, "Ann", positions=[{}] * 3)["tickets"]
    base = {"type": "action", "kind": "entry", "event_id": ev, "direction": "in", "device_id": "A", "gate": "n"}
    # 19:10 UTC and 19:50 UTC (20:xx Paris), 21:05 UTC (22:05 Paris)
    store.ingest([dict(base, scan_uuid="1", ticket_key=k[0]["ticket_key"], at=1798743600.0 + 600),
                  dict(base, scan_uuid="2", ticket_key=k[1]["ticket_key"], at=1798743600.0 + 3000),
                  dict(base, scan_uuid="3", ticket_key=k[2]["ticket_key"], at=1798743600.0 + 7500)])
    hours = store.stats("fest", ev)["entries_per_hour"]
    assert [(h["hour"], h["entries"]) for h in hours] == [("2026-12-31 20:00", 2), ("2026-12-31 22:00", 1)]
