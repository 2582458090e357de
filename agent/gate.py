"""The imperative shell around the decision: read history, decide, persist durably, then answer.

    gate = Gate(ledger, keyring, policy)
    verdict = gate.scan("TG1:...")   # the check-in is on disk before this returns
"""
from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Concatenate, ParamSpec, TypeVar

from agent.allotment import revocation_key
from agent.clock import ServerClock, boot_clock
from agent.decision import decide
from agent.errors import TicketgateError
from agent.history import Action, LastRead, TicketHistory
from agent.keyring import Keyring
from agent.ledger import Ledger, LedgerError
from agent.payload import OK, Decoded, read_payload
from agent.policy import DevicePolicy
from agent.scan_ids import new_scan_id
from agent.stored_policy import load_policy, save_policy
from agent.sync.messages import ActionItem, RefusalItem
from agent.ticket_format import Ticket
from agent.verdicts import Code, Verdict


class OrganiserOnly(TicketgateError, LookupError):
    """An annulment this door may not make (the server would refuse it: annul_other_device): a check-in another gate
    made, or one this device uploaded under its enrollment before a wipe. `device`: whose it is on the server."""

    def __init__(self, message: str, device: str):
        super().__init__(message)
        self.device = device


_RECENT_READS = 256
_ESTIMATE_ERROR_MAX = 60.0      # seconds: how far a known action may lead this gate's server-time estimate (agent.clock)
P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


def _ledger_errors(method: Callable[Concatenate[Gate, P], R]) -> Callable[Concatenate[Gate, P], R]:
    """A storage fault (damaged page, disk full, I/O error) is a LedgerError: no verdict is given for it."""
    @functools.wraps(method)
    def wrapper(self: Gate, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"ledger {self.ledger.path} failed: {exc}; no verdict was recorded") from exc
    return wrapper


