"""The server side of the sync: ingestion worker(s) and the live announcer, over one Transport each.

    SyncServer(store, transport, name="w1").start()

Ingestion subscribes `$share/ingest/tg/+/dev/+/up`: several workers (processes or machines) split the
uploads; each upload is ingested idempotently (scan uuid) before its signed ack goes out, then
relayed to the event's live topic (cross-gate dedupe). The announcer (one per deployment) polls the
store's change counter (`POLL`) and publishes revocations, blocks and resets live, and the server presence.
"""
from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from agent.signing import SigningKey
from agent.sync import topics
from agent.sync.signed import Rejected, seal
from agent.sync.transport import Transport
from server_stub.model import normalize_order_number
from server_stub.sync import bundles
from server_stub.sync.catalogue_watch import DeskCatalogues, PassLists, holds_any
from server_stub.sync.contract import SyncStore
from agent.sync.bundle import split_to_fit
from agent.errors import TicketgateError
from agent.sync.messages import (DESK_KIND_OF, AllotmentRequest, DeskAnswer, DeskRequest, ETicketsRequest, ExchangeRequest,
                                 RefundRequest, SaleRequest, Staffed, TillRequest)
from agent.allotment import public_key_of
from agent.reasons import Reason, reason, reason_fields
from agent.safe_text import printable
from agent.sync.messages import (MAX_MESSAGE, Ack, ActionItem, Batch, Checkins, Clock, Command, Exchange, Hello, ItemRefusal, RelayedAction,
                                 LIVE_FORM, Resync, ServerStatus, Update, UpdateV2, UploadItem)
from server_stub.sync.contract import IngestResult, Upload
from server_stub.sync.inbox import UNBOUNDED, Caps, Inbox
from server_stub.sync.posting import posting
from server_stub.sync.ingest import (MAX_AHEAD, MAX_UPLOAD, Scope, held_events, opened_by, parse_upload, relayable,
                                     store_lookups, taken_from)
from server_stub.sync.ratelimit import DeviceLimiter, Limits
from server_stub.sync.refusal_budget import RefusalBudget, summary_row

log = logging.getLogger("ticketgate.sync.server")
DRAIN = 64            # uploads ingested together in one store transaction
DRAIN_BYTES = 16 << 20   # ... holding at most this much (at least one): parsed at once, and the others wait behind it
CHEAP_PARSE = 64 << 10   # bytes: a larger upload is parsed only if the device's rate may take it (`resting`: else
                         # it is not acknowledged, sent again); a smaller one is cheap: parsed, deferred in its ack
OVER_RATE = "not parsed: over the device's rate (it sends it again)"
RELAY_CHUNK = 2000    # relayed actions per live message (well under the devices' message size limit)
RELAY_EVERY = 1.0     # s: at most this long an event's relay waits for the next ones to travel with it
RELAY_DELIVERIES = 200  # relays x gates per second an event aims at: the window is gates / 200 s up to RELAY_EVERY
                        # (200 gates: 1 s, 20 gates: 0.1 s, 2 gates: 10 ms). Every gate verifies and commits every
                        # relay, over the event's one hotspot and one broker; a ticket passed back over a barrier
                        # takes longer than 1 s. 800/s (0.25 s at 200 gates) overloaded the 200 simulated gates of
                        # bench_fleet.py on 2 cores (docs/scaling.md, "Cross-gate relays")
MAX_PRESENCE = 4096    # bytes: a device's presence is under 300 (messages.DeviceStatus); it is retained, so a
                       # larger one would be parsed at every start
POLL = 0.02          # s between two reads of the change counter (a primary-key read: 0.6 % of a core on SQLite,
                     # 1.4 % on PostgreSQL, measured; 0.1 s made a change wait 50 ms on average before it left)
MAIL_AGAIN_AFTER = 60.0   # s: an order's e-tickets mailed again from a desk only after this (a stolen kiosk asking
                          # over and over filled the buyer's mailbox and the organiser's sending quota)
KIOSK_QUIET = 0.5     # s without ticket changes before kiosks are asked for a delta (a push in flight lands first)


class BundleRequest(NamedTuple):
    """What a device's hello asks the bundle thread for."""
    events: list[int]
    since: int                          # the version it holds (0: a full bundle)
    kiosk: bool                         # tickets with their signed payloads
    after: dict[int, int] | None        # a catch-up: per event, the action cursor its missed actions come after


@dataclass
class _Checked:
    """A batch after rate limiting and authorization: what goes to the store, what is refused, what comes later."""
    org: str
    device: str
    batch: Batch
    accepted: list[UploadItem] = field(default_factory=list)
    refused: list[ItemRefusal] = field(default_factory=list)
    deferred: tuple[int, ...] = ()
    retry_after: float = 0.0
    too_big: bool = False       # over the device's burst: refused whole


def _unregistered(org: str, reg: dict | None) -> str | None:
    """Why the store's record `reg` of a topic's device does not let it upload for `org` (None: it may)."""
    if reg is None:
        return "not registered"
    if reg.get("org") != org:
        return "registered to another organiser"
    return "revoked" if reg.get("revoked") else None


UNREGISTERED_LOGGED = 20       # devices not registered here whose uploads are logged per minute (the rest: counted)


def unparsed(topic: str, payload: bytes, shown: int = 300) -> dict:
    """What `server refusals` keeps of an upload refused whole (it did not parse, or named another device): where it
    came from and its first bytes, as text."""
    return {"type": "upload", "topic": topic, "size": len(payload),
            "excerpt": payload[:shown].decode("utf-8", "replace")}


def fit(update: UpdateV2, limit: int = MAX_MESSAGE - 4096) -> list[dict]:
    """The wire forms of `update`, halved until each signed message stays under the broker's size limit (a single
    row over it goes as it is: the broker refuses it, loudly; nothing is dropped here)."""
    wire = update.to_wire()
    if len(json.dumps(wire)) + 2048 <= limit or update.size() <= 1:
        return [wire]
    first, second = update.halves()
    return fit(first, limit) + fit(second, limit)


