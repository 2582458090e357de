"""Applying a checked `update2` to the ledger (agent/sync/apply.py `apply_update`): one statement per key set, order
statuses as live changes in the ledger file (migration 8), the same end state as the same change row by row."""
from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path

from agent.ledger import Ledger
from agent.ledger import index_file
from agent.ledger.schema import APPLICATION_ID, MIGRATIONS
from agent.sqlite_file import split_sql
from agent.sync.apply import apply_live, apply_update
from agent.sync.messages import Update, UpdateSets, UpdateV2

HELD = [str(k) for k in random.Random(8).sample(range(1, 1 << 47), 50)]


def _ledger(tmp_path: Path, keys: list[str] = HELD) -> Ledger:
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.upsert_tickets({"ticket_key": k, "event_id": 7, "order_number": f"ORD-{k}", "buyer_name": f"buyer {k}",
                           "email": f"b{k}@example.org", "order_status": "paid"} for k in keys)
    return ledger


def _sets(section: dict) -> UpdateSets:
    """A section as the announcer gives it, through the wire form a device receives."""
    return UpdateSets.from_wire(json.loads(json.dumps(UpdateV2.of(7, section).to_wire())))


def _cancel(keys: list[str], reason: str = "order cancelled") -> dict:
    return {"revocations": [{"ticket_key": k, "reason": reason, "at": 1_800_000_000.0} for k in keys],
            "states": [[k, "cancelled"] for k in keys]}


def _state(ledger: Ledger) -> tuple:
    """Everything a change can touch, as the door and the desk read it."""
    return (ledger.conn.execute("SELECT * FROM revocations ORDER BY ticket_key").fetchall(),
            ledger.conn.execute("SELECT * FROM blocked ORDER BY ticket_key").fetchall(),
            {k: ledger.history(k).order_status for k in HELD + ["999", "A-9"]},
            ledger.conn.execute("SELECT count(*) FROM tickets").fetchone()[0])


def test_a_change_to_tickets_the_device_does_not_hold_revokes_them_and_adds_no_row(tmp_path):
    ledger = _ledger(tmp_path)
    apply_update(ledger, _sets(_cancel([HELD[0], "999", "A-9"])))
    assert ledger.history("999").revoked == "order cancelled"        # the door refuses it by its flag
    assert ledger.history("999").order_status is None and ledger.ticket("999") is None     # no row made up
    assert ledger.search("999") == [] and ledger.counts()["tickets"] == len(HELD)
    assert ledger.history(HELD[0]).order_status == "cancelled"
    ledger.upsert_tickets([{"ticket_key": "999", "event_id": 7, "order_number": "ORD-999", "order_status": "paid"}])
    assert ledger.history("999").order_status == "paid"               # the delta's row says what it is now


def test_a_cancellation_then_an_uncancel_in_one_batch_ends_as_the_second_says(tmp_path):
    ledger = _ledger(tmp_path)
    first = _sets(_cancel(HELD[:10]))
    second = _sets({"unrevoked": HELD[:5], "states": [[k, "paid"] for k in HELD[:5]]})
    with ledger.relaxed_transaction():                # the device's batch: several messages, one transaction
        apply_update(ledger, first)
        apply_update(ledger, second)
    for k in HELD[:5]:
        assert ledger.history(k).revoked is None and ledger.history(k).order_status == "paid"
    for k in HELD[5:10]:
        assert ledger.history(k).revoked == "order cancelled" and ledger.history(k).order_status == "cancelled"
    assert ledger.history(HELD[10]).order_status == "paid"
    with ledger.relaxed_transaction():                # and back again: the later message wins
        apply_update(ledger, _sets(_cancel(HELD[:5], "again")))
    assert ledger.history(HELD[0]).revoked == "again" and ledger.history(HELD[0]).order_status == "cancelled"