class Gate:
    def __init__(self, ledger: Ledger, keyring: Keyring, policy: DevicePolicy | None = None,
                 clock: Callable[[], float] = time.time, new_uuid: Callable[[], str] = new_scan_id,
                 log_refusals: bool = True, boot: Callable[[], float] = boot_clock):
        self.ledger, self.keyring, self.clock, self.new_uuid = ledger, keyring, clock, new_uuid
        self.server_clock = ServerClock(clock, boot)
        self.log_refusals = log_refusals
        self._recent: OrderedDict[str, LastRead] = OrderedDict()
        self.policy = policy if policy is not None else load_policy(ledger)
        self.listeners: list[Callable[[Verdict], None]] = []   # UI counters, sync relay, sounds
        # before acting: the staff on duty may do this ("entry", "annul"), else it raises (agent.staff_session.OnDuty
        # .require); by default anyone may (a device whose organiser keeps no staff)
        self.permit: Callable[[str], object] = lambda action: None

    def set_policy(self, policy: DevicePolicy, save: bool = True) -> None:
        self.policy = policy
        self._recent.clear()
        if save:
            save_policy(self.ledger, policy)

    @property
    def clock_offset(self) -> float:
        """Server time minus device time now (0 when never synced): the sync's last measurement, carried across
        wall-clock steps by the boot clock (agent.clock)."""
        return self.server_clock.offset(self.ledger.clock_estimate())

    # -- scanning ----------------------------------------------------------------------------------------------
    @_ledger_errors
    def scan(self, raw: str | bytes) -> Verdict:
        self.permit("entry")
        now, offset = self.clock(), self.clock_offset
        decoded = read_payload(raw, self.keyring, now + offset)
        return self._decide_and_persist(decoded, _read_key(raw), now, offset)

    @_ledger_errors
    def checkin_by_key(self, ticket_key: str, reason: str) -> Verdict:
        """Manual check-in of a ticket found by search (door staff, with a reason)."""
        self.permit("entry")
        decoded = self._by_key(ticket_key)
        if decoded is None:
            return Verdict(Code.MALFORMED, ticket_key=ticket_key, detail="no such ticket on this device")
        return self._decide_and_persist(decoded, None, self.clock(), self.clock_offset,
                                        reason=reason or "manual check-in")

    @_ledger_errors
    def judge_by_key(self, ticket_key: str, policy: DevicePolicy | None = None, window: bool = True) -> Verdict:
        """What a manual check-in of this ticket would say now (under `policy`, default this gate's), recording
        nothing: the search list and the ticket desk show it. `window=False`: whatever the time (the desk's view of
        an order: paid, unpaid, revoked… matter there, not whether the doors are open yet)."""
        decoded = self._by_key(ticket_key, window)
        if decoded is None:
            return Verdict(Code.MALFORMED, ticket_key=ticket_key, detail="no such ticket on this device")
        return decide(decoded, policy or self.policy, self.ledger.history(ticket_key), self.clock() + self.clock_offset)

    def _by_key(self, ticket_key: str, window: bool = True) -> Decoded | None:
        row = self.ledger.ticket(ticket_key)
        if row is None:
            return None
        # no QR: the validity window the QR would carry, from the event's dates and the server's margin; a pass
        # ticket is judged as its QR would be: the pass (its events: the one counted is picked like a scan's) and
        # the window from its first event's start to its last's end
        pass_id = row.get("pass_id")
        if pass_id is not None:
            target, events = pass_id, self.ledger.pass_events().get(pass_id, frozenset({row["event_id"]}))
        else:
            target, events = row["event_id"], frozenset({row["event_id"]})
        valid_from, valid_until = self.ledger.validity_of(events) if window else (None, None)
        ticket = Ticket(key_id=0, event_id=target, ticket_id=0, category=row["category"] or 0,
                        zones=(row["zone"],) if row["zone"] is not None else (), seat=row["seat"], key=ticket_key,
                        scheme="manual", valid_from=valid_from, valid_until=valid_until, is_pass=pass_id is not None)
        return Decoded(OK, ticket)

    def _decide_and_persist(self, decoded: Decoded, read_key: str | None, now: float, offset: float,
                            reason: str = "") -> Verdict:
        """`now` is the device clock (what actions are stamped with, beside the offset); time windows are judged
        on server time, `now + offset`, so a device clock hours off neither admits nor refuses wrongly once synced.

        Reading the history, deciding and recording are one write transaction (BEGIN IMMEDIATE): another process
        on the same device home (a second `agent scan`, the app) waits for it, so one ticket is never admitted
        twice on one device."""
        policy = self.policy
        judged = now + offset
        if decoded.status == OK and decoded.ticket is not None:
            with self.ledger.transaction():
                history = self.ledger.history(decoded.ticket.key)
                if decoded.allotment is not None:     # a kiosk's offline sale: is its allotment revoked?
                    revoked = self.ledger.history(revocation_key(decoded.allotment.certificate.allotment_id)).revoked
                    history = replace(history, allotment_revoked=revoked)
                if read_key is not None and read_key in self._recent:
                    history = replace(history, last_read=self._recent[read_key])
                verdict = decide(decoded, policy, history, judged)
                if verdict.record:
                    offset = _after_known(self.ledger.actions(decoded.ticket.key), now, offset)
                scan_uuid = self._record(verdict, now, offset, reason) if verdict.record else None
        else:
            verdict, scan_uuid = decide(decoded, policy, TicketHistory(), judged), None
        if scan_uuid is None and self.log_refusals and not verdict.repeat and not verdict.accepted:
            self.ledger.enqueue("refusal", RefusalItem(verdict.code.value, verdict.ticket_key, verdict.event_id, now,
                                                       policy.device_id, policy.gate, verdict.detail, offset,
                                                       mode=policy.mode.value).to_wire(),
                                durable=False)
        verdict = replace(verdict, scan_uuid=scan_uuid)
        if read_key is not None and not verdict.repeat:
            self._remember(read_key, LastRead(judged, verdict.code.value, verdict.direction, verdict.event_id))
        for listener in self.listeners:
            try:
                listener(verdict)
            except Exception:   # a UI/sound/sync listener must never take the door down; the scan is on disk
                log.exception("verdict listener failed")
        return verdict

    def _record(self, verdict: Verdict, now: float, offset: float, reason: str) -> str:
        policy = self.policy
        kind, ticket_key = verdict.record, verdict.ticket_key
        if kind is None or ticket_key is None:
            raise AssertionError("only a verdict on a ticket records an action")
        scan_uuid = self.new_uuid()
        action = Action(scan_uuid=scan_uuid, kind=kind, at=now, device_id=policy.device_id,
                        gate=policy.gate, event_id=verdict.event_id, direction=verdict.direction, clock_offset=offset,
                        mode=policy.mode.value)
        self.ledger.record(ticket_key, action, reason=reason, clock_offset=offset,
                           outbox=_action_message(action, ticket_key, reason, offset, verdict.code,
                                                  policy.mode.value))
        return scan_uuid

    def _remember(self, key: str, read: LastRead) -> None:
        self._recent[key] = read
        self._recent.move_to_end(key)
        while len(self._recent) > _RECENT_READS:
            self._recent.popitem(last=False)

    def idle(self) -> None:
        """Housekeeping between scans (WAL checkpoint). Call it after showing a verdict, never before."""
        self.ledger.checkpoint()

    # -- corrections -------------------------------------------------------------------------------------------
    @_ledger_errors
    def annul(self, reason: str, scan_uuid: str | None = None) -> dict[str, Any]:
        """Annul a mistaken check-in or cancellation: the last one of this device, or the one named.
        The original stays in the log; an `annul` action referring to it is appended and synced."""
        if not reason.strip():
            raise ValueError("an annulment needs a reason")
        self.permit("annul")
        target = self.ledger.action(scan_uuid) if scan_uuid else self.ledger.last_local_action(self.policy.device_id)
        if target is None or target["kind"] not in ("entry", "cancel"):
            raise LookupError("nothing to annul" if scan_uuid is None else f"no check-in {scan_uuid}")
        if target.get("origin", "local") != "local":     # the server refuses it: this door alone would admit it again
            raise OrganiserOnly(f"check-in {target['scan_uuid']} was made by {target['device_id']} at gate "
                                f"{target['gate'] or '-'}: only the organiser can undo it (`ticketgate server ticket "
                                f"reset {target['ticket_key']}`)", target["device_id"])
        if self.ledger.annulled(target["scan_uuid"]):
            raise LookupError(f"check-in {target['scan_uuid']} is already annulled")
        uploaded = self.ledger.uploaded_as(target["scan_uuid"])
        if uploaded is not None and uploaded != self.policy.device_id:   # the server refuses it (annul_other_device)
            raise OrganiserOnly(f"check-in {target['scan_uuid']} was uploaded as {uploaded}, this device's "
                                f"enrollment before it was wiped and enrolled again: only the organiser can undo it "
                                f"(`ticketgate server device annul {uploaded} {target['scan_uuid']} --reason …`)",
                                uploaded)
        now, offset = self.clock(), self.clock_offset
        action = Action(scan_uuid=self.new_uuid(), kind="annul", at=now, device_id=self.policy.device_id,
                        gate=self.policy.gate, event_id=target["event_id"], ref_uuid=target["scan_uuid"],
                        clock_offset=offset, mode=self.policy.mode.value)
        self.ledger.record(target["ticket_key"], action, reason=reason, clock_offset=offset,
                           outbox=_action_message(action, target["ticket_key"], reason, offset, None,
                                                  self.policy.mode.value))
        self._recent.clear()
        return {"annulled": target["scan_uuid"], "ticket_key": target["ticket_key"], "scan_uuid": action.scan_uuid,
                "kind": target["kind"]}


