"""The gate shell on a real SQLite ledger: modes, re-reads, quick cancellation, undo, organiser reset, keys, passes."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from agent.gate import Gate
from agent.stored_policy import load_policy
from agent.keyring import Keyring
from agent.policy import DevicePolicy, Mode
from agent.verdicts import Code
from tests.test_core_support import T0, Clock, Uuids, issue, make_gate, test_key

KEY = test_key()


def codes(gate, payloads):
    return [(v.code.value, v.direction) for v in (gate.scan(p) for p in payloads)]


def test_normal_mode_records_once_and_outbox_gets_it(tmp_path):
    gate = make_gate(tmp_path)
    t = issue(KEY, 1)
    first = gate.scan(t)
    assert first.accepted and first.scan_uuid
    second = gate.scan(t)
    assert second.code is Code.ALREADY_USED and second.first_use.device_id == "dev-1" and second.first_use.gate == "north"
    rows = gate.ledger.conn.execute("SELECT kind, ticket_key, device_seq, origin FROM checkins").fetchall()
    assert rows == [("entry", "1", 1, "local")]
    msgs = [m for _, _, m in gate.ledger.outbox_pending()]
    assert msgs[0]["type"] == "action" and msgs[0]["scan_uuid"] == first.scan_uuid and msgs[0]["verdict"] == "accepted"
    assert msgs[1]["type"] == "refusal" and msgs[1]["verdict"] == "already_used"


def test_every_verdict_code_through_the_gate(tmp_path):
    other = test_key(9, seed=9)
    gate = make_gate(tmp_path, policy=DevicePolicy(device_id="d", gate="g", events=frozenset({1}), zones=frozenset({1}),
                                                   reread_window=0),
                     tickets=[{"ticket_key": "3", "event_id": 1, "order_number": "P", "order_status": "pending"},
                              {"ticket_key": "4", "event_id": 1, "order_number": "R", "order_status": "refunded"}])
    gate.ledger.revoke(["5"], "reissued")
    gate.ledger.block(["6"], "reported stolen")
    good = issue(KEY, 1, zones=(1,))
    seen = {
        "accepted": gate.scan(good),
        "already_used": gate.scan(good),
        "wrong_event": gate.scan(issue(KEY, 2, event_id=2)),
        "wrong_zone": gate.scan(issue(KEY, 2, zones=(2,))),
        "not_yet_valid": gate.scan(issue(KEY, 2, valid_from=T0 + 60)),
        "expired": gate.scan(issue(KEY, 2, valid_until=T0)),
        "unpaid": gate.scan(issue(KEY, 3)),
        "revoked": gate.scan(issue(KEY, 5)),
        "blocked": gate.scan(issue(KEY, 6)),
        "forged": gate.scan(good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]),
        "unknown_key": gate.scan(issue(other, 7)),
        "malformed": gate.scan("TG1:NOPE"),
    }
    from agent.keyring import PretixEvent, PretixItemMapping
    from agent.pretix_sig1 import PretixTicket, sign_secret
    from tests.vectors.make_vectors import pretix_pem_b64, private
    gate.keyring.pretix.append(PretixEvent.from_pretix_keys(1, [pretix_pem_b64(private("px"))],
                                                            items={5: PretixItemMapping(1, (1,))}))
    seen["unknown_product"] = gate.scan(sign_secret(PretixTicket("seed-x", item=6), private("px")))
    tg2 = json.loads((Path(__file__).parent / "vectors" / "ticketgate-tg2.json").read_text())
    seen["uncertified"] = gate.scan(next(v["payload"] for v in tg2["vectors"] if v["verdict"] == "uncertified"))
    assert gate.scan(issue(KEY, 4)).code is Code.REVOKED   # refunded order
    gate.set_policy(replace(gate.policy, mode=Mode.QUICK_CANCEL), save=False)
    seen["cancelled"] = gate.scan(issue(KEY, 8))
    assert {k: v.code.value for k, v in seen.items()} == {k: k for k in seen}
    assert {c.value for c in Code} == set(seen)
    assert gate.ledger.counts()["checkins"] == 1


def test_entry_exit_alternating_and_fixed(tmp_path):
    gate = make_gate(tmp_path, policy=DevicePolicy(mode=Mode.ENTRY_EXIT, reread_window=0))
    t = issue(KEY, 1)
    assert codes(gate, [t, t, t]) == [("accepted", "in"), ("accepted", "out"), ("accepted", "in")]
    gate.set_policy(replace(gate.policy, direction="in"), save=False)
    assert codes(gate, [t]) == [("already_used", None)]          # inside already: a fixed entrance refuses
    gate.set_policy(replace(gate.policy, direction="out"), save=False)
    assert codes(gate, [t, t]) == [("accepted", "out"), ("accepted", "out")]
    assert gate.ledger.history("1").inside(1) is False


def test_multiple_mode(tmp_path):
    gate = make_gate(tmp_path, policy=DevicePolicy(mode=Mode.MULTIPLE, events=frozenset({1}), reread_window=0))
    t = issue(KEY, 1)
    assert codes(gate, [t] * 4) == [("accepted", "in")] * 4
    assert gate.scan(issue(KEY, 2, event_id=2)).code is Code.WRONG_EVENT
    assert gate.scan(issue(KEY, 3, valid_until=T0 - 1)).code is Code.EXPIRED


def test_reread_window_same_verdict_nothing_recorded(tmp_path):
    clock = Clock()
    gate = make_gate(tmp_path, policy=DevicePolicy(reread_window=2.0), clock=clock)
    t = issue(KEY, 1)
    first = gate.scan(t)
    clock.advance(0.5)
    again = gate.scan(t + "\r\n")                            # the same code, with a scanner's line ending
    assert again.accepted and again.repeat and again.scan_uuid is None
    assert gate.ledger.counts()["checkins"] == 1 and gate.ledger.outbox_size() == 1
    clock.advance(5)
    assert gate.scan(t).code is Code.ALREADY_USED
    assert first.accepted


def test_reread_in_entry_exit_does_not_toggle(tmp_path):
    clock = Clock()
    gate = make_gate(tmp_path, policy=DevicePolicy(mode=Mode.ENTRY_EXIT, reread_window=3.0), clock=clock)
    t = issue(KEY, 1)
    assert [gate.scan(t).direction for _ in range(3)] == ["in", "in", "in"]
    clock.advance(10)
    assert gate.scan(t).direction == "out"


def test_quick_cancellation_idempotent_refused_when_used_and_queued(tmp_path):
    gate = make_gate(tmp_path, policy=DevicePolicy(mode=Mode.QUICK_CANCEL, reread_window=0))
    unsold, used = issue(KEY, 1), issue(KEY, 2)
    first = gate.scan(unsold)
    assert first.code is Code.CANCELLED and first.scan_uuid
    second = gate.scan(unsold)
    assert second.code is Code.CANCELLED and second.repeat and second.scan_uuid is None
    assert gate.ledger.conn.execute("SELECT count(*) FROM checkins WHERE kind='cancel'").fetchone()[0] == 1
    cancels = [m for _, _, m in gate.ledger.outbox_pending() if m.get("kind") == "cancel"]
    assert len(cancels) == 1 and cancels[0]["ticket_key"] == "1"
    gate.set_policy(replace(gate.policy, mode=Mode.NORMAL), save=False)
    assert gate.scan(unsold).code is Code.CANCELLED                  # a cancelled ticket does not get in
    assert gate.scan(used).accepted
    gate.set_policy(replace(gate.policy, mode=Mode.QUICK_CANCEL), save=False)
    refused = gate.scan(used)
    assert refused.code is Code.ALREADY_USED and refused.record is None


def test_annul_last_then_by_uuid_never_deleted_and_synced(tmp_path):
    gate = make_gate(tmp_path)
    a, b = gate.scan(issue(KEY, 1)), gate.scan(issue(KEY, 2))
    with pytest.raises(ValueError):
        gate.annul("   ")
    result = gate.annul("wrong ticket scanned")
    assert result["annulled"] == b.scan_uuid and result["ticket_key"] == "2"
    assert gate.scan(issue(KEY, 2)).accepted                          # undone: the holder can enter
    by_uuid = gate.annul("staff mistake", scan_uuid=a.scan_uuid)
    assert by_uuid["annulled"] == a.scan_uuid
    with pytest.raises(LookupError):
        gate.annul("again", scan_uuid=a.scan_uuid)                    # already annulled
    with pytest.raises(LookupError):
        gate.annul("x", scan_uuid="no-such-uuid")
    kinds = [r[0] for r in gate.ledger.conn.execute("SELECT kind FROM checkins ORDER BY seq")]
    assert kinds == ["entry", "entry", "annul", "entry", "annul"]      # nothing deleted
    annuls = [m for _, _, m in gate.ledger.outbox_pending() if m.get("kind") == "annul"]
    assert [(m["ref_uuid"], m["reason"]) for m in annuls] == [(b.scan_uuid, "wrong ticket scanned"),
                                                              (a.scan_uuid, "staff mistake")]


def test_annul_last_skips_annulled_and_ends(tmp_path):
    gate = make_gate(tmp_path)
    gate.scan(issue(KEY, 1))
    gate.annul("r")
    with pytest.raises(LookupError):
        gate.annul("r")


def test_annul_clears_reread_memory(tmp_path):
    gate = make_gate(tmp_path, policy=DevicePolicy(reread_window=60))
    t = issue(KEY, 1)
    gate.scan(t)
    gate.annul("mistake")
    v = gate.scan(t)
    assert v.accepted and not v.repeat and v.scan_uuid


def test_organiser_reset_merged_from_server(tmp_path):
    clock = Clock()
    gate = make_gate(tmp_path, clock=clock)
    t = issue(KEY, 1)
    assert gate.scan(t).accepted
    assert gate.ledger.merge_remote([{"scan_uuid": "srv-reset-1", "kind": "reset", "ticket_key": "1", "at": T0 + 1,
                                      "device_id": "server", "reason": "organiser reset"}]) == 1
    assert gate.ledger.merge_remote([{"scan_uuid": "srv-reset-1", "kind": "reset", "ticket_key": "1",
                                      "at": T0 + 1}]) == 0        # idempotent
    clock.advance(2)
    assert gate.scan(t).accepted
    assert gate.ledger.conn.execute("SELECT count(*) FROM checkins").fetchone()[0] == 3


def test_remote_entry_from_other_gate_counts(tmp_path):
    gate = make_gate(tmp_path)
    gate.ledger.merge_remote([{"scan_uuid": "x1", "kind": "entry", "ticket_key": "1", "event_id": 1, "direction": "in",
                               "at": T0 - 60, "device_id": "tab-9", "gate": "south"}])
    v = gate.scan(issue(KEY, 1))
    assert v.code is Code.ALREADY_USED and (v.first_use.device_id, v.first_use.gate) == ("tab-9", "south")


def test_manual_checkin_found_by_search(tmp_path):
    gate = make_gate(tmp_path, tickets=[{"ticket_key": "55", "event_id": 1, "order_number": "ORD-1",
                                         "buyer_name": "Hélène Dupont", "zone": 2, "seat": "B7"}])
    [row] = gate.ledger.search("helene")
    v = gate.checkin_by_key(row["ticket_key"], "QR unreadable")
    assert v.accepted and v.zones == (2,) and v.seat == "B7"
    assert gate.ledger.conn.execute("SELECT reason FROM checkins").fetchone()[0] == "QR unreadable"
    assert gate.checkin_by_key("55", "again").code is Code.ALREADY_USED
    assert gate.checkin_by_key("nope", "x").code is Code.MALFORMED
    assert gate.scan(issue(KEY, 55)).code is Code.ALREADY_USED       # same ticket key as the QR


def test_key_validity_window_and_rotation(tmp_path):
    old = test_key(1, seed=1, valid_until=T0)
    new = test_key(2, seed=2, valid_from=T0 - 10)
    gate = make_gate(tmp_path, keys=(old, new))
    v = gate.scan(issue(old, 1))
    assert v.code is Code.UNKNOWN_KEY and "validity" in v.detail
    assert gate.scan(issue(new, 2)).accepted
    future = test_key(3, seed=3, valid_from=T0 + 100)
    gate.keyring.add(future.trusted())
    assert gate.scan(issue(future, 3)).code is Code.UNKNOWN_KEY


def test_key_event_scope(tmp_path):
    scoped = test_key(4, seed=4, events=frozenset({1}))
    gate = make_gate(tmp_path, keys=(scoped,))
    assert gate.scan(issue(scoped, 1, event_id=1)).accepted
    v = gate.scan(issue(scoped, 2, event_id=2))
    assert v.code is Code.FORGED and "may not sign" in v.detail


def test_cross_key_same_id_is_forged(tmp_path):
    impostor = test_key(1, seed=77)
    gate = make_gate(tmp_path)
    assert gate.scan(issue(impostor, 1)).code is Code.FORGED


def test_passes_from_the_ledger(tmp_path):
    events = [{"event_id": 10, "name": "Fri", "passes": [{"pass_id": 500, "name": "Weekend"}]},
              {"event_id": 11, "name": "Sat", "passes": [{"pass_id": 500, "name": "Weekend"}]},
              {"event_id": 12, "name": "Sun"}]
    gate = make_gate(tmp_path, events=events)
    gate.set_policy(replace(load_policy(gate.ledger), events=frozenset({11}), reread_window=0))
    weekend = issue(KEY, 9, event_id=500, is_pass=True)
    v = gate.scan(weekend)
    assert v.accepted and v.event_id == 11
    assert gate.scan(weekend).code is Code.ALREADY_USED
    gate.set_policy(replace(gate.policy, events=frozenset({12})))
    assert gate.scan(weekend).code is Code.WRONG_EVENT
    gate.set_policy(replace(gate.policy, events=frozenset({10})))
    assert gate.scan(weekend).accepted                                  # a new day on the same pass


def test_unselected_device_refuses_events_it_does_not_know(tmp_path):
    gate = make_gate(tmp_path)
    gate.set_policy(replace(load_policy(gate.ledger), reread_window=0))
    assert gate.scan(issue(KEY, 1, event_id=2)).accepted
    assert gate.scan(issue(KEY, 1, event_id=99)).code is Code.WRONG_EVENT


def test_policy_saved_and_reloaded(tmp_path):
    gate = make_gate(tmp_path)
    gate.set_policy(DevicePolicy(device_id="t2", gate="west", mode=Mode.ENTRY_EXIT, events=frozenset({2}),
                                 zones=frozenset({1, 3}), direction="out", reread_window=1.5))
    again = Gate(gate.ledger, Keyring(), clock=Clock(), new_uuid=Uuids())
    assert replace(again.policy, known_events=None, event_times={}, event_windows={}) == DevicePolicy(device_id="t2", gate="west", mode=Mode.ENTRY_EXIT,
                                                                    events=frozenset({2}), zones=frozenset({1, 3}),
                                                                    direction="out", reread_window=1.5)


def test_a_failing_listener_does_not_lose_the_scan(tmp_path):
    gate = make_gate(tmp_path)
    gate.listeners.append(lambda v: 1 / 0)
    assert gate.scan(issue(KEY, 1)).accepted
    assert gate.ledger.counts()["checkins"] == 1


def test_garbage_never_raises_and_is_logged(tmp_path):
    gate = make_gate(tmp_path)
    for raw in (b"\xff\xfe", "", "x" * 10_000, "TG1:" + "0" * 500, None, 3.5):
        assert gate.scan(raw).code is Code.MALFORMED
    assert all(m["type"] == "refusal" for _, _, m in gate.ledger.outbox_pending())


def test_pass_counts_for_todays_event_from_ledger_dates(tmp_path):
    day = 86400
    events = [{"event_id": 10, "name": "Fri", "starts_at": T0 - day, "ends_at": T0 - day + 7200,
               "passes": [{"pass_id": 500}]},
              {"event_id": 11, "name": "Sat", "starts_at": T0 - 600, "ends_at": T0 + 7200, "passes": [{"pass_id": 500}]}]
    gate = make_gate(tmp_path, events=events)
    gate.set_policy(replace(load_policy(gate.ledger), reread_window=0))
    weekend = issue(KEY, 9, event_id=500, is_pass=True)
    assert gate.scan(weekend).event_id == 11
    assert gate.scan(weekend).code is Code.ALREADY_USED


def test_who_is_inside_now(tmp_path):
    gate = make_gate(tmp_path, policy=DevicePolicy(mode=Mode.ENTRY_EXIT, reread_window=0))
    a, b, c = issue(KEY, 1), issue(KEY, 2), issue(KEY, 3, event_id=2)
    for p in (a, b, c, b):            # 1 in, 2 in, 3 in (event 2), 2 out
        gate.scan(p)
    assert gate.ledger.inside() == {1: 1, 2: 1}
    gate.annul("wrong ticket")        # the exit of 2 is annulled: 2 is inside again
    assert gate.ledger.inside() == {1: 2, 2: 1}
    gate.ledger.merge_remote([{"scan_uuid": "r1", "kind": "reset", "ticket_key": "1", "at": T0 + 5}])
    assert gate.ledger.inside() == {1: 1, 2: 1}


def test_validity_windows_are_judged_on_server_time_once_the_offset_is_known(tmp_path):
    """A device clock 3 h slow: before any sync it sees tonight's ticket as not yet valid; once the sync stored
    the offset (server − device), the same ticket is judged on server time — and the action keeps device time."""
    device_clock = Clock(T0 - 3 * 3600)
    gate = make_gate(tmp_path, clock=device_clock)
    ticket = issue(KEY, 1, valid_from=T0 - 3600, valid_until=T0 + 3600)
    assert gate.scan(ticket).code is Code.NOT_YET_VALID
    gate.ledger.set_setting("clock_offset", 3 * 3600.0)
    verdict = gate.scan(ticket)
    assert verdict.accepted
    at, offset = gate.ledger.conn.execute("SELECT at, clock_offset FROM checkins WHERE scan_uuid=?",
                                          (verdict.scan_uuid,)).fetchone()
    assert (at, offset) == (T0 - 3 * 3600, 3 * 3600.0)
    late = issue(KEY, 2, valid_until=T0 - 60)                # expired on server time, still "valid" on the slow clock
    assert gate.scan(late).code is Code.EXPIRED


def test_an_action_after_a_reset_it_knows_stays_after_it_whatever_the_clock_estimate(tmp_path):
    """The organiser's reset reached the gate, stamped 1 s later than the gate's own estimate of server time (the
    estimate errs by up to half a round trip, more on a loaded network): the entry the gate admits next is still
    ordered after that reset, so the ticket is used again at once (not admitted twice)."""
    clock = Clock()
    gate = make_gate(tmp_path, clock=clock, policy=DevicePolicy(reread_window=0))
    t = issue(KEY, 1)
    assert gate.scan(t).accepted
    gate.ledger.merge_remote([{"scan_uuid": "srv-reset-2", "kind": "reset", "ticket_key": "1", "at": T0 + 1.0,
                               "device_id": "server", "reason": "let her in again"}])
    clock.advance(0.5)
    assert [gate.scan(t).code for _ in range(2)] == [Code.ACCEPTED, Code.ALREADY_USED]
