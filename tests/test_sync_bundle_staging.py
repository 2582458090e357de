"""A full bundle is staged next to the live ticket index and swapped in (issue 14, "no pause at the door"):
all or nothing, the door keeps scanning meanwhile, and a kill -9 mid-apply leaves the old bundle scannable."""
from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.ledger.index_file import index_files
from agent.sync import apply as apply_mod
from agent.sync import bundle
from agent.sqlite_file import begin_immediate, let_writers_in, writers_waiting
from agent.sync.apply import apply_bundle, current_bundle
from agent.sync.commands import run_command
from agent.sync.signed import Rejected, Verifier
from agent.verdicts import Code
from tests.test_core_support import issue, make_gate, test_key

ROOT = Path(__file__).resolve().parent.parent
KEY = test_key()
SERVER = Ed25519PrivateKey.generate()
EVENTS = [{"event_id": 1, "name": "Night 1"}]
STAGE_TABLES = {"tickets_next", "tickets_fts_next", "tickets_old", "tickets_fts_old"}


def rows(first: int, last: int, name: str = "Hélène Dupont") -> list[dict]:
    return [{"ticket_key": str(i), "event_id": 1, "order_number": f"A{i}", "buyer_name": f"{name} {i}",
             "email": f"b{i}@example.org", "order_status": "paid"} for i in range(first, last + 1)]


def full_bundle(version: int, tickets: list[dict], per_section: int = 500, extra: tuple[dict, ...] = ()):
    """A signed full bundle, assembled as the device's Assembler hands it over."""
    ring = Keyring()
    ring.add(KEY.trusted())
    sections = [{"events": EVENTS}] + [bundle.ticket_section(tickets[i:i + per_section])
                                       for i in range(0, len(tickets), per_section)] + list(extra)
    manifest, chunks = bundle.build(org="o", device="d", version=version, base_version=0, events=[1],
                                    sections=sections, keyring=ring.to_json(), sign=SERVER.sign,
                                    bundle_id=bytes([version]) * 16)
    asm = bundle.Assembler()
    asm.start(Verifier(SERVER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).open(manifest))
    done = None
    for c in chunks:
        done = asm.add(c)
    return done


