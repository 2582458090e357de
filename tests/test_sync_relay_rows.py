"""A gate checks every relay of its event, row by row, straight to the rows it merges (RelayedAction.row_from_wire):
the same rows taken, the same refused with the same reason, as RelayedAction.from_wire; through a real broker, a relay
mixing good, own and bad rows merges the good ones, skips the gate's own and names each bad one."""
from __future__ import annotations

import math
import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.sync import topics
from agent.sync.messages import Checkins, RelayedAction
from agent.sync.signed import Rejected
from tests.helpers import wait_for
from tests.sync_fixtures import ORG, make_store, ready, start_door, start_server

_TEXT = [None, "", "gate-b", "x" * 64, "x" * 65, "é" * 64, "r" * 500, "r" * 501, 7, 1.5, True, [], {}]
_INTS = [None, 0, -1, 12, (1 << 62) - 1, 1 << 62, -(1 << 62), True, False, 1.0, "3", []]
_FLOATS = [None, 0.0, -0.0, 1796217421.5, 1e12, 1e12 + 1, -1e12, 3, 10**13, True, math.nan, math.inf, "1.0", []]
_FIELDS = {"scan_uuid": _TEXT, "kind": ["entry", "cancel", "annul", "reset", "exit", "", None, 1, []],
           "ticket_key": _TEXT, "event_id": _INTS, "direction": [None, "in", "out", "up", "", 0, []],
           "at": _FLOATS, "device_id": _TEXT, "gate": _TEXT, "device_seq": _INTS, "ref_uuid": _TEXT,
           "reason": _TEXT, "clock_offset": _FLOATS, "mode": _TEXT}
_MISSING = object()


def _outcome(check, d):
    try:
        return check(d)
    except Rejected as exc:
        return f"refused: {exc}"


@st.composite
def _relayed(draw):
    """A relayed action's JSON object: each field a good value, a bad one, or absent; now and then not an object."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, "row", 5, [], ["scan_uuid"]]))
    good = {"scan_uuid": uuid.uuid4().hex, "kind": "entry", "ticket_key": "123", "event_id": 1, "direction": "in",
            "at": 1796217421.5, "device_id": "gate-b", "gate": "gate-b", "device_seq": 4, "ref_uuid": None,
            "reason": "", "clock_offset": 0.01, "mode": "normal"}
    out = {}
    for name, value in good.items():
        if draw(st.integers(0, 5)) == 0:       # mostly good rows, as relays are: each field off now and then
            value = draw(st.sampled_from([*_FIELDS[name], _MISSING]))
        if value is not _MISSING:
            out[name] = value
    return out


@settings(max_examples=3000, deadline=None)
@given(_relayed())
def test_a_relayed_row_is_taken_or_refused_exactly_as_the_relayed_action_would_be(d):
    slow = _outcome(lambda x: RelayedAction.from_wire(x).row(), d)
    fast = _outcome(RelayedAction.row_from_wire, d)
    assert fast == slow
    if not isinstance(fast, str):
        assert [type(v) for v in fast] == [type(v) for v in slow]       # 5 stays 5.0 as `at`, as before


def test_a_relays_rows_are_its_checked_actions_in_the_ledgers_column_order():
    a = RelayedAction("u-1", "entry", "123", 1, "in", 1000.5, "gate-b", "", 3, None, "", 0.25, "normal")
    wire = {"type": "checkins", "event": 1, "actions": [a.to_wire(), dict(a.to_wire(), at=None), "junk"]}
    event, rows, invalid = Checkins.rows_from_wire(wire)
    assert (event, rows, invalid) == (1, [a.row()], ["bad at: None", "relayed action is not a JSON object"])
    assert Checkins.from_wire(wire).invalid == tuple(invalid)


def test_a_relay_mixing_good_own_and_bad_rows_merges_the_good_skips_its_own_and_names_the_bad(tmp_path, broker):
    store, event, orders = make_store(tmp_path / "server", tickets=3, devices=("gate-b",))
    server = start_server(store, broker.port)
    door = start_door(tmp_path / "b", "gate-b", broker.port, store.server_public_key(ORG), event)
    try:
        assert wait_for(lambda: ready(door, 3)), door.sync.rejections
        keys = [o["tickets"][0]["ticket_key"] for o in orders]
        other = RelayedAction(uuid.uuid4().hex, "entry", keys[0], event, "in", time.time(), "gate-z", "gate-z", 1)
        whole_second = dict(RelayedAction(uuid.uuid4().hex, "entry", keys[1], event, "in", 0.0, "gate-y", "gate-y",
                                          2).to_wire(), at=int(time.time()))      # an integer time: taken as before
        own = RelayedAction(uuid.uuid4().hex, "entry", keys[2], event, "in", time.time(), "gate-b", "gate-b", 3)
        bad = dict(other.to_wire(), scan_uuid=uuid.uuid4().hex, kind="exit")
        body = {"type": "checkins", "event": event, "actions": [other.to_wire(), whole_second, own.to_wire(), bad]}
        server.transport.publish(topics.live(ORG, event), server._sign(ORG, body))
        assert wait_for(lambda: door.sync.stats["live"] >= 1 and door.sync.rejections, 10)
        rows = door.ledger.conn.execute("SELECT scan_uuid, ticket_key, typeof(at) FROM checkins WHERE origin='remote' "
                                        "ORDER BY ticket_key").fetchall()
        assert rows == sorted([(other.scan_uuid, keys[0], "real"), (whole_second["scan_uuid"], keys[1], "real")],
                              key=lambda r: r[1])
        assert [r for _, r in door.sync.rejections] == ["relayed action refused: bad kind: 'exit'"]
    finally:
        door.close()
        server.stop()
        store.close()