def test_key_sets_give_the_same_ledger_as_the_same_change_row_by_row(tmp_path):
    rnd = random.Random(3)
    section = {"revocations": [{"ticket_key": k, "reason": rnd.choice(["refund", "chargeback"]), "at": 5.0 + i % 3}
                               for i, k in enumerate(HELD[:30] + ["999"])],
               "blocks": [{"ticket_key": k, "reason": "lost", "at": 6.0} for k in HELD[25:35] + ["A-9"]],
               "states": [[k, rnd.choice(["cancelled", "refunded"])] for k in HELD[:30]] + [[HELD[40], "pending"]]}
    (tmp_path / "rows").mkdir()
    (tmp_path / "sets").mkdir()
    rows, sets = _ledger(tmp_path / "rows"), _ledger(tmp_path / "sets")
    for ledger in (rows, sets):
        ledger.revoke(HELD[45:], "earlier", 1.0)
        ledger.block(HELD[44:46], "earlier", 1.0)
    section.update(unrevoked=HELD[45:48], unblocked=HELD[44:45])
    wire = UpdateV2.of(7, section).to_wire()
    u = UpdateV2.from_wire(wire)
    old_form = Update(7, revocations=tuple({"ticket_key": k, "reason": r, "at": at} for k, r, at in u.revoked),
                      blocks=tuple({"ticket_key": k, "reason": r, "at": at} for k, r, at in u.blocks),
                      unrevoked=u.unrevoked, unblocked=u.unblocked, states=u.states).to_wire()
    apply_live(rows, old_form)
    apply_update(sets, UpdateSets.from_wire(wire))
    assert _state(sets) == _state(rows)
    assert _state(sets)[2][HELD[40]] == "pending" and _state(sets)[2]["999"] is None


def test_a_live_status_change_leaves_the_ticket_index_file_alone(tmp_path):
    ledger = _ledger(tmp_path)
    ledger.checkpoint(force=True)
    index = index_file.index_path(ledger.path, ledger._index_gen)
    before = [os.stat(index + side).st_size if os.path.exists(index + side) else 0 for side in ("", "-wal")]
    with ledger.relaxed_transaction():
        apply_update(ledger, _sets(_cancel(HELD[:20])))
    after = [os.stat(index + side).st_size if os.path.exists(index + side) else 0 for side in ("", "-wal")]
    assert after == before                                   # no page of the index written, nothing to fsync there
    assert [r["order_status"] for r in ledger.search(f"buyer {HELD[3]}")] == ["cancelled"]
    assert ledger.ticket(HELD[3])["order_status"] == "cancelled"
    assert ledger.ticket(HELD[30])["order_status"] == "paid"
    apply_update(ledger, _sets(_cancel(HELD[:20])))          # the same again (a device reading both forms): no write
    assert ledger.conn.execute("SELECT count(*) FROM status_changes").fetchone()[0] == 20


def test_a_ticket_row_brings_its_own_status_over_a_live_change(tmp_path):
    ledger = _ledger(tmp_path)
    apply_update(ledger, _sets(_cancel(HELD[:3])))
    ledger.upsert_tickets([{"ticket_key": HELD[0], "event_id": 7, "order_number": "NEW", "order_status": "paid"}])
    row = {"ticket_key": HELD[1], "event_id": 7, "order_number": f"ORD-{HELD[1]}", "buyer_name": f"buyer {HELD[1]}",
           "email": f"b{HELD[1]}@example.org", "order_status": "refunded"}
    assert ledger.update_ticket_states([row]) == []           # known text: updated in place
    assert [ledger.history(k).order_status for k in HELD[:3]] == ["paid", "refunded", "cancelled"]
    assert ledger.set_order_status(f"ORD-{HELD[2]}", "paid") == 1      # the desk validates a payment
    assert ledger.history(HELD[2]).order_status == "paid"
    assert ledger.conn.execute("SELECT count(*) FROM status_changes").fetchone()[0] == 0
    apply_update(ledger, _sets(_cancel(HELD[5:6])))
    ledger.clear_catalogue(keep=("tickets",))                 # a full bundle's swap: its rows are the truth
    assert ledger.conn.execute("SELECT count(*) FROM status_changes").fetchone()[0] == 0


def test_a_ledger_of_schema_7_is_upgraded_and_takes_live_statuses(tmp_path):
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for migration in MIGRATIONS[:7]:
        for statement in split_sql(migration):
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=7")
    conn.executemany("INSERT INTO tickets(ticket_key, event_id, order_number, buyer_name, order_status) "
                     "VALUES (?, 7, ?, ?, ?)", [(k, f"ORD-{k}", f"buyer {k}", "paid") for k in HELD[:5]])
    conn.execute("INSERT INTO tickets(ticket_key, event_id, order_number, buyer_name, order_status) "
                 "VALUES ('77', 7, 'ORD-77', 'buyer 77', 'pending')")
    conn.close()
    ledger = Ledger.open(path)
    assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 8
    assert ledger.history("77").order_status == "pending" and ledger.history(HELD[0]).order_status == "paid"
    apply_update(ledger, _sets(_cancel(HELD[:2])))
    assert [ledger.history(k).order_status for k in HELD[:3]] == ["cancelled", "cancelled", "paid"]
    ledger.close()
    assert Ledger.open(path, full_check=True).history(HELD[1]).order_status == "cancelled"
