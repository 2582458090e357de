"""Device -> server uploads: parse (agent.sync.messages), authorize by the device's enrolled role and events, relay.

Authorization (docs/security.md): the broker ACL proves which device published; the store says what it is.
  * every item speaks for the publishing device only (`device_id` empty or its own);
  * door and kiosk devices upload entries, quick cancellations and annulments, for events they hold, each naming a
    ticket of that event (or of a pass opening it; a key the server did not issue is taken as the gate saw it only
    as a pretix key or an offline sale's id); an annulment only of the device's own entries and cancellations,
    stored on the server or earlier in the same batch, each annulled once (an annulment naming an action the server does not hold, another annulment, or an
    action already annulled is refused, never stored);
  * `reset` actions come only from the organiser (`ticketgate server ticket reset`), never from a device;
  * kiosk messages (payment validated, exchange, print records) only from kiosk devices, for orders and tickets
    of events they hold;
  * refusals (statistics) and command results from any device of the organiser, a refusal counted only under an
    event the device holds (`Scope.own`);
  * the staff member an item names is the organiser's, was active, and holds the permission (`staff_refusal`); a
    door action, or a kiosk's offline sale, payment, exchange or print, by a member deactivated before it was done
    is taken and flagged, never refused (it happened: someone went in, money was taken).
A device registered without events holds every event of its organiser. What is refused is answered in the ack with
its reason, recorded for the organiser, and never stored as a scan nor relayed.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from agent.allotment import ALLOTMENT_ID_BASE
from agent.errors import TicketgateError
from agent.policy import Mode
from agent.pretix_sig1 import KEY_PREFIX as PRETIX_KEY
from agent.sync.messages import (DEVICE_ACTION_KINDS, MAX_MESSAGE, ActionItem, Batch, CmdResult, DeskRequest,
                                 ConfigChange, Exchange, Hello, Item, ItemRefusal, OfflineSale, PaymentValidated,
                                 Printed, RefusalItem, RelayedAction, Staffed, upload_from_wire)
from agent.reasons import reason
from agent.safe_text import printable
from agent.staff import allowed, refusal_reason
from agent.sync.keyset import is_decimal
from agent.sync.signed import Rejected, load_json
from server_stub.sync.posting import Posting

# An upload stamped (at + clock_offset: server time) further ahead than this is a clock years off or a forgery: taken,
# it would sit after every organiser reset of its ticket and date the organiser's statistics in the year 33000.
MAX_AHEAD = 24 * 3600
MAX_UPLOAD = MAX_MESSAGE     # bytes; mosquitto's max_packet_size is built from it (messages.broker_size_limit)
KIOSK = "kiosk"
# what a device did on its own and uploads after (offline): done by a member deactivated before it, it is taken and
# flagged (`deactivated_flag`), not refused; a desk request, carried out by the server when it arrives, is refused
DONE_OFFLINE = (ActionItem, OfflineSale, PaymentValidated, Exchange, Printed)


# a `\uD800`…`\uDFFF` escape: JSON parses a lone one into a str no UTF-8 text (nor the store) can hold; a `\u0000`
# one into a NUL character, which PostgreSQL's text columns refuse
_UNSTORABLE_ESCAPE = re.compile(rb"\\u([dD][89a-fA-F]|0000)")
NOT_UNICODE = "text that is not valid Unicode (a lone surrogate)"
NUL_TEXT = "text holding a NUL character (\\u0000)"


def parse_upload(payload: bytes, org: str, device: str, limit: int = MAX_UPLOAD) -> Hello | Batch | DeskRequest:
    msg = upload_from_wire(load_json(payload, limit))
    if msg.org != org or msg.device != device:
        raise Rejected(f"upload names {storable(msg.org)}/{storable(msg.device)} on the topic of {org}/{device}")
    return _unstorable_refused(msg) if _UNSTORABLE_ESCAPE.search(payload) else msg


def storable(text: str) -> str:
    """A device's text quoted in a refusal's reason (a store column): NUL and lone surrogates escaped."""
    return printable(text).encode("utf-8", "backslashreplace").decode()


def _unstorable_refused(msg: Hello | Batch | DeskRequest) -> Hello | Batch | DeskRequest:
    """A batch item holding text no store holds (a lone surrogate; a NUL, which PostgreSQL refuses) is refused alone
    (the store would fail on it, and the drain with it); any other message holding one is refused whole. Checked only
    when the payload has such an escape (rare)."""
    if not isinstance(msg, Batch):
        why = _unstorable(msg.to_wire())
        if why:
            raise Rejected(f"malformed: {why}")
        return msg
    why = _unstorable([msg.batch])
    if why:
        raise Rejected(f"malformed batch: {why}")
    bad = {u.id: w for u in msg.items if (w := _unstorable(u.body.to_wire()))}
    if not bad:
        return msg
    return replace(msg, items=tuple(u for u in msg.items if u.id not in bad),
                   invalid=msg.invalid + tuple(
                       ItemRefusal.of(u.id, reason("malformed", f"malformed: {bad[u.id]}", detail=bad[u.id]),
                                      u.body.to_wire()) for u in msg.items if u.id in bad))


def _unstorable(value: Any) -> str:
    """Why a store cannot hold this text ('' when it can)."""
    if isinstance(value, str):
        if "\x00" in value:
            return NUL_TEXT
        return NOT_UNICODE if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value) else ""
    if isinstance(value, dict):
        return next((w for k, v in value.items() if (w := _unstorable(k) or _unstorable(v))), "")
    if isinstance(value, (list, tuple)):
        return next((w for v in value if (w := _unstorable(v))), "")
    return ""


class Scope:
    """What one registered device may do: its role and the events it holds (`held_events`, looked up once)."""

    def __init__(self, device: dict, held_events: Callable[[], set[int]], events_of_order: Callable[[str], tuple],
                 events_of_ticket: Callable[[str], tuple], action_of: Callable[[str, str], "ActionRef | None"] = lambda u, a: None,
                 events_of_target: Callable[[int], tuple] = lambda t: (None, ()),
                 staff_of: Callable[[str], "StaffRoster"] = lambda org: StaffRoster({}, None),
                 targets_of_tickets: Callable[[set[str]], dict[str, int]] = lambda keys: {},
                 allotment_of: Callable[[int], tuple] = lambda ticket: (None, ()),
                 posting_of: Callable[[], Posting] = Posting,
                 opened_by: Callable[[int], tuple] | None = None,
                 taken_from: Callable[[int], dict[int, float]] = lambda target: {}):
        self.device_id, self.org = device["device_id"], device["org"]
        self.role = device.get("role") or "door"
        self._events: set[int] | None = None
        self._held = held_events
        self._order, self._ticket, self._action = events_of_order, events_of_ticket, action_of
        self._target = events_of_target
        # event or pass -> (org, the events it opens or opened once): a door's entries of a pass holder recorded at
        # an event the organiser took from the pass since (`server pass edit`) are still taken
        self._opened_by = opened_by or events_of_target
        # ... but not one dated after the event was taken (pass -> {event: since when}: `store.events_taken`)
        self._taken_from = taken_from
        self._taken: dict[int, dict[int, float]] = {}
        self._staff_of = staff_of
        self._staff: StaffRoster | None = None
        self._targets_of = targets_of_tickets
        self._allotment_of = allotment_of
        self._posting_of = posting_of
        self._posting: Posting | None = None
        self._tickets: dict[str, int | None] = {}     # ticket key -> its event or pass; None: not issued here
        self._opens: dict[int, tuple] = {}            # event or pass -> (org, the events it opens)
        self._batch_actions: dict[str, ActionItem] = {}   # actions accepted earlier in this batch, by scan uuid
        self._batch_annulled: dict[str, str] = {}  # annulments accepted earlier in this batch: what they name -> uuid
        self._batch_orders: dict[str, int] = {}    # offline sales accepted earlier in this batch: number -> target


    @property
    def events(self) -> set[int]:
        if self._events is None:
            self._events = self._held()
        return self._events

    def learn_tickets(self, keys: set[str]) -> None:
        """Look up the tickets a batch's actions name, in one query (`refusal` looks up one it was not told of)."""
        keys = {k for k in keys if k not in self._tickets}
        if keys:
            found = self._targets_of(keys)
            self._tickets.update({k: found.get(k) for k in keys})

    def refusal(self, item: Item) -> str | None:
        """None when the device may upload this item, else the reason it is refused."""
        if item.device_id not in ("", self.device_id):
            return reason("other_device", f"not allowed: {self.device_id} cannot upload for device {item.device_id!r}",
                          device=item.device_id)
        ahead = (getattr(item, "at", None) or 0.0) + (getattr(item, "clock_offset", 0.0) or 0.0) - time.time()
        if ahead > MAX_AHEAD:
            hours = int(min(ahead, 1e12) // 3600)
            return reason("dated_ahead", f"dated {hours} h ahead of the server's clock", hours=hours)
        why = self.staff_refusal(item) or self._scope_refusal(item) or self._posting_refusal(item)
        if why is None and isinstance(item, ActionItem):
            self._batch_actions[item.scan_uuid] = item        # its annulment may follow in the same batch
            if item.kind == "annul" and item.ref_uuid:
                self._batch_annulled.setdefault(item.ref_uuid, item.scan_uuid)
        return why

    def own(self, item: Item) -> Item:
        """An accepted item as stored: a refusal (statistics) counts only under an event this device holds. One naming
        another event (a genuine `wrong_event` names the ticket's event; a stolen door padded another event's
        refusal figures) is counted under the device's event when it holds one, else under none (the organiser's
        totals only). A scan carries the mode the organiser set the device in then, not the one it claims. It is
        dated no later than now (`received_by_now`)."""
        if not isinstance(item, (ActionItem, RefusalItem)):
            return item
        item = received_by_now(self._posted_mode(item), time.time())   # (its mode: at the time it claims)
        if not isinstance(item, RefusalItem) or item.event_id is None or item.event_id in self.events:
            return item
        return replace(item, event_id=next(iter(self.events)) if len(self.events) == 1 else None)

    def _posted_mode(self, item: ActionItem | RefusalItem) -> ActionItem | RefusalItem:
        if self._posting is None:
            self._posting = self._posting_of()
        mode = self._posting.mode_counted(item.mode, item.at + item.clock_offset)
        return item if mode == item.mode else replace(item, mode=mode)

    def staff_refusal(self, item: Staffed | Item, done_at: float | None = None) -> str | None:
        """The staff member the item names must be the organiser's, active when it was done, and hold the permission
        (agent.staff.PERMISSIONS). When it was done: `done_at` (server time) for what the server does now (a kiosk's
        online desk request: its `at` is the kiosk's word, a clock set back made a deactivated member's refund
        pass), else the item's `at`. Naming no one is accepted only for what was done before the organiser's first
        staff member existed, and for refused scans (statistics). What a device did offline (`DONE_OFFLINE`: a door
        action; a kiosk's offline sale, payment taken, exchange, print) by a member deactivated before it was done
        is taken: it happened (the device, offline, had not learnt of it; someone went in, the buyer paid and left
        with the tickets), and the store flags it for the organiser (`scans.flag`). The permission is the role's
        the member held when it was done (`role_at`): a supervisor's undo made before the organiser made her door
        staff is taken; one made after, by a device that had not heard of it, is refused."""
        if not isinstance(item, Staffed):
            return None
        if self._staff is None:
            self._staff = self._staff_of(self.org)
        roster = self._staff
        # server time: an action's `at` is the device's clock, its `clock_offset` the difference measured (kiosk
        # messages carry none: their `at` is in server time already)
        at = done_at if done_at is not None else ((getattr(item, "at", None) or time.time())
                                                  + (getattr(item, "clock_offset", 0.0) or 0.0))
        if not item.staff:
            if roster.since is None or at < roster.since or isinstance(item, RefusalItem):
                return None
            return reason("no_staff", "not allowed: no staff member named (the organiser keeps staff: log in on the device)")
        member = roster.members.get(item.staff)
        if member is None:
            return reason("staff_unknown", f"not allowed: unknown staff member {item.staff!r}", staff=item.staff)
        if deactivated_when(member, at) is not None and (done_at is not None or not isinstance(item, DONE_OFFLINE)):
            return reason("staff_inactive", f"not allowed: staff member {member['name']} ({item.staff}) is deactivated",
                          name=member["name"], staff=item.staff)
        role = role_at(member, roster.roles.get(item.staff, ()), at)
        if not allowed(role, item.permission()):
            return reason("staff_not_allowed", refusal_reason(f"{member['name']} ({item.staff})", role,
                                                              item.permission()),
                          name=f"{member['name']} ({item.staff})", role=role, permission=item.permission())
        return None

    def _scope_refusal(self, item: Item) -> str | None:
        if isinstance(item, ActionItem):
            if item.kind not in DEVICE_ACTION_KINDS:
                return reason("organiser_only", f"not allowed: a {item.kind} comes only from the organiser, never from a "
                                                "device", kind=item.kind)
            if item.event_id is None or item.event_id not in self.events:
                return reason("event_not_held", f"not allowed: event {item.event_id} is not an event of {self.device_id}",
                              event=str(item.event_id))
            # an annulment undoes an entry taken before: judged by its ticket and event, not by its own date
            why = self._ticket_refusal(item.ticket_key, item.event_id,
                                       None if item.kind == "annul" else item.at + item.clock_offset)
            if why is not None:
                return why
            if item.kind == "annul":
                if not item.ref_uuid:
                    return reason("annul_no_ref", "an annulment names the action it annuls (ref_uuid)")
                return self._annul_refusal(item)
            return None
        if isinstance(item, (RefusalItem, CmdResult, ConfigChange)):
            return None                           # any device of the organiser (a config change: its staff checked)
        if self.role != KIOSK:
            return reason("kiosk_only", f"not allowed: {type(item).__name__} comes only from kiosk devices "
                                        f"({self.device_id} is a {self.role})", message=type(item).__name__)
        for field, lookup, what, name in (("order_number", self._order_of, "order", "order"),
                                          ("ticket_key", self._ticket, "ticket", "ticket"),
                                          ("target_id", self._target, "event or pass", "target")):
            value = getattr(item, field, None)     # any kiosk item is scoped by the order, ticket or target it names
            if value is None or value == "" or (field == "order_number" and isinstance(item, OfflineSale)):
                continue                           # (an offline sale's number is the order it makes)
            org, events = lookup(value)
            if org is None:
                return reason(f"unknown_{name}", f"unknown {what} {value}", **{name: value})
            if org != self.org or not set(events) & self.events:
                return reason(f"{name}_not_held", f"not allowed: {what} {value} is not of an event of {self.device_id}",
                              **{name: value})
        if isinstance(item, OfflineSale) and item.order_number:
            self._batch_orders[item.order_number] = item.target_id     # its print record may follow in this batch
        return None

    def _posting_refusal(self, item: Item) -> str | None:
        """A scan names the gate the organiser posted the device at when it was made, and an exit comes only from a
        device the organiser set in entry/exit mode (`posting`): a stolen door's entries as gate "VIP", or its exits
        emptying `inside now`, are the device's word against the organiser's."""
        if not isinstance(item, (ActionItem, RefusalItem)):
            return None
        if self._posting is None:
            self._posting = self._posting_of()
        at = item.at + item.clock_offset
        gates = self._posting.gates_at(at)
        if gates is not None and item.gate and item.gate not in gates:      # naming none: counted at gate "?"
            given = " or ".join(sorted(gates))
            return reason("gate_not_posted", f"not allowed: {self.device_id} scanned at gate {storable(item.gate)!r}, "
                                             f"the organiser posted it at gate {given} then", gate=storable(item.gate),
                          given=given)
        modes = self._posting.modes_at(at)
        if (isinstance(item, ActionItem) and item.kind == "entry" and item.direction == "out" and modes is not None
                and Mode.ENTRY_EXIT.value not in modes):
            mode = " or ".join(sorted(modes))
            return reason("exit_not_posted", f"not allowed: an exit from {self.device_id}, which the organiser set in "
                                             f"{mode} mode then (only entry/exit mode records exits)", mode=mode)
        if (isinstance(item, ActionItem) and item.kind == "cancel" and modes is not None
                and Mode.QUICK_CANCEL.value not in modes):
            # a stolen door set in normal mode cancelled every paid order of its event (doors then refuse `cancelled`)
            mode = " or ".join(sorted(modes))
            return reason("cancel_not_posted", f"not allowed: a quick cancellation from {self.device_id}, which the "
                                               f"organiser set in {mode} mode then (only quick-cancel mode cancels "
                                               "tickets)", mode=mode)
        return None

    def _order_of(self, number: str) -> tuple:
        """(org, events) of an order: the store's, or one an offline sale earlier in this batch makes."""
        target = self._batch_orders.get(number)
        return self._order(number) if target is None else self._target(target)

    def _ticket_refusal(self, key: str, event_id: int, at: float | None = None) -> str | None:
        """A door action names a ticket of its event: one of its own event, or of a pass opening it (or that opened
        it when the action was done, `at`, server time; None: whenever). A ticket this server did not issue (a
        pretix ticket, one sold offline and not reconciled yet) is taken as the gate saw it."""
        if key not in self._tickets:
            self.learn_tickets({key})
        target = self._tickets[key]
        if target is None:
            return self._unissued_refusal(key, event_id)
        if self._opened(target, event_id):
            return self._taken_refusal(key, target, event_id, at)
        return reason("ticket_other_event", f"not allowed: ticket {key} is not a ticket of event {event_id}",
                      ticket=key, event=str(event_id))

    def _opened(self, target: int, event_id: int) -> bool:
        """Whether event or pass `target` is this organiser's and opens (or opened once) `event_id`."""
        if target not in self._opens:
            self._opens[target] = self._opened_by(target)
        org, events = self._opens[target]
        return bool(org == self.org and event_id in events)

    def _taken_refusal(self, key: str, target: int, event_id: int, at: float | None) -> str | None:
        """A pass holder let in at an event after the organiser took it from the pass (`server pass edit`, `pass
        remove`): a door that had not synced since admitted a ticket the pass no longer gave."""
        if target not in self._taken:
            self._taken[target] = self._taken_from(target)
        since = self._taken[target].get(event_id)
        if at is None or since is None or at < since:
            return None
        when = datetime.fromtimestamp(since, timezone.utc).isoformat(" ", "seconds").replace("+00:00", " UTC")
        return reason("pass_event_taken", f"not allowed: ticket {key} is of pass {target}, which no longer opened "
                                          f"event {event_id} then (the organiser took it from the pass at {when}; "
                                          "the device had not synced since)",
                      ticket=key, event=str(event_id), at=when, **{"pass": str(target)})

    def _unissued_refusal(self, key: str, event_id: int) -> str | None:
        """A key the server did not issue: a pretix ticket (`pretix:SEED`), or one a kiosk sold offline (an id of the
        allotments' space, 2**47 up) not reconciled yet, taken as the gate saw it. Any other key is no ticket a gate
        admits (ours are the store's ids): a stolen door's entries for made-up keys padded its event's figures
        without bound. An id of the allotments' space in no allotment of this organiser for the event is no ticket
        anyone sold: allotment ranges are predictable, and a stolen door's entries for the ids of a range not
        granted yet had that kiosk's buyers refused `already_used` at every gate."""
        if key.startswith(PRETIX_KEY) and len(key) > len(PRETIX_KEY):
            return None
        if not (is_decimal(key) and int(key) >= ALLOTMENT_ID_BASE):
            return reason("unknown_ticket", f"unknown ticket {key} (neither issued by this server, nor sold offline, "
                                            "nor a pretix ticket)", ticket=key)
        org, targets = self._allotment_of(int(key))
        if org is None:
            return reason("unknown_ticket", f"unknown ticket {key} (in no offline allotment)", ticket=key)
        if org == self.org and any(self._opened(t, event_id) for t in targets):
            return None
        return reason("ticket_other_event", f"not allowed: ticket {key} is not a ticket of event {event_id}",
                      ticket=key, event=str(event_id))

    def _annul_refusal(self, annul: ActionItem) -> str | None:
        """An annulment undoes one entry or quick cancellation of this device, once: on the server or earlier in
        this batch, naming its ticket and event (the store undoes a cancellation on the ticket the annulment names).
        Not an annulment (an undo is not undone), not a reset, not what another annulment undid (the same annulment
        sent again is a duplicate the store answers as stored)."""
        ref, annulment = annul.ref_uuid or "", annul.scan_uuid
        target = self._action(ref, annulment)       # None: not on the server
        if target is None and ref in self._batch_actions:
            a = self._batch_actions[ref]
            target = ActionRef(self.device_id, a.kind, False, a.ticket_key, a.event_id)
        if target is None:
            return reason("annul_unknown", f"annulment of {ref}: no such entry or cancellation on the server (it was "
                                           f"never uploaded, or was refused)")
        if target.kind not in ("entry", "cancel"):
            named = "an annulment" if target.kind == "annul" else target.kind or "a record"
            return reason("annul_not_checkin", f"annulment of {ref}: it names {named}, not an entry or cancellation")
        if target.device_id != self.device_id:
            return reason("annul_other_device", f"not allowed: {self.device_id} cannot annul an action of "
                                                f"{target.device_id} (the organiser can: `ticketgate server device "
                                                f"annul {target.device_id} {ref} --reason …`)", device=target.device_id)
        if target.annulled or self._batch_annulled.get(ref, annulment) != annulment:
            return reason("already_annulled", f"annulment of {ref}: already annulled")
        if (annul.ticket_key, annul.event_id) != (target.ticket_key, target.event_id):
            return reason("annul_other_ticket", f"annulment of {ref}: it names ticket {annul.ticket_key} of event "
                                                f"{annul.event_id}, the {target.kind} is of ticket {target.ticket_key} "
                                                f"of event {target.event_id}", ticket=annul.ticket_key)
        return None


@dataclass(frozen=True)
class ActionRef:
    """What an annulment names, as the server holds it: who uploaded it, its kind, whether another annulment undid
    it already."""
    device_id: str
    kind: str | None
    annulled: bool
    ticket_key: str | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class StaffRoster:
    """The organiser's staff as ingestion checks them: id -> row (role, active, updated_at), and since when the
    organiser keeps staff (None: never)."""
    members: dict[str, dict]
    since: float | None
    roles: Mapping[str, Sequence[tuple[float, str]]] = field(default_factory=dict)   # id -> [(since, role)], oldest 1st


def received_by_now(item: ActionItem | RefusalItem, now: float) -> ActionItem | RefusalItem:
    """A scan happened before the server received it: one dated later (`at + clock_offset`, server time; up to
    MAX_AHEAD is taken: a clock off, an offset not measured yet) is dated when it was received, by its offset (its
    `at` stays the device's). A stolen door dated its entries hours ahead: they sat after every reset the organiser
    made of their tickets that night, the holders refused `already_used` at every gate."""
    ahead = item.at + item.clock_offset - now
    return replace(item, clock_offset=item.clock_offset - ahead) if ahead > 0 else item


def role_at(member: dict, roles: Sequence[tuple[float, str]], at: float) -> str:
    """The role `member` (a staff row) held at server time `at`: the last given at or before it (`roles`: (since,
    role), oldest first, `store.staff_roles`); for something dated before the first, the first; none recorded, the
    role now."""
    held = [role for since, role in roles if since <= at]
    return held[-1] if held else (roles[0][1] if roles else member["role"])


def deactivated_when(member: dict, at: float) -> float | None:
    """When `member` (a staff row) was deactivated, if that was before (or when) something stamped `at` was done;
    else None."""
    since = member["deactivated_at"]
    return since if not member["active"] and since is not None and at >= since else None


def deactivated_flag(name: str, staff_id: str, since: float) -> str:
    """What the organiser reads next to a door action a deactivated member did (stored with it: `scans.flag`)."""
    return f"staff member {name} ({staff_id}) deactivated at {utc_text(since)}"


def utc_text(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(" ", "seconds").replace("+00:00", " UTC")


def dated_before(at: float) -> str:
    """Said next to a member's act the server received after a change (her deactivation, a role taken from her)
    and dated before it, or dated before she was added."""
    return (f"dated {utc_text(at)}, before it, but uploaded after it: done offline and uploaded late, or dated back "
            "(the device's clock set back, or its login used elsewhere): ask who held the device")


def held_events(store, org: str, registered: list[int]) -> set[int]:
    """The events a device holds: its registered ids, a pass standing for the events it opens; none registered: every
    event of its organiser, removed ones too (what it recorded for them before it forgot them is still taken)."""
    if not registered:
        return {e["event_id"] for e in store.events(org, removed=True)}
    out: set[int] = set()
    for i in registered:
        try:
            out.update(store.target(int(i))["event_ids"])
        except LookupError:
            out.add(int(i))
    return out


def opened_by(store) -> Callable[[int], tuple]:
    """Event or pass id -> (org or None, the events it opens or opened once: `store.events_opened`)."""
    def lookup(target_id: int) -> tuple:
        try:
            return store.target(target_id)["org"], tuple(store.events_opened(target_id))
        except TicketgateError:
            return None, ()
    return lookup


def taken_from(store) -> Callable[[int], dict[int, float]]:
    """Event or pass id -> the events taken from it since -> when (`store.events_taken`; unknown: none)."""
    def lookup(target_id: int) -> dict[int, float]:
        try:
            return store.events_taken(target_id)
        except TicketgateError:
            return {}
    return lookup


def store_lookups(store) -> tuple[Callable[[str], tuple], Callable[[str], tuple], Callable[[str, str], ActionRef | None],
                                  Callable[[int], tuple], Callable[[str], StaffRoster],
                                  Callable[[set[str]], dict[str, int]], Callable[[int], tuple]]:
    """(events_of_order, events_of_ticket, action_of, events_of_target, staff_of, targets_of_tickets, allotment_of)
    from the store: order number, ticket key, event/pass id -> (org or None, event ids); (scan uuid, annulment uuid) ->
    who uploaded the scan, its kind, annulled by another annulment or not (None: unknown); organiser -> its staff;
    ticket keys -> {key: its event or pass} for the keys the store issued; a ticket id -> (org or None, events or
    passes) of the offline allotment whose range holds it."""
    def known(find: Callable[[Any], tuple]) -> Callable[[Any], tuple]:
        """`find`, answering (None, ()) for an unknown number, key or id (NotFound); a bug keeps its traceback."""
        def lookup(key: Any) -> tuple:
            try:
                return find(key)
            except TicketgateError:
                return None, ()
        return lookup

    def events(org: str, target_id: int) -> tuple:
        return org, tuple(store.target(target_id)["event_ids"])

    def order(number: str) -> tuple:
        o = store.order(number)
        return events(o["org"], o["event_id"])

    def ticket(key: str) -> tuple:
        t = store.ticket(key)
        return events(t["org"], t["target_id"])

    def target(target_id: int) -> tuple:
        t = store.target(target_id)
        return t["org"], tuple(t["event_ids"])

    def action(scan_uuid: str, annulment: str) -> ActionRef | None:
        row = store.annul_target(scan_uuid, annulment)
        return None if row is None else ActionRef(*row)

    def staff(org: str) -> StaffRoster:
        members = {r["staff_id"]: r for r in store.staff(org)}
        return StaffRoster(members, store.staff_since(org), store.staff_roles(org))

    def allotment(ticket_id: int) -> tuple:
        return store.allotment_of_ticket(ticket_id) or (None, ())
    return known(order), known(ticket), action, known(target), staff, store.ticket_targets, allotment


def relayable(items: list[ActionItem], device_id: str) -> dict[int, list[RelayedAction]]:
    """Accepted actions of one device grouped by event, for `Ledger.merge_remote` on the other gates."""
    out: dict[int, list[RelayedAction]] = {}
    for a in items:
        if a.event_id is not None:
            out.setdefault(a.event_id, []).append(RelayedAction.of(a, device_id))
    return out
