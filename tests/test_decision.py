"""The pure decision: every verdict code, every mode, the order of the checks; and properties over it."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.decision import CHECKS, decide
from agent.history import Action, LastRead, TicketHistory, fold
from agent.keyring import Keyring
from agent.payload import FORGED, MALFORMED, OK, UNKNOWN_KEY, Decoded, read_payload
from agent.policy import DevicePolicy, Mode
from agent.ticket_format import Ticket
from agent.verdicts import Code, Reason
from tests.test_core_support import T0, test_key

NOW = T0
P = DevicePolicy(device_id="d1", gate="g1", reread_window=3.0)


def ok(**kw) -> Decoded:
    return Decoded(OK, Ticket(**(dict(key_id=1, event_id=1, ticket_id=10) | kw)))


def entry(at, direction="in", event_id=1, uuid=None, device="d0", kind="entry"):
    return Action(uuid or f"u{at}{direction}", kind, at, device, "g0", event_id, direction)


def hist(*entries, **kw) -> TicketHistory:
    return TicketHistory(entries=tuple(entries), **kw)


def test_checks_order_is_the_documented_one():
    assert [c.__name__ for c in CHECKS] == ["check_payload", "check_allotment", "check_event", "check_product", "check_zone", "check_validity",
                                           "check_revoked", "check_blocked", "check_paid", "check_cancelled",
                                           "check_reread", "check_mode"]


@pytest.mark.parametrize("status,code", [(MALFORMED, Code.MALFORMED), (FORGED, Code.FORGED),
                                         (UNKNOWN_KEY, Code.UNKNOWN_KEY)])
def test_payload_verdicts(status, code):
    v = decide(Decoded(status, detail="x"), P, TicketHistory(), NOW)
    assert v.code is code and not v.accepted and v.record is None


def test_accepted_normal():
    v = decide(ok(zones=(1,), seat="A1", category=3), P, TicketHistory(), NOW)
    assert (v.code, v.direction, v.record, v.event_id, v.seat, v.category) == (Code.ACCEPTED, "in", "entry", 1, "A1", 3)


def test_already_used_reports_first_scan():
    v = decide(ok(), P, hist(entry(100, device="tab-7"), entry(200)), NOW)
    assert v.code is Code.ALREADY_USED and v.record is None
    assert (v.first_use.at, v.first_use.device_id, v.first_use.gate) == (100, "tab-7", "g0")


def test_wrong_event_and_selected_events():
    pol = DevicePolicy(events=frozenset({2, 3}))
    assert decide(ok(event_id=1), pol, TicketHistory(), NOW).code is Code.WRONG_EVENT
    assert decide(ok(event_id=3), pol, TicketHistory(), NOW).code is Code.ACCEPTED


def test_no_selection_means_the_events_the_device_knows():
    pol = DevicePolicy(known_events=frozenset({1}))
    assert decide(ok(event_id=1), pol, TicketHistory(), NOW).code is Code.ACCEPTED
    assert decide(ok(event_id=9), pol, TicketHistory(), NOW).code is Code.WRONG_EVENT
    assert decide(ok(event_id=9), DevicePolicy(), TicketHistory(), NOW).code is Code.ACCEPTED  # knows none: any


def test_pass_opens_its_events_only():
    pol = DevicePolicy(events=frozenset({5}), pass_events={900: frozenset({4, 5})})
    v = decide(ok(event_id=900, is_pass=True), pol, TicketHistory(), NOW)
    assert v.code is Code.ACCEPTED and v.event_id == 5           # counts for the selected event, not the pass id
    assert decide(ok(event_id=901, is_pass=True), pol, TicketHistory(), NOW).code is Code.WRONG_EVENT
    # a plain ticket whose event id happens to equal a pass id is not a pass
    assert decide(ok(event_id=900), pol, TicketHistory(), NOW).code is Code.WRONG_EVENT
    # a pass used on event 4 is still fresh for event 5
    pol45 = DevicePolicy(events=frozenset({5}), pass_events={900: frozenset({4, 5})})
    used4 = hist(entry(1, event_id=4))
    assert decide(ok(event_id=900, is_pass=True), pol45, used4, NOW).code is Code.ACCEPTED


def test_zone_filter():
    pol = DevicePolicy(zones=frozenset({1, 2}))
    assert decide(ok(zones=(3,)), pol, TicketHistory(), NOW).code is Code.WRONG_ZONE
    assert decide(ok(zones=(3, 2)), pol, TicketHistory(), NOW).code is Code.ACCEPTED
    assert decide(ok(zones=()), pol, TicketHistory(), NOW).code is Code.ACCEPTED     # zoneless: every zone
    assert DevicePolicy(zones=frozenset()).zones is None                              # empty filter = all


def test_validity_window_edges():
    t = dict(valid_from=NOW, valid_until=NOW + 10)
    assert decide(ok(**t), P, TicketHistory(), NOW - 1).code is Code.NOT_YET_VALID
    assert decide(ok(**t), P, TicketHistory(), NOW).code is Code.ACCEPTED
    assert decide(ok(**t), P, TicketHistory(), NOW + 9.999).code is Code.ACCEPTED
    v = decide(ok(**t), P, TicketHistory(), NOW + 10)
    assert v.code is Code.EXPIRED and v.extra["valid_until"] == NOW + 10


@pytest.mark.parametrize("history,code", [
    (TicketHistory(revoked="reissued"), Code.REVOKED),
    (TicketHistory(order_status="refunded"), Code.REVOKED),
    (TicketHistory(order_status="cancelled"), Code.REVOKED),
    (TicketHistory(blocked="lost ticket"), Code.BLOCKED),
    (TicketHistory(order_status="pending"), Code.UNPAID),
    (TicketHistory(cancelled=entry(5, kind="cancel", direction=None)), Code.CANCELLED),
    # the order cancelled because its tickets were quick-cancelled at a door: still "cancelled for resale"
    (TicketHistory(order_status="cancelled", cancelled=entry(5, kind="cancel", direction=None)), Code.CANCELLED),
    (TicketHistory(order_status="refunded", cancelled=entry(5, kind="cancel", direction=None)), Code.REVOKED),
])
def test_order_state_verdicts(history, code):
    for mode in Mode:
        v = decide(ok(), DevicePolicy(mode=mode), history, NOW)
        assert v.code is code and v.record is None, mode


def test_order_of_checks_first_failure_wins():
    everything_wrong = TicketHistory(revoked="r", blocked="b", order_status="pending", entries=(entry(1),))
    pol = DevicePolicy(events=frozenset({1}), zones=frozenset({1}))
    assert decide(ok(event_id=2, zones=(2,), valid_from=NOW + 5), pol, everything_wrong, NOW).code is Code.WRONG_EVENT
    assert decide(ok(zones=(2,), valid_from=NOW + 5), pol, everything_wrong, NOW).code is Code.WRONG_ZONE
    assert decide(ok(valid_from=NOW + 5), pol, everything_wrong, NOW).code is Code.NOT_YET_VALID
    assert decide(ok(), pol, everything_wrong, NOW).code is Code.REVOKED
    assert decide(ok(), pol, TicketHistory(blocked="b", order_status="pending"), NOW).code is Code.BLOCKED


def test_entry_exit_alternates_and_tracks_inside():
    pol = DevicePolicy(mode=Mode.ENTRY_EXIT)
    assert decide(ok(), pol, TicketHistory(), NOW).direction == "in"
    v = decide(ok(), pol, hist(entry(1, "in")), NOW)
    assert (v.code, v.direction, v.record) == (Code.ACCEPTED, "out", "entry")
    assert decide(ok(), pol, hist(entry(1, "in"), entry(2, "out")), NOW).direction == "in"
    assert TicketHistory(entries=(entry(1, "in"),)).inside(1) and not TicketHistory().inside(1)


def test_entry_exit_fixed_direction():
    pin, pout = DevicePolicy(mode=Mode.ENTRY_EXIT, direction="in"), DevicePolicy(mode=Mode.ENTRY_EXIT, direction="out")
    inside = hist(entry(1, "in"))
    v = decide(ok(), pin, inside, NOW)
    assert v.code is Code.ALREADY_USED and v.first_use.at == 1
    assert decide(ok(), pout, inside, NOW).direction == "out"
    assert decide(ok(), pin, hist(entry(1, "in"), entry(2, "out")), NOW).code is Code.ACCEPTED
    with pytest.raises(ValueError):
        DevicePolicy(direction="sideways")


def test_multiple_entries_never_already_used():
    pol = DevicePolicy(mode=Mode.MULTIPLE)
    v = decide(ok(), pol, hist(*[entry(i) for i in range(20)]), NOW)
    assert (v.code, v.direction, v.record) == (Code.ACCEPTED, "in", "entry")


def test_normal_mode_after_an_exit_is_still_used():
    assert decide(ok(), P, hist(entry(1, "in"), entry(2, "out")), NOW).code is Code.ALREADY_USED
    assert decide(ok(), P, hist(entry(1, "in", event_id=2)), NOW).code is Code.ACCEPTED   # other event


def test_quick_cancellation():
    pol = DevicePolicy(mode=Mode.QUICK_CANCEL)
    v = decide(ok(), pol, TicketHistory(), NOW)
    assert (v.code, v.record) == (Code.CANCELLED, "cancel")
    again = decide(ok(), pol, TicketHistory(cancelled=entry(1, kind="cancel", direction=None)), NOW)
    assert again.code is Code.CANCELLED and again.repeat and again.record is None   # idempotent
    used = decide(ok(), pol, hist(entry(1)), NOW)
    assert used.code is Code.ALREADY_USED and used.record is None                   # refused when used


def test_reread_window_repeats_the_verdict():
    last = LastRead(NOW - 1, "accepted", "in", 1)
    h = hist(entry(NOW - 1), last_read=last)
    v = decide(ok(), P, h, NOW)
    assert v.code is Code.ACCEPTED and v.repeat and v.record is None and v.direction == "in"
    assert decide(ok(), P, h, NOW + 3).code is Code.ALREADY_USED        # window passed
    assert decide(ok(), P, hist(entry(NOW - 1), last_read=LastRead(NOW - 1, "already_used", None, 1)),
                  NOW).code is Code.ALREADY_USED                        # refusals are recomputed, not repeated
    assert decide(ok(), DevicePolicy(reread_window=0), h, NOW - 1).code is Code.ALREADY_USED  # window 0: off


def test_reasons_say_why_beyond_the_code():
    """Screens match on `reason` (never on the free-text detail): a re-read, already inside, a pass, an order."""
    reread = decide(ok(), P, hist(entry(NOW - 2), last_read=LastRead(NOW - 2, "accepted", "in", 1)), NOW)
    assert (reread.reason, reread.since_read) == (Reason.REREAD, 2)
    assert reread.to_json()["reason"] == "reread" and reread.to_json()["since_read"] == 2
    inside = decide(ok(), DevicePolicy(mode=Mode.ENTRY_EXIT, direction="in"), hist(entry(1, "in")), NOW)
    assert (inside.code, inside.reason) == (Code.ALREADY_USED, Reason.ALREADY_INSIDE)
    used = decide(ok(), P, hist(entry(1, "in")), NOW)
    assert (used.code, used.reason, used.since_read) == (Code.ALREADY_USED, None, None)   # a plain second use
    assert decide(ok(), DevicePolicy(mode=Mode.QUICK_CANCEL), hist(entry(1)), NOW).reason is Reason.USED_NOT_FOR_RESALE
    pol = DevicePolicy(events=frozenset({5}), pass_events={900: frozenset({4})})
    assert decide(ok(event_id=900, is_pass=True), pol, TicketHistory(), NOW).reason is Reason.PASS_NOT_SELECTED
    assert decide(ok(event_id=4), pol, TicketHistory(), NOW).reason is Reason.EVENT_NOT_SELECTED
    assert decide(ok(event_id=4), pol, TicketHistory(), NOW).detail == "event 4 is not selected on this device"
    gone = decide(ok(event_id=4), DevicePolicy(known_events=frozenset({5})), TicketHistory(), NOW)  # removed, forgotten
    assert (gone.reason, gone.detail) == (Reason.EVENT_NOT_SELECTED, "event 4 is not on this device (not one of its "
                                                                     "events, or removed by the organiser)")
    emptied = decide(ok(event_id=4), DevicePolicy(known_events=frozenset()), TicketHistory(), NOW)  # none left
    assert (emptied.code, emptied.reason) == (Code.WRONG_EVENT, Reason.EVENT_NOT_SELECTED)
    assert decide(ok(event_id=4), DevicePolicy(), TicketHistory(), NOW).code is Code.ACCEPTED    # keys only: any
    assert decide(ok(event_id=-1), pol, TicketHistory(), NOW).reason is Reason.DATE_NOT_MAPPED
    assert decide(ok(), P, TicketHistory(order_status="refunded"), NOW).reason is Reason.ORDER_CANCELLED
    assert decide(ok(), P, TicketHistory(revoked="reissued"), NOW).reason is None


def test_reread_does_not_hide_a_revocation():
    h = hist(entry(NOW - 1), last_read=LastRead(NOW - 1, "accepted", "in", 1), revoked="refunded just now")
    assert decide(ok(), P, h, NOW).code is Code.REVOKED


def test_fold_annul_and_reset():
    a, b = entry(1, uuid="a"), entry(2, uuid="b")
    annul = Action("x", "annul", 3, ref_uuid="a")
    assert fold([a, b, annul])[0] == (b,)
    reset = Action("r", "reset", 4)
    c = entry(5, uuid="c")
    assert fold([a, b, reset])[0] == ()
    assert fold([c, reset, a, b])[0] == (c,)
    assert fold([annul, a])[0] == ()              # an annulment synced before its target still applies
    cancel = Action("k", "cancel", 1)
    assert fold([cancel])[1] == cancel and fold([cancel, Action("y", "annul", 2, ref_uuid="k")])[1] is None


# -- properties ---------------------------------------------------------------------------------------------------
TRUSTED = test_key(1, seed=1)
UNTRUSTED = [test_key(1, seed=2), test_key(2, seed=3), test_key(7, seed=4)]
RING = Keyring()
RING.add(TRUSTED.trusted())

policies = st.builds(DevicePolicy, mode=st.sampled_from(list(Mode)),
                     events=st.frozensets(st.integers(0, 5), max_size=3),
                     zones=st.none() | st.frozensets(st.integers(0, 5), max_size=3),
                     direction=st.sampled_from([None, "in", "out"]), reread_window=st.floats(0, 10),
                     pass_events=st.dictionaries(st.integers(0, 5), st.frozensets(st.integers(0, 5)), max_size=2))
histories = st.builds(TicketHistory,
                      entries=st.lists(st.builds(entry, st.floats(0, NOW), st.sampled_from(["in", "out"]),
                                                 st.integers(0, 5)), max_size=3).map(tuple),
                      order_status=st.sampled_from([None, "paid", "pending"]),
                      last_read=st.none() | st.builds(LastRead, st.floats(NOW - 5, NOW), st.sampled_from(
                          [c.value for c in Code]), st.sampled_from([None, "in", "out"]), st.integers(0, 5)))
small_tickets = st.builds(Ticket, key_id=st.sampled_from([1, 2, 7]), event_id=st.integers(0, 5),
                          ticket_id=st.integers(0, 2**48 - 1), zones=st.lists(st.integers(0, 5), max_size=2).map(tuple),
                          is_pass=st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_tickets, st.sampled_from(UNTRUSTED), policies, histories, st.integers(0, 3), st.binary(max_size=3))
def test_property_nothing_unsigned_by_a_trusted_key_is_accepted(ticket, signer, policy, history, cut, junk):
    """Payloads signed by another key (even reusing the trusted key's id), truncated or extended: never accepted,
    whatever the device's settings and the ticket's history (including a stale 'accepted' re-read)."""
    from dataclasses import replace
    text = signer.issue(replace(ticket, key_id=signer.key_id))
    for candidate in (text, text[:len(text) - cut] if cut else text, text + junk.hex().upper()):
        d = read_payload(candidate, RING, NOW)
        assert d.status != OK or candidate.strip() == text and signer is TRUSTED
        assert not decide(d, policy, history, NOW).accepted


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([MALFORMED, FORGED, UNKNOWN_KEY]), st.none() | small_tickets, policies, histories)
def test_property_non_ok_status_never_accepted(status, ticket, policy, history):
    v = decide(Decoded(status, ticket), policy, history, NOW)
    assert v.code.value == status and v.record is None


@settings(max_examples=300, deadline=None)
@given(small_tickets, policies, histories)
def test_property_decide_is_total_and_records_only_on_success(ticket, policy, history):
    v = decide(Decoded(OK, ticket), policy, history, NOW)
    assert isinstance(v.code, Code)
    if v.record == "entry":
        assert v.accepted and v.direction in ("in", "out")
    elif v.record == "cancel":
        assert v.code is Code.CANCELLED and policy.mode is Mode.QUICK_CANCEL
    assert decide(Decoded(OK, ticket), policy, history, NOW) == v        # pure: same input, same verdict


def test_pass_counts_for_the_event_happening_now():
    day = 86400
    times = {4: (NOW - day - 3600, NOW - day + 3600), 5: (NOW - 3600, NOW + 3600), 6: (NOW + day, NOW + day + 3600)}
    pol = DevicePolicy(pass_events={900: frozenset({4, 5, 6})}, event_times=times)
    assert decide(ok(event_id=900, is_pass=True), pol, TicketHistory(), NOW).event_id == 5
    assert decide(ok(event_id=900, is_pass=True), pol, TicketHistory(), NOW + day - 7200).event_id == 6   # nearest
    used_today = hist(entry(NOW - 60, event_id=5))
    assert decide(ok(event_id=900, is_pass=True), pol, used_today, NOW).code is Code.ALREADY_USED
    undated = DevicePolicy(pass_events={900: frozenset({4, 5})})
    assert decide(ok(event_id=900, is_pass=True), undated, TicketHistory(), NOW).event_id == 4          # lowest id


def test_history_and_first_use_are_on_server_time():
    """A gate 1 h fast stamped its entry at device time; with its offset it is before the organiser's reset, and the
    time shown as the first use is server time."""
    fast = Action("u1", "entry", 4600.0, "d1", "g1", 1, "in", clock_offset=-3600.0)
    reset = Action("r1", "reset", 2000.0, "server", "", 1)
    assert fold([fast, reset]) == ((), None)
    later = Action("u2", "entry", 6000.0, "d1", "g1", 1, "in", clock_offset=-3600.0)
    verdict = decide(ok(), DevicePolicy(), hist(*fold([fast, reset, later])[0]), now=3000.0)
    assert verdict.code is Code.ALREADY_USED and verdict.first_use.at == 2400.0
