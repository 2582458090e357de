"""Ledger storage: read a ticket's history, persist actions durably, catalogue, outbox, search (opening: guard.py).

Durability: WAL with synchronous=FULL, so the WAL is fsynced at every commit; `record()` commits
before it returns, and the shell returns a verdict only after `record()`. A power cut after a
verdict is shown cannot lose that check-in.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from agent.clock import SETTING as CLOCK_SETTING
from agent.clock import UNMEASURED, ClockEstimate, ServerClock, redated, unmeasured_mark, with_offset
from agent.history import UNDO_REFUSED, Action, TicketHistory, fold
from agent.read_models import Conflict, InsideCounter, conflicts, effective_entries
from agent.reasons import code_of
from agent.ledger.catalogue import ORDER_STATUS, CatalogueMixin
from agent.ledger.guard import LedgerError, Transaction, connect, split_sql
from agent.ledger.prune import PruneMixin
from agent.ledger.search import SearchMixin
from agent.ledger import index_file
from agent.ledger.staging import Stage, StagingMixin
from agent.storage_errors import storage_problem

__all__ = ["Ledger", "LedgerError", "split_sql"]
log = logging.getLogger(__name__)
_BUNDLE_SETTING = "sync.bundle"     # agent.sync.apply.BUNDLE_SETTING: {"version", …} of the bundle applied

# the server's refusals of who did an upload (server_stub/sync/ingest.py `staff_refusal`): an annulment refused so
# undid nothing there, though what it names stands (Ledger.outbox_refuse restores it here too)
_STAFF_REFUSALS = frozenset({"no_staff", "staff_unknown", "staff_inactive", "staff_not_allowed"})


class Ledger(CatalogueMixin, SearchMixin, StagingMixin, PruneMixin):
    def __init__(self, conn: sqlite3.Connection, path: str):
        self._conn = conn
        self.path = path
        self._device_seq = conn.execute("SELECT max(device_seq) FROM checkins WHERE origin='local'").fetchone()[0] or 0
        self.commits_since_checkpoint = 0
        self.lock = threading.RLock()      # one writer at a time on this connection (see guard.Transaction)
        self._index_gen = 0                # the generation of the index file attached as `idx` (0: none)
        self._index_dirty = False          # this transaction wrote the ticket index (see _before_commit)
        self._stage: Stage | None = None   # a full bundle's index being staged (agent/ledger/staging.py)
        self._stage_lock = threading.Lock()
        try:
            self._open_index_following_wipes()
        except sqlite3.DatabaseError as exc:
            conn.close()
            problem = storage_problem(exc, path)
            if problem:             # a full or read-only disk: the index is fine, SQLite could not open it to write
                raise LedgerError(f"cannot open {path}: {problem.text} ({exc}); it was left untouched — "
                                  f"{problem.advice}") from None
            raise LedgerError(f"{path}: its ticket index file cannot be used ({exc}); it was left untouched") \
                from None
        except BaseException:
            conn.close()
            raise
        self._checkpointer: threading.Thread | None = None
        self._inside: InsideCounter | None = None      # read model of who is inside (inside())
        self._inside_seq = 0
        self.on_duty = ""          # the staff id logged in (agent.staff_session): stamped on what is queued

    # -- opening -----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = True, full_check: bool = False) -> "Ledger":
        """Open (or create) a ledger. Refuses foreign, newer or damaged files without writing to them.

        At open, the tables the door's decisions and sync depend on are integrity-checked (small, fast even cold);
        the large ticket/search index is checked with full_check=True (`ticketgate agent status --verify`), and
        any damage met later surfaces as LedgerError. A full check of a 1M-ticket file takes ~2 s cold."""
        ledger = cls(connect(str(path), create, full_check), str(path))
        if full_check and ledger._index_gen:
            result = ledger.verify()
            if result != "ok":
                ledger.close()
                raise LedgerError(f"{path}: its ticket index file failed its integrity check ({result}); "
                                  "it was left untouched")
        return ledger

    def close(self) -> None:
        self.stage_discard()
        self._conn.close()

    def verify(self) -> str:
        """Full integrity check of the ledger and its ticket index file (slow on a big ledger): 'ok' or SQLite's
        first complaint."""
        for schema in ("main", index_file.SCHEMA) if self._index_gen else ("main",):
            result = str(self.conn.execute(f"PRAGMA {schema}.quick_check(1)").fetchone()[0])
            if result != "ok":
                return result
        return "ok"

    # -- the ticket index file (agent/ledger/index_file.py) ----------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """The ledger's connection, its attached ticket index the live one: outside a transaction, a swap made by
        another connection is followed here (one settings lookup); inside one, at its BEGIN (`transaction`)."""
        conn = self._conn
        if not conn.in_transaction and self._live_generation() != self._index_gen:
            with self.lock:
                if not conn.in_transaction:
                    self._follow_index()
        return conn

    def _live_generation(self) -> int:
        row = self._conn.execute("SELECT value FROM settings WHERE key=?", (index_file.GENERATION,)).fetchone()
        return int(json.loads(row[0])) if row else 0

    def _index_current(self) -> bool:
        return self._live_generation() == self._index_gen

    def _follow_index(self) -> None:
        """Attach the live index file; one wiped under this connection (`provision wipe` deletes the pointer and the
        files while the app holds the ledger open) is followed by an empty one, as at open."""
        live = self._live_generation()
        if live or self._conn.execute(
                "SELECT 1 FROM main.sqlite_master WHERE type='table' AND name='tickets'").fetchone():
            self._attach_index(live)
        else:
            self._attach_index(0)
            self._open_index()

    def _attach_index(self, generation: int) -> None:
        """Attach the index file of `generation` (0: none, the tickets are in main) instead of the one attached.
        Outside any transaction, with the lock held."""
        if generation == self._index_gen:
            return
        if self._index_gen:
            for attempt in range(200):           # a statement of another thread still reading it: wait for it
                try:
                    index_file.detach(self._conn)
                    break
                except sqlite3.OperationalError:
                    if attempt == 199:
                        raise
                    time.sleep(0.001)
            self._index_gen = 0
        if generation:
            path = index_file.index_path(self.path, generation)
            try:
                index_file.attach(self._conn, path)
            except FileNotFoundError:
                raise LedgerError(f"{self.path}: its ticket index file {path} is missing; restore it from a "
                                  "backup, or wipe the device's event data and sync again") from None
            self._index_gen = generation

    def _open_index_following_wipes(self, attempts: int = 3) -> None:
        """`_open_index`, again when the file it attached was retired meanwhile (a wipe by another connection
        deletes the index files once its commit has removed their pointer): that file's error is no damage."""
        for attempt in range(attempts):
            wanted = self._live_generation()
            try:
                self._open_index()
                return
            except (sqlite3.DatabaseError, LedgerError, FileNotFoundError):
                if attempt == attempts - 1 or self._live_generation() == wanted:
                    raise
                self._index_gen = 0       # its file is gone: detach without waiting on it
                try:
                    index_file.detach(self._conn)
                except sqlite3.DatabaseError:
                    pass

    def _open_index(self) -> None:
        """At open: attach the live index file; a ledger whose index was wiped gets an empty one; files of other
        generations are deleted (replaced ones; staged ones whose apply died); a transaction that reached only one
        of the two files before a power cut makes the device fetch a full bundle again (`_index_consistent`)."""
        with self.lock:
            live = self._live_generation()
            if not live:
                self._drop_empty_main_index()
            if not live and not self._conn.execute(
                    "SELECT 1 FROM main.sqlite_master WHERE type='table' AND name='tickets'").fetchone():
                made = self._new_generation()
                index_file.empty(index_file.index_path(self.path, made))
                with self.transaction():
                    live = self._live_generation()          # another process may have made one meanwhile
                    if not live:
                        live = made
                        self.set_setting(index_file.GENERATION, live)
            self._attach_index(live)
            index_file.add_missing_columns(self._conn, index_file.SCHEMA if live else "main")
            index_file.sweep(self.path, live)
            self._index_consistent()
            self.commits_since_checkpoint = 0

    def _drop_empty_main_index(self) -> None:
        """A new ledger (or one whose index is empty) keeps no ticket tables in the ledger file: its index is a file
        of its own from the start. A ledger from before with tickets keeps them there until a full bundle."""
        with self.transaction():
            if self._live_generation() or not self._conn.execute(
                    "SELECT 1 FROM main.sqlite_master WHERE type='table' AND name='tickets'").fetchone():
                return
            if self._conn.execute("SELECT 1 FROM main.tickets LIMIT 1").fetchone():
                return
            for name in ("tickets_ai", "tickets_ad", "tickets_au"):
                self._conn.execute(f"DROP TRIGGER IF EXISTS main.{name}")
            self._conn.execute("DROP TABLE IF EXISTS main.tickets_fts")
            self._conn.execute("DROP TABLE main.tickets")

    def _new_generation(self) -> int:
        """A generation never used before (not by a file left on disk either): names are never reused, so a
        connection holding a replaced file open can never mistake it for a new one. Committed without an fsync:
        the live generation (durable) and the files on disk bound it from below, so losing it reuses at most the
        name of a staged file nobody ever attached."""
        with self.relaxed_transaction():
            used = [self.get_setting(index_file.LAST_GENERATION, 0), self._live_generation(),
                    *index_file.index_files(self.path)]
            generation = int(max(used)) + 1
            self.set_setting(index_file.LAST_GENERATION, generation)
        return generation

    _COMMIT_MARK = "ledger.index_commit"      # the last transaction that wrote both files: its mark, in each

    def _index_written(self) -> None:
        """Called by every write to the ticket index (catalogue.py): the commit marks both files."""
        self._index_dirty = True

    def _before_commit(self) -> None:
        """A transaction writing the index file and the ledger is atomic in each file, not across them (WAL): the
        same new mark goes into both, so a power cut between the two files' commits is seen at the next open."""
        if self._index_dirty and self._index_gen:
            mark = uuid.uuid4().hex
            self._conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                               "value=excluded.value", (self._COMMIT_MARK, json.dumps(mark)))
            self._conn.execute(f"INSERT OR REPLACE INTO {index_file.SCHEMA}.meta(key, value) VALUES (?, ?)",
                               (self._COMMIT_MARK, mark))
        self._index_dirty = False

    def _index_consistent(self) -> None:
        """The two files disagree on the last transaction that wrote both: one of them did not reach the disk
        (power cut between the two commits). The index may lack the last change of tickets, so the bundle version
        goes back to 0: the next hello fetches a full bundle, which rebuilds the index. Nothing else is lost (the
        check-ins, outbox and flags are in the ledger file)."""
        if not self._index_gen:
            return
        ours = self.get_setting(self._COMMIT_MARK)
        row = self._conn.execute(f"SELECT value FROM {index_file.SCHEMA}.meta WHERE key=?",
                                 (self._COMMIT_MARK,)).fetchone()
        if ours == (row[0] if row else None):
            return
        log.warning("%s: the ticket index missed the last change (power cut between its commits): a full "
                    "bundle will be fetched again", self.path)
        with self.transaction():
            bundle = self.get_setting(_BUNDLE_SETTING)
            if isinstance(bundle, dict):
                self.set_setting(_BUNDLE_SETTING, dict(bundle, version=0))
            self._index_written()          # marks both files alike again

    # -- WAL checkpoints ---------------------------------------------------------------------------------------
    # A checkpoint copies WAL pages into the database file: tens of ms on a big ledger. Never inside a scan:
    # the CLI calls Gate.idle() after printing a verdict (checkpoint here, every CHECKPOINT_AFTER commits); for
    # shells that never call it, a background thread with its own connection checkpoints (PASSIVE: it neither
    # blocks nor waits for writers) every 2 x CHECKPOINT_AFTER commits; CHECKPOINT_FORCED_AFTER bounds the WAL.
    CHECKPOINT_AFTER = 200          # commits, about 1,000 WAL pages
    CHECKPOINT_FORCED_AFTER = 5000  # commits: inside the commit, only if the two above could not keep up

    def checkpoint(self, force: bool = False) -> bool:
        """Copy the WAL into the database file if enough commits piled up. Housekeeping for idle moments:
        a check-in is durable in the WAL already, so this never delays a verdict when called after one."""
        if not force and self.commits_since_checkpoint < self.CHECKPOINT_AFTER:
            return False
        with self.lock:
            if self.conn.in_transaction:       # a caller's transaction is open on this thread: later
                return False
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.commits_since_checkpoint = 0
        return True

    def _committed(self) -> None:
        self.commits_since_checkpoint += 1
        if self.commits_since_checkpoint >= self.CHECKPOINT_FORCED_AFTER:
            self.checkpoint(force=True)
        elif self.commits_since_checkpoint % (2 * self.CHECKPOINT_AFTER) == 0:
            self._checkpoint_in_background()

    def _checkpoint_in_background(self) -> None:
        if self._checkpointer is not None and self._checkpointer.is_alive():
            return
        self._checkpointer = threading.Thread(target=_background_checkpoint, args=(self,), daemon=True,
                                              name="ledger-checkpoint")
        self._checkpointer.start()

    # -- settings ----------------------------------------------------------------------------------------------
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def bundle_of_no_event(self) -> bool:
        """The last bundle applied named no event: every event of the device was removed (`server event remove`),
        so it admits none (a device given keys only, with no bundle, is not restricted)."""
        bundle = self.get_setting(_BUNDLE_SETTING)
        return isinstance(bundle, dict) and bool(bundle.get("version")) and bundle.get("events") == []

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, json.dumps(value)))

    # -- server time and replay protection (agent.clock, agent.sync.clock) ------------------------------------
    def clock_estimate(self) -> ClockEstimate | None:
        """The last server-time measurement (None: never synced). A ledger from before estimates keeps its offset."""
        estimate = ClockEstimate.from_json(self.get_setting(CLOCK_SETTING))
        if estimate is None:
            legacy = self.get_setting("clock_offset")
            if isinstance(legacy, (int, float)):
                estimate = ClockEstimate(float(legacy), 0.0, 0.0, "")
        return estimate

    def set_clock_estimate(self, estimate: ClockEstimate, rtt: float | None = None) -> int:
        """Store the estimate, and date by it what was stamped before the server's time was known. Returns how many
        uploads were dated."""
        with self.transaction():
            self.set_setting(CLOCK_SETTING, estimate.to_json())
            self.set_setting("clock_offset", estimate.offset)      # shown by status screens
            if rtt is not None:
                self.set_setting("clock_rtt", rtt)
            return self._redate(estimate)

    def redate_unmeasured(self) -> int:
        """Date the waiting uploads stamped before the server's time was known (another process may have stamped one
        while the sync learnt it). 0 when it is still unknown."""
        with self.transaction():
            estimate = self.clock_estimate()
            return 0 if estimate is None else self._redate(estimate)

    def _redate(self, estimate: ClockEstimate) -> int:
        """Waiting uploads marked UNMEASURED get the offset they had (agent.clock.redated); an action's own check-in
        row too, so this gate orders it on the server's time line as the others do."""
        rows = self.conn.execute("SELECT id, body FROM outbox WHERE acked IS NULL AND instr(body, ?) > 0",
                                 (f'"{UNMEASURED}"',)).fetchall()
        for row_id, text in rows:
            body = redated(json.loads(text), estimate)
            self.conn.execute("UPDATE outbox SET body=? WHERE id=?", (json.dumps(body, separators=(",", ":")), row_id))
            if body.get("type") == "action" and body.get("scan_uuid"):
                self.conn.execute("UPDATE checkins SET clock_offset=? WHERE scan_uuid=? AND origin='local'",
                                  (body["clock_offset"], body["scan_uuid"]))
        return len(rows)

    def remember_message(self, msg_id: str, ts: float, forget_before: float | None = None) -> bool:
        """Note a signed server message as applied: False when it was seen before (a replay). Messages older than
        `forget_before` are forgotten (the freshness check refuses them anyway)."""
        with self.transaction():
            if forget_before is not None:
                self.conn.execute("DELETE FROM seen_messages WHERE ts < ?", (forget_before,))
            return self.conn.execute("INSERT OR IGNORE INTO seen_messages(id, ts) VALUES (?, ?)",
                                     (msg_id, ts)).rowcount == 1

    # -- history -----------------------------------------------------------------------------------------------
    def actions(self, ticket_key: str) -> list[Action]:
        rows = self.conn.execute(
            f"SELECT {self._ACTION_COLS} FROM checkins WHERE ticket_key=?",
            (ticket_key,)).fetchall()
        return [Action(*r) for r in rows]

    def history(self, ticket_key: str) -> TicketHistory:
        c = self.conn
        status = c.execute(f"SELECT {ORDER_STATUS} FROM tickets t WHERE ticket_key=?", (ticket_key,)).fetchone()
        revoked = c.execute("SELECT reason FROM revocations WHERE ticket_key=?", (ticket_key,)).fetchone()
        blocked = c.execute("SELECT reason FROM blocked WHERE ticket_key=?", (ticket_key,)).fetchone()
        entries, cancelled = fold(self.actions(ticket_key))
        return TicketHistory(entries=entries, cancelled=cancelled, revoked=revoked[0] if revoked else None,
                             blocked=blocked[0] if blocked else None, order_status=status[0] if status else None)

    def record(self, ticket_key: str, action: Action, reason: str = "", clock_offset: float = 0.0,
               outbox: dict[str, Any] | None = None) -> int:
        """Persist one local action (and its outbox message) durably. Returns the device sequence number."""
        with self.transaction():      # the sequence is read inside: another process may have written since
            if action.kind == "annul":
                self._check_annulment(ticket_key, action.ref_uuid)
            self._device_seq = self.conn.execute(
                "SELECT max(device_seq) FROM checkins WHERE origin='local'").fetchone()[0] or 0
            self._device_seq += 1
            try:
                self.conn.execute(
                    "INSERT INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, device_seq, "
                    "clock_offset, ref_uuid, reason, mode, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?, 'local')",
                    (action.scan_uuid, action.kind, ticket_key, action.event_id, action.direction, action.at,
                     action.device_id, action.gate, self._device_seq, clock_offset, action.ref_uuid, reason,
                     action.mode))
                if outbox is not None:
                    body = self._stamp(dict(outbox, device_seq=self._device_seq))
                    self.conn.execute("INSERT INTO outbox(kind, body, created) VALUES (?,?,?)",
                                      (body.get("type", "action"), json.dumps(body, separators=(",", ":")), action.at))
            except BaseException:
                self._device_seq -= 1
                raise
        return self._device_seq

    def _check_annulment(self, ticket_key: str, ref_uuid: str | None) -> None:
        """An annulment names an entry or cancellation of this ticket this ledger holds, not annulled yet: else
        LookupError, and nothing is stored (the server would refuse it, and the door's counts would not add up)."""
        row = self.conn.execute("SELECT kind, ticket_key FROM checkins WHERE scan_uuid=?", (ref_uuid or "",)).fetchone()
        if row is None or row[0] not in ("entry", "cancel") or row[1] != ticket_key:
            raise LookupError(f"no check-in {ref_uuid} of ticket {ticket_key} to annul")
        if self.annulled(ref_uuid or ""):
            raise LookupError(f"check-in {ref_uuid} is already annulled")

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        """A message recording a person's act (it has a `staff` field: messages.Staffed) names who is on duty."""
        if "staff" in body and not body["staff"] and self.on_duty:
            body = dict(body, staff=self.on_duty)
        return self._date(body)

    def _date(self, body: dict[str, Any]) -> dict[str, Any]:
        """A message with a time (`at`, the device's wall clock) is dated on the server's time line: marked UNMEASURED
        while the server's time was never learnt (dated once it is: set_clock_estimate); a message without its own
        `clock_offset` (kiosk, configuration) gets `at` in server time now (agent.clock.with_offset)."""
        at = body.get("at")
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            return body
        estimate = self.clock_estimate()
        if estimate is None:
            return dict(body, **{UNMEASURED: unmeasured_mark()})
        if "clock_offset" not in body:
            return with_offset(body, ServerClock().offset(estimate))
        return body

    def enqueue(self, kind: str, body: dict[str, Any], durable: bool = True) -> int:
        """Queue a message for the server on its own (refusals for live stats, kiosk actions).

        durable=False commits without an fsync (synchronous=NORMAL for this one commit): the row reaches the disk
        with the next durable commit or checkpoint. For refusal statistics only, never for check-ins."""
        with self.lock:
            relaxed = not durable and not self.conn.in_transaction
            if relaxed:
                self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self.transaction():
                    row_id = self.conn.execute("INSERT INTO outbox(kind, body, created) VALUES (?,?,?)",
                                               (kind, json.dumps(self._stamp(body), separators=(",", ":")),
                                                time.time())).lastrowid
                    assert row_id is not None    # an INSERT that succeeded has a row id
                    return row_id
            finally:
                if relaxed:
                    self.conn.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def relaxed_transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction committed without an fsync (synchronous=NORMAL): it reaches the disk with the next durable
        commit (the next scan) or checkpoint. Only for what comes back if a power cut loses it: live updates from
        the server (the next hello's delta carries them again) and other gates' relayed entries (durable on their
        gate and on the server). Never for this device's own actions. Inside an open transaction: that one's."""
        with self.lock:      # (the raw connection: the index generation is checked once, at the BEGIN)
            relaxed = not self._conn.in_transaction
            if relaxed:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self.transaction() as conn:
                    yield conn
            finally:
                if relaxed:
                    self._conn.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside an open transaction of this thread: what the block writes is undone alone when it raises (the
        exception goes on), the transaction's other writes stay. A batch of messages in one commit uses one per
        message, so a refused message is rolled back without the others."""
        with self.lock:
            if not self._conn.in_transaction:
                raise RuntimeError("Ledger.savepoint() needs an open transaction (inside transaction())")
            self._conn.execute("SAVEPOINT ledger_part")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:     # (an I/O error may have rolled the whole transaction back)
                    self._conn.execute("ROLLBACK TO ledger_part")
                    self._conn.execute("RELEASE ledger_part")
                raise
            self._conn.execute("RELEASE ledger_part")

    def merge_remote(self, actions: Iterable[dict[str, Any]]) -> int:
        """Actions from other gates or the server (idempotent by scan_uuid). Returns how many were new.

        Optional text fields (gate, reason, device_id) missing or null are stored empty; a row the table cannot hold
        (no scan_uuid, kind, ticket_key or time) raises sqlite3.IntegrityError for the whole call: only a duplicate
        scan_uuid is ever skipped, nothing is dropped silently. Callers check rows first
        (`agent.sync.messages.RelayedAction`)."""
        return self.merge_rows([(a["scan_uuid"], a["kind"], a["ticket_key"], a.get("event_id"), a.get("direction"),
                                 a["at"], a.get("device_id") or "", a.get("gate") or "", a.get("device_seq"),
                                 a.get("ref_uuid"), a.get("reason") or "", float(a.get("clock_offset") or 0.0),
                                 a.get("mode")) for a in actions])

    def merge_rows(self, rows: list[tuple[Any, ...]]) -> int:
        """`merge_remote` of rows already in its columns' order (scan_uuid, kind, ticket_key, event_id, direction, at,
        device_id, gate, device_seq, ref_uuid, reason, clock_offset, mode: a relay's checked rows,
        agent.sync.messages.RelayedAction.row_from_wire). Returns how many were new."""
        with self.transaction():
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, "
                "device_seq, ref_uuid, reason, clock_offset, mode, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?, 'remote') "
                "ON CONFLICT(scan_uuid) DO NOTHING", rows)
            return self.conn.total_changes - before

    def last_local_action(self, device_id: str, kinds: tuple[str, ...] = ("entry", "cancel")) -> dict[str, Any] | None:
        marks = ",".join("?" * len(kinds))
        row = self.conn.execute(
            f"SELECT scan_uuid, kind, ticket_key, event_id, direction, at FROM checkins c WHERE origin='local' AND device_id=? "
            f"AND kind IN ({marks}) AND NOT EXISTS (SELECT 1 FROM checkins a WHERE a.kind='annul' AND a.ref_uuid=c.scan_uuid "
            f"AND NOT EXISTS (SELECT 1 FROM checkins v WHERE v.kind='{UNDO_REFUSED}' AND v.ref_uuid=a.scan_uuid)) "
            f"ORDER BY seq DESC LIMIT 1", (device_id, *kinds)).fetchone()
        return dict(zip(("scan_uuid", "kind", "ticket_key", "event_id", "direction", "at"), row)) if row else None

    def annulled(self, scan_uuid: str) -> bool:
        return self.conn.execute("SELECT 1 FROM checkins a WHERE kind='annul' AND ref_uuid=? AND NOT EXISTS (SELECT 1 "
                                 "FROM checkins v WHERE v.kind=? AND v.ref_uuid=a.scan_uuid)",
                                 (scan_uuid, UNDO_REFUSED)).fetchone() is not None

    def action(self, scan_uuid: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, origin "
                                "FROM checkins WHERE scan_uuid=?", (scan_uuid,)).fetchone()
        return dict(zip(("scan_uuid", "kind", "ticket_key", "event_id", "direction", "at", "device_id", "gate", "origin"),
                        row)) if row else None

    def uploaded_as(self, scan_uuid: str) -> str | None:
        """The device id the server stored this action under (its upload acknowledged, not refused); None when it
        was not. After a wipe and re-enrollment the check-in is this device's (`adopt_device_id`), the server's copy
        the old enrollment's."""
        row = self.conn.execute("SELECT json_extract(body, '$.device_id') FROM outbox WHERE acked IS NOT NULL AND "
                                "refused IS NULL AND json_extract(body, '$.scan_uuid')=? LIMIT 1",
                                (scan_uuid,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def adopt_device_id(self, old: str, new: str) -> int:
        """The device was just enrolled as `new`: its own check-ins and the messages not sent yet that it made as
        `old` (before enrollment) are now under its enrolled id, so the server takes them as this device's.
        -> rows changed."""
        with self.transaction():
            n = self.conn.execute("UPDATE checkins SET device_id=? WHERE origin='local' AND device_id=?",
                                  (new, old)).rowcount
            n += self.conn.execute("UPDATE outbox SET body=json_set(body, '$.device_id', ?) WHERE acked IS NULL "
                                   "AND json_extract(body, '$.device_id')=?", (new, old)).rowcount
        return n

    def outbox_keep_unsent(self, device_id: str, reason: str) -> int:
        """The messages not sent yet that the device made as `device_id` are kept as refused with `reason`, never
        sent (they belong to another organiser's enrollment). -> rows kept."""
        with self.transaction():
            return int(self.conn.execute("UPDATE outbox SET acked=?, refused=? WHERE acked IS NULL AND "
                                         "json_extract(body, '$.device_id')=?", (time.time(), reason, device_id))
                       .rowcount)

    # -- outbox ------------------------------------------------------------------------------------------------
    def outbox_pending(self, limit: int = 500) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.conn.execute("SELECT id, kind, body FROM outbox WHERE acked IS NULL ORDER BY id LIMIT ?", (limit,))
        return [(i, k, json.loads(b)) for i, k, b in rows.fetchall()]

    def outbox_ack(self, ids: Iterable[int], at: float | None = None) -> int:
        """Mark these rows acknowledged; how many were not already (an ack of a copy sent again counts none)."""
        at = time.time() if at is None else at
        with self.transaction():
            return int(self.conn.executemany("UPDATE outbox SET acked=? WHERE id=? AND acked IS NULL",
                                             [(at, i) for i in ids]).rowcount)

    def outbox_after(self, after_id: int, limit: int) -> list[tuple[int, str, str]]:
        """Unacknowledged rows after `after_id`, oldest first, as (id, kind, body JSON text): the uploader's batch."""
        return self.conn.execute("SELECT id, kind, body FROM outbox WHERE acked IS NULL AND id > ? ORDER BY id LIMIT ?",
                                 (after_id, limit)).fetchall()

    def last_acked(self) -> float | None:
        """When the server last acknowledged something from this device (None: never)."""
        acked: float | None = self.conn.execute("SELECT max(acked) FROM outbox").fetchone()[0]
        return acked

    def outbox_size(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0])

    def outbox_kinds(self) -> dict[str, int]:
        """Unacknowledged rows by kind (action, refusal, kiosk, cmd_result…)."""
        rows = self.conn.execute("SELECT kind, count(*) FROM outbox WHERE acked IS NULL GROUP BY kind ORDER BY kind")
        return {str(k): int(n) for k, n in rows.fetchall()}

    def outbox_waiting(self, kind: str, actions: Iterable[str]) -> int:
        """Unacknowledged rows of `kind` whose body's action is one of `actions` (a kiosk's offline sales)."""
        acts = list(actions)
        return int(self.conn.execute(
            f"SELECT count(*) FROM outbox WHERE acked IS NULL AND kind=? AND json_extract(body, '$.action') IN "
            f"({','.join('?' * len(acts))})", (kind, *acts)).fetchone()[0])

    def outbox_waiting_order(self, order_number: str, actions: Iterable[str]) -> int:
        """Unacknowledged kiosk rows of these actions naming this order (its offline sale, a payment)."""
        acts = list(actions)
        return int(self.conn.execute(
            f"SELECT count(*) FROM outbox WHERE acked IS NULL AND kind='kiosk' AND json_extract(body, '$.order_number')=? "
            f"AND json_extract(body, '$.action') IN ({','.join('?' * len(acts))})", (order_number, *acts)).fetchone()[0])

    def printed_here(self, order_number: str, kind: str) -> set[str]:
        """The tickets of an order this device printed (or reprinted) as `kind` (ticket, badge): its kiosk records
        (`Printed`, kept once sent). Printing one again makes a copy."""
        found: set[str] = set()
        for (keys,) in self.conn.execute(
                "SELECT json_extract(body, '$.tickets') FROM outbox WHERE kind='kiosk' AND json_extract(body, "
                "'$.action') IN ('print', 'reprint') AND json_extract(body, '$.order_number')=? AND "
                "json_extract(body, '$.kind')=?", (order_number, kind)):
            found.update(str(k) for k in json.loads(keys or "[]"))
        return found

    def outbox_refuse(self, reasons: Mapping[int, str], at: float | None = None) -> int:
        """The server refused these rows for good: answered (they leave the upload queue) but kept, with the reason
        (its code and parameters too when it is an agent.reasons.Reason). How many were not answered already."""
        at = time.time() if at is None else at
        rows = []
        for i, r in reasons.items():
            code, params = code_of(r)
            rows.append((at, str(r)[:500], code[:40], json.dumps(params, default=str)[:2000], i))
        with self.transaction():
            n = int(self.conn.executemany("UPDATE outbox SET acked=?, refused=?, refused_code=?, refused_params=? "
                                          "WHERE id=? AND acked IS NULL", rows).rowcount)
            self._undo_refused_annulments(reasons, at)
            return n

    def _undo_refused_annulments(self, reasons: Mapping[int, str], at: float) -> None:
        """An annulment (an undone entry or cancellation) the server refused undid nothing there: the server counts
        the entry still. The door restores it too (an `annul_refused` mark in the log, agent.history.fold), so both
        say the same: the guest inside, the ticket used. The refused upload stays listed (`agent status`). Only for a
        refusal of who did it (the staff member's role or standing then), of an annulment of an action the server
        took: one refused as already annulled there, or of an action the server never took, changes nothing."""
        for i, why in reasons.items():
            if code_of(why)[0] not in _STAFF_REFUSALS:      # e.g. already annulled there: nothing to restore
                continue
            row = self.conn.execute("SELECT body FROM outbox WHERE id=? AND kind='action'", (i,)).fetchone()
            body = json.loads(row[0]) if row else {}
            if body.get("kind") != "annul" or not body.get("scan_uuid") or not body.get("ref_uuid") \
                    or self.uploaded_as(str(body["ref_uuid"])) is None:    # what it undid never counted there
                continue
            self.conn.execute(
                "INSERT OR IGNORE INTO checkins(scan_uuid, kind, ticket_key, event_id, direction, at, device_id, gate, "
                "device_seq, clock_offset, ref_uuid, reason, mode, origin) "
                "VALUES (?, ?, ?, ?, NULL, ?, ?, ?, NULL, 0, ?, ?, NULL, 'refusal')",
                (f"{body['scan_uuid']}:refused", UNDO_REFUSED, str(body.get("ticket_key") or ""), body.get("event_id"),
                 at, str(body.get("device_id") or ""), str(body.get("gate") or ""), body["scan_uuid"], str(why)[:500]))


    def outbox_refused(self, limit: int = 100) -> list[dict[str, Any]]:
        """Rows the server refused, newest first: {id, kind, body, refused (the server's English text), refused_code,
        refused_params (agent.reasons; "" and {} when it gave none), at}."""
        rows = self.conn.execute(
            "SELECT id, kind, body, refused, refused_code, refused_params, acked, EXISTS (SELECT 1 FROM checkins v "
            "WHERE v.kind=? AND v.ref_uuid=json_extract(o.body, '$.scan_uuid')) FROM outbox o "
            "WHERE refused IS NOT NULL ORDER BY id DESC LIMIT ?", (UNDO_REFUSED, limit)).fetchall()
        return [{"id": i, "kind": k, "body": json.loads(b), "refused": r, "refused_code": c,
                 "refused_params": json.loads(p), "at": a, "restored": bool(v)} for i, k, b, r, c, p, a, v in rows]

    def outbox_refused_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox WHERE refused IS NOT NULL").fetchone()[0])

    def outbox_resend_refused(self) -> int:
        """Put every refused row back in the upload queue (after the organiser fixed what the server refused, e.g. the
        device's events). Returns how many; the next sync sends them again."""
        with self.transaction():
            for row_id, text in self.conn.execute("SELECT id, body FROM outbox WHERE refused_code='dated_ahead'").fetchall():
                body = dict(json.loads(text), **{UNMEASURED: [None, ""]})    # its clock was off: dated again
                self.conn.execute("UPDATE outbox SET body=? WHERE id=?", (json.dumps(body, separators=(",", ":")), row_id))
            n = int(self.conn.execute("UPDATE outbox SET acked=NULL, refused=NULL, refused_code='', "
                                      "refused_params='{}' WHERE refused IS NOT NULL").rowcount)
            estimate = self.clock_estimate()
            if estimate is not None:
                self._redate(estimate)
            return n

    def outbox_resend_refused_events(self, event_ids: Iterable[int]) -> int:
        """Put back in the upload queue the rows refused because this device did not hold their event
        (`event_not_held`), for these events: the organiser gave it them since (`server device events --add`), e.g.
        entries a door scanned before it was wiped and enrolled again for another event. Returns how many."""
        wanted = {str(int(e)) for e in event_ids}
        if not wanted:
            return 0
        with self.transaction():
            rows = [(i,) for i, params in self.conn.execute(
                "SELECT id, refused_params FROM outbox WHERE refused_code='event_not_held'").fetchall()
                if str(json.loads(params or "{}").get("event")) in wanted]
            self.conn.executemany("UPDATE outbox SET acked=NULL, refused=NULL, refused_code='', refused_params='{}' "
                                  "WHERE id=?", rows)
            return len(rows)

    def outbox_resend_refused_as(self, codes: Iterable[str]) -> int:
        """Put back in the upload queue the rows refused with these reason codes: the organiser changed what they
        were refused for since (a `config` command giving the gate or mode they were scanned in). Returns how many."""
        wanted = sorted(set(codes))
        if not wanted:
            return 0
        with self.transaction():
            return int(self.conn.execute(
                "UPDATE outbox SET acked=NULL, refused=NULL, refused_code='', refused_params='{}' WHERE refused IS NOT "
                f"NULL AND refused_code IN ({','.join('?' * len(wanted))})", wanted).rowcount)

    # -- read models (agent.read_models: one rule for device and server) -----------------------------------------
    _ACTION_COLS = "scan_uuid, kind, at, device_id, gate, event_id, direction, ref_uuid, seq, clock_offset, mode"

    def actions_by_ticket(self, keys: Iterable[str] | None = None) -> dict[str, list[Action]]:
        """Every action of the tickets named (None: of every ticket), grouped by ticket: one pass over the log."""
        out: dict[str, list[Action]] = {}
        if keys is None:
            rows = self.conn.execute(f"SELECT ticket_key, {self._ACTION_COLS} FROM checkins")
            for key, *r in rows:
                out.setdefault(key, []).append(Action(*r))
            return out
        for key in keys:
            out[key] = self.actions(key)
        return out

    def inside(self, events: Iterable[int] | None = None) -> dict[int | None, int]:
        """Who is inside now, per event (annulments, resets and other gates applied): tickets whose last effective
        movement is `in`. Kept incrementally: only the tickets whose log grew since the last call are folded again."""
        with self.lock:
            top = self.conn.execute("SELECT max(seq) FROM checkins").fetchone()[0] or 0
            if self._inside is None or top < self._inside_seq:
                self._inside, self._inside_seq = InsideCounter(), 0
            if top != self._inside_seq:
                keys = [k for (k,) in self.conn.execute("SELECT DISTINCT ticket_key FROM checkins WHERE seq > ?",
                                                        (self._inside_seq,))]
                grown = self.actions_by_ticket(None if len(keys) > 200 else keys)
                for key in keys:
                    self._inside.update(key, grown.get(key, ()))
                self._inside_seq = top
            return self._inside.counts(events)

    def movements(self, by: str) -> list[tuple[str, int, int]]:
        """(label, entries in, exits) of the effective entries (annulments and resets applied), grouped by event
        (its name), zone (of the ticket) or gate, sorted by label. For the door's statistics screen."""
        if by not in ("event", "zone", "gate"):
            raise ValueError(f"stats by event, zone or gate, not {by!r}")
        names = {e: n for e, n in self.conn.execute("SELECT event_id, name FROM events")}
        zone_names = {(e, z): n for e, z, n in self.conn.execute("SELECT event_id, zone_id, name FROM zones")}
        grouped = self.actions_by_ticket()
        zone_of: dict[str, int | None] = {}
        if by == "zone":
            zone_of = {k: z for k, z in self.conn.execute("SELECT ticket_key, zone FROM tickets WHERE ticket_key IN "
                                                            "(SELECT ticket_key FROM checkins WHERE kind='entry')")}
        counts: dict[str, list[int]] = {}
        for key, actions in grouped.items():
            for a in effective_entries(actions):
                if by == "event":
                    label = names.get(a.event_id) or f"event {a.event_id}"
                elif by == "zone":
                    zone = zone_of.get(key)
                    label = "-" if zone is None else zone_names.get((a.event_id, zone)) or f"zone {zone}"
                else:
                    label = a.gate or a.device_id
                row = counts.setdefault(label, [0, 0])
                row[a.direction == "out"] += 1
        return [(label, i, o) for label, (i, o) in sorted(counts.items())]

    def conflicts(self, event_id: int | None = None) -> list[Conflict]:
        """Tickets admitted twice for an event, as far as this device knows (its own and relayed actions)."""
        effective = {k: effective_entries(a) for k, a in self.actions_by_ticket().items()}
        return conflicts(effective, event_id)

    # -- status ------------------------------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        def q(sql: str) -> int:
            return int(self.conn.execute(sql).fetchone()[0])
        return {"events": q("SELECT count(*) FROM events"), "tickets": q("SELECT count(*) FROM tickets"),
                "checkins": q("SELECT count(*) FROM checkins WHERE kind='entry'"),
                "revocations": q("SELECT count(*) FROM revocations"), "blocked": q("SELECT count(*) FROM blocked"),
                "outbox_pending": self.outbox_size(), "outbox_refused": self.outbox_refused_count()}

    # -- transactions ------------------------------------------------------------------------------------------
    def transaction(self) -> Transaction:
        return Transaction(self._conn, self._committed, self.lock, fresh=self._index_current,
                           refresh=self._follow_index, before_commit=self._before_commit)


def _background_checkpoint(ledger: Ledger) -> None:
    try:
        conn = sqlite3.connect(ledger.path, timeout=5)
        try:
            index = index_file.index_path(ledger.path, ledger._index_gen)
            if ledger._index_gen and os.path.exists(index):      # both files' WALs (live changes write the index)
                conn.execute("ATTACH DATABASE ? AS idx", (index,))
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
        if not busy:
            ledger.commits_since_checkpoint = 0
    except sqlite3.Error:
        log.warning("background checkpoint of %s failed", ledger.path, exc_info=True)
