"""Ingestion of device uploads (idempotent by scan uuid, batched) and the reports built on them."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from agent.errors import TicketgateError
from agent.pricing import cents_text
from agent.reasons import Reason, code_of, coded, reason
from agent.staff import allowed
from agent.sync.messages import (ActionItem, Exchange, OfflineSale, PaymentValidated, RefusalItem, Staffed,
                                 item_from_wire)
from agent.sync.signed import Rejected
from server_stub.stats import SCAN_COLS, Scan, compute_stats, find_conflicts
from server_stub.store.base import StoreError, of_org
from server_stub.store.desk_rollback import DeskRollbackMixin
from server_stub.store.device_uploads import DeviceUploadsMixin
from server_stub.store.keys_devices import KeysDevicesMixin
from server_stub.store.offline_exchanges import OfflineExchangesMixin
from server_stub.store.order_store import ticket_id
from server_stub.store.sales import SPLIT, check_parts
from server_stub.sync.contract import IngestResult, Upload
from server_stub.sync.ingest import (DONE_OFFLINE, dated_before, deactivated_flag, deactivated_when, role_at,
                                     utc_text)

log = logging.getLogger("ticketgate.server.store")

_INSERT = ("INSERT INTO scans(scan_uuid, type, kind, verdict, ticket_key, event_id, direction, at, clock_offset, "
           "device_id, gate, device_seq, ref_uuid, reason, mode, org, received_at, staff, flag) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT (scan_uuid) DO NOTHING")     # the unique scan uuid makes re-uploads (and racing workers) no-ops
_SCAN_COLS = SCAN_COLS


def refusal_uuid(m: dict) -> str:
    """Refusal messages carry no scan uuid: derive a stable one so a re-upload is still a duplicate."""
    basis = f"{m.get('device_id')}|{m.get('at')!r}|{m.get('ticket_key')}|{m.get('verdict')}|{m.get('device_seq')}"
    return "refusal-" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def message_uuid(m: dict) -> str:
    """Other messages (kiosk actions) may carry no id: derive one from the device, its outbox id and the body."""
    own = m.get("scan_uuid") or m.get("id")
    if isinstance(own, str) and 0 < len(own) <= 64:
        return own
    body = json.dumps({k: v for k, v in m.items() if k not in ("org",)}, sort_keys=True, default=str)
    return f"{m.get('type')}-" + hashlib.sha256(f"{m.get('device_id')}|{m.get('outbox_id')}|{body}".encode()).hexdigest()[:32]


def staff_flag(u: Upload, staff: dict[tuple[str, str], dict], received: float,
               roles: dict[tuple[str, str], list[tuple[float, str]]] | None = None) -> str:
    """Why the organiser should look at something a device did offline (`ingest.DONE_OFFLINE`) in a member's name,
    received by the server at `received`: "" when nothing. A device's date (server time: `at + clock_offset`; a
    kiosk message carries no offset) is its word: a kiosk kept offline with its clock set back, or a stolen login,
    dated a deactivated member's sales before her deactivation, a demoted supervisor's payments before her demotion,
    and none of it was flagged. Flagged: done by a member deactivated before the server received it (dated before her
    deactivation, it says so); allowed only by a role she no longer held when it was received (`roles`: (org, staff
    id) -> [(since, role)], `store.staff_roles`); dated before she was added. `staff`: (org, staff id) -> member."""
    m = u.item
    if not isinstance(m, Staffed):
        return ""
    member = staff.get((u.org, m.staff)) if m.staff else None
    at = getattr(m, "at", None)
    if member is None or at is None:
        return ""
    done = at + (getattr(m, "clock_offset", 0.0) or 0.0)
    flags = []
    since = deactivated_when(member, received)
    if since is not None:
        flag = deactivated_flag(member["name"], member["staff_id"], since)
        flags.append(flag if deactivated_when(member, done) is not None else f"{flag}; {dated_before(done)}")
    history = (roles or {}).get((u.org, member["staff_id"]), [])
    if not allowed(member["role"], m.permission()) and history:
        flags.append(f"staff member {member['name']} ({member['staff_id']}) made {member['role']} at "
                     f"{utc_text(history[-1][0])} ({role_at(member, history, done)} before); {dated_before(done)}")
    elif done < member["created_at"]:
        flags.append(f"staff member {member['name']} ({member['staff_id']}) added at "
                     f"{utc_text(member['created_at'])}; {dated_before(done)}")
    return "; ".join(flags)


def _row(u: Upload, now: float, staff: dict[tuple[str, str], dict],
         roles: dict[tuple[str, str], list[tuple[float, str]]]) -> tuple:
    """A checked action or refusal -> its scans row (no validation here: `agent.sync.messages` did it). `staff`:
    (org, staff id) -> the member, for the flag of an action by one deactivated before it was done."""
    m = u.item
    if isinstance(m, ActionItem):
        flag = staff_flag(u, staff, now, roles)
        return (m.scan_uuid, "action", m.kind, m.verdict, m.ticket_key, m.event_id, m.direction, m.at, m.clock_offset,
                u.device_id, m.gate, m.device_seq, m.ref_uuid, m.reason, m.mode, u.org, now, m.staff, flag)
    assert isinstance(m, RefusalItem)
    uuid = m.scan_uuid or refusal_uuid(dict(m.to_wire(), device_id=u.device_id))
    return (uuid, "refusal", None, m.verdict, m.ticket_key, m.event_id, None, m.at, m.clock_offset, u.device_id,
            m.gate, m.device_seq, None, m.detail, m.mode, u.org, now, m.staff, "")


class ScansMixin(DeviceUploadsMixin, DeskRollbackMixin, OfflineExchangesMixin, KeysDevicesMixin):
    staff: Callable[[str], list[dict]]           # StaffMixin (the store class has both)
    staff_roles: Callable[[str], dict[str, list[tuple[float, str]]]]
    if TYPE_CHECKING:       # DeviceCommandsMixin's, in the same store (for the type checker only)
        def posted(self, device: dict) -> dict: ...

    def ingest(self, actions: Iterable[dict]) -> tuple[int, int]:
        """Store uploaded outbox messages (actions and refusals) in one transaction. Idempotent by scan uuid.
        Returns (new, duplicates); malformed messages are skipped, logged and counted in `last_rejected`."""
        result = self.ingest_detailed(actions)
        return result["new"], result["duplicates"]

    def ingest_detailed(self, actions: Iterable[dict]) -> dict:
        """Outbox message dicts (plus `org`, `device_id`, `outbox_id`) -> checked with `agent.sync.messages`, stored."""
        device_org = dict(self.q("SELECT device_id, org FROM devices"))
        event_org = dict(self.q("SELECT event_id, org FROM events"))
        uploads, rejected = [], []
        for m in actions:
            try:
                if not isinstance(m, dict):
                    raise Rejected("not an object")
                item = item_from_wire(dict(m, type=m.get("type", "action")))
                org = m.get("org") or device_org.get(m.get("device_id")) or event_org.get(m.get("event_id"))
                if not org:         # stored under no organiser, no one would ever see it
                    raise Rejected("no organiser: the message names none and its device and event are unknown")
                uploads.append(Upload(org, str(m.get("device_id") or ""), int(m.get("outbox_id") or 0), item))
            except Rejected as exc:
                rejected.append({"message": m if isinstance(m, dict) else repr(m)[:200], "reason": str(exc)})
                log.warning("ingest: rejected a malformed message (%s)", exc)
        result = self.ingest_uploads(uploads)
        self.last_rejected = rejected
        return {"new": result.new, "duplicates": result.duplicates, "rejected": len(rejected),
                "refused": result.refused}

    def ingest_uploads(self, uploads: list[Upload]) -> IngestResult:
        """Store checked, authorized uploads in one transaction (idempotent by scan uuid / derived id). A kiosk
        message whose effect is impossible (order not pending, ticket already exchanged…) is kept and reported in
        `refused` so the device and the organiser see why."""
        now = time.time()
        staff, roles = self._flag_lookups([u for u in uploads if isinstance(u.item, DONE_OFFLINE)])
        scans = [(u, _row(u, now, staff, roles)) for u in uploads if isinstance(u.item, (ActionItem, RefusalItem))]
        others = [u for u in uploads if not isinstance(u.item, (ActionItem, RefusalItem))]
        result = IngestResult()
        with self.tx() as c:
            taken = self._taken_scan_ids(c, scans)
            result.refused.update(((u.device_id, u.outbox_id), why) for u, why in taken.values())
            rows = [row for u, row in scans if id(u) not in taken]
            result.new = c.executemany(_INSERT, rows).rowcount if rows else 0
            self._door_cancellations(c, [u.item for u, _ in scans if isinstance(u.item, ActionItem) and id(u) not in taken])
            for u in others:
                result.new += self._ingest_other(c, u, now, result.refused, staff_flag(u, staff, now, roles))
            if rows:
                result.cursor = int(c.execute("SELECT max(seq) FROM scans").fetchone()[0] or 0)
        result.duplicates = len(rows) + len(others) - result.new
        return result

    def _flag_lookups(self, staffed: list[Upload]) -> tuple[dict[tuple[str, str], dict],
                                                          dict[tuple[str, str], list[tuple[float, str]]]]:
        """The members `staffed` names ((org, staff id) -> row), and the role history of the organisers where one of
        them no longer holds a role that allows what was uploaded in her name (`staff_flag`)."""
        named = [(u.org, u.item) for u in staffed if isinstance(u.item, Staffed) and u.item.staff]
        staff = {(org, r["staff_id"]): r for org in {org for org, _ in named} for r in self.staff(org)}
        stale = {org for org, m in named if (member := staff.get((org, m.staff))) is not None
                 and not allowed(member["role"], m.permission())}
        return staff, {(org, sid): history for org in stale for sid, history in self.staff_roles(org).items()}

    def _taken_scan_ids(self, c, scans: list[tuple[Upload, tuple]]) -> dict[int, tuple[Upload, Reason]]:
        """Actions whose scan id another record holds (stored, or earlier in these uploads): refused. Taken as a
        re-upload (ON CONFLICT: a duplicate) they were acked and relayed to the gates, yet never stored: an entry
        the gates hold that `device uploads` does not list and `device rollback` cannot undo. The same action again
        (kind and ticket; from the device re-enrolled after a technician's wipe too) stays a duplicate."""
        ids = sorted({row[0] for _, row in scans})
        held: dict[str, tuple] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            held.update((r[0], tuple(r[1:])) for r in c.execute(
                f"SELECT scan_uuid, type, kind, ticket_key FROM scans WHERE scan_uuid IN "
                f"({','.join('?' * len(chunk))})", tuple(chunk)).fetchall())
        taken: dict[int, tuple[Upload, Reason]] = {}      # id(upload) -> (upload, why)
        for u, row in scans:
            scan_id, record = row[0], (row[1], row[2], row[4])      # type, kind, ticket (any device: re-stamped)
            if held.setdefault(scan_id, record) != record and isinstance(u.item, ActionItem):
                taken[id(u)] = (u, reason("scan_id_taken", f"scan id {scan_id} is another record's: not stored",
                                          scan=scan_id))
        if taken:           # one line per call, not per action: a device sending thousands must not fill the log
            u, why = next(iter(taken.values()))
            log.warning("ingest: %d action(s) under a scan id another record holds, refused (first: %s from %s, %s)",
                        len(taken), getattr(u.item, "kind", "?"), u.device_id, why)
        return taken

    def _door_cancellations(self, c, actions: list[ActionItem]) -> None:
        """A quick cancellation at a door puts the ticket back on sale on the server (stock), its annulment takes it
        again; idempotent (the ticket's `released` flag), a cancellation already annulled is not applied."""
        for a in actions:
            if a.kind == "cancel":
                if c.execute("SELECT 1 FROM scans WHERE ref_uuid=? AND kind='annul'", (a.scan_uuid,)).fetchone() is None:
                    self.quick_cancelled(c, a.ticket_key)
            elif a.kind == "annul" and a.ref_uuid:
                if c.execute("SELECT 1 FROM scans WHERE scan_uuid=? AND kind='cancel'", (a.ref_uuid,)).fetchone():
                    self.quick_cancelled(c, a.ticket_key, undone=True)

    def _ingest_other(self, c, u: Upload, now: float, refused: dict, flag: str = "") -> int:
        """Keep the message whole; apply a kiosk action's effect the first time it arrives (same transaction).
        `flag`: why the organiser should look at it (`staff_flag`: done by a member deactivated before), kept with
        the flag its effect adds."""
        m = dict(u.item.to_wire(), org=u.org, device_id=u.device_id, outbox_id=u.outbox_id)
        sent = m.get("at")
        at = float(sent) if isinstance(sent, (int, float)) else now
        ticket = m.get("ticket_key")
        inserted = c.execute(
            "INSERT INTO scans(scan_uuid, type, kind, ticket_key, at, device_id, reason, org, received_at, body, staff, "
            "flag) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (scan_uuid) DO NOTHING",
            (message_uuid(m), m["type"][:32], str(m.get("action") or "")[:32] or None,
             None if ticket is None else str(ticket)[:64], at, u.device_id[:64],
             str(m.get("reason") or "")[:500], u.org, now, json.dumps(m, default=str)[:20000],
             str(m.get("staff") or ""), flag[:500])).rowcount
        if not inserted:
            return 0
        if isinstance(u.item, (PaymentValidated, Exchange, OfflineSale)):
            try:
                effect = (self._offline_sale(c, u) if isinstance(u.item, OfflineSale) else
                          self._kiosk_effect(c, u.item, u.org, u.device_id, message_uuid(m), now))
            except TicketgateError as exc:     # refused on purpose: kept, reported to the device and the organiser
                log.warning("ingest: kiosk %s from %s not applied (%s)", m.get("action"), u.device_id, exc)
                code, params = code_of(exc)        # the cause's code (already exchanged…) when it has one
                refused[(u.device_id, u.outbox_id)] = (Reason(f"not applied: {exc}", code, params) if code else
                                                       reason("not_applied", f"not applied: {exc}", detail=str(exc)))
            else:
                if effect:           # (`flag`: honoured, for the organiser to look at: `device uploads`)
                    flags = "; ".join(f for f in (flag, str(effect.get("flag") or "")) if f)
                    c.execute("UPDATE scans SET body=?, flag=? WHERE scan_uuid=?",
                              (json.dumps(dict(m, **effect), default=str), flags[:500], message_uuid(m)))
        return 1

    def _offline_sale(self, c, u: Upload) -> dict:
        """Reconciled in a savepoint: refused, it leaves nothing behind (the message itself stays stored)."""
        assert isinstance(u.item, OfflineSale)
        c.execute("SAVEPOINT offline_sale")
        try:
            effect = self.reconcile_offline_sale(c, u.item, u.org, u.device_id)
        except TicketgateError:
            c.execute("ROLLBACK TO SAVEPOINT offline_sale")
            raise
        c.execute("RELEASE SAVEPOINT offline_sale")
        return effect

    def _kiosk_effect(self, c, m: PaymentValidated | Exchange, org: str | None, device_id: str, uuid: str,
                      received: float) -> dict:
        """`received`: when the server got it; a payment counts in the till by it, as an offline sale does (the
        kiosk's clock, set back, filed it in a shift closed already or in none)."""
        if isinstance(m, PaymentValidated):
            order = self.order(m.order_number)
            of_org(order, org, f"order {order['number']} is not {org}'s")
            if order["status"] != "pending":
                raise StoreError(f"order {order['number']} is {order['status']}, not pending")
            due = self.order_due(order["number"])
            if due is not None and m.parts:
                check_parts(m.parts, due["cents"], due["currency"])
            if due is not None and m.amount_cents is not None and m.amount_cents != due["cents"]:
                # the kiosk held another amount due (an order changed since its last bundle): not paid, said
                shown = {k: cents_text(v, due["currency"]) for k, v in (("due", due["cents"]), ("given", m.amount_cents))}
                raise coded(StoreError(f"order {order['number']}: {shown['due']} due, {shown['given']} collected"),
                            "wrong_amount", order=order["number"], **shown)
            self.validate_payment(order["number"])
            self.price_unpriced_order(c, order["number"])
            # the money taken is a desk move of that kiosk (its till's Z report, the sales report's payment method)
            total = sum(x["total_cents"] for x in self.order_lines(order["number"]))
            answer = {"device": device_id, "request_id": uuid, "kind": "payment", "ok": True, "status": "paid",
                      "order_number": order["number"], "total_cents": total, "parts": [x.to_wire() for x in m.parts]}
            c.execute("INSERT INTO desk_requests(request_id, org, device_id, kind, answer, at, payment, staff) "
                      "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (request_id) DO NOTHING",
                      (uuid, order["org"], device_id, "payment", json.dumps(answer), received,
                       SPLIT if m.parts else m.payment,
                       m.staff))
            return {}
        t = self.ticket(m.ticket_key)      # exchange: revoke + issue the replacement (same order)
        of_org(t, org, f"ticket {t['ticket_key']} is not {org}'s")
        new = self.exchange_ticket(t["ticket_key"], m.reason, **m.chosen())
        log.info("ingest: ticket %s exchanged at %s for %s", t["ticket_key"], m.device_id, new["ticket_key"])
        unsettled = self.offline_exchange_difference(t, new)     # another price, nothing settled: `server conflicts`
        if unsettled:
            log.warning("ingest: offline exchange of %s at %s changed its price by %s cents, not settled",
                        t["ticket_key"], m.device_id, unsettled["difference_cents"])
        return {"replacement": new["ticket_key"], **unsettled}

    def staff_actions(self, org: str, staff_id: str | None = None, limit: int = 1000) -> list[dict]:
        """What devices uploaded (actions, refusals, kiosk records), newest first, with the staff member named; a
        kiosk record of an order (a payment taken) names it (`order_number`)."""
        sql, params = _by_staff("SELECT s.seq, s.type, s.kind, s.verdict, s.ticket_key, s.event_id, s.at, s.device_id, "
                                "s.gate, s.staff, st.name, st.role, s.flag, s.body FROM scans s "
                                f"{_staff_join('s')} WHERE s.org=? AND s.device_id != 'server'", "s", org, staff_id)
        rows = self.q(sql + " ORDER BY s.seq DESC LIMIT ?", (*params, limit))
        keys = ("seq", "type", "kind", "verdict", "ticket_key", "event_id", "at", "device_id", "gate", "staff",
                "staff_name", "staff_role", "flag")
        uploaded = [dict(zip(keys, r), order_number=_order_of(r[1], r[-1])) for r in rows]
        return merge_newest_first(uploaded, self._desk_acts(org, staff_id, limit))[:limit]

    def _desk_acts(self, org: str, staff_id: str | None, limit: int) -> list[dict]:
        """The sales, refunds, exchanges and payments a desk asked the server for while online (type `desk`, no
        upload number), newest first: the ones a kiosk uploaded (offline sales, payments taken) are its uploads."""
        sql, params = _by_staff("SELECT d.kind, d.answer, d.at, d.device_id, d.staff, st.name, st.role FROM "
                                f"desk_requests d {_staff_join('d')} WHERE d.org=? AND d.kind IN ('sale', 'refund', "
                                "'exchange', 'payment') AND NOT EXISTS (SELECT 1 FROM scans s WHERE s.scan_uuid = "
                                "d.request_id)", "d", org, staff_id)
        out = []
        for kind, answer, at, device, staff, name, role in self.q(sql + " ORDER BY d.at DESC LIMIT ?",
                                                                   (*params, limit)):
            a = json.loads(answer)
            if not a.get("ok") or a.get("offline_order"):
                continue                        # refused (nothing done), or an offline sale (its upload is listed)
            out.append({"seq": None, "type": "desk", "kind": kind, "verdict": None, "ticket_key": None,
                        "event_id": None, "at": at, "device_id": device, "gate": "", "staff": staff,
                        "staff_name": name, "staff_role": role, "flag": "rolled back" if a.get("rolled_back") else "",
                        "order_number": a.get("order_number")})
        return out

    def kiosk_actions(self, org: str) -> list[dict]:
        """Kiosk messages devices uploaded (payment validations, exchanges, prints), oldest first."""
        return [json.loads(b) for (b,) in self.q("SELECT body FROM scans WHERE org=? AND type='kiosk' ORDER BY seq", (org,))]

    def _scans(self, org: str, event_id: int | None = None, actions_only: bool = False) -> list[Scan]:
        sql = f"SELECT {_SCAN_COLS} FROM scans WHERE org=? AND type IN ('action', 'refusal')"
        params: list[Any] = [org]
        if event_id is not None:
            targets = self.targets_of_event(event_id)
            sql += f" AND (event_id=? OR (kind='reset' AND event_id IN ({','.join('?' * len(targets))})))"
            params += [event_id, *targets]
        if actions_only:
            sql += " AND type='action'"
        return [Scan(*r) for r in self.q(sql + " ORDER BY seq", tuple(params))]

    def conflicts(self, org: str, event_id: int | None = None) -> list[dict]:
        """Tickets admitted twice, or after the server revoked them (rule: server_stub.stats), with order/buyer and
        who/where/when of each admission; then the exchanges made offline whose price difference nobody settled
        (`unsettled_exchanges`, kind 'exchange_difference')."""
        self._require_org(org)
        found = find_conflicts(self._scans(org, event_id, actions_only=True), event_id, self._revoked(org))
        for c in found:
            try:
                t = self.ticket(c["ticket_key"])
                c.update(order_number=t["order_number"], buyer_name=t["buyer_name"])
            except LookupError:
                c.update(order_number=None, buyer_name=None)   # e.g. a pretix ticket
        return found + self.unsettled_exchanges(org, event_id)

    def _revoked(self, org: str) -> dict[str, tuple[str, float, str | None]]:
        """ticket -> (reason, server time, replacement or None) of its active revocation (`find_conflicts`)."""
        return {str(t): (reason, at, None if new is None else str(new)) for t, reason, at, new in self.q(
            "SELECT r.ticket_id, r.reason, r.at, r.replacement FROM revocations r JOIN tickets t ON "
            "t.ticket_id = r.ticket_id JOIN orders o ON o.order_id = t.order_id WHERE o.org=? AND r.active=1", (org,))}

    def stats(self, org: str, event_id: int | None = None) -> dict:
        self._require_org(org)
        scans = self._scans(org, event_id)
        key_list = sorted({tid for s in scans if s.ticket_key and (tid := ticket_id(s.ticket_key)) is not None})
        zone_of: dict[str, int | None] = {}
        for i in range(0, len(key_list), 900):
            chunk = key_list[i:i + 900]
            zone_of.update((str(t), z) for t, z in self.q(
                f"SELECT ticket_id, zone FROM tickets WHERE ticket_id IN ({','.join('?' * len(chunk))})", tuple(chunk)))
        tz_of = dict(self.q("SELECT event_id, timezone FROM events WHERE org=?", (org,)))
        # each device at the gate and in the mode the organiser set (`server devices`'s words), not its scans' word
        devices = {d["device_id"]: dict(d, **self.posted(d)) for d in self.devices(org)}
        out = compute_stats(scans, zone_of, tz_of, devices, event_id, self._revoked(org))
        out["organiser"] = org
        out["generated_at"] = time.time()
        return out

    def scan_count(self, org: str | None = None) -> int:
        if org is None:
            return self.q1("SELECT count(*) FROM scans WHERE device_id != 'server'")[0]
        return self.q1("SELECT count(*) FROM scans WHERE org=? AND device_id != 'server'", (org,))[0]


def _order_of(kind: str, body: str | None) -> str | None:
    """The order a kiosk record names (a payment taken for it), else None."""
    if kind != "kiosk" or not body:
        return None
    try:
        number = json.loads(body).get("order_number")
    except (ValueError, AttributeError):
        return None
    return number if isinstance(number, str) else None


def merge_newest_first(uploaded: list[dict], desk: list[dict]) -> list[dict]:
    """The uploads (in upload order, newest first) with the desk's acts (newest first) each placed before the first
    upload older than it: the uploads keep their order."""
    out, pending = [], list(desk)
    for row in uploaded:
        while pending and pending[0]["at"] >= row["at"]:
            out.append(pending.pop(0))
        out.append(row)
    return out + pending


def _staff_join(alias: str) -> str:
    """The staff member a row of `alias` (scans, desk_requests) names: its `staff` column holds the id as text."""
    return (f"LEFT JOIN staff st ON st.org = {alias}.org AND st.staff_id = CASE WHEN {alias}.staff = '' THEN NULL "
            f"ELSE CAST({alias}.staff AS INTEGER) END")


def _by_staff(sql: str, alias: str, org: str, staff_id: str | None) -> tuple[str, tuple]:
    """`sql` (its one parameter: the organiser) narrowed to `staff_id`'s rows when given."""
    return (sql, (org,)) if staff_id is None else (f"{sql} AND {alias}.staff=?", (org, staff_id))