def _after_known(actions: list[Action], now: float, offset: float) -> float:
    """The offset to stamp a new action with: this gate's estimate, raised just enough to put the action after
    every action of the ticket it already knows. The estimate errs by up to half a round trip: an entry this gate
    decided knowing an organiser's reset stamped a little ahead of its estimate must not sort before that reset
    (the reset would then clear the entry and admit the ticket once more). Only by up to a minute: an action further ahead
    comes from a clock far off, not from an estimate's error, and its time is not carried over to this gate."""
    ahead = max((a.server_at for a in actions), default=now + offset) - (now + offset)
    if 0 < ahead <= _ESTIMATE_ERROR_MAX:       # equal times: ledger order already puts it after
        return offset + ahead + 0.001
    return offset


def _action_message(action: Action, ticket_key: str, reason: str, clock_offset: float, code: Code | None,
                    mode: str | None = None) -> dict[str, Any]:
    """The outbox message of an action. `mode`: the gate's mode (the server never counts `multiple` entries as
    double admissions)."""
    return ActionItem(action.scan_uuid, action.kind, ticket_key, action.event_id, action.direction, action.at,
                      action.device_id, action.gate, clock_offset=clock_offset, ref_uuid=action.ref_uuid, reason=reason,
                      verdict=code.value if code else None, mode=mode).to_wire()


def _read_key(raw: str | bytes) -> str | None:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(raw, str):
        return None
    return raw.strip("\r\n\t\x00 ")[:600]
