"""Ingestion of device uploads (idempotent by scan uuid, batched) and the reports built on them."""
from __future__ import annotations

import hashlib
import json
import logging
import time

from server_stub.stats import Scan, compute_stats, find_conflicts
from server_stub.store.base import StoreError
from server_stub.store.keys_devices import KeysDevicesMixin
from server_stub.store.exchanges import ExchangeMixin

log = logging.getLogger("ticketgate.server.store")

_INSERT = ("INSERT INTO scans(scan_uuid, type, kind, verdict, ticket_key, event_id, direction, at, clock_offset, "
           "device_id, gate, device_seq, ref_uuid, reason, mode, org, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
           "ON CONFLICT (scan_uuid) DO NOTHING")     # the unique scan uuid makes re-uploads (and racing workers) no-ops
_KINDS = ("entry", "cancel", "annul", "reset")
_SCAN_COLS = "scan_uuid, type, kind, verdict, ticket_key, event_id, direction, at, clock_offset, device_id, gate, ref_uuid, mode, seq"


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


def _opt_int(v) -> int | None:
    return None if v is None else int(v)


def _row(m: dict, org: str | None, now: float) -> tuple:
    """One outbox message -> a scans row. Raises (KeyError, TypeError, ValueError) on a malformed message."""
    kind_of = m.get("type", "action")
    if kind_of == "action":
        uuid = m["scan_uuid"]
        if not isinstance(uuid, str) or not 0 < len(uuid) <= 64:
            raise ValueError("bad scan_uuid")
        if m.get("kind") not in _KINDS:
            raise ValueError(f"unknown action kind {m.get('kind')!r}")
        if m.get("ticket_key") is None:
            raise ValueError("action without ticket_key")
    elif kind_of == "refusal":
        uuid = m.get("scan_uuid") or refusal_uuid(m)
    else:
        raise ValueError(f"message type {kind_of!r} is not a scan")
    for name in ("ref_uuid", "mode", "verdict"):
        if m.get(name) is not None and not isinstance(m.get(name), str):
            raise ValueError(f"{name} must be a string")
    direction = m.get("direction")
    if direction not in (None, "in", "out"):
        raise ValueError(f"bad direction {direction!r}")
    at = float(m["at"])
    offset = float(m.get("clock_offset") or 0.0)
    ticket = m.get("ticket_key")
    return (uuid, kind_of, m.get("kind"), m.get("verdict"), None if ticket is None else str(ticket)[:64],
            _opt_int(m.get("event_id")), direction, at, offset, str(m.get("device_id") or "")[:64],
            str(m.get("gate") or "")[:64], _opt_int(m.get("device_seq")), m.get("ref_uuid"),
            str(m.get("reason") or "")[:500], m.get("mode"), org, now)


