"""What one device uploaded: refused uploads kept for the organiser, rolling back a revoked device's uploads and
undoing one of a device's entries (`annul_upload`, the organiser's `server device annul`).

Rolling back (`rollback_device`, only once the device is revoked) appends, never deletes:
  * each of its entries and quick cancellations not annulled yet gets an organiser `annul` action (device "server",
    version-stamped): the announcer relays it live and deltas carry it, so gates forget the entry; a quick
    cancellation undone takes its ticket off sale again and gives its order back its status (paid or pending);
  * each order it marked paid goes back to pending (its tickets scan `unpaid` again);
  * each ticket it exchanged gets its revocation lifted and the replacement revoked;
  * what it did at the desk through the server (a kiosk's sales, refunds, exchanges) is undone, its allotments
    revoked, and what no store change undoes (money handed out, entries made) listed: server_stub.store.desk_rollback.
Kiosk messages and desk requests are undone newest first (a chain of exchanges, a refund of its own sale).
Plain SQL on purpose: the same statements serve a PostgreSQL store.
"""
from __future__ import annotations

import hashlib
import json
import time
from uuid import uuid4
from typing import TYPE_CHECKING, Any

from agent.errors import InvalidInput
from server_stub.store.base import NotFound, StoreBase, StoreError


MAX_UNREGISTERED = 500                 # device ids kept per organiser in unregistered_uploads
OTHER_DEVICES = "(other devices)"      # ... then counted under this one


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]


