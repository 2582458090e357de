"""The device ledger on real SQLite files: guards, migrations, durability, search."""
from __future__ import annotations

import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.history import Action
from agent.keyring import Keyring
from agent.ledger import Ledger, LedgerError
from agent.ledger.schema import APPLICATION_ID, MIGRATIONS
from agent.ledger.guard import split_sql as _split_sql
from tests.test_core_support import issue, make_gate, test_key

ROOT = Path(__file__).resolve().parent.parent


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_new_ledger_is_marked_wal_full_and_at_latest_schema(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    q = lambda sql: led.conn.execute(sql).fetchone()[0]  # noqa: E731
    assert q("PRAGMA application_id") == APPLICATION_ID
    assert q("PRAGMA user_version") == len(MIGRATIONS) >= 2
    assert q("PRAGMA journal_mode") == "wal"
    assert q("PRAGMA synchronous") == 2   # FULL


def test_open_missing_without_create(tmp_path):
    with pytest.raises(LedgerError):
        Ledger.open(tmp_path / "none.sqlite", create=False)


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, os.urandom(8192),
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_garbage_file_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(content)
    with pytest.raises(LedgerError, match="untouched|not a readable|cannot be used"):
        Ledger.open(path)
    assert _bytes(path) == content
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "photos.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos(name) VALUES ('cat.jpg')")
    conn.commit()
    conn.close()
    before = _bytes(path)
    with pytest.raises(LedgerError, match="another application"):
        Ledger.open(path)
    assert _bytes(path) == before


def test_newer_schema_is_refused_and_untouched(tmp_path):
    path = tmp_path / "ledger.sqlite"
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _bytes(path)
    with pytest.raises(LedgerError, match="newer"):
        Ledger.open(path)
    assert _bytes(path) == before


def _ledger_with_data(path: Path) -> None:
    gate = make_gate(path.parent, name=path.name)
    gate.set_policy(gate.policy)
    gate.ledger.upsert_tickets({"ticket_key": str(i), "event_id": 1, "buyer_name": f"name {i}"} for i in range(3000))
    key = test_key()
    for i in range(300):
        gate.scan(issue(key, i))
    gate.ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    gate.ledger.close()


def _trash_pages_of(path: Path, table: str) -> bytes:
    conn = sqlite3.connect(path)
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype!='overflow'", (table,))]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    for p in pages:
        data[(p - 1) * size + 8:(p - 1) * size + 400] = b"\xa5" * 392
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("table", ["checkins", "checkins_ticket", "outbox", "settings"])
def test_corrupt_door_tables_refused_at_open_and_untouched(tmp_path, table):
    path = tmp_path / "ledger.sqlite"
    _ledger_with_data(path)
    damaged = _trash_pages_of(path, table)
    with pytest.raises(LedgerError, match="untouched"):
        Ledger.open(path)
    assert _bytes(path) == damaged


def test_corrupt_ticket_index_found_by_full_check_and_at_use(tmp_path):
    path = tmp_path / "ledger.sqlite"
    _ledger_with_data(path)
    index = next(tmp_path.glob("ledger.sqlite.index-*.db"))      # the ticket index: a file of its own
    damaged = _trash_pages_of(index, "tickets")
    with pytest.raises(LedgerError, match="integrity"):
        Ledger.open(path, full_check=True)
    assert _bytes(index) == damaged
    led = Ledger.open(path)                       # the quick open only checks the door tables
    assert led.verify() != "ok"
    gate = make_gate(tmp_path, name="ledger.sqlite", events=())
    with pytest.raises(LedgerError):
        for i in range(3000):                     # some scan meets a damaged page: a clear error, never a verdict
            gate.scan(issue(test_key(), i, event_id=1))
    led.close()


def test_migration_from_v1_keeps_data(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in _split_sql(MIGRATIONS[0]):
        conn.execute(stmt)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, device_seq) "
                 "VALUES ('u1', 'entry', '9', 1, 'in', 5, 'dev', 41)")
    conn.execute("INSERT INTO tickets(ticket_key, event_id, buyer_name) VALUES ('9', 1, 'Zoë Çelik')")
    conn.close()
    led = Ledger.open(path)
    assert led.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    names = {r[0] for r in led.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"checkins_ref", "checkins_local_seq"} <= names
    assert "prefix" in led.conn.execute("SELECT sql FROM sqlite_master WHERE name='tickets_fts'").fetchone()[0]
    assert [a.scan_uuid for a in led.actions("9")] == ["u1"]
    assert [r["ticket_key"] for r in led.search("zoe cel")] == ["9"]        # search index rebuilt by migration 3
    assert led.record("9", Action("u2", "entry", 6, "dev", "g", 1, "in")) == 42   # device sequence continues


def test_migrations_are_append_only_and_each_is_valid_sql():
    for m in MIGRATIONS:
        assert _split_sql(m) and all(sqlite3.complete_statement(s) for s in _split_sql(m))


