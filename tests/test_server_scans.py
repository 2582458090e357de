"""Server store: ingest (idempotent, malformed input, kiosk messages), the conflict rule, statistics.
Scans come from the real gate (agent.gate.Gate) wherever the device produces them."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from agent.gate import Gate
from agent.ledger import Ledger
from agent.policy import DevicePolicy, Mode

NOW = time.time()


def make_event(store) -> int:
    return store.create_event("fest", "Night 1", NOW - 3600, NOW + 3600, "Europe/Paris",
                              [{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}],
                              [{"category_id": 1, "name": "Adult", "message": ""}])


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
    assert store.ingest(bad + msgs[:1]) == (0, 1)             # {"type": "weird"}: an unknown message type, refused
    assert len(store.last_rejected) == 5
    assert "unknown message type 'weird'" in store.last_rejected[2]["reason"]
    assert store.ingest([{"type": "weird"}]) == (0, 0)
    assert store.scan_count("fest") == 4


def test_a_message_whose_organiser_cannot_be_told_is_refused_by_name(store, tmp_path):
    ev = make_event(store)
    key = store.add_order("fest", ev, "Ann", positions=[{}])["tickets"][0]["ticket_key"]
    g = door(tmp_path, store, ev, "t1", "north")          # a device the server does not know
    g.scan(store.issue_ticket_payload(key))
    msgs = outbox(g)
    stray = dict(msgs[0], event_id=999_999)                  # nor its event: stored under no organiser, never seen
    assert store.ingest([stray]) == (0, 0)
    assert "no organiser" in store.last_rejected[0]["reason"]
    assert store.ingest(msgs) == (1, 0)
    assert store.scan_count("fest") == 1


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
    assert s["double_entries"] == {"refused_already_used": 1, "conflicts": 0, "exchanged_after_entry": 0,
                                   "admitted_after_refund": 0, "admitted_and_cancelled": 0}
    assert s["devices"]["ta"]["scans"] == 4 and s["devices"]["ta"]["refusals"] == 1
    assert (s["devices"]["xa"]["entries"], s["devices"]["xa"]["exits"]) == (2, 1)      # in, out, in


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


def test_a_large_batch_with_duplicates_inside_and_across_is_counted_exactly(store):
    """4,000 actions in one call (several multi-row statements on PostgreSQL), then a batch mixing old and new
    scans with a scan repeated inside it: each stored once, new/duplicates counted exactly."""
    ev = make_event(store)
    base = {"type": "action", "kind": "entry", "event_id": ev, "direction": "in", "device_id": "A", "org": "fest"}
    first = [dict(base, scan_uuid=f"s{i}", ticket_key=str(i), at=1000.0 + i) for i in range(4000)]
    assert store.ingest(first) == (4000, 0)
    mixed = first[3990:] + [dict(base, scan_uuid=f"n{i}", ticket_key=str(i), at=9000.0 + i) for i in range(5)]
    assert store.ingest(mixed + mixed[-1:]) == (5, 11)
    assert store.scan_count("fest") == 4005


def test_an_offline_exchange_to_another_price_is_listed_with_its_difference(store):
    """Both backends: an offline `exchange` record to a dearer category is applied and `conflicts` lists the price
    difference nobody settled; one to a category at the same price is not listed."""
    ev = store.create_event("fest", "Night 2", NOW - 3600, NOW + 3600, "Europe/Paris", [{"zone_id": 1, "name": "Floor"}],
                            [{"category_id": c, "name": n, "message": ""} for c, n in ((1, "Adult"), (2, "VIP"),
                                                                                        (3, "Student"))])
    for category, cents in ((1, 2000), (2, 2500), (3, 2000)):
        store.set_price("fest", ev, category, cents)
    up, same = (t["ticket_key"] for t in store.add_order("fest", ev, "Ann", positions=[{"category": 1}] * 2)["tickets"])
    store.register_device("fest", "kiosk-1", gate="box office", events=[ev])
    msg = {"type": "kiosk", "action": "exchange", "reason": "offline", "device_id": "kiosk-1"}
    assert store.ingest([dict(msg, ticket_key=up, category=2, outbox_id=1),
                         dict(msg, ticket_key=same, category=3, outbox_id=2)]) == (2, 0)
    listed = [c for c in store.conflicts("fest") if c.get("kind") == "exchange_difference"]
    assert [(c["ticket_key"], c["category_before"], c["category_after"], c["difference_cents"], c["currency"])
            for c in listed] == [(up, 1, 2, 500, "EUR")]
    assert store.ticket(listed[0]["replacement"])["category"] == 2
    assert [c["ticket_key"] for c in store.conflicts("fest", ev)] == [up]


def test_a_catch_up_serves_an_events_actions_after_a_cursor_and_knows_the_cursors_it_can_serve(store):
    """The query a gate catching up after the broker lost its session is answered with (docs/sync-protocol.md, "A
    broker that lost its sessions"), on both stores: the event's actions after the action cursor it holds, from the
    rows ingested `overlap` seconds before that cursor's row; a cursor the store has no row for cannot be served."""
    ev, other = make_event(store), make_event(store)
    k = store.add_order("fest", ev, "Ann", positions=[{}] * 4)["tickets"]
    ko = store.add_order("fest", other, "Bob")["tickets"][0]["ticket_key"]
    base = {"type": "action", "kind": "entry", "event_id": ev, "direction": "in", "device_id": "A", "gate": "n"}
    assert store.action_cursor() == 0 and store.catch_up_floor(0) == 0
    store.ingest([dict(base, scan_uuid="e1", ticket_key=k[0]["ticket_key"], at=NOW)])
    held = store.action_cursor()
    store.ingest([dict(base, scan_uuid="o1", ticket_key=ko, event_id=other, at=NOW)])
    store.ingest([dict(base, scan_uuid="e2", ticket_key=k[1]["ticket_key"], at=NOW),
                  dict(base, scan_uuid="e3", ticket_key=k[2]["ticket_key"], at=NOW)])
    assert store.action_cursor() > held

    floor = store.catch_up_floor(held, overlap=0.0)
    assert floor == held
    assert [a["scan_uuid"] for a in store.actions_for_event(ev, after=floor)] == ["e2", "e3"]
    assert [a["scan_uuid"] for a in store.actions_for_event(other, after=floor)] == ["o1"]
    assert store.catch_up_floor(held) == 0            # ingested within the overlap: served again (merged once)
    assert [a["scan_uuid"] for a in store.actions_for_event(ev, after=0)] == ["e1", "e2", "e3"]
    assert store.catch_up_floor(store.action_cursor() + 1) is None
    assert store.catch_up_floor(10 ** 12) is None


def test_stats_per_device_leaves_out_undone_entries_as_per_gate_does(store, tmp_path):
    """An entry the door undid (`agent annul`) or the organiser rolled back (`server device annul`) no longer counts
    in `server stats`: not per gate, and not on its device's line either (it said "4 entries" beside "north: 3")."""
    ev = make_event(store)
    keys = [t["ticket_key"] for t in store.add_order("fest", ev, "Ann", positions=[{}] * 4)["tickets"]]
    store.register_device("fest", "ta", gate="north", events=[ev])
    store.register_device("fest", "xa", gate="east", events=[ev])
    a, x = door(tmp_path, store, ev, "ta", "north"), door(tmp_path, store, ev, "xa", "east", Mode.ENTRY_EXIT)
    for k in keys[:3]:
        a.scan(store.issue_ticket_payload(k))
    a.annul("wrong person let in")                       # the door undoes its last entry
    p = store.issue_ticket_payload(keys[3])
    x.scan(p), x.scan(p)                                 # in, out
    store.ingest(outbox(a) + outbox(x))
    exit_uuid = outbox(x)[-1]["scan_uuid"]
    store.annul_upload("fest", "xa", exit_uuid, "the exit was a mistake")
    s = store.stats("fest")
    assert s["entries_per_gate"] == {"north": 2, "east": 1}
    assert (s["devices"]["ta"]["entries"], s["devices"]["ta"]["exits"]) == (2, 0)
    assert (s["devices"]["xa"]["entries"], s["devices"]["xa"]["exits"]) == (1, 0)
    assert s["devices"]["ta"]["scans"] == 4              # what it uploaded: three entries and the undo
    assert s["inside_now"] == {str(ev): 3}


def test_stats_says_who_is_inside_per_event_never_their_sum(store):
    """A weekend pass holder let in on Saturday (normal mode: inside for good) and on Sunday, and a Sunday guest.
    `server stats` said "inside now: 3" on Sunday: Saturday's guests added to Sunday's, the pass holder twice. It
    names each event's figure, as `agent status` does."""
    from server_stub.cli_output import stats_text
    sat, sun = make_event(store), make_event(store)
    weekend = store.create_pass("fest", "Weekend", [sat, sun])
    holder = store.add_order("fest", weekend, "Pat")["tickets"][0]["ticket_key"]
    guest = store.add_order("fest", sun, "Sam")["tickets"][0]["ticket_key"]
    store.register_device("fest", "ta", gate="north", events=[sat, sun])
    base = {"type": "action", "kind": "entry", "direction": "in", "device_id": "ta", "gate": "north", "mode": "normal"}
    store.ingest([dict(base, scan_uuid="s1", ticket_key=holder, event_id=sat, at=NOW - 86400),
                  dict(base, scan_uuid="s2", ticket_key=holder, event_id=sun, at=NOW),
                  dict(base, scan_uuid="s3", ticket_key=guest, event_id=sun, at=NOW + 1)])
    s = store.stats("fest")
    assert s["inside_now"] == {str(sat): 1, str(sun): 2}
    assert f"inside now: event {sat}: 1, event {sun}: 2   double entries" in stats_text(s)
    assert "inside now: 2   double entries" in stats_text(store.stats("fest", event_id=sun))


def test_a_box_office_refusing_a_used_ticket_is_no_double_entry(store, tmp_path):
    """The box office (quick cancellation) scanned a ticket already let in: refused, "a used ticket cannot be put
    back on sale". `server stats` counted it under double entries, "1 refused as already used", though nobody tried
    to come in twice. The refusal now says the gate's mode; only the doors' count."""
    ev = make_event(store)
    k1, k2 = [t["ticket_key"] for t in store.add_order("fest", ev, "Ann", positions=[{}] * 2)["tickets"]]
    store.register_device("fest", "ta", gate="north", events=[ev])
    a = door(tmp_path, store, ev, "ta", "north")
    a.scan(store.issue_ticket_payload(k1)), a.scan(store.issue_ticket_payload(k2))
    a.scan(store.issue_ticket_payload(k1))                          # at the door: a second try, refused
    a.set_policy(replace(a.policy, mode=Mode.QUICK_CANCEL))          # the same device at the box office
    assert a.scan(store.issue_ticket_payload(k2)).detail == "a used ticket cannot be put back on sale"
    store.ingest(outbox(a))
    s = store.stats("fest")
    assert s["refusals"] == {"already_used": 2}
    assert s["double_entries"]["refused_already_used"] == 1


def test_stats_counts_every_ticket_server_conflicts_lists(store):
    """A door offline let in a ticket refunded minutes before, and a box office put back on sale a ticket another
    door had let in. `server conflicts` listed both; `server stats` said "double entries: 0 conflict(s)" and
    nothing else, so the organiser watching it never looked. It counts them and names `server conflicts`."""
    from server_stub.cli_output import stats_text
    from server_stub.reports import entries_rows
    ev = make_event(store)
    refunded = store.add_order("fest", ev, "Ann")
    k1 = refunded["tickets"][0]["ticket_key"]
    k2 = store.add_order("fest", ev, "Ben")["tickets"][0]["ticket_key"]
    for device in ("ta", "box"):
        store.register_device("fest", device, gate=device, events=[ev])
    store.refund_order(refunded["number"], "refunded")
    base = {"type": "action", "event_id": ev, "at": time.time() + 60, "gate": "north"}
    store.ingest([dict(base, scan_uuid="e1", kind="entry", direction="in", ticket_key=k1, device_id="ta"),
                  dict(base, scan_uuid="e2", kind="entry", direction="in", ticket_key=k2, device_id="ta"),
                  dict(base, scan_uuid="c2", kind="cancel", ticket_key=k2, device_id="box", mode="quick_cancel")])
    assert len(store.conflicts("fest")) == 2
    s = store.stats("fest")
    assert s["double_entries"] == {"refused_already_used": 0, "conflicts": 0, "exchanged_after_entry": 0,
                                   "admitted_after_refund": 1, "admitted_and_cancelled": 1}
    assert ("double entries: 0 conflict(s), 0 refused as already used, 1 ticket(s) let in after a refund or "
            "cancellation, 1 ticket(s) let in and put back on sale (`server conflicts`)") in stats_text(s)
    rows = {r["key"]: r["entries"] for r in entries_rows(s) if r["per"] == "double entry"}
    assert rows["let in after a refund or cancellation"] == rows["let in and put back on sale"] == 1


def test_stats_says_a_revoked_device_is_revoked(store, tmp_path):
    """A door revoked mid-event (lost): `server devices` said REVOKED, `server stats`'s line for it "offline" (or
    nothing when it was never seen), as if it would come back. Both say REVOKED; a device never seen says so."""
    from server_stub.cli_output import devices_text, stats_text
    ev = make_event(store)
    key = store.add_order("fest", ev, "Ann")["tickets"][0]["ticket_key"]
    for device in ("ta", "tb", "tc"):
        store.register_device("fest", device, gate="north", events=[ev])
    a = door(tmp_path, store, ev, "ta", "north")
    a.scan(store.issue_ticket_payload(key))
    store.ingest(outbox(a))
    store.touch_device("ta", status="offline")
    store.touch_device("tb", status="online")
    store.revoke_device("ta")
    lines = {line.split()[1]: line for line in stats_text(store.stats("fest")).splitlines()
             if line.startswith("device ")}
    assert " REVOKED 20" in lines["ta"] and "(1 entries" in lines["ta"]           # REVOKED and when
    assert lines["tb"].endswith(" online") and lines["tc"].endswith(" never seen")
    assert "events 1  REVOKED 20" in devices_text(store.devices("fest"))