class ScansMixin(ExchangeMixin, KeysDevicesMixin):
    def ingest(self, actions: list[dict]) -> tuple[int, int]:
        """Store uploaded outbox messages (actions and refusals) in one transaction. Idempotent by scan uuid.
        Returns (new, duplicates); malformed messages are skipped, logged and counted in `last_rejected`."""
        result = self.ingest_detailed(actions)
        return result["new"], result["duplicates"]

    def ingest_detailed(self, actions: list[dict]) -> dict:
        now = time.time()
        device_org = dict(self.q("SELECT device_id, org FROM devices"))
        event_org = dict(self.q("SELECT event_id, org FROM events"))
        rows, others, rejected = [], [], []
        for m in actions:
            try:
                org = m.get("org") or device_org.get(m.get("device_id")) or event_org.get(m.get("event_id"))
                if m.get("type", "action") in ("action", "refusal"):
                    rows.append(_row(m, org, now))
                elif isinstance(m.get("type"), str):
                    others.append((m, org))
                else:
                    raise ValueError("message without a type")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                rejected.append({"message": m if isinstance(m, dict) else repr(m)[:200], "reason": reason})
                log.warning("ingest: rejected a malformed message (%s)", reason)
        with self.tx() as c:
            new = c.executemany(_INSERT, rows).rowcount if rows else 0
            for m, org in others:
                new += self._ingest_other(c, m, org, now)
        self.last_rejected = rejected
        return {"new": new, "duplicates": len(rows) + len(others) - new, "rejected": len(rejected)}

    def _ingest_other(self, c, m: dict, org: str | None, now: float) -> int:
        """Keep the message whole; apply a kiosk action's effect the first time it arrives (same transaction)."""
        at = m.get("at") if isinstance(m.get("at"), (int, float)) else now
        ticket = m.get("ticket_key")
        inserted = c.execute(
            "INSERT INTO scans(scan_uuid, type, kind, ticket_key, at, device_id, reason, org, received_at, body) "
            "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (scan_uuid) DO NOTHING",
            (message_uuid(m), m["type"][:32], str(m.get("action") or "")[:32] or None,
             None if ticket is None else str(ticket)[:64], float(at), str(m.get("device_id") or "")[:64],
             str(m.get("reason") or "")[:500], org, now, json.dumps(m, default=str)[:20000])).rowcount
        if inserted and m["type"] == "kiosk":
            try:
                self._kiosk_effect(m, org)
            except (StoreError, LookupError, ValueError) as exc:     # logged; the message itself is kept
                log.warning("ingest: kiosk %s from %s not applied (%s)", m.get("action"), m.get("device_id"), exc)
        return inserted

    def _kiosk_effect(self, m: dict, org: str | None) -> None:
        action = m.get("action")
        if action == "payment_validated":
            order = self.order(str(m.get("order_number")))
            if order["org"] != org:
                raise LookupError(f"order {order['number']} is not {org}'s")
            if order["status"] != "pending":
                raise StoreError(f"order {order['number']} is {order['status']}, not pending")
            self.validate_payment(order["number"])
        elif action == "exchange":      # revoke + issue the replacement (same order; category/zone/seat if chosen)
            t = self.ticket(str(m.get("ticket_key")))
            if t["org"] != org:
                raise LookupError(f"ticket {t['ticket_key']} is not {org}'s")
            chosen = {k: m[k] for k in ("category", "zone", "seat") if k in m}
            new = self.exchange_ticket(t["ticket_key"], str(m.get("reason") or "at the kiosk"), **chosen)
            log.info("ingest: ticket %s exchanged at %s for %s", t["ticket_key"], m.get("device_id"), new["ticket_key"])

    def kiosk_actions(self, org: str) -> list[dict]:
        """Kiosk messages devices uploaded (payment validations, exchanges, prints), oldest first."""
        return [json.loads(b) for (b,) in self.q("SELECT body FROM scans WHERE org=? AND type='kiosk' ORDER BY seq", (org,))]

    def _scans(self, org: str, event_id: int | None = None, actions_only: bool = False) -> list[Scan]:
        sql, params = f"SELECT {_SCAN_COLS} FROM scans WHERE org=? AND type IN ('action', 'refusal')", [org]
        if event_id is not None:
            targets = self.targets_of_event(event_id)
            sql += f" AND (event_id=? OR (kind='reset' AND event_id IN ({','.join('?' * len(targets))})))"
            params += [event_id, *targets]
        if actions_only:
            sql += " AND type='action'"
        return [Scan(*r) for r in self.q(sql + " ORDER BY seq", tuple(params))]

    def conflicts(self, org: str, event_id: int | None = None) -> list[dict]:
        """Tickets admitted twice (rule: server_stub.stats), with order/buyer and who/where/when of each admission."""
        self._require_org(org)
        found = find_conflicts(self._scans(org, event_id, actions_only=True), event_id)
        for c in found:
            try:
                t = self.ticket(c["ticket_key"])
                c.update(order_number=t["order_number"], buyer_name=t["buyer_name"])
            except LookupError:
                c.update(order_number=None, buyer_name=None)   # e.g. a pretix ticket
        return found

    def stats(self, org: str, event_id: int | None = None) -> dict:
        self._require_org(org)
        scans = self._scans(org, event_id)
        keys = {s.ticket_key for s in scans if s.ticket_key and s.ticket_key.isdigit()}
        zone_of: dict[str, int | None] = {}
        key_list = [int(k) for k in keys]
        for i in range(0, len(key_list), 900):
            chunk = key_list[i:i + 900]
            zone_of.update((str(t), z) for t, z in self.q(
                f"SELECT ticket_id, zone FROM tickets WHERE ticket_id IN ({','.join('?' * len(chunk))})", tuple(chunk)))
        tz_of = dict(self.q("SELECT event_id, timezone FROM events WHERE org=?", (org,)))
        devices = {d["device_id"]: d for d in self.devices(org)}
        out = compute_stats(scans, zone_of, tz_of, devices, event_id)
        out["organiser"] = org
        out["generated_at"] = time.time()
        return out

    def scan_count(self, org: str | None = None) -> int:
        if org is None:
            return self.q1("SELECT count(*) FROM scans WHERE device_id != 'server'")[0]
        return self.q1("SELECT count(*) FROM scans WHERE org=? AND device_id != 'server'", (org,))[0]
