"""The device side of the sync: one worker thread owns a ledger connection and handles everything.

    sync = DeviceSync(ledger_path, org="demo", device="gate-a", server_key=pub32, transport=PahoTransport(...),
                      keyring=gate.keyring)
    sync.start(); gate.listeners.append(lambda v: sync.notify())

Incoming messages are queued by the transport thread and handled here in order (a live update before the check-in
relays queued ahead of it: agent.sync.inbox); a bad message is
refused with a logged reason (`rejections`) and never stops the loop. A message is acknowledged to the broker
once handled: a live one after the commit that applied it (a crash before leaves it with the broker, which sends it
again), a refused one once refused; one whose ledger write failed is not, and comes again after a reconnection.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable

from agent.sync.enrolled_events import enrolled_events, wanted_events
from agent.errors import TicketgateError
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.storage_errors import storage_problem
from agent.sync import topics
from agent.sync.apply import BUNDLE_SETTING, FullBundleStager, apply_bundle, apply_live, apply_update, current_bundle
from agent.sync.bundle import AlreadyHeld, Assembler, DeltaMismatch, Pending, check_manifest, is_chunk, section
from agent.clock import ClockEstimate, ServerClock, StepDetector, boot_clock
from agent.sync.clock import COMMAND_MAX_AGE, Freshness, ReplayGuard, offset
from agent.sync.hello import Greeter
from agent.sync.inbox import Inbox, lane
from agent.sync.messages import (Ack, Checkins, ChunkHeader, Clock, CmdResult, Command, DeskAnswer, DeskRequest, Hello,
                                 LIVE_FORM, ROW_DEVICE, TILL_ACTIONS, Update, UpdateSets, action_cursor, action_cursors)
from agent.sync.signed import Rejected, Verifier, dumps, load_json
from agent.sync.transport import Delivery, Transport
from agent.sync.uploader import UploadOptions, Uploader

log = logging.getLogger("ticketgate.sync.device")
CMD_SETTING = "sync.cmd_ts"
# The broker had no session of ours (it crashed or was killed: mosquitto saves sessions only on an orderly stop), so
# what it would have queued for us while we were away (other gates' entries relayed live) went to nobody: the next
# hellos ask for the entries after the action cursors held then (CURSORS_SETTING, frozen here: relays arriving
# meanwhile move the live ones), with the version delta. Kept until a bundle carrying them is applied.
CATCH_UP_SETTING = "sync.catch_up"
# {event id: the server's action cursor}: this device holds the event's entries up to it (docs/sync-protocol.md,
# "A broker that lost its sessions"); moved by every relay (Checkins.cursor) and bundle (BundleManifest.cursor)
CURSORS_SETTING = "sync.cursors"
LIVE_BATCH = 50              # live messages applied in one ledger transaction at most
LIVE_BATCH_SECONDS = 0.01    # s of work per batch at most: the batch holds the write lock the door's scans need
# A desk request's deadline (agent.sync.messages.Desk) is this much before the kiosk stops waiting, at most a third of
# its wait: the server's answer has that long to come back (over a LAN: milliseconds; the clock estimate's error is
# half its round trip). An answer later still finds the kiosk gone: its offline sale then voids the online one.
ANSWER_MARGIN = 1.0
STOP_WAIT = 5.0      # s stop() waits for the sync thread (30 s held the fleet benchmark's loop: devices back late)



class Replayed(Rejected):
    """A signed server message whose id this device saw before: not applied again."""


class Late(Rejected):
    """A genuine live update older than the freshness window: it waited at the broker while the device was offline
    (or was replayed). Not applied, like any refused message; its changes come with the event data the next hello
    brings. Counted (`stats["late"]`) rather than reported as refused: every door back from ten minutes offline
    had "1 message(s) refused: stale message", which reads as an attack."""

class Outcome(Enum):
    """How one received message ended: acknowledged to the broker unless FAILED."""
    APPLIED = "applied"
    REFUSED = "refused"      # on purpose or by a bug, logged in `rejections`: the same message again would be too
    FAILED = "failed"        # the ledger could not write it (disk full, I/O error): the broker keeps it


@dataclass
class DeviceOptions:
    upload: UploadOptions = field(default_factory=UploadOptions)
    tick: float = 0.05              # s between two passes while something waits on a timer (an upload, a hello)
    idle_tick: float = 0.5          # ... and while nothing does: a pass costs ~0.1 ms CPU, and 200 devices on one
                                    # machine passing every 0.05 s spent 0.4 of a core (a message or a scan wakes
                                    # the thread at once either way; bench_fleet.py)
    hello_retry: float = 3.0
    presence_wait: float = 2.0      # after connecting, hello anyway if no server presence arrived by then
    bundle_timeout: float = 60.0
    write_retry: float = 35.0       # after a message the ledger could not write (a full disk): hello again this long
                                    # after (the server sends the same bundle again after 30 s: SyncServer.resend_after)
    max_message: int = 16 << 20
    remeasure: float = 600.0        # measure the server-time offset again this often while connected (seconds)
    unsent_every: float = 2.0       # count the sales made offline not acknowledged yet this often while connected: a
                                    # changed count goes in the status (the server's till warns of them)


class DeviceSync:
    def __init__(self, ledger_path: str | Path, org: str, device: str, server_key: bytes, transport: Transport,
                 keyring: Keyring | None = None, keyring_path: str | Path | None = None, events: Iterable[int] = (),
                 options: DeviceOptions | None = None, on_change: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time, on_refused: Callable[[str], None] | None = None,
                 on_command: Callable[[bytes], None] | None = None, boot: Callable[[], float] = boot_clock,
                 on_connected: Callable[[], None] | None = None):
        if not (topics.valid_name(org) and topics.valid_name(device)):
            raise ValueError("organiser and device ids must be short names without / + #")
        self.ledger_path, self.org, self.device = str(ledger_path), org, device
        self.verifier, self.transport = Verifier(server_key), transport
        self.keyring, self.keyring_path, self.events = keyring, keyring_path, list(events)
        self.o = options or DeviceOptions()
        self.on_change = on_change or (lambda what: None)
        self.clock = clock            # the device's wall clock (the one its scans are stamped with)
        self.server_clock = ServerClock(clock, boot)
        self.steps = StepDetector(self.server_clock)
        self._measured_at: float | None = None      # boot clock at the last clock reply
        self._estimate: ClockEstimate | None = None  # this run's server-time estimate (desk requests' deadlines)
        self._probed_at = 0.0                        # boot clock at the last re-measurement probe
        self.on_refused = on_refused or (lambda reason: None)   # provisioning: login refused (reason), retried
        self.on_connected = on_connected or (lambda: None)      # provisioning: login accepted again
        self.on_command = on_command or (lambda payload: None)  # provisioning: sees every executed command
        self.guard = ReplayGuard()                   # ids kept in the ledger once it is open (start)
        self.assembler = Assembler()
        self._stager: FullBundleStager | None = None     # the full bundle being staged as its chunks arrive
        self._staged: set[int] = set()
        self.rejections: deque[tuple[str, str]] = deque(maxlen=200)   # (topic, reason), newest last
        self.stats = {"bundles": 0, "live": 0, "live_commits": 0, "merged": 0, "acks": 0, "commands": 0, "late": 0}
        self._inbox = Inbox()
        self._wake = threading.Event()
        self._outbox_written = threading.Event()     # a scan was recorded: its upload leaves before the backlog
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.greeter = Greeter(self.o.hello_retry, self.o.presence_wait, monotonic=boot)
        self._refused_bundles: deque[str] = deque(maxlen=16)
        self._live_subs: set[int] = set()
        self.ledger: Ledger | None = None
        self.last_bundle: dict[str, Any] | None = None
        self._bundle_version = 0
        self._catch_up = False          # CATCH_UP_SETTING: the missed entries asked for, not applied yet
        self._catch_up_from: dict[int, int] = {}    # ... from these action cursors (frozen when the session was lost)
        self._catch_up_whole = False    # ... as the whole data: the server ignored the cursors (a server of before)
        self._cursors: dict[int, int] = {}          # CURSORS_SETTING
        self._owed = 0                  # the bundle version the server's last clock reply said follows (0: none)
        self._pruning = False           # deleted tickets' words are being pruned from the search index (prune.py)
        self._owed_at = 0.0             # boot clock at that reply
        self._write_failed_at: float | None = None   # monotonic: a message not written (disk full), asked for again
        self._server_since: object = None       # the server presence last seen (kept across reconnections)
        self.server_offline = False     # its retained presence says offline (stopped, or its broker login's will)
        self.server_presence_seen = False   # a retained server presence arrived (none: `server serve` never ran here)
        self.uploader: Uploader | None = None
        self.connected = False
        self._unsent: tuple[int, float] = (0, 0.0)     # (sales made offline not acknowledged, wall clock counted)
        self._unsent_counted = -1e9                     # boot clock of that count
        self._desk: dict[str, tuple[threading.Event, list[DeskAnswer]]] = {}   # request id -> (answered, answer)
        self._desk_lock = threading.Lock()      # an answer is the waiting request's, or late: never both
        # the delivery (None: nothing to acknowledge) travels with the message: acknowledged once it is handled
        transport.on_message = self._received
        transport.on_connect = lambda present: self._put(("connected", present))
        transport.on_disconnect = lambda: self._put(("disconnected",))
        transport.on_refused = lambda reason: self._put(("refused", reason))

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "DeviceSync":
        self.ledger = Ledger.open(self.ledger_path)
        self.guard = ReplayGuard(self.guard.max_age, seen=_LedgerSeen(self.ledger))
        self._bundle_version = int(current_bundle(self.ledger).get("version") or 0)
        frozen = self.ledger.get_setting(CATCH_UP_SETTING)
        self._catch_up = bool(frozen)       # True: asked by a version before cursors (every entry comes: cursor 0)
        self._catch_up_from = _event_cursors(frozen)
        self._cursors = _event_cursors(self.ledger.get_setting(CURSORS_SETTING))
        self.events = list(enrolled_events(self.ledger, self.events))    # as the organiser last changed them
        self._pruning = self.ledger.prune_pending()                      # a prune a restart interrupted goes on
        self.uploader = Uploader(self.ledger, self.org, self.device,
                                 lambda data: self.transport.publish(topics.up(self.org, self.device), data),
                                 self.o.upload)
        for t in (topics.down(self.org, self.device), topics.cmd(self.org, self.device), topics.server_status(self.org)):
            self.transport.subscribe(t)
        self._subscribe_live()
        self.transport.start()
        self._thread = threading.Thread(target=self._run, name=f"sync-{self.device}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        # disconnected first: nothing arrives any more, so everything received is in the queue, and the thread
        # applies it all before it ends; its acknowledgements no longer reach the broker, which sends those
        # messages again at the next start, refused then as replays (applied once)
        self.transport.stop((topics.device_status(self.org, self.device), self._status("offline")))
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(STOP_WAIT)     # the messages received finish (a loaded machine: seconds)
        if self._thread and self._thread.is_alive():     # never closed under a running query (a crash in SQLite)
            log.error("sync %s: still busy %.0f s after stop; its ledger connection is left open", self.device,
                      STOP_WAIT)
            return
        if self.ledger:
            self.ledger.close()

    @property
    def _ledger(self) -> Ledger:
        """The ledger, open from start() on: every handler runs after it."""
        if self.ledger is None:
            raise RuntimeError("DeviceSync.start() was not called")
        return self.ledger

    @property
    def _uploader(self) -> Uploader:
        if self.uploader is None:
            raise RuntimeError("DeviceSync.start() was not called")
        return self.uploader

    def notify(self, *_: object) -> None:
        """Something was written to the outbox: upload now (gate listener), even amid a backlog of messages."""
        self._outbox_written.set()
        self._wake.set()

    @property
    def server_answered(self) -> bool:
        """The server answered a hello of this run (its clock reply arrived): it knows where we are."""
        return self._measured_at is not None

    @property
    def caught_up(self) -> bool:
        """The server answered this run's hello and the event data it said follows is applied (none half-way)."""
        return (self.server_answered and self.assembler.pending is None and self._bundle_version >= self._owed
                and not self._catch_up)

    @property
    def owed_version(self) -> int:
        """The bundle version the server's answer to the last hello said follows (0: none owed)."""
        return self._owed

    @property
    def online(self) -> bool:
        """Connected, the server answered this run's hello and its presence does not say offline: a desk request
        can be answered now (else the kiosk sells offline at once, without waiting for an answer)."""
        return self.connected and self.server_answered and not self.server_offline

    def ask(self, request: DeskRequest, timeout: float) -> DeskAnswer | None:
        """The desk (kiosk): send a sale, refund, exchange or allotment request and wait for the server's signed
        answer. None when none came within `timeout` seconds; an answer arriving later is dropped (the kiosk has
        moved on: an offline sale carries the same id, so the server never counts both). The request carries its
        deadline (`timeout` - ANSWER_MARGIN from now, with this run's clock offset): the server does not carry it
        out after that, so a request that waited at the broker for a stopped server is not sold when it is back."""
        estimate = self._estimate
        if estimate is not None:
            request = replace(request, deadline=self.clock() + timeout - min(ANSWER_MARGIN, timeout / 3),
                              clock_offset=round(self.server_clock.offset(estimate), 3))
        done, box = threading.Event(), list[DeskAnswer]()
        with self._desk_lock:
            self._desk[request.request_id] = (done, box)
        try:
            self.transport.publish(topics.up(self.org, self.device), dumps(request.to_wire()).encode())
            done.wait(timeout)
        finally:
            with self._desk_lock:
                self._desk.pop(request.request_id, None)
                answer = box[0] if box else None
        return answer

    @property
    def catching_up(self) -> bool:
        """The broker had lost this device's session: the entries relayed meanwhile are asked for, not applied yet."""
        return self._catch_up

    @property
    def bundle_version(self) -> int:
        """The applied bundle's version (0: none). Safe from any thread: never reads the sync's own connection."""
        return self._bundle_version

    # -- worker thread -----------------------------------------------------------------------------------------
    def _put(self, item: tuple[Any, ...]) -> None:
        self._inbox.put(item)
        self._wake.set()

    def _received(self, topic: str, payload: bytes) -> None:
        """(transport thread) A message: queued in its lane; its delivery, if any, acknowledged once handled."""
        delivery = self.transport.delivery()
        parsed = topics.parse(topic)
        kind = parsed.kind if parsed is not None and parsed.org == self.org else None
        self._inbox.put(("msg", topic, payload, delivery), lane(kind, payload), acked=delivery is not None)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.o.tick if self._timed() else self.o.idle_tick)
            self._wake.clear()
            carried: tuple[Any, ...] | None = None     # taken from the queue by a live batch, not live itself
            while True:     # stopping too: what was received is applied, not dropped
                if carried is not None:
                    item, carried = carried, None
                else:
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                if self._is_live(item):
                    carried = self._live_batch(item)
                else:
                    self._ack(item, self._handle_one(item) is not Outcome.FAILED)
                if self._outbox_written.is_set():     # this gate's entry goes out now, not after the whole backlog
                    self._upload()
            self._upload()
            self._prune()
            try:
                self._watch_unsent()
                self._watch_clock()
                if self.transport.connected:
                    self._maybe_hello()
            except Exception:
                log.exception("sync: clock or hello tick failed")

    def _not_written(self, exc: BaseException, what: str) -> str:
        """A message the ledger could not take: logged (a traceback unless the disk said why), asked for again by a
        hello after `write_retry` (the broker sends an unacknowledged one again only after a reconnection, which a
        door on a steady network may not have for hours) -> the reason recorded."""
        self._write_failed_at = time.monotonic()
        problem = storage_problem(exc, self.ledger_path) if isinstance(exc, sqlite3.Error) else None
        if problem is None:
            log.exception("sync %s: a message could not be written to the ledger", self.device)
            return (f"not applied: the ledger {what} failed ({type(exc).__name__}); asked for again in "
                    f"{self.o.write_retry:.0f} s")
        return f"not applied: {problem.text} — {problem.remedy}; asked for again every {self.o.write_retry:.0f} s"

    def _timed(self) -> bool:
        """Something waits on a timer: a batch unacknowledged or a send paused, a hello unanswered, a bundle owed
        or half-received (its timeout)."""
        return (self._uploader.waiting or self.greeter.waiting or self.assembler.pending is not None
                or self._owed > self._bundle_version or self._pruning or self._write_failed_at is not None)

    @property
    def pruning(self) -> bool:
        """An event taken away: its buyers' words are still being removed from the search index's file."""
        return self._pruning

    def _prune(self) -> None:
        """One bounded step (agent/ledger/prune.py) per pass, between messages; scans never wait on it."""
        if not self._pruning:
            return
        try:
            self._pruning = self._ledger.prune_step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):    # busy: another writer; again at the next pass
                log.warning("sync %s: pruning the search index failed (%s); tried again at the next start",
                            self.device, exc)
                self._pruning = False
        except sqlite3.Error:
            log.warning("sync %s: pruning the search index failed; tried again at the next start", self.device,
                        exc_info=True)
            self._pruning = False

    def _handle_one(self, item: tuple[Any, ...], isolated: bool = False) -> Outcome:
        """Handle one queued item, never raising; `isolated`: inside a savepoint of the open transaction, so what a
        refused one wrote is rolled back alone."""
        topic = str(item[1]) if len(item) > 1 else ""
        try:
            with self._ledger.savepoint() if isolated else nullcontext():
                self._handle(item)
            return Outcome.APPLIED
        except Exception as exc:
            if _write_failed(exc):   # not acknowledged: the broker sends it again; a hello asks for it sooner
                self._reject(topic, self._not_written(exc, "write"))
                return Outcome.FAILED
            if isinstance(exc, Replayed) and _redelivered(item):    # its ack was lost (a connection cut): the
                log.info("sync %s: %s on %s sent again by the broker, applied before", self.device, exc, topic)
                return Outcome.REFUSED                              # broker's copy, not a replay to report
            if isinstance(exc, Late):       # not applied either; expected after an absence, so not reported
                self.stats["late"] += 1
                log.info("sync %s: late update on %s not applied (%s); the event data brings it", self.device,
                         topic, exc)
            elif isinstance(exc, TicketgateError):   # refused on purpose (unsigned, stale, malformed fields…)
                self._reject(topic, str(exc))
            else:             # a bug: logged with its traceback; one message never stops the sync
                log.exception("sync: failed handling %s", item[0])
                self._reject(topic, f"internal error {type(exc).__name__}")
        return Outcome.REFUSED

    def _ack(self, item: tuple[Any, ...], ack: bool = True) -> None:
        """`item` is handled: acknowledged to the broker (`ack`, when it waits for one) in the order received, so
        after the messages received before it (agent.sync.inbox); one not acknowledged no longer holds the others."""
        for done in self._inbox.handled(item, ack):
            delivery: Delivery = done[3]
            try:
                self.transport.ack(delivery)
            except Exception:          # the connection is going: the broker sends it again (a replay then)
                log.warning("sync %s: acknowledging a message failed", self.device, exc_info=True)

    def _is_live(self, item: tuple[Any, ...]) -> bool:
        if item[0] != "msg":
            return False
        parsed = topics.parse(item[1])
        return parsed is not None and parsed.kind == "live" and parsed.org == self.org

    def _live_batch(self, first: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Apply `first` and the live messages queued right behind it in ONE ledger transaction (one commit instead
        of one per message: 200 gates' relays arrive in bursts). Each message is verified, replay-checked (its id
        remembered in this transaction) and applied on its own inside a savepoint: a refused one is rolled back
        alone, the others apply. Bounded (LIVE_BATCH messages, LIVE_BATCH_SECONDS of work, or a scan recorded
        meanwhile), since the batch holds the ledger's write lock, which the door's scans also need. The batch's
        messages are acknowledged to the broker after its commit. That commit is relaxed (no fsync): it survives the
        app being killed, not a power cut (an fsync per batch made 200 gates' cross-gate p95 3.7x longer here:
        docs/sync-protocol.md). Returns the item taken from the queue that is not live (handled next), or None."""
        batch, applied, nxt = [first], 0, None
        merged = self.stats["merged"]
        started = time.perf_counter()
        try:
            with self._ledger.relaxed_transaction():
                item: tuple[Any, ...] | None = first
                while item is not None:
                    outcome = self._handle_one(item, isolated=True)    # a refused one: its writes only rolled back
                    if outcome is Outcome.FAILED:
                        raise sqlite3.OperationalError("a live message could not be written")
                    applied += outcome is Outcome.APPLIED
                    item = None
                    if (len(batch) >= LIVE_BATCH or time.perf_counter() - started >= LIVE_BATCH_SECONDS
                            or self._outbox_written.is_set() or self._stop.is_set()):
                        break
                    try:
                        nxt = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if self._is_live(nxt):
                        item, nxt = nxt, None
                        batch.append(item)
        except Exception as exc:      # the commit failed (disk full, I/O error): none of the batch was applied
            self.stats["merged"] = merged
            said = self._not_written(exc, "commit")
            for it in batch:          # not acknowledged: the broker sends them again after a reconnection
                self._reject(it[1], said)
                self._ack(it, False)
            return nxt
        for it in batch:              # each after those received before it (MQTT asks for acks in order)
            self._ack(it)
        self.stats["live"] += applied
        self.stats["live_commits"] += 1
        if applied:
            self.on_change("live")      # after the commit: a reader on another connection sees what changed
        return nxt

    def _upload(self) -> None:
        """Send what the outbox holds and the window allows (the other gates learn this gate's entries from it)."""
        self._outbox_written.clear()
        try:
            if self.transport.connected:
                self._uploader.tick()
        except Exception:
            log.exception("sync: upload tick failed")

    def _reject(self, topic: str, reason: str) -> None:
        log.warning("sync %s: rejected message on %s: %s", self.device, topic, reason)
        self.rejections.append((topic, reason))

    def _handle(self, item: tuple[Any, ...]) -> None:
        if item[0] == "connected":
            self.connected = True
            if not item[1] and self._bundle_version > 0 and not self._catch_up:   # synced before, yet no session:
                self._catch_up_from = dict(self._cursors)                           # the broker lost it
                log.warning("sync %s: the broker kept no session of this device (restarted after a crash?): asking "
                            "for the entries relayed meanwhile (after action cursors %s)", self.device,
                            self._catch_up_from or "none: every entry")
                self._ledger.set_setting(CATCH_UP_SETTING, {str(e): c for e, c in self._catch_up_from.items()} or True)
                self._catch_up = True
            self._uploader.restart()
            self._count_unsent()
            self.transport.publish(topics.device_status(self.org, self.device), self._status("online"), retain=True)
            self.greeter.connected()     # the retained server presence arrives next and triggers the hello
            self.on_connected()
            return
        if item[0] == "disconnected":
            self.connected = False
            return
        if item[0] == "refused":
            self.on_refused(item[1])
            return
        _, topic, payload = item[:3]
        parsed = topics.parse(topic)
        if parsed is None or parsed.org != self.org:
            raise Rejected("message on a topic that is not ours")
        if parsed.kind == "server_status":
            state = load_json(payload, 4096) if payload else {}
            self.server_presence_seen = self.server_presence_seen or bool(payload)
            if not (isinstance(state, dict) and state.get("state") == "online"):
                if isinstance(state, dict) and state.get("state") == "offline":
                    self.server_offline = True
                    self._uploader.server_gone()  # uploads in flight wait at the broker: not sent again meanwhile
                return
            self.server_offline = False
            since = state.get("since")
            if since != self._server_since or self._uploader.server_down:     # not just our own reconnection
                self._server_since = since
                self._uploader.server_back()      # a (re)started server: what the broker did not hold for it goes again
            if self.greeter.server_online(since):
                self._hello()          # a (re)started server, or we reconnected: tell it where we are
            return
        if parsed.kind == "down" and is_chunk(payload):
            if ChunkHeader.unpack(payload).bundle_id.hex() in self._refused_bundles:
                return                 # chunk of a bundle whose manifest was refused (already logged)
            pending = self.assembler.pending
            done = self.assembler.add(payload)      # raises for a chunk the signed manifest does not name
            self._stage_chunk(pending, payload)
            if done is not None:
                self._after_bundle(done.manifest, self._apply(done))
            return
        body = self.verifier.open(payload, self.o.max_message)
        if body.get("org") != self.org:
            raise Rejected(f"message for organiser {body.get('org')!r}")
        if parsed.kind == "down":
            self._down(body)
        elif parsed.kind == "live":
            self._live(body, parsed.event_id)
        elif parsed.kind == "cmd":
            self._cmd(body)
            self.on_command(payload)
        else:
            raise Rejected(f"unexpected {parsed.kind} message")

    # -- server -> device --------------------------------------------------------------------------------------
    def _down(self, body: dict[str, Any]) -> None:
        if body.get("device") != self.device:
            raise Rejected(f"message for device {body.get('device')!r}")
        kind = body["type"]
        if kind == "clock":
            probe = body.get("probe")
            sent = self.greeter.probes.get(probe) if isinstance(probe, str) else None
            t0 = self.greeter.answer(probe)
            if t0 is None or sent is None:
                return               # a late answer to a hello we repeated: nothing to do
            clock = Clock.from_wire(body)
            t3 = t0 + (self.greeter.monotonic() - sent[1])    # arrival on t0's wall line: a step meanwhile is harmless
            off, rtt = offset(t0, clock.t1, clock.t2, t3)
            if abs(off) > 300:
                log.warning("sync %s: device clock is %.0f s off server time; scans carry the offset", self.device, off)
            self._owed, self._owed_at = clock.bundle, self.greeter.monotonic()
            estimate = self.server_clock.measured(t3 + off)
            dated = self._ledger.set_clock_estimate(estimate, rtt)
            if dated:
                log.info("sync %s: %d upload(s) stamped before the server's time was known dated by it", self.device,
                         dated)
            self._measured_at = self.server_clock.boot()
            self._estimate = estimate
            if self._catch_up and not clock.bundle and not self._catch_up_whole and self._bundle_version:
                # nothing follows at the version held: a server of before catch-ups ignored the cursors, so the
                # missed entries come only with the whole data (every entry so far), as such a server sent it
                log.info("sync %s: the server sends nothing for the catch-up: asking for the whole event data",
                         self.device)
                self._catch_up_whole = True
                self._hello()
        elif kind == "bundle":
            have = current_bundle(self._ledger)
            try:
                check_manifest(body, self.org, self.device, int(have.get("version", 0)), have.get("events") or [],
                               catch_up=self._catch_up)
            except DeltaMismatch as exc:
                self._refused_bundles.append(str(body.get("bundle_id")))
                log.info("sync %s: %s; asking the server for the changes since the version it holds", self.device, exc)
                self._hello()
                return
            except AlreadyHeld as exc:
                self._refused_bundles.append(str(body.get("bundle_id")))   # its chunks are dropped too
                log.info("sync %s: %s; dropped", self.device, exc)
                return
            except Rejected:
                self._refused_bundles.append(str(body.get("bundle_id")))
                raise
            self.assembler.start(body)
            self._stager = FullBundleStager(self._ledger) if body["base_version"] == 0 and body["chunks"] else None
            self._staged = set()
            if not body["chunks"]:
                self._after_bundle(body, self._apply(self.assembler.start(body)))
                self.assembler.pending = None
        elif kind == "ack":
            ack = Ack.from_wire(body)
            with self._ledger.transaction():      # remembered as seen and applied together, or neither
                self._fresh(body)
                self._uploader.acked(ack)
            self.stats["acks"] += 1
            self._unsent_counted = -1e9          # the count of unsent sales may have changed: counted at once
            for r in ack.refused:
                log.warning("sync %s: the server refused outbox row %d: %s", self.device, r.id, r.reason)
            if ack.refused:
                self.on_change("refused")
        elif kind == "resync":
            self._hello()
        elif kind == "desk_answer":
            answer = DeskAnswer.from_wire(body)
            with self._ledger.transaction():
                self._fresh(body)
            with self._desk_lock:
                waiter = self._desk.get(answer.request_id)
                if waiter is not None:
                    waiter[1].append(answer)
                    waiter[0].set()
            if waiter is None:
                log.warning("sync %s: desk answer %s came after its request gave up: dropped (%s)", self.device,
                            answer.request_id, "a sale: its offline sale voids this one" if answer.ok and
                            answer.kind == "sale" else answer.reason or ("done" if answer.ok else "refused"))
        else:
            raise Rejected(f"unknown down message type {kind!r}")

    def _stage_chunk(self, pending: Pending | None, payload: bytes) -> None:
        """A full bundle's chunk is staged as soon as it arrives (its hash checked): the apply runs while the rest
        is still on its way, and the chunk's bytes are not kept. A bad section refuses the whole bundle."""
        index = ChunkHeader.unpack(payload).index
        if self._stager is None or pending is None or index in self._staged:
            return
        try:
            self._stager.add(section(payload, index))
        except Exception:
            self._refused_bundles.append(pending.manifest["bundle_id"])
            self.assembler.pending, self._stager = None, None
            raise
        self._staged.add(index)
        pending.chunks[index] = b""

    def _apply(self, pending: Pending) -> dict[str, Any]:
        stager, self._stager = self._stager, None
        counts = apply_bundle(self._ledger, pending, self.keyring, self.keyring_path,   # keys saved, then committed
                              drop_old=False, staged=stager if pending.manifest["base_version"] == 0 else None)
        m = pending.manifest
        self.last_bundle = {"version": m["version"], "base_version": m["base_version"], **counts}
        self.stats["bundles"] += 1
        self._bundle_version = int(m["version"])     # last: whoever sees the new version sees the rest too
        cursor = m.get("cursor")
        if isinstance(cursor, int):          # it carried its events' entries up to there (checked: BundleManifest)
            self._advance_cursors(m["events"], cursor)
        if (m["base_version"] == 0 or isinstance(cursor, int)) and self._catch_up:
            self._ledger.set_setting(CATCH_UP_SETTING, None)    # every entry so far is in: caught up
            self._catch_up, self._catch_up_from, self._catch_up_whole = False, {}, False
        return counts

    def _advance_cursors(self, events: Iterable[int], cursor: int) -> None:
        """The device holds these events' entries up to `cursor` now (in the caller's transaction, if any)."""
        moved = {e: cursor for e in events if cursor > self._cursors.get(e, 0)}
        if moved:
            self._cursors.update(moved)
            self._ledger.set_setting(CURSORS_SETTING, {str(e): c for e, c in sorted(self._cursors.items())})

    def _after_bundle(self, manifest: dict[str, Any], counts: dict[str, Any]) -> None:
        self._subscribe_live()
        log.info("sync %s: bundle v%s applied (%s)", self.device, manifest["version"], counts)
        self.on_change("bundle")
        try:
            self._ledger.stage_drop_old(stop=self._stop.is_set)   # the replaced index, once the new one is in use
        except sqlite3.Error:                # space only: the next full bundle drops it first
            log.warning("sync %s: the replaced ticket index could not be deleted yet", self.device, exc_info=True)

    def _live(self, body: dict[str, Any], event_id: int | None) -> None:
        if self.events and event_id not in self._live_subs:
            return      # an event the organiser took away (its topic left; queued before): nothing of it is applied
        if body.get("event") != event_id:
            raise Rejected(f"live message for event {body.get('event')} on the topic of event {event_id}")
        if body["type"] not in ("update2", "update", "checkins"):
            raise Rejected(f"unknown live message type {body['type']!r}")
        compact = UpdateSets.from_wire(body) if body["type"] == "update2" else None    # checked before the lock
        # remembered as seen and applied together, or neither (the batch's savepoint and relaxed commit, _live_batch);
        # acknowledged to the broker once committed
        with self._ledger.relaxed_transaction():
            # relayed entries are signed facts merged once by scan id: taken at any age (a gate back after more
            # than the freshness window still learns the other gates' entries); updates must be fresh
            self._fresh(body, any_age=body["type"] == "checkins", late=True)
            if compact is not None:
                apply_update(self._ledger, compact)
            elif body["type"] == "update":
                Update.from_wire(body)           # malformed fields refused here, by name
                apply_live(self._ledger, body)
            else:
                _, rows, invalid = Checkins.rows_from_wire(body)
                for reason in invalid:      # the valid rows are merged; each bad one is reported
                    self._reject(f"live/{event_id}", f"relayed action refused: {reason}")
                self.stats["merged"] += self._ledger.merge_rows([r for r in rows if r[ROW_DEVICE] != self.device])
                cursor = action_cursor(body, "cursor")
                if cursor is not None and event_id is not None:    # remembered with the entries it follows
                    self._advance_cursors([event_id], cursor)

    def _cmd(self, body: dict[str, Any]) -> None:
        if body.get("device") != self.device:
            raise Rejected(f"command for device {body.get('device')!r}")
        from agent.sync.commands import run_command
        Command.from_wire(body)
        forgotten = self._forget_first(body)
        with self._ledger.transaction():          # remembered, executed and reported together, or not at all
            self._fresh(body, max_age=COMMAND_MAX_AGE)     # queued while the device was off: taken for days
            last = float(self._ledger.get_setting(CMD_SETTING, 0.0))
            if float(body["ts"]) <= last:
                raise Rejected("command older than the last one executed (replayed)")
            try:
                with self._ledger.savepoint():    # refused by the command itself (a config the event data contradicts)
                    result = run_command(self._ledger, body, self.keyring.pretix if self.keyring else (), self.events)
            except Rejected as exc:           # nothing it wrote stays; the organiser sees why (`server device commands`)
                self._reject(topics.cmd(self.org, self.device), str(exc))
                result = {"rejected": str(exc)}
            else:
                self.stats["commands"] += 1      # counted before the commit makes its effects visible
                if "forgotten_tickets" in result:
                    result["forgotten_tickets"] += forgotten
            self._ledger.set_setting(CMD_SETTING, float(body["ts"]))
            self._ledger.enqueue("cmd_result", CmdResult(str(body["id"]), result, self.device).to_wire())
        if body.get("cmd") == "wipe":
            self._ledger.set_setting(BUNDLE_SETTING, None)
            self._bundle_version = 0
        if body.get("cmd") == "events" and "rejected" not in result:
            self._held_events(result)
            self._pruning = self._ledger.prune_pending()
        self.on_change("command")

    def _forget_first(self, body: dict[str, Any]) -> int:
        """An `events` command that takes events away, new and fresh (the checks its transaction makes, read
        only): their tickets are deleted first, in short steps (Ledger.forget_tickets_in_steps), so the command's
        own transaction is short and a scan never waits for the whole deletion. -> the tickets deleted."""
        if body.get("cmd") != "events":
            return 0
        try:
            new = set(wanted_events(body))
        except Rejected:
            return 0            # refused in the transaction, by name
        ts, now = float(body["ts"]), self.server_clock.now(self._ledger.clock_estimate())
        if ts <= float(self._ledger.get_setting(CMD_SETTING, 0.0)) or (
                now is not None and not now - COMMAND_MAX_AGE < ts <= now + 60):
            return 0
        removed = (set(self.events) | set(self._ledger.event_ids())) - new
        return self._ledger.forget_tickets_in_steps(removed) if removed else 0

    def _held_events(self, done: dict[str, Any]) -> None:
        """After an `events` command: the live topics of the events taken away are left, those of the events added
        read, and a hello asks for the full bundle of the events held now (the command reset the bundle held)."""
        self.events = list(done["events"])
        self._bundle_version = int(current_bundle(self._ledger).get("version") or 0)
        for event_id in sorted(self._live_subs - set(self.events)):
            self._live_subs.discard(event_id)
            self.transport.unsubscribe(topics.live(self.org, event_id))
        self._subscribe_live()
        log.info("sync %s: events now %s (added %s, removed %s: %d ticket(s) deleted)", self.device, done["events"],
                 done["added"], done["removed"], done["forgotten_tickets"])
        if self.transport.connected and self._bundle_version == 0:
            self._hello()

    def _fresh(self, body: dict[str, Any], any_age: bool = False, max_age: float | None = None,
               late: bool = False) -> None:
        """Judged on the stored server-time estimate (from before a restart too), never on the raw wall clock.
        `any_age`: only a replay of the same id is refused; `max_age`: this kind's window (default 10 min); `late`:
        a signed live update too old is `Late` (not applied, not reported), not `Rejected`."""
        if any_age and isinstance(body.get("ts"), (int, float)):
            now: float | None = float(body["ts"])    # its age is not judged; its id is remembered as usual
        else:
            now = self.server_clock.now(self._ledger.clock_estimate())
        found = self.guard.check(body.get("id"), body.get("ts"), now, max_age)
        if not found.fresh:      # only an old one waited at the broker; one from the future means a clock is wrong
            raise (Late if late and found.kind is Freshness.STALE else
                   Replayed if found.kind is Freshness.REPLAYED else Rejected)(str(found.reason))

    def _watch_clock(self) -> None:
        """Measure the offset again when the wall clock stepped, and every `remeasure` seconds while connected.
        The stored estimate stays right meanwhile (carried by the boot clock); this only refreshes it."""
        step = self.steps.stepped()
        if step:
            log.warning("sync %s: the wall clock stepped %+.0f s; measuring server time again", self.device, step)
        now = self.server_clock.boot()
        due = self._measured_at is not None and now - max(self._measured_at, self._probed_at) > self.o.remeasure
        if self.transport.connected and (step or due) and self.assembler.pending is None:
            self._probed_at = now                             # one probe per period
            self._hello()

    # -- device -> server --------------------------------------------------------------------------------------
    def _hello(self) -> None:
        have = current_bundle(self._ledger)
        t0 = self.clock()
        probe = self.greeter.probe(t0)
        events = tuple(sorted(set(self.events) | set(have.get("events") or [])))
        # catching up: the version delta and the entries after the cursors held when the session was found lost
        catch_up = {e: self._catch_up_from.get(e, 0) for e in events} if self._catch_up else None
        version = 0 if self._catch_up_whole else int(have.get("version", 0))
        msg = Hello(self.org, self.device, probe, t0, version, events, catch_up)
        self.transport.publish(topics.up(self.org, self.device), dumps(msg.to_wire()).encode())

    def _maybe_hello(self) -> None:
        failed = self._write_failed_at
        if failed is not None and time.monotonic() - failed > self.o.write_retry and self.assembler.pending is None:
            self._write_failed_at = None
            self._hello()        # what the ledger could not write, as the delta from the version it holds
        elif self.greeter.due(self.assembler.pending is not None):
            self._hello()
        elif (self._owed > self._bundle_version or (self._catch_up and self._owed)) and self.assembler.pending is None \
                and self.greeter.monotonic() - self._owed_at > self.o.bundle_timeout:
            self._hello()        # the bundle the server said follows never came (its build failed, it stopped)
        pending = self.assembler.pending
        if pending is not None and time.monotonic() - pending.started > self.o.bundle_timeout:
            self.assembler.pending = None
            stager, self._stager = self._stager, None
            if stager is not None:                # what was staged of it goes (personal data)
                stager.discard()
            self._hello()

    def _subscribe_live(self) -> None:
        have = current_bundle(self._ledger) if self.ledger else {}
        for event_id in set(self.events) | set(have.get("events") or []):
            if event_id not in self._live_subs:
                self._live_subs.add(event_id)
                self.transport.subscribe(topics.live(self.org, event_id))

    def _status(self, state: str) -> bytes:
        n, at = self._unsent
        return json.dumps({"state": state, "device": self.device, "ts": time.time(), "live": LIVE_FORM,
                           "unsent_sales": n, "counted_at": at or time.time()}).encode()

    def _count_unsent(self) -> bool:
        """Count the kiosk's sales made offline not acknowledged yet (sync thread): True when it changed."""
        self._unsent_counted = self.server_clock.boot()
        n = self._ledger.outbox_waiting("kiosk", TILL_ACTIONS)
        changed = n != self._unsent[0]
        self._unsent = (n, self.clock())
        return changed

    def _watch_unsent(self) -> None:
        """While connected, a changed count of unsent sales goes out in the (retained) status at once."""
        if (self.connected and self.server_clock.boot() - self._unsent_counted >= self.o.unsent_every
                and self._count_unsent()):
            self.transport.publish(topics.device_status(self.org, self.device), self._status("online"), retain=True)


def _event_cursors(stored: Any) -> dict[int, int]:
    """A stored {"event id": cursor} (CURSORS_SETTING, CATCH_UP_SETTING) -> {event id: cursor}; anything else: {}."""
    try:
        return action_cursors({"c": stored}, "c") or {} if isinstance(stored, dict) else {}
    except Rejected:
        return {}


def _redelivered(item: tuple[Any, ...]) -> bool:
    """A received message the broker sends again (MQTT's DUP flag on its delivery to this device)."""
    delivery = item[3] if item[0] == "msg" and len(item) > 3 else None
    return isinstance(delivery, Delivery) and delivery.dup


def _write_failed(exc: Exception) -> bool:
    """The ledger could not write (disk full, I/O error, locked past the busy timeout, damaged file): nothing to do
    with the message itself, unlike a constraint it breaks."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


class _LedgerSeen:
    """Replay ids kept in the ledger (agent.sync.clock.SeenIds)."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def remember(self, msg_id: str, ts: float, forget_before: float | None) -> bool:
        return self.ledger.remember_message(msg_id, ts, forget_before)
