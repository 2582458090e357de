"""One read model of the action log for device and server (agent.read_models): who is inside, conflicts."""
from __future__ import annotations

from agent.ledger import Ledger
from agent.verdicts import Code
from kiosk_ui import door_queries
from server_stub.stats import Scan, compute_stats, find_conflicts
from tests.test_core_support import T0

# (scan_uuid, kind, ticket, event, direction, device time, clock offset, device, mode, ref)
LOG = [
    ("a1", "entry", "T1", 1, "in", 1000.0, 0.0, "gate-a", "normal", None),
    ("b1", "entry", "T1", 1, "in", 1100.0, 0.0, "gate-b", "normal", None),        # T1 admitted twice: a conflict
    ("a2", "entry", "T2", 1, "in", 1000.0, 0.0, "gate-a", "multiple", None),
    ("a3", "entry", "T2", 1, "in", 1200.0, 0.0, "gate-a", "multiple", None),      # multiple-entry gate: no conflict
    ("a4", "entry", "T3", 1, "in", 1000.0, 0.0, "gate-a", "entry_exit", None),
    ("a5", "entry", "T3", 1, "out", 1100.0, 0.0, "gate-a", "entry_exit", None),
    ("b2", "entry", "T3", 1, "in", 1200.0, 0.0, "gate-b", "entry_exit", None),    # in, out, in: no conflict
    ("a6", "entry", "T4", 1, "in", 1000.0, 0.0, "gate-a", "normal", None),
    ("a7", "entry", "T4", 1, "in", 1050.0, 0.0, "gate-a", "normal", None),        # same device twice: a conflict
    ("a8", "entry", "T5", 1, "in", 1000.0, 0.0, "gate-a", "normal", None),
    ("s1", "reset", "T5", 1, None, 1500.0, 0.0, "server", None, None),             # the organiser's reset
    ("b3", "entry", "T5", 1, "in", 1480.0, 60.0, "gate-b", "normal", None),       # slow clock: after the reset
    ("a9", "entry", "T6", 1, "in", 1000.0, 0.0, "gate-a", "normal", None),
    ("b4", "entry", "T6", 1, "in", 1100.0, 0.0, "gate-b", "normal", None),
    ("b5", "annul", "T6", 1, None, 1110.0, 0.0, "gate-b", "normal", "b4"),         # annulled: no conflict
    ("a10", "entry", "T7", 1, "in", 1000.0, 0.0, "gate-a", "normal", None),
    ("s2", "reset", "T7", 1, None, 1500.0, 0.0, "server", None, None),             # reset: T7 is not inside
]


def _ledger(tmp_path) -> Ledger:
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.merge_remote([{"scan_uuid": u, "kind": k, "ticket_key": t, "event_id": e, "direction": d, "at": at,
                          "clock_offset": off, "device_id": dev, "gate": dev, "mode": mode, "ref_uuid": ref}
                         for u, k, t, e, d, at, off, dev, mode, ref in LOG])
    return ledger


def _scans() -> list[Scan]:
    return [Scan(u, "action", k, None, t, e, d, at, off, dev, dev, ref, mode, seq)
            for seq, (u, k, t, e, d, at, off, dev, mode, ref) in enumerate(LOG, 1)]


def test_device_and_server_find_the_same_conflicts(tmp_path):
    ledger = _ledger(tmp_path)
    device = sorted((c.ticket_key, c.event_id, [d.scan_uuid for d in c.duplicates]) for c in ledger.conflicts())
    server = sorted((c["ticket_key"], c["event_id"], [d["scan_uuid"] for d in c["duplicates"]])
                    for c in find_conflicts(_scans()))
    assert device == server == [("T1", 1, ["b1"]), ("T4", 1, ["a7"])]
    assert door_queries.conflicts(ledger) == 2


def test_device_and_server_agree_who_is_inside(tmp_path):
    ledger = _ledger(tmp_path)
    server = compute_stats(_scans(), {}, {})["inside_now"]
    assert ledger.inside() == {1: 6} and server == {"1": 6}       # T1..T6; T7 was reset
    assert door_queries.inside_now(ledger) == 6                   # resets applied (it used to ignore them)
    assert door_queries.inside_now(ledger, frozenset({2})) == 0
    ledger.merge_remote([{"scan_uuid": "s3", "kind": "reset", "ticket_key": "T1", "event_id": 1, "at": 2000.0,
                          "device_id": "server"},
                         {"scan_uuid": "a11", "kind": "entry", "ticket_key": "T3", "event_id": 1, "direction": "out",
                          "at": 2000.0, "device_id": "gate-a", "mode": "entry_exit"}])
    assert door_queries.inside_now(ledger) == 4                   # kept up to date as the log grows
    fresh = Ledger.open(tmp_path / "ledger.sqlite")
    assert fresh.inside() == {1: 4}                               # the same from scratch
    fresh.close()
    ledger.close()


def test_the_entry_exit_door_and_the_inside_count_agree_on_an_entry_with_no_direction(tmp_path):
    """An entry relayed with no direction (the wire allows it; the server counts it as an admission) is someone
    inside for the counters and the conflict rule: the entry/exit door's decision says so too, and lets the holder
    out. It used to see nobody inside and admit them again: the inside count stayed 1 and `server conflicts` got a
    second admission."""
    from agent.policy import DevicePolicy, Mode
    from tests.test_core_support import issue, make_gate, test_key
    gate = make_gate(tmp_path, DevicePolicy(device_id="dev-1", gate="east", mode=Mode.ENTRY_EXIT, reread_window=0))
    gate.ledger.merge_remote([{"scan_uuid": "r1", "kind": "entry", "ticket_key": "10", "event_id": 1,
                               "direction": None, "at": T0 - 60, "device_id": "gate-a", "gate": "north"}])
    assert gate.ledger.inside() == {1: 1}
    v = gate.scan(issue(test_key(), 10))
    assert (v.code, v.direction) == (Code.ACCEPTED, "out")
    assert gate.ledger.inside() == {} and gate.ledger.conflicts() == []


def test_only_the_ledger_touches_its_connection():
    """The ledger owns its SQL: no product module outside agent/ledger reaches into a ledger's connection."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"ledger\.(conn|db)\b")
    leaks = [f"{p.relative_to(root)}:{n}" for folder in ("agent", "kiosk_ui", "server_stub", "drivers", "provisioning")
             for p in (root / folder).rglob("*.py") if "agent/ledger/" not in p.as_posix()
             for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert leaks == []
