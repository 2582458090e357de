"""The ticket index in a file of its own (agent/ledger/index_file.py): the crash windows of a swap, with real
processes killed by SIGKILL at each point, file modes, a ledger from before index files, and a power cut between
the two files' commits."""
from __future__ import annotations

import pickle
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.keyring import Keyring
from agent.ledger import Ledger, LedgerError
from agent.ledger import index_file
from agent.ledger.index_file import index_files
from agent.ledger.schema import APPLICATION_ID, MIGRATIONS
from agent.sqlite_file import split_sql
from agent.sync.apply import apply_bundle, current_bundle
from agent.verdicts import Code
from tests.test_core_support import issue, make_gate
from tests.test_sync_bundle_staging import EVENTS, KEY, fts_ok, full_bundle, leftovers, rows, staging

ROOT = Path(__file__).resolve().parent.parent

# a child applying a full bundle, SIGKILLed by itself at one point of the swap (argv[3])
_CHILD = """
import os, pickle, signal, sys
from agent.ledger import Ledger, index_file
from agent.ledger.store import Ledger as L
from agent.keyring import Keyring
from agent.sync import apply
point = sys.argv[3]
real_attach, real_remove = L._attach_index, index_file.remove

def attach(self, generation):
    if point == "after-switch" and self._index_gen and generation != self._index_gen:
        os.kill(os.getpid(), signal.SIGKILL)      # the pointer is committed, nothing after it ran
    real_attach(self, generation)

def remove(files):
    if point == "during-removal":          # the replaced file's side files deleted, killed before the file itself
        real_remove([f for f in files if not f.endswith(".db")])
        os.kill(os.getpid(), signal.SIGKILL)
    real_remove(files)

L._attach_index = attach
index_file.remove = remove
apply.STAGE_BATCH = 100
ledger = Ledger.open(sys.argv[1])
ledger.conn.execute("SELECT count(*) FROM tickets").fetchone()     # the live file is in use (its -wal, -shm)
ledger.upsert_tickets([{"ticket_key": "keep-wal", "event_id": 1}])
apply.apply_bundle(ledger, pickle.load(open(sys.argv[2], "rb")), Keyring())
print("applied", flush=True)
"""


