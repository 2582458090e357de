"""Check-in ids are time-ordered UUIDs (version 7): a new entry lands at the end of every gate's and the server's
index of ids instead of on a random page of it (half the WAL written per relay at each gate)."""
from __future__ import annotations

import json
import uuid

from agent.ledger import Ledger
from agent.scan_ids import new_scan_id
from tests.test_agent_cli import FAR, KEY, home, run  # noqa: F401  (home: the fixture)
from tests.test_core_support import issue


def test_a_scan_at_the_door_is_recorded_under_a_time_ordered_id(home, capsys):  # noqa: F811
    first = issue(KEY, 11, valid_until=FAR)
    rc, out, _ = run(home, "scan", "--json", "--reread-window", "0", first, capsys=capsys)
    rc2, out2, _ = run(home, "scan", "--json", "--reread-window", "0", issue(KEY, 12, valid_until=FAR), capsys=capsys)
    ids = [json.loads(out)["scan_uuid"], json.loads(out2)["scan_uuid"]]
    assert rc == rc2 == 0 and [uuid.UUID(i).version for i in ids] == [7, 7] and ids == sorted(ids)
    ledger = Ledger.open(home / "ledger.sqlite")
    try:
        assert [r[0] for r in ledger.conn.execute("SELECT scan_uuid FROM checkins ORDER BY seq")] == ids
    finally:
        ledger.close()


def test_ids_carry_their_millisecond_first_and_stay_unique_within_it():
    at = 1_796_217_421_123_456_789
    ids = [new_scan_id(lambda: at) for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert {(u.version, u.variant, u.int >> 80) for u in parsed} == {(7, uuid.RFC_4122, at // 1_000_000)}
    assert str(parsed[0]) == ids[0] and len(ids[0]) == 36          # the canonical form, as version 4 ids were
    assert new_scan_id(lambda: at) < new_scan_id(lambda: at + 1_000_000)