class DeviceUploadsMixin(StoreBase):
    if TYPE_CHECKING:        # SalesMixin's and DeskRollbackMixin's, in the same store (for the type checker only)
        def quick_cancelled(self, c: Any, ticket_key: str, undone: bool = False) -> bool: ...
        def desk_uploads(self, device_id: str) -> list[dict]: ...
        def _desk_rows(self, c: Any, device_id: str, after: float) -> list[tuple]: ...
        def _undo_desk_row(self, c: Any, row: tuple, why: str, now: float, done: dict) -> None: ...
        def _revoke_allotments(self, c: Any, org: str, device_id: str, why: str) -> list[int]: ...

    # -- refused uploads ---------------------------------------------------------------------------------------
    def record_refusals(self, org: str, device_id: str, refusals: list[tuple[int, str, dict]]) -> None:
        """(outbox id, reason, body) the sync server refused; a re-upload of the same row is recorded once."""
        now = time.time()
        with self.tx() as c:
            c.executemany(
                "INSERT INTO refused_uploads(org, device_id, outbox_id, reason, body, digest, received_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(device_id, outbox_id, digest) DO UPDATE SET reason=excluded.reason",
                [(org, device_id, int(i), str(reason)[:500], json.dumps(body, default=str)[:20000], _digest(body), now)
                 for i, reason, body in refusals])

    def refusals(self, org: str, device_id: str | None = None, limit: int = 500) -> list[dict]:
        """Refused uploads, newest first: {device_id, outbox_id, reason, body, received_at}."""
        sql = "SELECT device_id, outbox_id, reason, body, received_at FROM refused_uploads WHERE org=?"
        params: tuple = (org,)
        if device_id is not None:
            sql, params = sql + " AND device_id=?", (org, device_id)
        rows = self.q(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [{"device_id": d, "outbox_id": i, "reason": r, "body": json.loads(b), "received_at": at}
                for d, i, r, b, at in rows]

    def record_unregistered(self, rows: list[tuple[str, str, str, int, float]]) -> None:
        """(org from the topic, device id from the topic, reason, uploads, last at) refused before reading them (the
        device not registered, revoked, or another organiser's): counted per device and reason, not kept one by one
        (a flood must not fill the disk); past MAX_UNREGISTERED device ids of an organiser, new ones are counted
        under OTHER_DEVICES. An organiser this store does not have: nothing kept."""
        with self.tx() as c:
            for org, device, why, n, at in rows:
                if c.execute("SELECT 1 FROM organisers WHERE org=?", (org,)).fetchone() is None:
                    continue
                if (c.execute("SELECT 1 FROM unregistered_uploads WHERE org=? AND device_id=? AND reason=?",
                              (org, device, why)).fetchone() is None
                        and c.execute("SELECT count(*) FROM unregistered_uploads WHERE org=?",
                                      (org,)).fetchone()[0] >= MAX_UNREGISTERED):
                    device = OTHER_DEVICES
                c.execute("INSERT INTO unregistered_uploads(org, device_id, reason, count, first_at, last_at) "
                          "VALUES (?,?,?,?,?,?) ON CONFLICT (org, device_id, reason) DO UPDATE SET "
                          "count = unregistered_uploads.count + excluded.count, last_at = excluded.last_at",
                          (org, device[:64], why[:200], int(n), at, at))

    def unregistered_uploads(self, org: str, device_id: str | None = None, limit: int = 500) -> list[dict]:
        """Uploads refused for their device (record_unregistered), the latest first: {device_id, reason, count,
        first_at, last_at}."""
        sql = "SELECT device_id, reason, count, first_at, last_at FROM unregistered_uploads WHERE org=?"
        params: tuple = (org,)
        if device_id is not None:
            sql, params = sql + " AND device_id=?", (org, device_id)
        return [dict(zip(("device_id", "reason", "count", "first_at", "last_at"), r))
                for r in self.q(sql + " ORDER BY last_at DESC, device_id LIMIT ?", (*params, limit))]

    def refusal_counts(self, org: str) -> dict[str, int]:
        return dict(self.q("SELECT device_id, count(*) FROM refused_uploads WHERE org=? GROUP BY device_id", (org,)))

    def annul_target(self, scan_uuid: str, annulment: str) -> tuple[str, str | None, bool, str | None, int | None] | None:
        """What the annulment `annulment` names: (the device that uploaded it, its kind, annulled already by another
        annulment, its ticket, its event), None when the store does not hold it."""
        rows = self.q("SELECT s.device_id, s.kind, EXISTS(SELECT 1 FROM scans a WHERE a.kind='annul' "
                      "AND a.ref_uuid=s.scan_uuid AND a.scan_uuid<>?), s.ticket_key, s.event_id FROM scans s "
                      "WHERE s.scan_uuid=?", (annulment, scan_uuid))
        return (rows[0][0], rows[0][1], bool(rows[0][2]), rows[0][3], rows[0][4]) if rows else None

    def ticket_targets(self, ticket_keys: set[str], chunk: int = 500) -> dict[str, int]:
        """ticket key -> the event or pass it is for, for the keys this store issued (a pretix key, or a ticket sold
        offline and not reconciled yet, has none). One query per `chunk` keys (an upload batch: one), by primary key
        as `_order_numbers` (joining the catalogue here doubled its cost: the caller knows the few targets)."""
        ids = sorted(int(k) for k in ticket_keys if k.isascii() and k.isdigit() and len(k) <= 18)
        found: dict[str, int] = {}
        for i in range(0, len(ids), chunk):
            part = ids[i:i + chunk]
            found.update((str(t), target) for t, target in self.q(
                f"SELECT ticket_id, target_id FROM tickets WHERE ticket_id IN ({','.join('?' * len(part))})",
                tuple(part)))
        return found

    def allotment_of_ticket(self, ticket_id: int) -> tuple[str, list[int]] | None:
        """(organiser, events or passes) of the offline allotment whose id range holds `ticket_id` (a ticket a kiosk
        may have sold offline, not reconciled yet); None when no allotment's range holds it."""
        row = self.q1("SELECT org, events FROM allotments WHERE first_id <= ? AND last_id >= ?", (ticket_id, ticket_id))
        return None if row is None else (row[0], json.loads(row[1]))

    # -- uploads of one device and their rollback -------------------------------------------------------------------
    def device_uploads(self, device_id: str) -> list[dict]:
        """Everything a device uploaded that changed something (actions, kiosk messages), oldest first, then what it
        had the server do at the desk (`desk_uploads`: type desk), each with `rolled_back` when an organiser
        annulment (or a rollback of its effect) undid it, and its `flag` (a door action by a staff member deactivated
        before it was done: server_stub.sync.ingest) or ''."""
        annulled = {r[0] for r in self.q("SELECT ref_uuid FROM scans WHERE kind='annul' AND ref_uuid IS NOT NULL "
                                         "AND device_id='server'")}
        rows = self.q("SELECT seq, scan_uuid, type, kind, ticket_key, event_id, at, received_at, body, flag FROM scans "
                      "WHERE device_id=? AND type IN ('action', 'kiosk') ORDER BY seq", (device_id,))
        orders = self._order_numbers({r[4] for r in rows if r[4]})
        out = []
        for seq, uuid, type_, kind, ticket, event, at, received, body, flag in rows:
            b = json.loads(body) if body else {}
            out.append({"seq": seq, "scan_uuid": uuid, "type": type_, "kind": kind, "ticket_key": ticket,
                        "event_id": event, "at": at, "received_at": received,
                        "order_number": b.get("order_number") or orders.get(ticket),     # an entry: its ticket's order
                        "replacement": b.get("replacement"),
                        "rolled_back": uuid in annulled or bool(b.get("rolled_back")), "flag": flag})
        return out + self.desk_uploads(device_id)

    def _order_numbers(self, ticket_keys: set[str], chunk: int = 500) -> dict[str, str]:
        """ticket key -> its order's number, for the keys this store issued (a pretix or unknown key has none).
        By primary key, in chunks: a ticket id compared as text would scan every ticket on PostgreSQL."""
        ids = sorted(int(k) for k in ticket_keys if k.isascii() and k.isdigit() and len(k) <= 18)
        found: dict[str, str] = {}
        for i in range(0, len(ids), chunk):
            part = ids[i:i + chunk]
            found.update((str(t), n) for t, n in self.q(
                "SELECT t.ticket_id, o.number FROM tickets t JOIN orders o ON o.order_id = t.order_id "
                f"WHERE t.ticket_id IN ({','.join('?' * len(part))})", tuple(part)))
        return found

    def rollback_device(self, device_id: str, reason: str, since: float | None = None) -> dict:
        """Undo what a revoked device uploaded (see the module doc); `since`: only what the server received at or after
        that time (server clock: a device cannot date its uploads before it), its allotments revoked whatever it is.
        Idempotent: a second run finds nothing left."""
        if not reason.strip():
            raise InvalidInput("a rollback needs a reason")
        device = self.q1("SELECT org, revoked_at FROM devices WHERE device_id=?", (device_id,))
        if device is None:
            raise NotFound(f"no device {device_id!r}")
        org, revoked_at = device
        if revoked_at is None:
            raise StoreError(f"device {device_id} is not revoked: revoke it first (it could upload again)")
        why = f"rolled back ({device_id} revoked): {reason}"
        now = time.time()
        after = float("-inf") if since is None else float(since)
        done: dict[str, Any] = {"device_id": device_id, "annulled": 0, "payments": [], "exchanges": [], "skipped": [],
                                "sales": [], "refunds": [], "not_undone": [], "allotments": []}
        with self.tx() as c:
            version = self._bump(org)
            for uuid, ticket, event, kind in c.execute(
                    "SELECT s.scan_uuid, s.ticket_key, s.event_id, s.kind FROM scans s WHERE s.device_id=? AND "
                    "s.type='action' AND s.kind IN ('entry', 'cancel') AND s.received_at >= ? AND NOT EXISTS (SELECT 1 "
                    "FROM scans a WHERE a.kind='annul' AND a.ref_uuid=s.scan_uuid)", (device_id, after)).fetchall():
                c.execute("INSERT INTO scans(scan_uuid, type, kind, ticket_key, event_id, at, device_id, gate, "
                          "ref_uuid, reason, org, received_at, version) VALUES (?, 'action', 'annul', ?, ?, ?, 'server', '', "
                          "?, ?, ?, ?, ?)", ("rollback-" + uuid4().hex, ticket,
                                             event, now, uuid, why, org, now, version))
                if kind == "cancel":      # the ticket is taken again, its order paid (or pending) again
                    self.quick_cancelled(c, ticket, undone=True)
                done["annulled"] += 1
            # its kiosk messages and desk requests, newest first: an exchange of a ticket it got from an earlier one,
            # a refund of its own sale, are undone before what they build on
            moves = [(at, "kiosk", (seq, body)) for seq, body, at in c.execute(
                "SELECT seq, body, received_at FROM scans WHERE device_id=? AND type='kiosk' AND kind IN "
                "('payment_validated', 'exchange') AND received_at >= ?", (device_id, after)).fetchall()]
            moves += [(row[0], "desk", row) for row in self._desk_rows(c, device_id, after)]
            for _at, source, row in sorted(moves, key=lambda m: m[0], reverse=True):
                if source == "desk":
                    self._undo_desk_row(c, row, why, now, done)
                    continue
                seq, body = row
                b = json.loads(body)
                if b.get("rolled_back"):
                    continue
                undone = self._undo_kiosk(c, b, why, now, version)
                (done["payments"] if b.get("action") == "payment_validated" else done["exchanges"]).extend(
                    undone[:1] if undone[0] is not None else [])          # (skipped: counted as skipped only)
                done["skipped"].extend(undone[1:])
                c.execute("UPDATE scans SET body=? WHERE seq=?", (json.dumps(dict(b, rolled_back=now)), seq))
            done["allotments"] = self._revoke_allotments(c, org, device_id, why)
        done["version"] = self.version(org)
        return done

    def annul_upload(self, org: str, device_id: str, scan_uuid: str, reason: str) -> dict:
        """The organiser undoes one entry or quick cancellation a device of `org` uploaded, any device, revoked or
        not: one made before a technician's wipe and re-enrollment is the old device id's, which the door enrolled
        again may not annul (server_stub.sync.ingest: annul_other_device). Appends an organiser `annul` (device
        "server", version-stamped) that gates receive as a rollback's; the entry stays, listed as undone."""
        if not reason.strip():
            raise InvalidInput("undoing an entry needs a reason")
        now = time.time()
        with self.tx() as c:
            version = self._bump(org)
            row = c.execute("SELECT ticket_key, event_id, kind, at, gate FROM scans WHERE scan_uuid=? AND device_id=? "
                            "AND org=? AND type='action'", (scan_uuid, device_id, org)).fetchone()
            if row is None:
                raise NotFound(f"no entry {scan_uuid} uploaded by {device_id} (`ticketgate server device uploads "
                               f"{device_id}` lists them)")
            ticket, event, kind, at, gate = row
            if kind not in ("entry", "cancel"):
                raise InvalidInput(f"{scan_uuid} is {'an annulment' if kind == 'annul' else kind or 'a record'}: only "
                                   f"an entry or a quick cancellation is undone")
            by = c.execute("SELECT device_id, at FROM scans WHERE kind='annul' AND ref_uuid=? ORDER BY seq LIMIT 1",
                           (scan_uuid,)).fetchone()
            if by is not None:
                raise StoreError(f"{kind} {scan_uuid} is already undone (by "
                                 f"{'the organiser' if by[0] == 'server' else by[0]})")
            annul = "undo-" + uuid4().hex
            c.execute("INSERT INTO scans(scan_uuid, type, kind, ticket_key, event_id, at, device_id, gate, ref_uuid, "
                      "reason, org, received_at, version) VALUES (?, 'action', 'annul', ?, ?, ?, 'server', '', ?, ?, ?, "
                      "?, ?)", (annul, ticket, event, now, scan_uuid, f"undone by the organiser: {reason}", org, now,
                                version))
            if kind == "cancel":      # the ticket is taken again, its order paid (or pending) again
                self.quick_cancelled(c, ticket, undone=True)
        return {"device_id": device_id, "annulled": scan_uuid, "kind": kind, "ticket_key": ticket, "event_id": event,
                "at": at, "gate": gate, "scan_uuid": annul, "reason": reason, "version": version}

    def _undo_kiosk(self, c, b: dict, why: str, now: float, version: int) -> list:
        """-> [what was undone] or [None, why it was skipped]."""
        if b.get("action") == "payment_validated":
            row = c.execute("SELECT order_id, status FROM orders WHERE number=?", (str(b.get("order_number")),)).fetchone()
            if row is None or row[1] != "paid":
                return [None, f"order {b.get('order_number')}: {row[1] if row else 'not found'}, left as it is"]
            c.execute("UPDATE orders SET status='pending', reason=?, updated_at=? WHERE order_id=?", (why, now, row[0]))
            for request_id, answer in c.execute("SELECT request_id, answer FROM desk_requests WHERE kind='payment' AND "
                                                "device_id=?", (str(b.get("device_id")),)).fetchall():
                if json.loads(answer).get("order_number") == b.get("order_number"):    # out of the till too
                    c.execute("DELETE FROM desk_requests WHERE request_id=?", (request_id,))
            c.execute("UPDATE tickets SET version=? WHERE order_id=?", (version, row[0]))
            return [b.get("order_number")]
        old, new = str(b.get("ticket_key")), b.get("replacement")
        if not new:
            return [None, f"exchange of {old}: not applied, nothing to undo"]
        status = c.execute("SELECT o.status FROM orders o JOIN tickets t ON t.order_id = o.order_id WHERE t.ticket_id=?",
                           (int(new),)).fetchone()
        if status is not None and status[0] in ("cancelled", "refunded"):    # its tickets are off for good
            return [None, f"exchange of {old}: its order is {status[0]} since, left as it is"]
        if c.execute("SELECT 1 FROM revocations WHERE ticket_id=? AND active=1", (int(new),)).fetchone():
            return [None, f"exchange of {old}: its replacement {new} was revoked or exchanged since, left as it is"]
        c.execute("UPDATE revocations SET active=0, reason=?, at=?, version=? WHERE ticket_id=?", (why, now, version, int(old)))
        c.execute("INSERT INTO revocations(ticket_id, reason, at, active, version) VALUES (?,?,?,1,?) "
                  "ON CONFLICT(ticket_id) DO UPDATE SET reason=excluded.reason, at=excluded.at, active=1, "
                  "version=excluded.version", (int(new), why, now, version))
        return [{"ticket_key": old, "replacement": new}]
