"""Organisers, events (zones, categories) and passes. Event dicts are shaped for `Ledger.upsert_events`."""
from __future__ import annotations

import json
import time
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.errors import InvalidInput
from drivers.printers.wording import LANGUAGES as PRINT_LANGUAGES
from server_stub.model import MAX_CATALOGUE_ID, Category, Zone, check_slug
from server_stub.store.base import NotFound, StoreBase, StoreError, written


_EVENT_COLUMNS = "event_id, name, starts_at, ends_at, timezone, org, zones, categories, language, removed_at"


class CatalogueMixin(StoreBase):
    # -- organisers --------------------------------------------------------------------------------------------
    def create_organiser(self, slug: str, name: str) -> dict:
        check_slug(slug)
        if not name.strip():
            raise InvalidInput("an organiser needs a name")
        with self.tx() as c:
            if c.execute("INSERT INTO organisers(org, name, created_at) VALUES (?,?,?) ON CONFLICT (org) DO NOTHING "
                         "RETURNING org", (slug, name.strip(), time.time())).fetchone() is None:
                raise StoreError(f"organiser {slug!r} already exists")
        return written(self.organiser(slug), f"organiser {slug!r}")

    def organiser(self, slug: str) -> dict | None:
        row = self.q1("SELECT org, name, created_at, version FROM organisers WHERE org=?", (slug,))
        return dict(zip(("org", "name", "created_at", "version"), row)) if row else None

    def organisers(self) -> list[dict]:
        return [dict(zip(("org", "name", "created_at", "version"), r))
                for r in self.q("SELECT org, name, created_at, version FROM organisers ORDER BY org")]

    def _require_org(self, org: str) -> None:
        if self.q1("SELECT 1 FROM organisers WHERE org=?", (org,)) is None:
            raise NotFound(f"no organiser {org!r}")

    # -- events ------------------------------------------------------------------------------------------------
    def create_event(self, org: str, name: str, starts_at: float, ends_at: float, timezone: str = "UTC",
                     zones: list[dict] | None = None, categories: list[dict] | None = None,
                     language: str = "en") -> int:
        if not name.strip():
            raise InvalidInput("an event needs a name")
        if ends_at <= starts_at:
            raise InvalidInput("an event must end after it starts")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {timezone!r} (use an IANA name such as Europe/Paris)") from None
        if language not in PRINT_LANGUAGES:
            raise InvalidInput(f"unknown event language {language!r}; one of {', '.join(PRINT_LANGUAGES)}")
        zs = [Zone(int(z["zone_id"]), z["name"], z.get("message", "")) for z in zones or ()]
        cs = [Category(int(x["category_id"]), x["name"], x.get("message", "")) for x in categories or ()]
        for what, ids in (("zone", [z.zone_id for z in zs]), ("category", [x.category_id for x in cs])):
            if len(set(ids)) != len(ids):
                raise InvalidInput(f"duplicate {what} id")
        with self.tx() as c:
            version = self._bump(org)
            event_id = c.execute("INSERT INTO catalogue(org, kind) VALUES (?, 'event') RETURNING id", (org,)).fetchone()[0]
            if event_id > MAX_CATALOGUE_ID:
                raise StoreError("event id space exhausted")
            c.execute("INSERT INTO events(event_id, org, name, starts_at, ends_at, timezone, zones, categories, version, "
                      "language) VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (event_id, org, name.strip(), float(starts_at), float(ends_at), timezone,
                       json.dumps([z.__dict__ for z in zs]), json.dumps([x.__dict__ for x in cs]), version, language))
        return event_id

    def set_event_language(self, org: str, event_id: int, language: str) -> dict:
        """Change the language tickets, badges and e-tickets of the event are printed in (devices get it with the
        next bundle: the event's version moves)."""
        if language not in PRINT_LANGUAGES:
            raise ValueError(f"unknown event language {language!r}; one of {', '.join(PRINT_LANGUAGES)}")
        with self.tx() as c:
            if c.execute("SELECT 1 FROM events WHERE event_id=? AND org=?", (event_id, org)).fetchone() is None:
                raise NotFound(f"no event {event_id}")
            version = self._bump(org)
            c.execute("UPDATE events SET language=?, version=? WHERE event_id=?", (language, version, event_id))
        return self.event(event_id)

    def event(self, event_id: int) -> dict:
        """The event, a removed one too (with `removed_at`)."""
        row = self.q1(f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_id=?", (event_id,))
        if row is None:
            raise NotFound(f"no event {event_id}")
        return self._event_dict(row)

    def events(self, org: str, removed: bool = False) -> list[dict]:
        """The organiser's events; `removed`: those `remove_event` took off the devices too (for the reports)."""
        self._require_org(org)
        rows = self.q(f"SELECT {_EVENT_COLUMNS} FROM events WHERE org=? "
                      f"{'' if removed else 'AND removed_at IS NULL '}ORDER BY starts_at, event_id", (org,))
        return [self._event_dict(r) for r in rows]

    def _event_dict(self, row: tuple) -> dict:
        event_id, name, starts, ends, tz, org, zones, categories, language, removed_at = row
        passes = [{"pass_id": p, "name": n} for p, n in self.q(      # what a door admits a pass to
            "SELECT p.pass_id, p.name FROM pass_events pe JOIN passes p USING (pass_id) WHERE pe.event_id=? "
            "AND pe.removed_at IS NULL AND p.removed_at IS NULL ORDER BY p.pass_id", (event_id,))]
        removed = {} if removed_at is None else {"removed_at": removed_at}     # bundles carry no such key
        return {"event_id": event_id, "name": name, "starts_at": starts, "ends_at": ends, "timezone": tz,
                "language": language, "organiser": org, "zones": json.loads(zones), "categories": json.loads(categories),
                "passes": passes, **removed}

    def remove_event(self, org: str, event_id: int, check: Callable[[dict], None] | None = None) -> dict:
        """Take the event off the devices and the event list (`server event remove`): its orders, scans and shifts
        stay for the reports. The version moves: devices holding every event get the events left with their next
        bundle (the removed one's data forgotten). `check(event)` (the event as it is now) runs inside the write
        transaction, after the organiser's other writers (an order bought, a shift opened) have committed: it raises
        to refuse, nothing written."""
        with self.tx() as c:
            self._lock_org(org)
            if check is not None:
                check(self.event(event_id))
            self._mark_removed(c, "event", org, event_id)
        return self.event(event_id)

    def live_orders(self, event_id: int) -> list[tuple[str, str]]:
        """(number, status) of the orders still paid or pending with a ticket for the event, by number."""
        return [(n, s) for n, s in self.q(
            "SELECT DISTINCT o.number, o.status FROM tickets t JOIN orders o ON o.order_id = t.order_id "
            "WHERE t.target_id=? AND o.status IN ('paid', 'pending') ORDER BY o.number", (event_id,))]

    def event_version(self, event_id: int) -> int:
        """Version of the last change to the event itself (name, dates, zones, passes including it)."""
        row = self.q1("SELECT version FROM events WHERE event_id=?", (event_id,))
        if row is None:
            raise NotFound(f"no event {event_id}")
        return row[0]

    # -- passes ------------------------------------------------------------------------------------------------
    def _own_events(self, c, org: str, ids: list[int]) -> None:
        """Inside a transaction: each event is the organiser's and not removed."""
        rows = dict(c.execute(f"SELECT event_id, removed_at FROM events WHERE org=? AND event_id IN "
                              f"({','.join('?' * len(ids))})", (org, *ids)).fetchall())
        for e in ids:
            if e not in rows:
                raise NotFound(f"no event {e} for organiser {org!r}")
            if rows[e] is not None:
                raise InvalidInput(f"event {e} was removed (`ticketgate server event remove`): no pass opens it")

    def create_pass(self, org: str, name: str, event_ids: list[int]) -> int:
        if not name.strip():
            raise InvalidInput("a pass needs a name")
        ids = sorted(set(int(e) for e in event_ids))
        if not ids:
            raise InvalidInput("a pass opens at least one event")
        with self.tx() as c:
            self._own_events(c, org, ids)
            version = self._bump(org)
            pass_id = c.execute("INSERT INTO catalogue(org, kind) VALUES (?, 'pass') RETURNING id", (org,)).fetchone()[0]
            c.execute("INSERT INTO passes(pass_id, org, name, version) VALUES (?,?,?,?)", (pass_id, org, name.strip(), version))
            c.executemany("INSERT INTO pass_events(pass_id, event_id) VALUES (?,?)", [(pass_id, e) for e in ids])
            # the events' dicts changed (their `passes` list): devices must refetch them
            c.executemany("UPDATE events SET version=? WHERE event_id=?", [(version, e) for e in ids])
        return pass_id

    def passes(self, org: str, removed: bool = False) -> list[dict]:
        """The organiser's passes; `removed`: those `remove_pass` took off too (with `removed_at`)."""
        self._require_org(org)
        return [self._pass_dict(r) for r in self.q(
            f"SELECT pass_id, org, name, removed_at FROM passes WHERE org=? {'' if removed else 'AND removed_at IS NULL '}"
            "ORDER BY pass_id", (org,))]

    def pass_of(self, org: str, pass_id: int) -> dict:
        """The organiser's pass {pass_id, name, event_ids, organiser}, a removed one too (with `removed_at`)."""
        row = self.q1("SELECT pass_id, org, name, removed_at FROM passes WHERE pass_id=? AND org=?", (pass_id, org))
        if row is None:
            raise NotFound(f"no pass {pass_id}")
        return self._pass_dict(row)

    def _pass_dict(self, row: tuple) -> dict:
        pass_id, org, name, removed_at = row
        events = [r[0] for r in self.q("SELECT event_id FROM pass_events WHERE pass_id=? AND removed_at IS NULL "
                                       "ORDER BY event_id", (pass_id,))]
        removed = {} if removed_at is None else {"removed_at": removed_at}
        return {"pass_id": pass_id, "name": name, "event_ids": events, "organiser": org, **removed}

    def edit_pass(self, org: str, pass_id: int, name: str | None = None, event_ids: list[int] | None = None,
                  check: Callable[[dict, list[int]], None] | None = None) -> dict:
        """Rename the pass and/or set the events it opens (`server pass edit`). The events it opened and opens get a
        new version: their `passes` list is what a door admits a pass to. An event it gains: the pass's tickets (and
        their flags) get the new version too, so devices of that event receive them with their next bundle.
        `check(pass, lost)` (the pass as it is now, the events it would lose) runs inside the write transaction,
        after the organiser's other writers (an order bought) have committed: it raises to refuse, nothing
        written (`server pass edit`: no holder loses an event still to come)."""
        if name is not None and not name.strip():
            raise InvalidInput("a pass needs a name")
        ids = None if event_ids is None else sorted(set(int(e) for e in event_ids))
        if ids is not None and not ids:
            raise InvalidInput("a pass opens at least one event: remove the pass instead (`ticketgate server pass "
                               f"remove {pass_id}`)")
        with self.tx() as c:
            self._lock_org(org)
            row = c.execute("SELECT removed_at FROM passes WHERE pass_id=? AND org=?", (pass_id, org)).fetchone()
            if row is None:
                raise NotFound(f"no pass {pass_id}")
            if row[0] is not None:
                raise StoreError(f"pass {pass_id} was removed")
            before = [r[0] for r in c.execute("SELECT event_id FROM pass_events WHERE pass_id=? AND removed_at IS NULL",
                                              (pass_id,)).fetchall()]
            gained = sorted(set(ids) - set(before)) if ids is not None else []
            lost = sorted(set(before) - set(ids)) if ids is not None else []
            if check is not None:
                check(self.pass_of(org, pass_id), lost)
            if gained:
                self._own_events(c, org, gained)
            version = self._bump(org)
            if name is not None:
                c.execute("UPDATE passes SET name=?, version=? WHERE pass_id=?", (name.strip(), version, pass_id))
            # an event taken away stays as a link removed: what doors recorded there before is still taken
            c.executemany("UPDATE pass_events SET removed_at=? WHERE pass_id=? AND event_id=?",
                          [(time.time(), pass_id, e) for e in lost])
            c.executemany("INSERT INTO pass_events(pass_id, event_id) VALUES (?,?) ON CONFLICT (pass_id, event_id) "
                          "DO UPDATE SET removed_at=NULL", [(pass_id, e) for e in gained])
            touched = sorted(set(before) | set(gained))
            c.executemany("UPDATE events SET version=? WHERE event_id=?", [(version, e) for e in touched])
            if gained:
                for table in ("revocations", "blocks"):
                    c.execute(f"UPDATE {table} SET version=? WHERE ticket_id IN (SELECT ticket_id FROM tickets "
                              "WHERE target_id=?)", (version, pass_id))
                c.execute("UPDATE tickets SET version=? WHERE target_id=?", (version, pass_id))
        return self.pass_of(org, pass_id)

    def _mark_removed(self, c, kind: str, org: str, ident: int) -> int:
        """Inside a transaction: the `kind` ("event", "pass") `ident` of `org` marked removed, at a new data version
        (returned); NotFound / StoreError when there is none or it was removed already."""
        table = {"event": "events", "pass": "passes"}[kind]
        row = c.execute(f"SELECT removed_at FROM {table} WHERE {kind}_id=? AND org=?", (ident, org)).fetchone()
        if row is None:
            raise NotFound(f"no {kind} {ident}")
        if row[0] is not None:
            raise StoreError(f"{kind} {ident} was removed already")
        version = self._bump(org)
        c.execute(f"UPDATE {table} SET removed_at=?, version=? WHERE {kind}_id=?", (time.time(), version, ident))
        return version

    def remove_pass(self, org: str, pass_id: int, check: Callable[[dict], None] | None = None) -> dict:
        """Take the pass off the devices, the pass list and new orders (`server pass remove`). Its orders and the
        events it opened stay, for the reports; the events get a new version: devices drop the pass from them with
        their next bundle. `check(pass)` (as it is now) runs inside the write transaction, after the organiser's
        other writers (an order bought) have committed: it raises to refuse, nothing written (`server pass remove`:
        no holder loses an event still to come)."""
        with self.tx() as c:
            self._lock_org(org)
            if check is not None:
                check(self.pass_of(org, pass_id))
            version = self._mark_removed(c, "pass", org, pass_id)
            c.execute("UPDATE events SET version=? WHERE event_id IN (SELECT event_id FROM pass_events WHERE pass_id=? "
                      "AND removed_at IS NULL)", (version, pass_id))
        return self.pass_of(org, pass_id)

    def target(self, target_id: int) -> dict:
        """An event or a pass by id: {id, org, kind, event_ids}."""
        row = self.q1("SELECT id, org, kind FROM catalogue WHERE id=?", (target_id,))
        if row is None or (row[2] == "event" and self.q1("SELECT 1 FROM events WHERE event_id=?", (target_id,)) is None):
            raise NotFound(f"no event or pass {target_id}")
        events = ([target_id] if row[2] == "event" else
                  [r[0] for r in self.q("SELECT event_id FROM pass_events WHERE pass_id=? AND removed_at IS NULL "
                                        "ORDER BY event_id", (target_id,))])
        gone = (self.q1("SELECT removed_at FROM passes WHERE pass_id=?", (target_id,)) or (None,))[0] \
            if row[2] == "pass" else None
        return {"id": row[0], "org": row[1], "kind": row[2], "event_ids": events,
                **({} if gone is None else {"removed_at": gone})}

    def targets_of_event(self, event_id: int) -> list[int]:
        """The event itself and every pass that opens it: where its tickets hang."""
        return [event_id] + [r[0] for r in self.q(
            "SELECT pass_id FROM pass_events WHERE event_id=? AND removed_at IS NULL", (event_id,))]

    def targets_on_devices(self, event_id: int) -> list[int]:
        """The event itself and every pass, not removed, that opens it: whose tickets its bundles carry (a removed
        pass's stay in the reports, `targets_of_event`, and leave the devices)."""
        return [event_id] + [r[0] for r in self.q(
            "SELECT pe.pass_id FROM pass_events pe JOIN passes p USING (pass_id) WHERE pe.event_id=? AND "
            "pe.removed_at IS NULL AND p.removed_at IS NULL", (event_id,))]

    def events_taken(self, target_id: int) -> dict[int, float]:
        """The events a pass opened and opens no more -> since when (`server pass edit` took the event, or `pass
        remove` the pass): a door's entry there dated after is no entry the pass gave. An event: none."""
        if self.target(target_id)["kind"] != "pass":
            return {}
        gone = self.q1("SELECT removed_at FROM passes WHERE pass_id=?", (target_id,))[0]
        out: dict[int, float] = {}
        for event_id, taken in self.q("SELECT event_id, removed_at FROM pass_events WHERE pass_id=?", (target_id,)):
            since = min((t for t in (taken, gone) if t is not None), default=None)
            if since is not None:
                out[event_id] = since
        return out

    def events_opened(self, target_id: int) -> list[int]:
        """The events a pass opens or opened once (`server pass edit` took them away): where a door may have let its
        holders in. An event: itself."""
        target = self.target(target_id)
        if target["kind"] != "pass":
            return target["event_ids"]
        return [r[0] for r in self.q("SELECT event_id FROM pass_events WHERE pass_id=? ORDER BY event_id", (target_id,))]
