"""A stolen door floods the server with large *valid* batches (tests/flood_scenario.py: real mosquitto, the real
SyncServer, SQLite, real device syncs). The server holds a bounded share of it (per device and in all), parses little
of it, acknowledges another door's upload promptly meanwhile, and loses nothing: what it did not take was never
acknowledged, and the door's own sync uploads every row once the flood stops."""
from __future__ import annotations

import pytest

from agent.sync import topics
from tests.broker import mosquitto_binary
from tests.flood_scenario import FLOOD, ROWS, run_flood
from tests.sync_fixtures import ORG


@pytest.mark.timeout(900)
@pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")
def test_attack_a_flood_of_large_valid_batches_is_held_bounded_and_loses_nothing(tmp_path, broker):
    """Before: every message went into an unbounded queue and was parsed (4 MiB of JSON, 1,000 items) before the rate
    limit looked at it: the inbox and the server's memory grew with the flood, and another door's ack waited seconds.
    Now a device holds at most 32 messages / 8 MiB in the server's inbox (past that a message is not taken, counted,
    not acknowledged: the device sends it again), a large batch the device's rate would defer is not parsed, and the
    other door's acks come promptly. The door's own sync, online during the flood, uploads all its rows once the
    flood stops (what was not taken was never acknowledged)."""
    f = run_flood(tmp_path, broker.port)
    print("flood:", f.text())
    assert f.published == FLOOD                          # the flood went through the broker
    assert f.stored == ROWS                              # nothing lost
    # the other door's slowest ack: was 5.0-5.6 s (load 4), 14.0 s (load 7); now 0.3-0.5 s, 1.1-1.4 s
    assert f.waits[-1] < 4.0, f.waits[-5:]
    assert f.rss_grown_mib < 200, f.rss_grown_mib        # was +436-498 MiB, now +49-58 MiB
    from server_stub.sync.inbox import Caps
    caps = Caps()
    assert f.queued <= caps.device_messages + 8, f.queued    # the thief, the door's sync, the other door
    assert f.stats["inbox_peak_bytes"] <= caps.device_bytes + (4 << 20), f.stats
    assert f.stats["not_taken"] > 0 and f.stats["not_parsed"] > 0, f.stats
    # for the organiser: one summary row, counting every message not taken or not parsed (`server refusals`)
    [row] = f.refusals
    counted = f.stats["not_taken"] + f.stats["not_parsed"]
    assert row["body"].get("counted_since") and row["reason"].startswith(f"{counted:,} more upload(s)"), row
    assert "not taken: the device's share of the server's queue was full" in row["reason"], row


def test_the_inbox_holds_a_bounded_share_per_device_and_in_all_and_every_presence_once():
    """Past a device's share (messages or bytes) or the total, a message is not taken and counted per device and
    reason; ingestion's `done` frees the share; a device's presences are never refused, the latest one held once."""
    from server_stub.sync.inbox import ALL_FULL, DEVICE_FULL, Caps, Inbox
    inbox = Inbox(Caps(device_messages=3, device_bytes=1000, total_messages=5, total_bytes=10_000))
    up_a, up_b, up_c = (topics.up(ORG, d) for d in ("a", "b", "c"))
    assert [inbox.put(up_a, b"x" * 100) for _ in range(4)] == [True] * 3 + [False]       # 3 messages
    assert inbox.put(up_b, b"y" * 900) and not inbox.put(up_b, b"y" * 200)                # 1,000 bytes
    assert inbox.put(up_c, b"z") and not inbox.put(up_c, b"z")                            # 5 in all
    for n in range(1000):                       # presences: the latest one, once, whatever the caps
        assert inbox.put(topics.device_status(ORG, "a"), b"state %d" % n)
    assert inbox.held() == (5, 1201) and inbox.collapsed == 999
    assert inbox.not_taken() == {(ORG, "a", DEVICE_FULL): 1, (ORG, "b", DEVICE_FULL): 1, (ORG, "c", ALL_FULL): 1}
    assert inbox.not_taken() == {}
    got = [inbox.get(0) for _ in range(6)]
    assert got[-1] == (topics.device_status(ORG, "a"), b"state 999") and inbox.qsize() == 0
    inbox.done(got[:2])                        # two of a's ingested: its share and the total free again
    assert inbox.held() == (3, 1001) and inbox.put(up_a, b"x" * 100) and inbox.put(up_c, b"z")
    assert inbox.peak_messages == 5 and inbox.peak_bytes == 1201