def test_failed_record_rolls_back_everything(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite")
    a = Action("dup", "entry", 1, "d", "g", 1, "in")
    led.record("1", a, outbox={"type": "action"})
    with pytest.raises(sqlite3.IntegrityError):
        led.record("1", a, outbox={"type": "action"})
    assert led.outbox_size() == 1 and led.record("1", Action("u3", "entry", 2, "d", "g", 1, "in")) == 2


def test_outbox_ack(tmp_path):
    gate = make_gate(tmp_path)
    gate.scan(issue(test_key(), 1))
    [(mid, kind, body)] = gate.ledger.outbox_pending()
    assert kind == "action" and body["device_seq"] == 1
    gate.ledger.outbox_ack([mid])
    assert gate.ledger.outbox_size() == 0 and gate.ledger.outbox_pending() == []


# -- durability: a check-in is on disk before its verdict is printed -------------------------------------------
def test_checkin_survives_sigkill_right_after_the_verdict(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    key = test_key()
    ring = Keyring()
    ring.add(key.trusted())
    ring.save(home / "keyring.json")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "agent", "agent", "scan", "--json", "--reread-window", "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        payload = issue(key, 4242, valid_until=2**32 - 1)
        proc.stdin.write((payload + "\n").encode())
        proc.stdin.flush()
        ready = selectors.DefaultSelector()
        ready.register(proc.stdout, selectors.EVENT_READ)
        assert ready.select(timeout=60), "no verdict within 60 s"     # bounded wait
        verdict = json.loads(proc.stdout.readline())
        assert verdict["verdict"] == "accepted"
        proc.send_signal(signal.SIGKILL)               # no clean shutdown, no checkpoint, no close
    finally:
        proc.kill()
        proc.wait(timeout=10)
    led = Ledger.open(home / "ledger.sqlite")
    rows = led.conn.execute("SELECT scan_uuid, kind, ticket_key FROM checkins").fetchall()
    assert rows == [(verdict["scan_uuid"], "entry", "4242")]
    assert led.outbox_size() == 1


# -- search ------------------------------------------------------------------------------------------------------
PEOPLE = [
    {"ticket_key": "100234", "event_id": 1, "order_number": "ORD-7781", "buyer_name": "Hélène Dupont",
     "email": "helene.dupont@example.org"},
    {"ticket_key": "100235", "event_id": 1, "order_number": "ORD-7781", "buyer_name": "Hélène Dupont",
     "email": "helene.dupont@example.org"},
    {"ticket_key": "2", "event_id": 1, "order_number": "ORD-9", "buyer_name": "Jürgen Weiß", "email": "jw@example.de"},
    {"ticket_key": "3", "event_id": 1, "order_number": "Z3", "buyer_name": "Seán O'Brien", "email": "sob@example.ie"},
    {"ticket_key": "1002345", "event_id": 1, "order_number": "Q1", "buyer_name": "Ana Nowak", "email": "ana@x.pl"},
]


@pytest.fixture
def searchable(tmp_path):
    led = Ledger.open(tmp_path / "s.sqlite")
    led.upsert_tickets(PEOPLE)
    return led


def keys(rows):
    return sorted(r["ticket_key"] for r in rows)


@pytest.mark.parametrize("query,expected", [
    ("helene", ["100234", "100235"]),
    ("HELENE dup", ["100234", "100235"]),
    ("Hélène", ["100234", "100235"]),
    ("He\u0301le\u0300ne", ["100234", "100235"]),          # typed with combining accents
    ("helene.dupont@example.org", ["100234", "100235"]),
    ("jw@example", ["2"]),
    ("ORD-7781", ["100234", "100235"]),
    ("ord 9", ["2"]),
    ("jurgen", ["2"]),
    ("o'brien", ["3"]),
    ("sean_obrien", ["3"]),         # "_" separates; O'Brien typed without its apostrophe (agent/search_query.py)
    ("sean obrian", []),
    ("nowak", ["1002345"]),
    ("", []),
    ("  ", []),
    ('"*) OR NOT (', []),
    ("AND", []),
])
def test_search(searchable, query, expected):
    assert keys(searchable.search(query)) == expected


def test_search_by_ticket_id_exact_first(searchable):
    rows = searchable.search("100234")
    assert rows[0]["ticket_key"] == "100234"
    assert keys(searchable.search("10023")) == sorted(["100234", "100235", "1002345"])


def test_search_follows_updates_and_limit(searchable):
    searchable.upsert_tickets([dict(PEOPLE[2], buyer_name="Karl Weiß")])
    assert searchable.search("jurgen") == [] and keys(searchable.search("karl")) == ["2"]
    assert len(searchable.search("example", limit=2)) == 2


def test_refusal_log_is_not_fsynced_but_checkins_stay_full(tmp_path):
    gate = make_gate(tmp_path)
    gate.scan("junk")
    assert gate.ledger.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert gate.ledger.outbox_pending()[0][2]["verdict"] == "malformed"
    gate.ledger.enqueue("x", {"type": "x"}, durable=False)
    assert gate.ledger.conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_checkpoints_between_scans_and_forced_bound(tmp_path):
    gate = make_gate(tmp_path)
    led = gate.ledger
    assert led.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    led.CHECKPOINT_AFTER, led.CHECKPOINT_FORCED_AFTER = 3, 6
    key = test_key()
    gate.scan(issue(key, 1))
    assert led.checkpoint() is False                     # not enough piled up
    for i in range(2, 4):
        gate.scan(issue(key, i))
    assert led.commits_since_checkpoint >= 3 and led.checkpoint() is True and led.commits_since_checkpoint == 0
    for i in range(10, 16):                              # nobody calls idle(): the commit itself checkpoints
        gate.scan(issue(key, i))
    assert led.commits_since_checkpoint < 6
    assert len(led.actions("15")) == 1


def test_search_long_prefix_is_checked_on_rows(searchable):
    assert keys(searchable.search("helene dupo")) == ["100234", "100235"]
    assert keys(searchable.search("helene dupx")) == []
    assert keys(searchable.search("jurg wei")) == ["2"]
    assert keys(searchable.search("wei jurge")) == ["2"]
    assert keys(searchable.search("brie")) == ["3"]


def test_search_forms():
    from agent.search_query import fts_query, search_forms
    forms = search_forms("Hélène dupo")
    assert [f.match for f in forms[:3]] == ['"Helene" AND "dupo"', '"Helene" AND "dup"*', '"Hel"* AND "dup"*']
    # last, each word as an elided name typed without its apostrophe (O'Brien as "obrien"), joined on the rows
    assert [(f.match, f.elided) for f in forms[3:]] == [('"H" AND "ele"* AND "dup"*', ("helene",)),
                                                        ('"Hel"* AND "d" AND "upo"*', ("dupo",))]
    assert forms[1].prefixes == ("dupo",) and forms[2].prefixes == ("helene", "dupo")
    assert forms[1].native == '"Helene" AND "dupo"*' and forms[0].native == ""
    letter = search_forms("Ann M")                      # a one-letter last word: checked on rows, or indexed
    assert [(f.match, f.prefixes, f.native) for f in letter[1:3]] == [('"Ann"', ("m",), '"Ann" AND "M"*'),
                                                                      ('"Ann"*', ("m",), '"Ann"* AND "M"*')]
    assert [(f.match, f.prefixes) for f in search_forms("Ann M", letter_index=True)[:3]] == [
        ('"Ann" AND "M"', ()), ('"Ann" AND "M"*', ()), ('"Ann"* AND "M"*', ())]
    assert fts_query("a b_c dupont") == '"a"* AND "b"* AND "c"* AND "dupont"*'
    assert search_forms("") == [] and fts_query("") == ""


def test_a_shared_connection_never_swallows_a_checkin_into_another_threads_transaction(tmp_path):
    """Thread A holds a transaction on the same Ledger and then rolls it back; the gate's scan from thread B
    waits for it and commits on its own: the check-in survives A's rollback."""
    import threading
    gate = make_gate(tmp_path)
    led = gate.ledger
    inside, release, result = threading.Event(), threading.Event(), {}

    def sync_thread():
        try:
            with led.transaction():
                led.conn.execute("INSERT INTO settings(key, value) VALUES ('x', '1')")
                inside.set()
                release.wait(10)
                raise RuntimeError("bundle rejected")
        except RuntimeError:
            pass

    a = threading.Thread(target=sync_thread)
    a.start()
    assert inside.wait(10)
    b = threading.Thread(target=lambda: result.setdefault("v", gate.scan(issue(test_key(), 1))))
    b.start()
    b.join(0.3)
    assert "v" not in result                    # waits for A instead of joining A's transaction
    release.set()
    a.join(10)
    b.join(10)
    assert result["v"].accepted
    assert led.get_setting("x") is None         # A rolled back
    assert len(led.actions("1")) == 1           # B's check-in committed by its own COMMIT


def test_background_checkpoint_when_nobody_calls_idle(tmp_path):
    gate = make_gate(tmp_path)
    led = gate.ledger
    led.CHECKPOINT_AFTER, led.CHECKPOINT_FORCED_AFTER = 2, 1000
    led.commits_since_checkpoint = 0                       # set-up commits must not shift which scan triggers it
    for i in range(1, 5):                                  # the 4th commit starts the background checkpointer
        gate.scan(issue(test_key(), i))
    assert led._checkpointer is not None
    led._checkpointer.join(10)
    assert not led._checkpointer.is_alive() and led.commits_since_checkpoint == 0
    probe = sqlite3.connect(tmp_path / "ledger.sqlite")
    busy, wal_frames, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    probe.close()
    assert busy == 0 and done == wal_frames               # nothing was left to copy
    assert [len(led.actions(str(i))) for i in range(1, 5)] == [1, 1, 1, 1]