def _apply_in_child(tmp_path: Path, path: Path, point: str, version: int = 2) -> subprocess.CompletedProcess:
    new = full_bundle(version, rows(1, 3000, "New Name"),
                      extra=({"revocations": [{"ticket_key": "9", "reason": "x", "at": 1.0}]},))
    (tmp_path / "bundle.pickle").write_bytes(pickle.dumps(new))
    return subprocess.run([sys.executable, "-c", _CHILD, str(path), str(tmp_path / "bundle.pickle"), point],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_kill_9_right_after_the_pointer_switch_leaves_the_new_bundle_live(tmp_path):
    """The process dies the instant the ledger's commit points at the new file: the door (another connection,
    open all along) follows it at its next scan, the replaced file is deleted at the next open."""
    path = tmp_path / "ledger.sqlite"
    gate = make_gate(tmp_path, events=EVENTS)
    apply_bundle(gate.ledger, full_bundle(1, rows(1, 500)), Keyring())
    old = gate.ledger._live_generation()
    assert gate.scan(issue(KEY, 10)).code == Code.ACCEPTED
    child = _apply_in_child(tmp_path, path, "after-switch")
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert gate.scan(issue(KEY, 9)).code == Code.REVOKED, "the new bundle's revocation, from the swap on"
    assert gate.ledger._index_gen == gate.ledger._live_generation() > old
    assert gate.ledger.counts()["tickets"] == 3000 and gate.ledger.search("new name 2999")
    assert gate.scan(issue(KEY, 10)).code == Code.ALREADY_USED, "check-ins made before are kept"
    assert current_bundle(gate.ledger)["version"] == 2
    assert old in index_files(str(path)), "the replaced file is still there (nobody deleted it yet)"
    gate.ledger.close()
    again = Ledger.open(path)
    assert leftovers(again) == set() and set(index_files(str(path))) == {again._live_generation()}
    assert again.verify() == "ok" and fts_ok(again) and again.counts()["tickets"] == 3000
    again.close()


def test_kill_9_while_the_replaced_file_is_deleted_leaves_the_rest_for_the_next_open(tmp_path):
    path = tmp_path / "ledger.sqlite"
    gate = make_gate(tmp_path, events=EVENTS)
    apply_bundle(gate.ledger, full_bundle(1, rows(1, 500)), Keyring())
    old = gate.ledger._live_generation()
    assert gate.scan(issue(KEY, 10)).code == Code.ACCEPTED      # the door reads the live file
    child = _apply_in_child(tmp_path, path, "during-removal")
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert index_files(str(path))[old] == [f"{path}.index-{old}.db"], "killed half way"
    assert gate.scan(issue(KEY, 9)).code == Code.REVOKED and gate.scan(issue(KEY, 11)).code == Code.ACCEPTED
    gate.ledger.close()
    again = Ledger.open(path)
    assert set(index_files(str(path))) == {again._live_generation()} and leftovers(again) == set()
    assert again.counts()["tickets"] == 3000 and fts_ok(again) and current_bundle(again)["version"] == 2
    again.close()


def test_kill_9_while_staging_the_dead_stagers_file_goes_at_the_next_open(tmp_path):
    """The stager holds an flock on the file it stages: the kernel drops it with the process, so the next open
    knows the file is a leftover (not another process's staging in progress) and deletes it."""
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    apply_bundle(ledger, full_bundle(1, rows(1, 50)), Keyring())
    other = Ledger.open(path)          # a second process's view: a stage in progress is left alone
    other.stage_begin()
    other.stage_tickets(rows(1, 10))
    ledger.close()
    ledger = Ledger.open(path)
    assert staging(ledger), "a stage in progress (its flock held) is not swept"
    child = subprocess.Popen([sys.executable, "-c", _CHILD.replace('apply.apply_bundle', 'ledger.stage_begin(); '
                              'ledger.stage_tickets([{"ticket_key": "x"}]); print("staged", flush=True); '
                              'sys.stdin.read(); apply.apply_bundle'), str(path), "unused", "none"],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "staged"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    other.stage_discard()
    other.close()
    staged = [g for g in index_files(str(path)) if g > ledger._live_generation()]
    assert len(staged) == 1, "the dead child's staged file"
    ledger.close()
    ledger = Ledger.open(path)
    assert not staging(ledger) and leftovers(ledger) == set()
    assert current_bundle(ledger)["version"] == 1 and ledger.counts()["tickets"] == 51     # + the child's "keep-wal"
    ledger.close()


def test_index_files_are_private_and_a_wider_one_is_narrowed_at_open(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    apply_bundle(ledger, full_bundle(1, rows(1, 50)), Keyring())
    ledger.upsert_tickets(rows(60, 60))
    files = [Path(f) for f in index_files(str(path))[ledger._live_generation()]]
    assert {f.name.rsplit(".db", 1)[1] for f in files} == {"", "-wal", "-shm"}
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    ledger.close()
    db = next(f for f in files if f.name.endswith(".db"))
    db.chmod(0o644)
    Ledger.open(path).close()
    assert db.stat().st_mode & 0o777 == 0o600


def test_a_ledger_from_before_index_files_scans_on_its_tickets_until_a_full_bundle_moves_them(tmp_path):
    """A ledger whose 1M tickets are in the ledger file itself (earlier versions) is not rewritten at open: its
    tables serve until the first full bundle, whose swap renames them away (deleted in short commits)."""
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for index, script in enumerate(MIGRATIONS):
        for statement in split_sql(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS)}")
    conn.executemany("INSERT INTO tickets(ticket_key, event_id, buyer_name, order_status) VALUES (?, 1, ?, ?)",
                     [(str(i), f"Old Buyer {i}", "cancelled" if i == 5 else "paid") for i in range(1, 1201)])
    conn.close()
    gate = make_gate(tmp_path, events=EVENTS)
    assert gate.ledger._index_gen == 0 and index_files(str(path)) == {}
    assert gate.ledger.search("old buyer 700")[0]["ticket_key"] == "700"
    assert gate.scan(issue(KEY, 5)).code != Code.ACCEPTED and gate.scan(issue(KEY, 6)).code == Code.ACCEPTED
    apply_bundle(gate.ledger, full_bundle(1, rows(1, 300)), Keyring())
    assert gate.ledger._index_gen >= 1 and gate.ledger.counts()["tickets"] == 300
    assert gate.scan(issue(KEY, 5)).code == Code.ACCEPTED, "the new bundle's state"
    assert gate.scan(issue(KEY, 6)).code == Code.ALREADY_USED
    assert gate.ledger.search("old buyer") == [] and leftovers(gate.ledger) == set()
    assert fts_ok(gate.ledger) and gate.ledger.verify() == "ok"
    gate.ledger.close()


def test_a_power_cut_between_the_two_files_commits_makes_the_device_fetch_a_full_bundle(tmp_path, caplog):
    """A live change writes both files; WAL makes it atomic in each, not across. The last such commit marks
    both: when they differ at open (one commit never reached the disk), the bundle version goes back to 0, so the
    next hello asks for a full bundle and the index is rebuilt; check-ins stay."""
    path = tmp_path / "ledger.sqlite"
    gate = make_gate(tmp_path, events=EVENTS)
    apply_bundle(gate.ledger, full_bundle(3, rows(1, 100)), Keyring())
    gate.ledger.upsert_tickets(rows(200, 200))
    assert gate.scan(issue(KEY, 7)).code == Code.ACCEPTED
    index = f"{path}.index-{gate.ledger._live_generation()}.db"
    gate.ledger.close()
    reopened = Ledger.open(path)
    assert current_bundle(reopened)["version"] == 3, "both files agree: nothing to do"
    reopened.close()
    raw = sqlite3.connect(index, isolation_level=None)       # the index file's commit, the ledger's one lost
    raw.execute("UPDATE meta SET value='a commit the ledger file never got'")
    raw.close()
    with caplog.at_level("WARNING"):
        reopened = Ledger.open(path)
    assert current_bundle(reopened)["version"] == 0 and "full bundle" in caplog.text
    assert reopened.counts()["checkins"] == 1
    reopened.close()
    again = Ledger.open(path)
    assert current_bundle(again)["version"] == 0, "marked alike again: no second reset"
    again.close()


def test_an_index_made_before_one_letter_prefixes_searches_alike_and_a_full_bundle_rebuilds_it(tmp_path, monkeypatch):
    """A one-letter last word ("Ann M") is a prefix term over FTS5's 1-letter prefix index (a few ms at 1M
    tickets; checked on the rows it took up to ~150 ms). An index file made before has none: the same rows are
    found by the row check, and the next full bundle's new index file has it. The upgrade forces no full bundle
    (200 doors fetching one at once) and no rebuild in place (the index's write lock, and the scans, for ~17 s)."""
    path = tmp_path / "ledger.sqlite"
    tickets = rows(1, 300) + rows(301, 330, "Ann Martin") + rows(331, 333, "Ann Zed") + rows(334, 340, "Zoë Ann-M")
    old = index_file.FTS_OPTIONS.replace("prefix='1 2 3'", "prefix='2 3'")
    assert old != index_file.FTS_OPTIONS
    monkeypatch.setattr(index_file, "FTS_OPTIONS", old)
    gate = make_gate(tmp_path, events=EVENTS)
    apply_bundle(gate.ledger, full_bundle(3, tickets), Keyring())
    assert not index_file.has_letter_index(gate.ledger.conn)

    queries = ("Martin A", "Ann M", "ann z", "zo ann-m", "helene d", "Dupont 29 H", "hel d", "ann q", "a1 e", "a30 b")

    def search(ledger: Ledger) -> dict[str, list[str]]:
        ledger.SEARCH_CANDIDATES = 4       # the row check's last resort too (a rare letter: FTS5's own prefix)
        return {q: [r["ticket_key"] for r in ledger.search(q)] for q in queries}
    before = search(gate.ledger)
    assert before["Martin A"] == [str(i) for i in range(301, 321)]                  # a page of 20
    assert before["Ann M"] == before["zo ann-m"] == [str(i) for i in range(334, 341)]  # whole words first: "M"
    assert before["ann z"] == [str(i) for i in range(331, 341)]                        # Zed, Zoë
    assert before["ann q"] == [] and before["a1 e"] == ["1"] and before["Dupont 29 H"] == ["29"]
    assert before["a30 b"] == ["30"]     # its e-mail b30@
    gate.ledger.close()
    monkeypatch.undo()
    reopened = Ledger.open(path)
    assert current_bundle(reopened)["version"] == 3 and not index_file.has_letter_index(reopened.conn)
    assert search(reopened) == before
    apply_bundle(reopened, full_bundle(4, tickets), Keyring())
    assert index_file.has_letter_index(reopened.conn)
    assert search(reopened) == before
    reopened.close()
    again = Ledger.open(path)
    assert current_bundle(again)["version"] == 4 and index_file.has_letter_index(again.conn)
    again.close()


def test_a_missing_live_index_file_is_a_clear_error(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path)
    live = ledger._live_generation()
    ledger.close()
    Path(f"{path}.index-{live}.db").unlink()
    with pytest.raises(LedgerError, match="ticket index file .* is missing"):
        Ledger.open(path)
    assert not Path(f"{path}.index-{live}.db").exists(), "not replaced by an empty one"


def test_an_index_wiped_under_an_open_ledger_is_followed_by_an_empty_one(tmp_path):
    """`provision wipe` deletes the index pointer and files while the app holds the ledger open: the open ledger
    finds no ticket (not "no such table"), and takes new tickets into a fresh index file."""
    from provisioning.device.wipe import wipe_ledger
    path = tmp_path / "ledger.db"
    ledger = Ledger.open(path)
    ledger.upsert_tickets([{"ticket_key": "K1", "event_id": 1, "buyer_name": "Quelloworth", "payload": "TG1:X"}])
    assert ledger.search("Quelloworth") and ledger.ticket("K1")
    before = set(index_files(str(path)))
    assert wipe_ledger(path, "test")
    assert ledger.search("Quelloworth") == [] and ledger.ticket("K1") is None
    after = set(index_files(str(path)))
    assert after and not after & before                  # a new generation, the wiped one's files gone
    ledger.upsert_tickets([{"ticket_key": "K2", "event_id": 1, "buyer_name": "Second", "payload": "TG1:Y"}])
    assert [r["ticket_key"] for r in ledger.search("Second")] == ["K2"]
    ledger.close()
    reopened = Ledger.open(path)
    assert reopened.ticket("K2") and reopened.ticket("K1") is None
    reopened.close()



def test_wipes_while_another_connection_opens_the_ledger_again_and_again(tmp_path):
    """The app's UI thread opens the ledger while the sync thread wipes it (a revocation): after the wipe's commit
    the other connection finds no index and makes an empty one. The wipe deletes only the files it listed under its
    write lock (it deleted that new one too: the other side's fsync of it raised FileNotFoundError)."""
    import threading
    from provisioning.device.wipe import wipe_ledger
    path = tmp_path / "ledger.db"
    Ledger.open(path).close()
    errors: list[BaseException] = []
    done, quiet = threading.Event(), threading.Lock()

    def reopen() -> None:
        for _ in range(5_000):              # bounded; ends when the wipes are done
            if done.is_set():
                return
            with quiet:                     # not while the test itself opens the ledger to fill it
                try:
                    Ledger.open(path).close()
                except BaseException as exc:    # noqa: BLE001 - any failure of the other connection is the finding
                    errors.append(exc)
                    return

    other = threading.Thread(target=reopen)
    other.start()
    try:
        for n in range(40):
            with quiet:
                ledger = Ledger.open(path)
                ledger.upsert_tickets([{"ticket_key": f"K{n}", "event_id": 1, "buyer_name": "Quelloworth",
                                        "payload": "TG1:X"}])
                ledger.close()
            assert wipe_ledger(path, "revoked")
    finally:
        done.set()
        other.join(30)
    assert not errors, errors
    ledger = Ledger.open(path)
    assert ledger.search("Quelloworth") == []
    ledger.close()