def leftovers(ledger: Ledger) -> set[str]:
    """Ticket tables staged or replaced in the ledger file (a ledger from before index files), and index files
    other than the live one."""
    live = ledger._live_generation()
    return ({r[0] for r in ledger.conn.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
            & STAGE_TABLES) | {f"index-{g}" for g in index_files(str(ledger.path)) if g != live}


def staging(ledger: Ledger) -> bool:
    """An index file newer than the live one is there: a full bundle is being staged (or died being staged)."""
    return any(g > ledger._live_generation() for g in index_files(str(ledger.path)))


def fts_ok(ledger: Ledger) -> bool:
    ledger.conn.execute("INSERT INTO tickets_fts(tickets_fts) VALUES ('integrity-check')")   # raises if corrupt
    return True


def test_full_bundle_replaces_the_index_and_leaves_nothing_staged(tmp_path, monkeypatch):
    monkeypatch.setattr(apply_mod, "STAGE_BATCH", 40)       # many staging commits
    monkeypatch.setattr(Ledger, "STAGE_INDEX_BATCH", 70)    # and many commits of the text index built after them
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    apply_bundle(ledger, full_bundle(1, rows(1, 300, "Old Name")), Keyring())
    assert ledger.search("old name 120")[0]["ticket_key"] == "120"
    flags = {"revocations": [{"ticket_key": "250", "reason": "reissued", "at": 1.0}]}
    counts = apply_bundle(ledger, full_bundle(2, rows(200, 600, "New Name") + rows(205, 205, "Twice Seen"),
                                              extra=(flags,)), Keyring())
    assert counts["tickets"] == 402 and counts["revocations"] == 1
    assert current_bundle(ledger)["version"] == 2
    assert ledger.ticket("120") is None, "a ticket of the old bundle only is gone"
    assert ledger.ticket("500")["buyer_name"] == "New Name 500"
    assert ledger.ticket("205")["buyer_name"] == "Twice Seen 205", "a key met twice keeps its last row"
    assert ledger.search("old name") == [] and ledger.search("twice seen")[0]["ticket_key"] == "205"
    assert ledger.search("new name 205") == [], "the FTS entry of the replaced row went with it"
    assert [r["ticket_key"] for r in ledger.search("new name 599")] == ["599"]
    assert ledger.history("250").revoked == "reissued"
    assert ledger.counts()["tickets"] == 401
    assert fts_ok(ledger) and leftovers(ledger) == set()
    ledger.close()


def test_a_bad_section_rejects_the_bundle_and_the_old_one_stays_live(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    apply_bundle(ledger, full_bundle(1, rows(1, 300)), Keyring())
    bad = full_bundle(2, rows(1, 900, "Other Name"), extra=({"tickets": {"columns": ["seat"], "rows": [["1"]]}},))
    with pytest.raises(Rejected):
        apply_bundle(ledger, bad, Keyring())
    assert current_bundle(ledger)["version"] == 1
    assert ledger.counts()["tickets"] == 300 and ledger.search("other name") == []
    assert ledger.search("helene dupont 7")[0]["ticket_key"] == "7"
    assert fts_ok(ledger) and leftovers(ledger) == set()
    ledger.close()


def test_ticket_rows_are_staged_by_column_name_and_a_short_row_refuses_the_bundle(tmp_path):
    """Rows are staged as the section carries them (no dict per row): by the names in `columns`, whatever their
    order, a column unknown to this device (a newer server's) left out; a row of another width is malformed."""
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    newer = {"tickets": {"columns": ["buyer_name", "vip_lounge", "ticket_key", "email"],
                         "rows": [["Zoë Newer", True, 901, "z@example.org"]]}}
    apply_bundle(ledger, full_bundle(1, rows(1, 300), extra=(newer,)), Keyring())
    t = ledger.ticket("901")
    assert (t["buyer_name"], t["email"], t["order_number"], t["order_status"]) == \
        ("Zoë Newer", "z@example.org", "", "paid")
    assert ledger.search("zoe newer")[0]["ticket_key"] == "901"
    short = {"tickets": {"columns": list(bundle.ticket_section([])["tickets"]["columns"]), "rows": [["950", 1]]}}
    with pytest.raises(Rejected, match="malformed ticket section"):
        apply_bundle(ledger, full_bundle(2, rows(1, 900, "Other Name"), extra=(short,)), Keyring())
    assert current_bundle(ledger)["version"] == 1 and ledger.search("other name") == []
    assert fts_ok(ledger) and leftovers(ledger) == set()
    ledger.close()


def test_scans_run_during_a_full_apply_with_the_right_verdicts(tmp_path, monkeypatch):
    """The door's gate (its own connection, as in the app) scans all along a full apply on the sync's connection:
    never a LedgerError; valid tickets accepted before, during and after; the revocation the bundle brings
    applies from the swap on."""
    monkeypatch.setattr(apply_mod, "STAGE_BATCH", 100)
    gate = make_gate(tmp_path, events=EVENTS)
    sync_ledger = Ledger.open(tmp_path / "ledger.sqlite")
    apply_bundle(sync_ledger, full_bundle(1, rows(1, 20000)), Keyring())
    gate.set_policy(gate.policy, save=False)
    revoked = {"revocations": [{"ticket_key": "7", "reason": "reissued", "at": 1.0}]}
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            apply_bundle(sync_ledger, full_bundle(2, rows(1, 20000), extra=(revoked,)), Keyring())
        except BaseException as exc:      # reported below
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run).start()
    verdicts, n, while_staged = [], 100, 0
    while not done.is_set() and n < 20000:
        verdicts.append(gate.scan(issue(KEY, n)).code)
        while_staged += staging(gate.ledger)
        n += 1
    done.wait(120)
    assert errors == []
    assert while_staged > 5, "the gate scanned while the bundle was being staged"
    assert set(verdicts) == {Code.ACCEPTED}
    assert gate.scan(issue(KEY, 7)).code == Code.REVOKED
    assert gate.scan(issue(KEY, 100)).code == Code.ALREADY_USED, "check-ins made during the apply are kept"
    assert gate.ledger.counts()["checkins"] == len(verdicts)
    sync_ledger.close()
    gate.ledger.close()


_APPLIER = """
import pickle, sys
from agent.ledger import Ledger
from agent.ledger.index_file import index_files
from agent.keyring import Keyring
from agent.sync import apply
apply.STAGE_BATCH = 20
apply.apply_bundle(Ledger.open(sys.argv[1]), pickle.load(open(sys.argv[2], "rb")), Keyring())
print("applied", flush=True)
"""


def test_kill_9_mid_apply_leaves_the_old_bundle_scannable(tmp_path):
    """A real process applying a full bundle is SIGKILLed while staging: the old version stays live (the next
    hello asks with it, so the server sends the bundle again), the door scans on it, and the next apply
    drops the half-staged rows and completes."""
    path = tmp_path / "ledger.sqlite"
    gate = make_gate(tmp_path, events=EVENTS)
    apply_bundle(gate.ledger, full_bundle(1, rows(1, 500)), Keyring())
    new = full_bundle(2, rows(1, 30000, "New Name"), extra=({"revocations": [{"ticket_key": "9", "reason": "x",
                                                                                 "at": 1.0}]},))
    (tmp_path / "bundle.pickle").write_bytes(pickle.dumps(new))
    child = subprocess.Popen([sys.executable, "-c", _APPLIER, str(path), str(tmp_path / "bundle.pickle")],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    staged = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and staged < 2000:
            try:
                newest = max(index_files(str(path)))
                conn = sqlite3.connect(f"file:{path}.index-{newest}.db?mode=ro", uri=True)
                staged = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
                conn.close()
            except (sqlite3.OperationalError, ValueError):
                pass               # not created yet, or busy
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL and staged >= 2000, "killed while staging"
    assert current_bundle(gate.ledger)["version"] == 1, "the hello after the restart asks for the bundle again"
    assert gate.ledger.counts()["tickets"] == 500 and gate.ledger.search("new name") == []
    assert gate.scan(issue(KEY, 9)).code == Code.ACCEPTED, "scanned on the old bundle"
    assert gate.scan(issue(KEY, 10)).code == Code.ACCEPTED
    assert gate.scan(issue(KEY, 9000)).code == Code.ACCEPTED     # unknown to the index: the signature decides
    assert staging(gate.ledger), "the staged file of the dead apply is still there (its flock went with it)"

    apply_bundle(gate.ledger, new, Keyring())                  # re-fetched: applies over the leftovers
    assert current_bundle(gate.ledger)["version"] == 2
    assert gate.ledger.counts()["tickets"] == 30000 and leftovers(gate.ledger) == set() and fts_ok(gate.ledger)
    assert gate.scan(issue(KEY, 10)).code == Code.ALREADY_USED, "the check-in made after the crash is kept"
    assert gate.scan(issue(KEY, 9)).code == Code.REVOKED, "the new bundle's revocation applies"
    gate.ledger.close()


def test_a_wipe_also_deletes_a_staged_index(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    apply_bundle(ledger, full_bundle(1, rows(1, 50)), Keyring())
    ledger.stage_begin()
    ledger.stage_tickets(rows(1, 50, "Personal Data"))      # an apply cut short: personal data staged
    with ledger.transaction():
        run_command(ledger, {"cmd": "wipe"})
    assert leftovers(ledger) == set() and ledger.counts()["tickets"] == 0
    ledger.close()


def test_live_changes_update_states_in_place_and_reindex_renamed_buyers(tmp_path):
    """A live update of 1,000 cancelled orders changes states without re-indexing; a renamed buyer is
    re-indexed; a new ticket is added; revocations and blocks of many rows land in one statement each."""
    from agent.sync.apply import apply_live
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    ledger.upsert_tickets(rows(1, 1000))
    changed = [dict(r, order_status="cancelled") for r in rows(1, 998)] + rows(999, 999, "Renamed Buyer") \
        + rows(5000, 5000, "Brand New")
    body = dict(bundle.ticket_section(changed),
                revocations=[{"ticket_key": str(i), "reason": "order cancelled", "at": 1.0} for i in range(1, 999)],
                blocks=[{"ticket_key": "1000", "reason": "lost", "at": 2.0}])
    with ledger.transaction():
        assert apply_live(ledger, body) == {"revocations": 998}
    assert ledger.history("17").order_status == "cancelled" and ledger.history("17").revoked == "order cancelled"
    assert ledger.history("1000").blocked == "lost" and ledger.history("1000").order_status == "paid"
    assert [r["ticket_key"] for r in ledger.search("renamed buyer")] == ["999"]
    assert ledger.search("helene dupont 999") == [], "the old name left the index"
    assert ledger.search("brand new")[0]["ticket_key"] == "5000"
    assert ledger.search("helene dupont 17")[0]["order_status"] == "cancelled"
    assert fts_ok(ledger)
    ledger.close()


def test_device_stages_chunks_as_they_arrive_and_refuses_a_bundle_with_a_bad_section(tmp_path, broker):
    """Over the real broker: a genuine, signed full bundle whose middle section is malformed is refused whole
    (the chunks staged before it are dropped, the old bundle stays live, the door scans); the next good full
    bundle, staged chunk by chunk as it arrives, is swapped in."""
    from agent.sync import topics
    from agent.sync.transport import BrokerConfig, PahoTransport
    from tests.helpers import wait_for
    from tests.sync_fixtures import ORG, make_store, start_door
    store, event, orders = make_store(tmp_path / "server", tickets=3, devices=("gate-a",))
    door = start_door(tmp_path / "a", "gate-a", broker.port, store.server_public_key(ORG), event)
    sender = PahoTransport("organiser", BrokerConfig(port=broker.port), clean_start=True)
    sender.start()
    try:
        # the door subscribed (it subscribes on connecting): a manifest published before would reach nobody
        assert sender.wait_connected(5) and wait_for(lambda: door.sync.connected, 10)
        version = store.version(ORG)

        def send(v: int, middle: dict) -> None:
            sections = [{"events": [store.event(event)]}, bundle.ticket_section(rows(1, 300)), middle,
                        bundle.ticket_section(rows(301, 600))]
            manifest, chunks = bundle.build(org=ORG, device="gate-a", version=v, base_version=0, events=[event],
                                            sections=sections, keyring=store.keyring(ORG).to_json(),
                                            sign=store.server_key(ORG).sign, bundle_id=os.urandom(16))
            for message in (manifest, *chunks):
                assert sender.publish(topics.down(ORG, "gate-a"), message, wait=5)

        send(version + 1, bundle.ticket_section(rows(601, 700)))
        assert wait_for(lambda: door.sync.bundle_version == version + 1)
        assert door.ledger.counts()["tickets"] == 700 and door.sync.last_bundle["tickets"] == 700
        send(version + 2, {"tickets": {"columns": ["ticket_key"], "rows": "not rows"}})
        assert wait_for(lambda: any("malformed ticket section" in r for _, r in door.sync.rejections))
        assert door.sync.bundle_version == version + 1 and current_bundle(door.ledger)["version"] == version + 1
        assert door.ledger.counts()["tickets"] == 700 and leftovers(door.ledger) == set()
        assert door.scan(store.issue_ticket_payload(orders[0]["tickets"][0]["ticket_key"])).accepted, "door scans"
        send(version + 3, bundle.ticket_section(rows(601, 650, "Third Bundle")))
        assert wait_for(lambda: door.sync.bundle_version == version + 3)
        assert door.ledger.counts()["tickets"] == 650 and door.ledger.search("third bundle 650")
        assert wait_for(lambda: leftovers(door.ledger) == set()) and fts_ok(door.ledger)
    finally:
        sender.stop()
        door.close()
        store.close()


def test_a_relaxed_transaction_commits_and_the_connection_stays_durable(tmp_path):
    ledger = Ledger.open(tmp_path / "ledger.sqlite")
    with ledger.relaxed_transaction():
        assert ledger.conn.execute("PRAGMA synchronous").fetchone()[0] == 1      # NORMAL: no fsync at commit
        ledger.revoke_rows([("5", "relayed", 1.0)])
    assert ledger.conn.execute("PRAGMA synchronous").fetchone()[0] == 2, "FULL again for the next check-in"
    with pytest.raises(RuntimeError):
        with ledger.relaxed_transaction():
            ledger.revoke_rows([("6", "rolled back", 1.0)])
            raise RuntimeError("bad message")
    assert ledger.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    again = Ledger.open(tmp_path / "ledger.sqlite")
    assert again.history("5").revoked == "relayed" and again.history("6").revoked is None
    again.close()
    ledger.close()


def test_staging_never_takes_the_ledgers_write_lock_and_the_swapped_file_is_private_and_durable(tmp_path):
    """The staged index is a file of its own: another connection holding the ledger's write lock (a scan in
    progress) does not stop a single staging commit. The swap makes a file that is complete, in WAL mode,
    0600 with its -wal/-shm, and the ledger's commit pointing at it is synchronous=FULL."""
    path = tmp_path / "l.sqlite"
    ledger = Ledger.open(path)
    ledger.stage_begin()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")             # the ledger's write lock, held all along the staging
    started = time.monotonic()
    for first in range(1, 2001, 200):
        ledger.stage_tickets(rows(first, first + 199))
    staged_in = time.monotonic() - started
    holder.execute("COMMIT")
    holder.close()
    assert staged_in < 4.0, "no staging commit waited for the ledger's lock (busy timeout 5 s)"
    trace: list[str] = []
    ledger.conn.set_trace_callback(trace.append)
    ledger.stage_swap()
    ledger.conn.set_trace_callback(None)
    assert "COMMIT" in [t.strip().upper() for t in trace]
    assert ledger.conn.execute("PRAGMA main.synchronous").fetchone()[0] == 2, "the swap's commit: FULL"
    generation = ledger._live_generation()
    index = Path(f"{path}.index-{generation}.db")
    assert ledger.counts()["tickets"] == 2000 and ledger.search("helene dupont 1999")[0]["ticket_key"] == "1999"
    assert ledger.conn.execute("PRAGMA idx.journal_mode").fetchone()[0] == "wal"
    ledger.upsert_tickets(rows(3000, 3000))       # a live change: the index file's WAL and SHM appear
    for f in (index, Path(f"{index}-wal"), Path(f"{index}-shm")):
        assert f.exists() and f.stat().st_mode & 0o777 == 0o600, f
    assert leftovers(ledger) == {f"index-{generation - 1}"}, "the replaced (empty) index, until dropped"
    ledger.stage_drop_old()
    assert ledger.verify() == "ok" and fts_ok(ledger) and leftovers(ledger) == set()
    ledger.close()


def test_a_batch_job_lets_a_scan_beginning_a_write_go_first(tmp_path):
    """A scan trying to BEGIN (here behind another writer) counts as waiting from its first try; the staging
    thread's `let_writers_in` returns once it is in, so the next staging commit cannot slip ahead of it."""
    path = tmp_path / "ledger.sqlite"
    Ledger.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    scan = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    assert writers_waiting() == 0
    scanner = threading.Thread(target=begin_immediate, args=(scan,))
    scanner.start()
    deadline = time.monotonic() + 5
    while writers_waiting() == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert writers_waiting() == 1 and not scan.in_transaction
    threading.Timer(0.05, holder.execute, args=("COMMIT",)).start()
    let_writers_in(limit=5.0)
    assert scan.in_transaction, "the scan got the write lock before the batch job went on"
    assert writers_waiting() == 0
    scanner.join(5)
    scan.execute("COMMIT")
    let_writers_in(limit=5.0)          # none waiting: returns at once
    holder.close()
    scan.close()


def test_a_full_bundles_actions_come_in_sections_merged_as_they_arrive_not_in_the_swap(tmp_path, monkeypatch):
    """A full bundle carries every gate's actions of the event (300,000 at a big event, docs/performance.md): sent
    in one section and merged in the swap's transaction, they held the door's scans for seconds and the device's
    memory. The server sends them CHUNK_ACTIONS to a section; the device merges each as it arrives, in short
    commits, before the swap; a bundle refused afterwards leaves them (facts, merged once by scan id)."""
    from server_stub.sync import bundles as server_bundles
    from tests.sync_fixtures import ORG, make_store
    monkeypatch.setattr(server_bundles, "CHUNK_ACTIONS", 40)
    monkeypatch.setattr(apply_mod, "MERGE_BATCH", 15)
    store, event, _ = make_store(tmp_path / "server", tickets=1)
    with store.tx():       # other gates' entries, as their uploads leave them
        store.conn.executemany(
            "INSERT INTO scans(scan_uuid, type, kind, ticket_key, event_id, direction, at, device_id, gate, device_seq, "
            "org, received_at) VALUES (?, 'action', 'entry', ?, ?, 'in', ?, 'gate-b', 'B', ?, ?, 2000)",
            [(f"u{i}", str(i), event, 1000.0 + i, i, ORG) for i in range(1, 101)])
    sent = [s for s in server_bundles.sections(store, [event], 0) if "resets" in s]
    store.close()
    assert [len(s["resets"]) for s in sent] == [40, 40, 20]

    (tmp_path / "door").mkdir()
    gate = make_gate(tmp_path / "door", events=EVENTS)
    ledger = gate.ledger
    apply_bundle(ledger, full_bundle(1, rows(1, 300)), Keyring())
    merges: list[tuple[int, int]] = []
    merge = ledger.merge_remote
    monkeypatch.setattr(ledger, "merge_remote", lambda a: merges.append((len(a), current_bundle(ledger)["version"]))
                        or merge(a))
    apply_bundle(ledger, full_bundle(2, rows(1, 300), extra=tuple(sent)), Keyring())
    assert merges == [(15, 1)] * 2 + [(10, 1)] + [(15, 1)] * 2 + [(10, 1)] + [(15, 1), (5, 1)], "before the swap"
    assert current_bundle(ledger)["version"] == 2 and ledger.counts()["checkins"] == 100
    assert gate.scan(issue(KEY, 7)).code == Code.ALREADY_USED and gate.scan(issue(KEY, 150)).code == Code.ACCEPTED

    again = [{"resets": [dict(a, scan_uuid=f"v{a['scan_uuid']}") for a in s["resets"]]} for s in sent]
    bad = full_bundle(3, rows(1, 300), extra=(*again, {"tickets": {"columns": ["seat"], "rows": [["1"]]}}))
    with pytest.raises(Rejected):
        apply_bundle(ledger, bad, Keyring())
    assert current_bundle(ledger)["version"] == 2 and ledger.counts()["checkins"] == 201    # + the 100 (+ 150's)
    ledger.close()