class SyncServer:
    def __init__(self, store: SyncStore, transport: Transport, name: str = "server", ingest: bool = True,
                 announce: bool = True, orgs: list[str] | None = None, poll: float = POLL,
                 require_registration: bool = True, max_upload: int = MAX_UPLOAD, limits: Limits | None = Limits(),
                 caps: Caps | None = Caps()):
        self.store, self.transport, self.name = store, transport, name
        self.ingest_enabled, self.announce_enabled, self.poll = ingest, announce, poll
        self._since = 0.0                   # when it started: its presence's `since` (the same after a reconnection)
        self._outage: str | None = None     # the database cannot be reached: what was said (once) about it
        self.orgs = orgs
        self.require_registration, self.max_upload = require_registration, max_upload
        self.rejections: deque[tuple[str, str]] = deque(maxlen=500)
        self.stats = {"batches": 0, "new": 0, "dup": 0, "hellos": 0, "bundles": 0, "live": 0, "refused": 0, "deferred": 0,
                      "hellos_dropped": 0, "refused_counted": 0,
                      # not taken into the inbox past its caps, not parsed over the byte rate (neither acknowledged);
                      # the inbox's peaks, presences apart (inbox.py)
                      "not_taken": 0, "not_parsed": 0, "inbox_peak_messages": 0, "inbox_peak_bytes": 0,
                      "presences_collapsed": 0, "bundles_deferred": 0}
        self.limiter = DeviceLimiter(limits) if limits is not None else None     # None: no per-device rate limit
        self.refused_budget = RefusalBudget()     # messages refused whole, kept one by one per device
        self.too_big_budget = RefusalBudget(burst=10_000, per_s=2.0)   # rows of batches over a device's burst
        self._lookups = store_lookups(store)
        self._keys: dict[str, SigningKey] = {}
        self._inbox = Inbox(caps if caps is not None else UNBOUNDED)     # None: no caps (capacity benchmarks)
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}
        self.relay_every, self.relay_deliveries = RELAY_EVERY, RELAY_DELIVERIES
        self._gates: dict[tuple[str, int], tuple[float, int]] = {}      # (org, event) -> (counted at, gates)
        self._relays: dict[tuple[str, int], list[RelayedAction]] = {}    # (org, event) -> actions not relayed yet
        self._relay_cursors: dict[tuple[str, int], int] = {}             # ... -> the action cursor they reach
        self._relayed_at: dict[tuple[str, int], float] = {}              # (org, event) -> last relay (monotonic)
        self._relay_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seen_version: dict[str, int] = {}
        # latest request per device: events, since version, kiosk (bundle with signed payloads), and for a catch-up
        # (the broker lost the device's session) the action cursor per event its missed actions are served after
        self._bundle_requests: dict[tuple[str, str], BundleRequest] = {}
        self._bundle_wake = threading.Event()
        self._recent_bundles: dict[tuple[str, str], tuple[int, tuple, int, float]] = {}
        self._events_sent: dict[tuple[str, str], tuple[int, ...]] = {}   # `events` commands sent after a hello
        self.resend_after = 30.0      # the same bundle again to the same device only after this many seconds
        self._bundle_deferred: set[tuple[str, str]] = set()       # devices whose bundle waits for its budget
        self._bundled: set[tuple[str, str]] = set()               # devices sent a bundle by this server already
        self._mailed: dict[tuple[str, str], float] = {}           # (org, order) -> when a desk had it mailed
        self._bundle_logged: dict[tuple[str, str], float] = {}    # -> when its deferral was last logged (monotonic)
        self.kiosk_quiet = KIOSK_QUIET
        self._kiosk_due: dict[str, tuple[set[int], float]] = {}   # org -> (events with new tickets, when to resync)
        self._catalogues = DeskCatalogues()        # the kiosks' prices, promotions, stock: a change resyncs them
        self._pass_lists = PassLists()             # the events each pass opens: a change resyncs their devices
        self._old_form: dict[str, set[str]] = {}    # org -> devices online that read only `update` (presence)
        self._unregistered_logged: dict[tuple[str, str, str], float] = {}    # -> when last logged (monotonic)
        self._reads: SyncStore | None = None
        transport.on_message = self._deliver

    def _deliver(self, topic: str, payload: bytes) -> None:
        """The transport's thread: into the bounded inbox (inbox.py; past its caps not taken, counted, not acked).
        An upload published retained (by a device, or as its Last Will; no device of ours does) would be kept by
        the broker and sent again at every subscription: the one that arrives live (the upload subscription keeps
        the sender's retain flag) is taken in, as any upload, and cleared at once; one the broker still kept at a
        connection (the sweep: published while no server was subscribed) is not taken, cleared. Both logged."""
        parsed = topics.parse(topic)
        if parsed is not None and parsed.kind in ("up", "status") and not payload:
            return      # the clearing of a retained message (MQTT forwards it live): it carries nothing
        if parsed is not None and parsed.kind == "up":
            if self.transport.retained():
                log.warning("sync server %s: device %s left a retained upload (%d bytes) on %s: not taken, cleared",
                            self.name, parsed.device, len(payload), topic)
                self.transport.publish(topic, b"", retain=True)
                return
            if self.transport.published_retained():
                log.warning("sync server %s: device %s sent a retained upload (%d bytes) on %s: taken, cleared",
                            self.name, parsed.device, len(payload), topic)
                self.transport.publish(topic, b"", retain=True)
        self._inbox.put(topic, payload)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> "SyncServer":
        if self.ingest_enabled:
            for org in self.orgs or ["+"]:
                # live uploads keep their retain flag; the broker's retained ones are read once per connection
                self.transport.subscribe(topics.shared_up(org), retain_as_published=True)
                self.transport.sweep_retained(topics.all_up(org))
                if self.announce_enabled:       # one worker follows the devices' presence (their Last Will)
                    self.transport.subscribe(topics.all_status(org))
            self._spawn(self._ingest_loop, "ingest")
            self._spawn(self._bundle_loop, "bundles")
        if self.announce_enabled:
            for org in self.orgs or []:
                self._seen_version[org] = self.store.version(org)
                self._catalogues.seed(self.store, org)
                self._pass_lists.seed(self.store, org)
            self._spawn(self._announce_loop, "announce")
        self._since = time.time()
        if self.announce_enabled and self.orgs:
            self._announce_on_reconnect()
        self.transport.start()
        if self.announce_enabled:
            for org in self.orgs or []:
                self.transport.publish(topics.server_status(org), self._presence("online"), retain=True)
        return self

    def _announce_on_reconnect(self) -> None:
        """Its presence says online again on each reconnection: after a drop the broker published its Last Will
        (`offline`), and kiosks sell offline without asking while it says so. The same `since`: not a restart."""
        before, connections = self.transport.on_connect, [0]

        def connected(session_present: bool) -> None:
            before(session_present)
            connections[0] += 1
            if connections[0] > 1 and not session_present:
                with self._lock:     # the broker lost its sessions (a crash): the bundles on their way went too
                    self._recent_bundles.clear()
            if connections[0] > 1 and not self._stop.is_set():
                for org in self.orgs or []:
                    self.transport.publish(topics.server_status(org), self._presence("online"), retain=True)
        self.transport.on_connect = connected

    def stop(self) -> None:
        self._stop.set()
        self._bundle_wake.set()
        for t in self._threads:
            t.join(5)
        if not any(t.is_alive() for t in self._threads):
            self._flush_relays(every=0.0)        # what was gathered leaves before the goodbye
        if self._reads is not None and self._reads is not self.store and not any(t.is_alive() for t in self._threads):
            self._reads.close()
        status = None
        if self.announce_enabled and self.orgs:
            for org in self.orgs[1:]:
                self.transport.publish(topics.server_status(org), self._presence("offline"), retain=True, wait=2)
            status = (topics.server_status(self.orgs[0]), self._presence("offline"))
        self.transport.stop(status)

    def _spawn(self, fn, what: str) -> None:
        t = threading.Thread(target=fn, name=f"{self.name}-{what}", daemon=True)
        self._threads.append(t)
        t.start()

    def _presence(self, state: str) -> bytes:
        since = self._since if state == "online" and self._since else time.time()
        return json.dumps(ServerStatus(state, self.name, since).to_wire()).encode()

    def _sign(self, org: str, body: dict, msg_id: str | None = None) -> bytes:
        key = self._keys.get(org)
        if key is None:
            key = self._keys[org] = self.store.server_key(org)
        return seal(dict(body, org=org, id=msg_id or uuid.uuid4().hex, ts=time.time()), key.sign)

    def _reject(self, topic: str, reason: str) -> None:
        log.warning("sync server %s: rejected message on %s: %s", self.name, topic, reason)
        self.rejections.append((topic, reason))

    # -- ingestion ---------------------------------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._inbox.get(timeout=self._relay_wait())
            except queue.Empty:
                self._not_taken()
                self._flush_relays()
                continue
            work, size = [first], len(first[1])
            while len(work) < DRAIN and size < DRAIN_BYTES:
                try:
                    work.append(self._inbox.get(0))
                except queue.Empty:
                    break
                size += len(work[-1][1])
            try:
                self._process(work)
                self._not_taken()
                self._store_back()
            except Exception as exc:   # the store failed: nothing acked, devices will retry
                why = f"ingestion failed ({type(exc).__name__}); devices will retry"
                if self._store_away(exc):
                    self.rejections.append(("", why))      # said once for the outage (`_store_away`), not per drain
                else:
                    log.exception("sync server %s: ingestion failed", self.name)
                    self._reject("", why)
            finally:
                self._inbox.done(work)
            self._flush_relays()

    def _store_away(self, exc: BaseException) -> bool:
        """True when `exc` means the database server cannot be reached (said once for the whole outage, not once per
        batch or per look: nothing is lost, the devices keep what was not acknowledged and send it again)."""
        said = getattr(self.store, "unreachable", lambda e: None)(exc)
        if said is None:
            return False
        if self._outage is None:
            log.warning("sync server %s: %s; uploads stay on the devices (not acknowledged) and live changes wait "
                        "until it is back", self.name, said)
        self._outage = said
        return True

    @property
    def _embedded(self) -> bool:
        """An SQLite file: its outages are its disk's (full, read-only), which reads do not show."""
        return getattr(self.store, "backend", "") == "sqlite"

    def _store_back(self) -> None:
        if self._outage is not None:
            self._outage = None
            back = "can be written again" if self._embedded else "is reachable again"
            log.warning("sync server %s: the database %s; ingestion and live changes resume", self.name, back)

    def _not_taken(self) -> None:
        """What the inbox did not take since the last drain: counted, and for a registered device in one summary row
        per reason (`server refusals`), never one by one (a flood)."""
        self.stats["inbox_peak_messages"] = self._inbox.peak_messages
        self.stats["inbox_peak_bytes"] = self._inbox.peak_bytes
        self.stats["presences_collapsed"] = self._inbox.collapsed
        whole: dict[tuple[str, str], list[tuple[int, str, dict]]] = {}
        unregistered: list[tuple[str, str, str, int, float]] = []     # counted as if read (`_process`)
        for (org, device, why), n in self._inbox.not_taken().items():
            self.stats["not_taken"] += n
            if not device or (self.orgs and org not in self.orgs):
                continue
            reg = self.store.device(device) if self.require_registration else {"org": org}
            unknown = _unregistered(org, reg)
            if unknown:
                unregistered.append((org, device, unknown, n, time.time()))
            else:
                self._refused_whole(topics.up(org, device), b"", why, device, (org, device), whole, count_only=True,
                                    n=n)
        for (org, device), rows in whole.items():
            self.store.record_refusals(org, device, rows)
        if unregistered:
            self.store.record_unregistered(unregistered)

    def _process(self, work: list[tuple[str, bytes]]) -> None:
        batches: list[_Checked] = []
        # one Scope per device for the whole drain: the drain's batches are checked before any is written, so an
        # annulment must find its entry in an earlier batch of the same drain as it does earlier in its own batch
        scopes: dict[tuple[str, str], Scope] = {}
        whole: dict[tuple[str, str], list[tuple[int, str, dict]]] = {}   # uploads refused whole: one write per device
        presences: dict[tuple[str, str], tuple[str, bytes]] = {}   # one write per device and drain (not per message)
        unregistered: dict[tuple[str, str, str], int] = {}     # (org, device, reason) -> uploads in this drain
        # desk requests are answered once this drain's uploads are stored: a refund read in the same drain as the
        # offline sale it is about (sent right behind it) finds the order, as it would a drain later
        desks: list[tuple[str, str, dict, DeskRequest, str, bytes]] = []
        for topic, payload in work:
            parsed, kept_as = None, None
            try:
                parsed = topics.parse(topic)
                if parsed is not None and parsed.kind == "status":    # the drain's last one is the device's state
                    presences.pop((parsed.org, parsed.device), None)
                    presences[(parsed.org, parsed.device)] = (topic, payload)
                    continue
                if parsed is None or parsed.kind != "up":
                    raise Rejected("not an upload topic")
                org, device = parsed.org, parsed.device
                if self.orgs and org not in self.orgs:
                    raise Rejected(f"organiser {org!r} not served here")
                reg = self.store.device(device) if self.require_registration else {"org": org, "device_id": device}
                why = _unregistered(org, reg)
                if reg is None or why:
                    key = (org, device, why or "")
                    unregistered[key] = unregistered.get(key, 0) + 1
                    if not self._log_unregistered(key):
                        self.rejections.append((topic, f"device {device!r}: {why}"))
                        continue
                    raise Rejected(f"device {device!r} is not registered (or revoked) for {org!r}: {why}")
                kept_as = (org, device)   # refused whole from here on: listed for the organiser (`server refusals`)
                if (len(payload) > CHEAP_PARSE and self.limiter is not None
                        and self.limiter.resting(device, len(payload))):     # deferred anyway: not parsed
                    self.stats["not_parsed"] += 1
                    self._refused_whole(topic, b"", OVER_RATE, device, kept_as, whole, count_only=True)
                    continue
                msg = parse_upload(payload, org, device, self.max_upload)
                kept_as = None
                if isinstance(msg, Hello):
                    if self.limiter is not None and not self.limiter.take_hello(device):
                        self.stats["hellos_dropped"] += 1      # not logged one by one: a flood would fill the log
                        self.rejections.append((topic, "hello over the device's rate limit"))
                        continue
                    self._hello(org, device, msg, reg)
                    continue
                if not isinstance(msg, Batch):
                    desks.append((org, device, reg, msg, topic, payload))
                    continue
                batches.append(self._check(org, device, reg, msg, len(payload), scopes))
            except Rejected as exc:
                self._refused_whole(topic, payload, str(exc), parsed.device if parsed else topic, kept_as, whole)
        for (org, device), (topic, payload) in presences.items():
            try:
                self._device_presence(org, device, payload)
            except Rejected as exc:
                self._refused_whole(topic, payload, str(exc), device, None, whole)
                # retained: refused again at every start, forever (the device publishes its own when it connects)
                self.transport.publish(topic, b"", retain=True)
        for (org, device), rows in whole.items():
            self.store.record_refusals(org, device, rows)
        if unregistered:       # for the organiser (`server refusals`): counted, one row per device and reason
            now = time.time()
            self.store.record_unregistered([(*k, n, now) for k, n in unregistered.items()])
        if batches:
            self._ingest(batches)
        for org, device, reg, msg, topic, payload in desks:
            try:
                self._desk(org, device, reg, msg, len(payload))
            except Rejected as exc:          # logged as before (what the desk refuses it records itself)
                self._refused_whole(topic, payload, str(exc), device, None, {})

    def _ingest(self, batches: list[_Checked]) -> None:
        """Store the drain's checked batches (durable before any ack leaves), record their refusals, acknowledge
        them and relay what other gates must know."""
        uploads = [Upload(b.org, b.device, u.id, u.body) for b in batches for u in b.accepted]
        result = self.store.ingest_uploads(uploads) if uploads else IngestResult()   # durable before any ack leaves
        self.stats["batches"] += len(batches)
        self.stats["new"] += result.new
        self.stats["dup"] += result.duplicates
        relay: dict[tuple[str, int], list[RelayedAction]] = {}
        for b in batches:
            refused = list(b.refused) + [ItemRefusal.of(u.id, result.refused[(b.device, u.id)], u.body.to_wire())
                                         for u in b.accepted if (b.device, u.id) in result.refused]
            if refused and b.too_big and not self.too_big_budget.keep(b.device, len(refused)):
                summary: dict[tuple[str, str], list[tuple[int, str, dict]]] = {}    # counted, as one row
                self._refused_whole(topics.up(b.org, b.device), b"", refused[0].reason, b.device, (b.org, b.device),
                                    summary, count_only=True)
                for (org, device), rows in summary.items():
                    self.store.record_refusals(org, device, rows)
            elif refused:     # recorded for the organiser before the device is told
                self.store.record_refusals(b.org, b.device, [(r.id, r.reason, r.body) for r in refused])
                self.stats["refused"] += len(refused)
                self._reject(topics.up(b.org, b.device), f"{len(refused)} item(s) of batch {b.batch.batch} refused, "
                                                         f"first: {refused[0].reason}")
            gone = {r.id for r in refused}
            kept = [u for u in b.accepted if u.id not in gone]
            self.transport.publish(topics.down(b.org, b.device), self._sign(b.org, Ack(
                b.device, b.batch.batch, tuple(u.id for u in kept), tuple(refused), b.deferred,
                round(b.retry_after, 3)).to_wire()))
            if any(isinstance(u.body, Exchange) for u in kept):
                # the replacement is in the store now: this kiosk asks for its delta at once, to print it
                self.transport.publish(topics.down(b.org, b.device), self._sign(b.org, Resync(b.device).to_wire()))
            for event_id, actions in relayable([u.body for u in kept if isinstance(u.body, ActionItem)], b.device).items():
                relay.setdefault((b.org, event_id), []).extend(actions)
        for (org, event_id), actions in relay.items():
            self.relay(org, event_id, actions, result.cursor or None)
        now = time.monotonic()
        for device in {b.device for b in batches}:
            if now - self._touched.get(device, -1e9) > 5.0:    # presence, not a write per batch
                self._touched[device] = now
                self.store.touch_device(device)

    def relay(self, org: str, event_id: int, actions: list[RelayedAction], cursor: int | None = None) -> None:
        """Relay ingested actions to the event's gates (signed `checkins` on its live topic): at once after a quiet
        spell, else gathered with the next ones into one message at most `relay_every` s later (ingestion thread).
        `cursor`: the store's action cursor once they were stored (the devices keep it to catch up from)."""
        with self._relay_lock:
            self._relays.setdefault((org, event_id), []).extend(actions)
            if cursor is not None:
                self._relay_cursors[(org, event_id)] = max(cursor, self._relay_cursors.get((org, event_id), 0))
        self._flush_relays()

    def _relay_window(self, key: tuple[str, int]) -> float:
        """Seconds an event's relays are gathered: its gates / `relay_deliveries`, at most `relay_every` (the number of
        gates registered for the event counted again every 30 s)."""
        if self.relay_every <= 0:
            return 0.0
        counted = self._gates.get(key)
        if counted is None or time.monotonic() - counted[0] > 30.0:
            org, event_id = key
            gates = sum(1 for d in self.store.devices(org)
                        if not d.get("revoked") and (not d.get("events") or event_id in d["events"]))
            counted = self._gates[key] = (time.monotonic(), gates)
        return min(self.relay_every, counted[1] / self.relay_deliveries)

    def _flush_relays(self, every: float | None = None) -> None:
        with self._relay_lock:
            now = time.monotonic()
            due = [k for k in self._relays if now - self._relayed_at.get(k, -1e9) >=
                   (self._relay_window(k) if every is None else every)]
            for key in due:
                self._relayed_at[key] = now
            out = [(key, self._relays.pop(key), self._relay_cursors.pop(key, None)) for key in due]
        for (org, event_id), actions, cursor in out:
            for start in range(0, len(actions), RELAY_CHUNK):
                last = start + RELAY_CHUNK >= len(actions)      # the cursor goes with the last part
                self.transport.publish(topics.live(org, event_id), self._sign(org, Checkins(
                    event_id, tuple(actions[start:start + RELAY_CHUNK]), cursor=cursor if last else None).to_wire()))

    def _relay_wait(self) -> float:
        """How long the ingestion thread may wait for uploads before relays gathered meanwhile are due."""
        with self._relay_lock:
            if not self._relays:
                return 0.1
            due = min(self._relayed_at.get(k, 0.0) + self._relay_window(k) for k in self._relays)
        return min(0.1, max(0.001, due - time.monotonic()))

    def _desk(self, org: str, device: str, reg: dict, msg: DeskRequest, size: int = 0) -> None:
        """A kiosk's online desk request, answered on its down topic (signed): kiosks only, for their events, within
        the device's rate limit (a sale costs one item per ticket: each is written and signed), before its deadline
        (a request the kiosk gave up on — it waited at the broker while this server was down — is not carried out:
        the kiosk sold offline; listed in `server refusals`, counted in stats `desk_expired`)."""
        cost = sum(x.quantity for x in msg.lines) if isinstance(msg, SaleRequest) else 1
        wait = self.limiter.take(device, cost, size) if self.limiter is not None else 0.0
        answer: DeskAnswer | None
        replay = isinstance(msg, SaleRequest) and msg.replay          # answered from the store, never sold anew
        expired = None if wait or replay else msg.expired(time.time())
        refused = None if wait or expired else self._desk_refusal(org, device, reg, msg)
        if wait:
            busy = reason("busy", f"busy: over this device's rate, try again in {wait:.1f} s", seconds=math.ceil(wait))
            answer = DeskAnswer(device, msg.request_id, DESK_KIND_OF[msg.TYPE], False, busy, **reason_fields(busy))
        elif expired:
            answer = self._expired(org, device, msg, expired)
        elif refused:                    # kept for the organiser (`server refusals`) like a refused upload
            self.store.record_refusals(org, device, [(0, refused, msg.to_wire())])
            self.stats["refused"] += 1
            self._reject(topics.up(org, device), f"{DESK_KIND_OF[msg.TYPE]} request {msg.request_id} refused: {refused}")
            answer = DeskAnswer(device, msg.request_id, DESK_KIND_OF[msg.TYPE], False, refused,
                                **reason_fields(refused))          # (coded: the kiosk says it in its language)
        else:
            answer = self._desk_answer(org, device, reg, msg)
            if answer is not None and answer.reason_code == "expired":      # its deadline passed while it was done
                answer = self._expired(org, device, msg, Reason(answer.reason, "expired", answer.reason_params))
        if answer is None:               # e-tickets: answered by the mail worker once the mail server answered
            return
        if answer.ok and isinstance(msg, Staffed) and msg.staff:
            self.store.record_desk_staff(msg.request_id, msg.staff)
        self.stats["desk"] = self.stats.get("desk", 0) + 1
        self.transport.publish(topics.down(org, device), self._sign(org, answer.to_wire()))

    def _expired(self, org: str, device: str, msg: DeskRequest, why: Reason) -> DeskAnswer:
        """A request past its deadline: listed for the organiser, counted, answered with the reason (the kiosk that
        still waits — its clock estimate off — takes it as no answer)."""
        self.store.record_refusals(org, device, [(0, why, msg.to_wire())])
        self.stats["desk_expired"] = self.stats.get("desk_expired", 0) + 1
        log.info("sync server %s: %s (%s)", self.name, why, printable(device))
        return DeskAnswer(device, msg.request_id, DESK_KIND_OF[msg.TYPE], False, why, **reason_fields(why))

    def _mail_worker(self) -> None:
        """E-tickets asked for by kiosks, sent one at a time off the MQTT thread (SMTP may take seconds, retries
        wait); each kiosk gets its answer when the mail server took or refused the message."""
        from server_stub import mail
        while not self._stop.is_set():
            try:
                org, device, msg = self._mail_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            expired = msg.expired(time.time())          # waited behind other mails past the kiosk's wait
            if expired:
                self.transport.publish(topics.down(org, device),
                                       self._sign(org, self._expired(org, device, msg, expired).to_wire()))
                continue
            try:
                r = mail.send_etickets(self.store, org, msg.order_number, sleep=lambda s: None if self._stop.wait(s) else None)
                answer = DeskAnswer(device, msg.request_id, "mail", r["status"] == mail.SENT, r["detail"],
                                    order_number=msg.order_number, status=r["status"])
            except (TicketgateError, LookupError) as exc:
                answer = DeskAnswer(device, msg.request_id, "mail", False, str(exc), order_number=msg.order_number,
                                    status="failed")
            except Exception as exc:     # a bug on one order's mail must not end the worker: later kiosks wait on it
                log.exception("sync server %s: e-tickets of %s not mailed", self.name, printable(msg.order_number))
                answer = DeskAnswer(device, msg.request_id, "mail", False, f"not mailed ({type(exc).__name__})",
                                    order_number=msg.order_number, status="failed")
            self.transport.publish(topics.down(org, device), self._sign(org, answer.to_wire()))

    def _queue_mail(self, org: str, device: str, msg: ETicketsRequest) -> DeskAnswer | None:
        number = normalize_order_number(msg.order_number).upper()   # the same order however typed
        now = time.monotonic()
        with self._lock:
            mailed = self._mailed
            if len(mailed) > 10_000:
                for k in [k for k, at in mailed.items() if now - at >= MAIL_AGAIN_AFTER]:
                    del mailed[k]
            ago = now - mailed.get((org, number), -1e9)
            if ago < MAIL_AGAIN_AFTER:
                wait = math.ceil(MAIL_AGAIN_AFTER - ago)
                why = reason("busy", f"busy: the e-tickets of order {number} were mailed {ago:.0f} s ago, again in "
                                     f"{wait} s", seconds=wait)
                log.info("sync server %s: %s asked again for %s", self.name, printable(device), why)
                return DeskAnswer(device, msg.request_id, "mail", False, why, order_number=msg.order_number,
                                  status="refused", **reason_fields(why))
            mailed[(org, number)] = now
        with self._lock:
            if getattr(self, "_mail_queue", None) is None:
                self._mail_queue: queue.Queue = queue.Queue(maxsize=100)
                self._spawn(self._mail_worker, "mail")
        try:
            self._mail_queue.put_nowait((org, device, msg))
        except queue.Full:
            return DeskAnswer(device, msg.request_id, "mail", False, "busy: e-mails waiting, try again later")
        return None

    def _desk_refusal(self, org: str, device: str, reg: dict, msg: DeskRequest) -> str | None:
        """Why this device may not ask this of the desk (None: it may): kiosks only, the staff member named (the
        organiser's, active, allowed to sell, refund…), for orders, tickets and targets of the kiosk's events."""
        if (reg.get("role") or "door") != "kiosk":
            return f"not allowed: {device} is not a kiosk"
        # carried out now: the member must be active now, whatever time the kiosk claims (a replay is answered
        # from the store, the sale made when it was first asked: judged then)
        now = None if isinstance(msg, SaleRequest) and msg.replay else time.time()
        staff_refused = (Scope(dict(reg, device_id=device), set, *self._lookups).staff_refusal(msg, now)
                         if isinstance(msg, Staffed) else None)
        if staff_refused:
            return staff_refused
        registered = list(reg.get("events") or ())       # a pass stands for its events, as for uploads (ingest)
        held = held_events(self.store, org, registered) if registered else set()
        try:
            if isinstance(msg, SaleRequest):
                if held and not set(self.store.target(msg.target_id)["event_ids"]) & held:
                    return reason("target_not_held", f"not allowed: {msg.target_id} is not an event of {device}",
                                  target=msg.target_id)
            elif isinstance(msg, (RefundRequest, ETicketsRequest)):
                _org, events = self._lookups[0](msg.order_number)
                if _org != org or (held and not set(events) & held):
                    return reason("order_not_held", f"not allowed: order {msg.order_number} is not of an event of "
                                                    f"{device}", order=msg.order_number)
            elif isinstance(msg, ExchangeRequest):
                _org, events = self._lookups[1](msg.ticket_key)
                wanted = (set(self.store.target(msg.target_id)["event_ids"]) if msg.target_id is not None
                          else set(events))
                if _org != org or (held and not (set(events) & held and wanted & held)):
                    return reason("ticket_not_held", f"not allowed: ticket {msg.ticket_key} or its new event is not "
                                                     f"of {device}", ticket=msg.ticket_key)
        except TicketgateError:          # an unknown target: the desk answers it (`_desk_answer`)
            return None
        return None

    def _desk_answer(self, org: str, device: str, reg: dict, msg: DeskRequest) -> DeskAnswer | None:
        """The desk's answer to a request `_desk_refusal` let through."""
        kind = DESK_KIND_OF[msg.TYPE]
        try:
            if isinstance(msg, SaleRequest):
                return self.store.sell(org, device, msg)
            if isinstance(msg, RefundRequest):
                return self.store.desk_refund(org, device, msg)
            if isinstance(msg, TillRequest):
                return self.store.till_request(org, device, msg)
            if isinstance(msg, ETicketsRequest):
                return self._queue_mail(org, device, msg)
            if isinstance(msg, AllotmentRequest):
                cert = self.store.grant_allotment(org, device, public_key_of(msg.public_key))
                return DeskAnswer(device, msg.request_id, kind, True, certificate=cert.to_text())
            assert isinstance(msg, ExchangeRequest)
            return self.store.desk_exchange(org, device, msg)
        except TicketgateError as exc:
            return DeskAnswer(device, msg.request_id, kind, False, str(exc), **reason_fields(exc))

    def _refused_whole(self, topic: str, payload: bytes, why: str, who: str, kept_as: tuple[str, str] | None,
                       whole: dict[tuple[str, str], list[tuple[int, str, dict]]], count_only: bool = False,
                       n: int = 1) -> None:
        """A message refused whole: logged (and, for a registered device's upload, `kept_as`, listed in `server
        refusals`) one by one within the device's budget; counted per reason beyond it, in one summary row (`n`: that
        many such messages, counted)."""
        if not count_only and self.refused_budget.keep(who):
            if kept_as is not None:
                whole.setdefault(kept_as, []).append((0, why, unparsed(topic, payload)))
            self._reject(topic, why)
            return
        counted, new = self.refused_budget.count(who, why, n)
        self.stats["refused_counted"] += n
        if kept_as is not None:
            rows = whole.setdefault(kept_as, [])
            rows[:] = [r for r in rows if r[2].get("counted_since") is None] + [summary_row(topic, counted)]
        if new:
            log.warning("sync server %s: %s refused faster than they are kept one by one: counted per reason from "
                        "now on (`ticketgate server refusals`)", self.name, printable(who))

    def _log_unregistered(self, key: tuple[str, str, str]) -> bool:
        """Log an upload of an unregistered device once a minute per device and reason, and at most
        UNREGISTERED_LOGGED devices a minute (a flood must not fill the log: the store counts them all)."""
        now = time.monotonic()
        if now - self._unregistered_logged.get(key, -1e9) < 60.0:
            return False
        if len(self._unregistered_logged) >= UNREGISTERED_LOGGED:     # many ids at once: the first ones logged
            self._unregistered_logged = {k: t for k, t in self._unregistered_logged.items() if now - t < 60.0}
            if len(self._unregistered_logged) >= UNREGISTERED_LOGGED:
                return False
        self._unregistered_logged[key] = now
        return True

    def _device_presence(self, org: str, device: str, payload: bytes) -> None:
        """A device's retained presence, `offline` from its Last Will when it vanished: `server devices` shows it.
        Retained presences of devices not registered here are ignored."""
        if self.orgs and org not in self.orgs:
            return
        reg = self.store.device(device)
        if reg is None or reg.get("org") != org:
            return
        if len(payload) > MAX_PRESENCE:
            raise Rejected(f"device presence of {len(payload)} bytes (at most {MAX_PRESENCE})")
        try:
            body = json.loads(payload) if payload else {}
            state = body.get("state")
        except (ValueError, AttributeError, RecursionError):
            raise Rejected("malformed device presence") from None
        if state not in ("online", "offline"):
            raise Rejected(f"device presence {state!r}")
        ts = body.get("ts")
        old = self._old_form.setdefault(org, set())
        if state == "online" and body.get("live") != LIVE_FORM:
            old.add(device)              # it reads only the `update` form: the announcer sends that too
        else:
            old.discard(device)
        plausible = isinstance(ts, (int, float)) and 0 < ts <= time.time() + MAX_AHEAD    # (NaN is not)
        seen = float(ts) if plausible and ts is not None else float(reg.get("last_seen") or 0)
        self.store.touch_device(device, seen_at=seen, status=state)
        unsent, counted = body.get("unsent_sales"), body.get("counted_at")      # a kiosk's sales made offline
        if (type(unsent) is int and 0 <= unsent <= 10**6 and isinstance(counted, (int, float))
                and 0 < counted <= time.time() + MAX_AHEAD):
            self.store.set_unsent_sales(device, unsent, float(counted))

    def _check(self, org: str, device: str, reg: dict, batch: Batch, size: int,
               scopes: dict[tuple[str, str], Scope] | None = None) -> "_Checked":
        """Rate limit, then authorization of every item by the device's role and events (`ingest.Scope`; `scopes`:
        the device's scope shared by the batches of one drain)."""
        checked = _Checked(org, device, batch)
        ids = tuple(u.id for u in batch.items) + tuple(r.id for r in batch.invalid)
        if self.limiter is not None:
            count = len(ids)
            if self.limiter.too_big(count, size):
                too_big = reason("rate_too_big", f"rate: a batch of {count} items / {size} bytes is over this device's "
                                                 f"limit", count=count, size=size)
                checked.refused = [ItemRefusal.of(u.id, too_big, u.body.to_wire()) for u in batch.items]
                checked.refused += batch.invalid
                checked.too_big = True
                return checked
            wait = self.limiter.take(device, count, size)
            if wait:
                checked.deferred, checked.retry_after = ids, wait
                self.stats["deferred"] += len(ids)
                return checked
        scopes = {} if scopes is None else scopes
        scope = scopes.get((org, device))
        if scope is None:
            scope = scopes[(org, device)] = Scope(dict(reg, device_id=device),
                                                  lambda: held_events(self.store, org, reg.get("events") or [])
                                                  | self.store.events_released(device),
                                                  *self._lookups,
                                                  posting_of=lambda: posting(reg.get("gate") or "",
                                                                             self.store.device_commands(device),
                                                                             reg.get("registered_at")),
                                                  opened_by=opened_by(self.store),
                                                  taken_from=taken_from(self.store))
        checked.refused = list(batch.invalid)
        scope.learn_tickets({u.body.ticket_key for u in batch.items if isinstance(u.body, ActionItem)})
        for u in batch.items:
            why = scope.refusal(u.body)
            if why is None:
                checked.accepted.append(replace(u, body=scope.own(u.body)))
            else:
                checked.refused.append(ItemRefusal.of(u.id, why, u.body.to_wire()))
        return checked

    def _hello(self, org: str, device: str, msg: Hello, reg: dict) -> None:
        t1 = time.time()
        self.stats["hellos"] += 1
        self.store.touch_device(device, status="online")
        allowed = [int(e) for e in reg.get("events") or []]
        if allowed:      # as registered now (`server device events` changes them): what the device names may be old
            events = sorted(set(allowed))
            if sorted(set(msg.events)) != events:
                self._follow_registration(org, device, events, set(msg.events) - set(events))
        else:   # enrolled for no event in particular: every event of its organiser (ingest.held_events), those created
            # since its last bundle too (it asks for those it holds), never another organiser's it names
            events = sorted(e["event_id"] for e in self.store.events(org))
        have, version = msg.bundle_version, self.store.version(org)
        since = have if have and sorted(msg.events) == events else 0
        after = self._catch_up_floors(org, device, msg, events) if since else None
        # no event to send, yet the device holds some (its last event removed: `server event remove`): a full bundle
        # of none, which empties what it holds
        sending = bool(events or msg.events) and not (have and have >= version and msg.catch_up is None)
        # the clock reply says which version follows (the bundle is built from a later read: that version or newer),
        # so a device knows it is not caught up before it arrived (`agent sync --until-idle`)
        self.transport.publish(topics.down(org, device), self._sign(org, Clock(
            device, msg.probe, msg.t0, t1, time.time(), version if sending else 0).to_wire()))
        if not sending:
            return
        if msg.catch_up is not None and after is None:
            since = 0       # the whole data: a cursor this store cannot serve, or other events (logged)
        with self._lock:
            self._bundle_requests[(org, device)] = BundleRequest(events, since, bundles.is_kiosk(reg), after)
        self._bundle_wake.set()

    def _catch_up_floors(self, org: str, device: str, msg: Hello, events: list[int]) -> dict[int, int] | None:
        """A hello asking to catch up (the broker lost the device's session: the entries relayed meanwhile went to
        nobody) -> per event of the device, the cursor its missed actions are served after (with the version delta);
        None: not asked, or a cursor this store does not know (another store, forged): whole data, logged. A cursor
        only sets where an event's actions start: what is served is the device's registered events' only."""
        if msg.catch_up is None:
            return None
        floors: dict[int, int] = {}
        for e in events:
            floor = self.store.catch_up_floor(msg.catch_up.get(e, 0))
            if floor is None:
                log.warning("sync server %s: %s/%s catches up from action cursor %s of event %s, unknown here: "
                            "sending the whole event data", self.name, org, device, msg.catch_up.get(e), e)
                return None
            floors[e] = floor
        return floors

    def _follow_registration(self, org: str, device: str, events: list[int], named: set[int]) -> None:
        """A hello naming other events than the device is registered for: it has not applied the organiser's change
        (`server device events`: its command expired, or crossed this hello). The signed `events` command again,
        once per server run and set of events (a device too old to know the command refuses it: not every hello).
        Recorded as removed are only the events `named` the organiser took away already: a removed event's uploads
        are still taken (`events_released`), so the device's word must not make one."""
        if self._events_sent.get((org, device)) == tuple(events):
            return
        self._events_sent[(org, device)] = tuple(events)
        removed = sorted(named & self.store.events_released(device))
        command_id = uuid.uuid4().hex
        if self.send_command(org, device, "events", wait=None, command_id=command_id, events=events):
            self.store.record_command(org, device, command_id, "events", {"events": events, "removed": removed,
                                                                             "by": "hello"})

    def _bundle_loop(self) -> None:
        """Bundles are built off the ingestion thread; repeated hellos of one device collapse into one bundle."""
        while not self._stop.is_set():
            self._bundle_wake.wait(0.5)
            self._bundle_wake.clear()
            with self._lock:
                requests, self._bundle_requests = self._bundle_requests, {}
            for (org, device), request in requests.items():
                events, since, kiosk, after = request
                try:
                    version = self.store.version(org)
                    last = self._recent_bundles.get((org, device))
                    # the same bundle is on its way already; a hello from another base (the device refused a delta
                    # that did not fit it: two hellos crossed a change) gets the one that fits; a catch-up is never
                    # the same bundle (new actions may have come since)
                    if last and last[:3] == (version, tuple(events), since) and after is None and \
                            time.monotonic() - last[3] < self.resend_after:
                        continue
                    if self._over_bundle_budget(org, device, request):
                        continue
                    self._recent_bundles[(org, device)] = (version, tuple(events), since, time.monotonic())
                    built = bundles.build(self.store, org, events, since, payloads=kiosk, after=after)
                    if self.limiter is not None and (org, device) in self._bundled:    # its first one is free: a
                        self.limiter.spent_on_bundle(device, sum(len(c) for c in built.chunks))   # kiosk's 1M payloads
                    self._bundled.add((org, device))                                 # pass 64 MiB, its deltas follow
                    self.send_bundle(org, [device], built)
                except Exception:
                    log.exception("sync server %s: bundle for %s/%s failed", self.name, org, device)

    def _over_bundle_budget(self, org: str, device: str, request: BundleRequest) -> bool:
        """True when the device spent its bundle bytes (ratelimit.Limits): its request waits (a newer hello's replaces
        it) and is built once the budget allows; counted (stats `bundles_deferred`), logged once a minute per device.
        A stolen device's hellos naming version after version (each a near-full delta) cost the server one bundle
        per hello: the bundle thread busy for every other device, the broker queueing tens of MB for each."""
        wait = self.limiter.bundle_wait(device) if self.limiter is not None else 0.0
        if not wait:
            self._bundle_deferred.discard((org, device))
            return False
        with self._lock:
            self._bundle_requests.setdefault((org, device), request)
        if (org, device) not in self._bundle_deferred:
            self._bundle_deferred.add((org, device))
            self.stats["bundles_deferred"] += 1
            if time.monotonic() - self._bundle_logged.get((org, device), -1e9) > 60:
                self._bundle_logged[(org, device)] = time.monotonic()
                self._reject(topics.up(org, device), f"hellos ask for more bundles than this device's budget: the next "
                                                     f"one waits {wait:.0f} s")
        return True

    def send_bundle(self, org: str, devices: list[str], built: bundles.Built, wait: float | None = None) -> int:
        key = self._keys.get(org) or self.store.server_key(org)
        self._keys[org] = key
        ok = 0
        for device in devices:
            down = topics.down(org, device)
            sent = self.transport.publish(down, built.manifest(org, device, key.sign), wait=wait)
            for chunk in built.chunks:
                sent = self.transport.publish(down, chunk, wait=wait) and sent
            ok += bool(sent)
            self.stats["bundles"] += 1
        return ok

    def send_command(self, org: str, device: str, cmd: str, wait: float | None = 5.0, command_id: str | None = None,
                     **fields) -> bool:
        """A signed command to one device: wipe | reset_ticket (ticket_key, event_id, reason) | config (config={...}).
        `command_id`: its message id (the device's `cmd_result` names it); default a fresh one."""
        body = Command(cmd, device, fields).to_wire()
        return self.transport.publish(topics.cmd(org, device), self._sign(org, body, command_id), wait=wait)

    # -- announcer ---------------------------------------------------------------------------------------------
    def _announce_loop(self) -> None:
        while not self._stop.wait(self.poll):
            for org in self.orgs or []:
                try:
                    self.announce(org)
                    events, due = self._kiosk_due.get(org, (set(), None))
                    if due is not None and time.monotonic() >= due:
                        del self._kiosk_due[org]
                        self.resync_kiosks(org, events)
                    if not self._embedded:       # reads that work say a database server is back, not a disk
                        self._store_back()
                except Exception as exc:
                    if not self._store_away(exc):
                        log.exception("sync server %s: announcing changes of %s failed", self.name, org)

    def _announce_reads(self) -> SyncStore:
        """The announcer's own connection to the store (`reopen`): its reads never wait for the store lock behind
        ingestion's transactions (each one ends with an fsync). Opened by the first look, closed by stop()."""
        if self._reads is None:
            reopen = getattr(self.store, "reopen", None)
            self._reads = reopen() if callable(reopen) else self.store
        return self._reads

    def announce(self, org: str) -> int:
        """Publish what changed since the last look (revocations, blocks, resets, small ticket changes) live."""
        store = self._announce_reads()
        version = store.version(org)
        since = self._seen_version.get(org, version)
        if version <= since:
            return 0
        sent = 0
        ticket_events: set[int] = set()
        old_events = self._old_form_events(store, org)
        for event in store.events(org):
            e = event["event_id"]
            revocations = store.revocations_for_event(e, since)
            body = bundles.flag_section(revocations, store.blocks_for_event(e, since),
                                        store.resets_for_event(e, since))
            changed, states = bundles.live_ticket_changes_of(store, e, since, {r["ticket_key"] for r in revocations})
            if changed or states:
                ticket_events.add(e)
            if changed:
                body.update(bundles.bundle.ticket_section(changed))
            if states:
                body["states"] = states
            if not body:
                continue
            for part in fit(UpdateV2.of(e, body)):     # the compact form, which every device of now reads
                self.transport.publish(topics.live(org, e), self._sign(org, part))
                sent += 1
            if e in old_events:       # and the form before it, while a device online for the event reads only that
                for part in split_to_fit(Update(e, **{k: tuple(v) for k, v in body.items() if k != "tickets"},
                                                tickets=body.get("tickets")).to_wire(),
                                         lambda p: len(json.dumps(p)) + 2048, MAX_MESSAGE - 4096):
                    self.transport.publish(topics.live(org, e), self._sign(org, part))
                    sent += 1
        self._seen_version[org] = version
        ticket_events |= self._catalogues.changed(store, org)     # a price, promotion, quota or window changed
        passes_moved = self._pass_lists.changed(store, org)      # a pass edited or removed: doors admit by it
        if store.staff_version(org) > since:      # staff changed: every device asks for its delta (roster)
            sent += self.resync_devices(org)
        elif passes_moved:
            sent += self.resync_holders(org, passes_moved)
        self.stats["live"] += sent
        if ticket_events:      # debounced: a burst of sales (or a push, or prices) gives one delta per kiosk
            events, _ = self._kiosk_due.get(org, (set(), None))
            self._kiosk_due[org] = (events | ticket_events, time.monotonic() + self.kiosk_quiet)
        return sent

    def _old_form_events(self, store: SyncStore, org: str) -> set[int]:
        """Events of the devices online now whose presence does not say they read `update2` (a version before it):
        their live updates go in both forms. Every event when such a device holds every event."""
        old = self._old_form.get(org)
        if not old:
            return set()
        events: set[int] = set()
        for d in store.devices(org):
            if d["device_id"] in old and not d.get("revoked"):
                if not d.get("events"):
                    return {e["event_id"] for e in store.events(org)}
                events.update(d["events"])
        return events

    def ask_hello(self, org: str, device: str, wait: float | None = None) -> bool:
        """A signed `resync`: the device says hello (and gets the bundle of the events it holds now)."""
        return self.transport.publish(topics.down(org, device), self._sign(org, Resync(device).to_wire()), wait=wait)

    def resync_devices(self, org: str) -> int:
        """Ask every device of the organiser to say hello (a delta follows: the staff roster travels in it)."""
        asked = 0
        for d in self.store.devices(org):
            if not d.get("revoked"):
                self.ask_hello(org, d["device_id"])
                asked += 1
        return asked

    def resync_holders(self, org: str, events: set[int]) -> int:
        """Every device in service holding one of the events (or every event) is asked to say hello: a pass edited
        or removed changed the events' pass lists, which its delta carries (`server pass edit`)."""
        asked = 0
        for d in self.store.devices(org):
            if not d.get("revoked") and holds_any(self.store, org, d.get("events") or [], events):
                self.ask_hello(org, d["device_id"])
                asked += 1
        return asked

    def resync_kiosks(self, org: str, events: set[int]) -> int:
        """Ticket rows changed (a sale, an exchange's replacement): kiosk devices of those events are asked to say
        hello, so they get a delta with the signed payloads (live messages never carry payloads)."""
        asked = 0
        for d in self.store.devices(org):
            if bundles.is_kiosk(d) and not d.get("revoked") and (not d.get("events") or events & set(d["events"])):
                self.ask_hello(org, d["device_id"])
                asked += 1
        return asked
