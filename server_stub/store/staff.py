"""The organiser's staff: name, role (door, desk, supervisor), PIN (scrypt hash only), badge serial, active or not.

Every change bumps the organiser's version, so devices get the roster again (it travels whole in every bundle:
`staff_roster`) and a deactivation reaches them like any other update. Staff ids are the row ids, as text on the
wire (`Staffed.staff` in agent/sync/messages.py)."""
from __future__ import annotations

import json
import time

from agent.errors import InvalidInput
from agent.staff import ROLES, StaffError, hash_pin
from server_stub.store.base import NotFound, written
from server_stub.store.catalogue import CatalogueMixin

_COLS = "staff_id, org, name, role, pin, badge_serial, active, created_at, updated_at, version, deactivated_at"


def _row(r: tuple) -> dict:
    sid, org, name, role, pin, serial, active, created, updated, version, deactivated = r
    return {"staff_id": str(sid), "org": org, "name": name, "role": role, "pin": json.loads(pin) if pin else None,
            "badge_serial": serial, "active": bool(active), "created_at": created, "updated_at": updated,
            "version": version, "deactivated_at": None if active else (deactivated or updated)}


def public(row: dict) -> dict:
    """A staff row without its PIN hash (what `server staff list` shows)."""
    return {**{k: v for k, v in row.items() if k != "pin"}, "has_pin": row["pin"] is not None,
            "has_badge": row["badge_serial"] > 0}


def _check(name: str | None, role: str | None) -> None:
    if name is not None and (not 0 < len(name.strip()) <= 200 or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        raise InvalidInput("a staff name is 1 to 200 printable characters")
    if role is not None and role not in ROLES:
        raise InvalidInput(f"role is one of {', '.join(ROLES)}, not {role!r}")


class StaffMixin(CatalogueMixin):
    def add_staff(self, org: str, name: str, role: str, pin: str | None = None, badge: bool = False) -> dict:
        """A new staff member; at least a PIN or a badge (a badge only: they log in by scanning it)."""
        _check(name, role)
        if not pin and not badge:
            raise InvalidInput("give the staff member a PIN, a badge or both")
        pin_hash = json.dumps(_pin(pin)) if pin else None
        now = time.time()
        with self.tx() as c:
            version = self._bump(org)
            sid = c.execute("INSERT INTO staff(org, name, role, pin, badge_serial, active, created_at, updated_at, "
                            "version) VALUES (?,?,?,?,?,1,?,?,?) RETURNING staff_id",
                            (org, name.strip(), role, pin_hash, 1 if badge else 0, now, now, version)).fetchone()[0]
            c.execute("INSERT INTO staff_roles(staff_id, role, since) VALUES (?,?,?)", (sid, role, now))
        return self.staff_member(str(sid), org)

    def staff_member(self, staff_id: str, org: str | None = None) -> dict:
        if not (str(staff_id).isascii() and str(staff_id).isdigit() and len(str(staff_id)) <= 18):
            raise NotFound(f"no staff member {staff_id!r}")
        r = self.q1(f"SELECT {_COLS} FROM staff WHERE staff_id=?", (int(staff_id),))
        if r is None or (org is not None and r[1] != org):
            raise NotFound(f"no staff member {staff_id!r}" + (f" of {org}" if org else ""))
        return _row(r)

    def staff(self, org: str) -> list[dict]:
        self._require_org(org)
        return [_row(r) for r in self.q(f"SELECT {_COLS} FROM staff WHERE org=? ORDER BY staff_id", (org,))]

    def set_staff(self, org: str, staff_id: str, *, name: str | None = None, role: str | None = None,
                  pin: str | None = None, active: bool | None = None, new_badge: bool = False,
                  remove_pin: bool = False) -> dict:
        """Change a member; `new_badge` issues a badge (or replaces it: the old one stops working)."""
        _check(name, role)
        old = self.staff_member(staff_id, org)
        pin_hash = json.dumps(_pin(pin)) if pin else (None if remove_pin else
                                                      (json.dumps(old["pin"]) if old["pin"] else None))
        serial = old["badge_serial"] + 1 if new_badge else old["badge_serial"]
        if pin_hash is None and serial == 0:
            raise InvalidInput("a staff member keeps a PIN or a badge")
        now = time.time()
        active = old["active"] if active is None else active
        deactivated = None if active else (old["deactivated_at"] if not old["active"] else now)
        with self.tx() as c:
            version = self._bump(org)
            c.execute("UPDATE staff SET name=?, role=?, pin=?, badge_serial=?, active=?, updated_at=?, version=?, "
                      "deactivated_at=? WHERE staff_id=?",
                      (name.strip() if name is not None else old["name"], role or old["role"], pin_hash, serial,
                       int(active), now, version, deactivated, int(staff_id)))
            if role is not None and role != old["role"]:
                c.execute("INSERT INTO staff_roles(staff_id, role, since) VALUES (?,?,?)", (int(staff_id), role, now))
        return written(self.staff_member(staff_id, org), f"staff member {staff_id}")

    def staff_roles(self, org: str) -> dict[str, list[tuple[float, str]]]:
        """Each member's roles over time: staff id -> [(since, role)], oldest first (`server_stub.sync.ingest.role_at`
        reads them: an act is judged by the role held when it was done)."""
        out: dict[str, list[tuple[float, str]]] = {}
        for sid, since, role in self.q("SELECT r.staff_id, r.since, r.role FROM staff_roles r JOIN staff s "
                                       "ON s.staff_id = r.staff_id WHERE s.org=? ORDER BY r.staff_id, r.since", (org,)):
            out.setdefault(str(sid), []).append((since, role))
        return out

    def staff_roster(self, org: str) -> list[dict]:
        """What devices hold (the bundle's `staff` section): id, name, role, active, PIN hash, badge serial."""
        return [{k: r[k] for k in ("staff_id", "name", "role", "active", "pin", "badge_serial")}
                for r in self.staff(org)]

    def staff_since(self, org: str) -> float | None:
        """When the organiser's first staff member was added (items recorded before name no one)."""
        row = self.q1("SELECT min(created_at) FROM staff WHERE org=?", (org,))
        return row[0] if row else None

    def record_desk_staff(self, request_id: str, staff_id: str) -> None:
        """The staff member who made an answered desk request (sale, refund, exchange): reports per staff read it."""
        with self.tx() as c:
            c.execute("UPDATE desk_requests SET staff=? WHERE request_id=? AND staff=''", (staff_id, request_id))

    def staff_version(self, org: str) -> int:
        row = self.q1("SELECT max(version) FROM staff WHERE org=?", (org,))
        return int(row[0] or 0) if row else 0


def _pin(pin: str) -> dict:
    try:
        return hash_pin(pin)
    except StaffError as exc:
        raise InvalidInput(str(exc)) from None
