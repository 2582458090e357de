"""`SqlStore`: the whole `ServerStore` over any backend (settings and signed payloads here, the rest in the mixins).
`SqliteStore` and `PostgresStore` only add their connection and order search."""
from __future__ import annotations

import json
from typing import Callable

from agent.ticket_format import Ticket
from server_stub.model import DEFAULT_VALIDITY_MARGIN_H, validity_window
from server_stub.store.base import NotFound
from server_stub.store.device_commands import DeviceCommandsMixin
from server_stub.store.reports import MailStatusMixin, TillRequestsMixin


class SqlStore(TillRequestsMixin, MailStatusMixin, DeviceCommandsMixin):
    """Implements `server_stub.store.ServerStore`. Thread-safe (one connection under a lock)."""

    def unreachable(self, exc: BaseException) -> str | None:
        """What a long-running process says when `exc` means the database server cannot be reached (stopped,
        restarting, network), without secrets; None for any other error (the caller keeps its own handling). An
        embedded SQLite file has no server: always None."""
        return None

    # -- settings ----------------------------------------------------------------------------------------------
    def get_setting(self, key: str, default=None):
        row = self.q1("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO settings(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      (key, json.dumps(value)))

    @property
    def validity_margin_hours(self) -> float:
        return float(self.get_setting("validity_margin_hours", DEFAULT_VALIDITY_MARGIN_H))

    # -- signed tickets ----------------------------------------------------------------------------------------
    def ticket_for_payload(self, ticket_key: str | int, key_id: int) -> Ticket:
        """The `Ticket` the payload of this ticket carries (validity from its event or every event of its pass)."""
        t = self.ticket(ticket_key)
        target = self.target(t["target_id"])
        events = [self.event(e) for e in target["event_ids"]]
        if not events:
            raise NotFound(f"pass {t['target_id']} opens no event")
        valid_from, valid_until = validity_window([e["starts_at"] for e in events], [e["ends_at"] for e in events],
                                                  self.validity_margin_hours)
        return Ticket(key_id=key_id, event_id=t["target_id"], ticket_id=t["ticket_id"], category=t["category"] or 0,
                      zones=(t["zone"],) if t["zone"] is not None else (), seat=t["seat"], valid_from=valid_from,
                      valid_until=valid_until, is_pass=target["kind"] == "pass")

    def payload_issuer(self, org: str) -> Callable[[str | int], str]:
        """`issue(ticket_key) -> "TG1:…"` for many tickets of one organiser (kiosk bundles): the current key is loaded
        once and each target's validity window computed once. Same payloads as `issue_ticket_payload`."""
        key = self.current_key(org)
        windows: dict[int, Ticket] = {}

        def issue(ticket_key: str | int) -> str:
            row = self.q1("SELECT target_id FROM tickets WHERE ticket_id=?", (int(ticket_key),))
            if row is None:
                raise NotFound(f"no ticket {ticket_key}")
            if row[0] not in windows:
                windows[row[0]] = self.ticket_for_payload(ticket_key, key.key_id)
            t = self.ticket(ticket_key)
            w = windows[row[0]]
            return key.issue(Ticket(key_id=key.key_id, event_id=w.event_id, ticket_id=t["ticket_id"],
                                    category=t["category"] or 0, zones=(t["zone"],) if t["zone"] is not None else (),
                                    seat=t["seat"], valid_from=w.valid_from, valid_until=w.valid_until, is_pass=w.is_pass))
        return issue

    def issue_ticket_payload(self, ticket_key: str | int) -> str:
        """The `TG1:` QR payload of a ticket, signed with its organiser's current key."""
        t = self.ticket(ticket_key)
        key = self.current_key(t["org"])
        return key.issue(self.ticket_for_payload(ticket_key, key.key_id))
