"""Who is on duty on this device: login by PIN or badge against the roster of the signed bundle, idle lock, throttled
PIN attempts, and the permission check every entry point makes before acting (agent/staff.py says who may do what).

All state is in the ledger's settings, so the app and `ticketgate agent …` in another process see the same
session: `staff.roster` (written by the bundle, agent/sync/apply.py), `staff.session`, `staff.throttle`,
`staff.idle_timeout`. A device whose organiser keeps no staff works as before: nobody logs in, items name no one.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from agent.cli_parser import close_words
from agent.ledger import Ledger
from agent.staff import (NotPermitted, StaffError, StaffMember, allowed, is_badge, parse_roster, pin_matches,
                         read_badge, refusal_reason)

ROSTER = "staff.roster"            # {"org": ..., "members": [StaffMember.to_wire()...]}
ROSTER_REV = "staff.roster_rev"    # changes with every roster written (OnDuty's cache key)
SESSION = "staff.session"          # {"staff_id", "since", "last"}
THROTTLE = "staff.throttle"        # {"failures", "until"}
IDLE_TIMEOUT = "staff.idle_timeout"
LEGACY_PIN = "ui_pin"              # the kiosk's supervisor PIN before staff logins (kiosk_ui/presenters/lock.py)
DEFAULT_IDLE = 600.0               # seconds without an action before the session locks
FREE_ATTEMPTS = 3                  # wrong PINs before the waits start: 5 s, 10 s, 20 s … up to MAX_WAIT
MAX_WAIT = 300.0
TOUCH_EVERY = 15.0                 # the session's last-activity time is written at most this often


def store_roster(ledger: Ledger, org: str, rows: Any) -> int:
    """Inside the bundle's transaction: the organiser's staff (replaces the previous roster). The kiosk's old
    supervisor PIN is dropped once the roster names an active supervisor (they log in instead)."""
    members = parse_roster(rows)
    ledger.set_setting(ROSTER, {"org": org, "members": [m.to_wire() for m in members]})
    ledger.set_setting(ROSTER_REV, time.time_ns())     # a small row: processes re-read the roster when it moves
    if any(m.active and m.role == "supervisor" for m in members) and ledger.get_setting(LEGACY_PIN):
        ledger.set_setting(LEGACY_PIN, None)
        ledger.set_setting("ui_pin_migrated_at", time.time())
    return len(members)


class OnDuty:
    """The staff session of one device (one per process; state shared through the ledger)."""

    def __init__(self, ledger: Ledger, server_key: bytes | None = None, clock: Callable[[], float] = time.time):
        self.ledger, self.server_key, self.clock = ledger, server_key, clock
        self._touched = 0.0
        self._rev: Any = None
        self._org, self._members = "", list[StaffMember]()

    # -- the roster ------------------------------------------------------------------------------------------------
    def _load(self) -> None:
        """The roster, parsed again only when a bundle wrote a new one (checked by its small revision row)."""
        rev = self.ledger.get_setting(ROSTER_REV)
        if rev == self._rev and self._rev is not None:
            return
        r = self.ledger.get_setting(ROSTER)
        r = r if isinstance(r, dict) else {"org": "", "members": []}
        self._org, self._members, self._rev = str(r.get("org") or ""), parse_roster(r.get("members") or []), rev

    def members(self) -> list[StaffMember]:
        self._load()
        return list(self._members)

    @property
    def configured(self) -> bool:
        """The organiser keeps staff: every action needs someone logged in."""
        self._load()
        return bool(self._members)

    def member(self, staff_id: str) -> StaffMember | None:
        self._load()
        return next((m for m in self._members if m.staff_id == staff_id), None)

    def find(self, who: str) -> StaffMember:
        """A member by id or by name (case- and accent-insensitive, spaces collapsed), active."""
        wanted = _plain(who)
        found = [m for m in self.members() if m.staff_id == who.strip() or _plain(m.name) == wanted]
        exact = [m for m in found if m.staff_id == who.strip() or m.name.casefold() == who.strip().casefold()]
        found = exact or found          # "Léa" typed with its accent is not ambiguous with a "Lea"
        if not found:
            close = [m.name for m in self.members() if m.active and (wanted in _plain(m.name).split() or
                                                                      close_words(wanted, [_plain(m.name)]))]
            hint = f"did you mean {' or '.join(repr(n) for n in close[:3])}? " if close else ""
            raise StaffError(f"no staff member {who!r} on this device: {hint}give the full name, as `ticketgate "
                             f"server staff list` shows it, or the staff id")
        if len(found) > 1:
            raise StaffError(f"several staff members are called {who!r}: use the staff id")
        if not found[0].active:
            raise StaffError(f"{found[0].name} is deactivated")
        return found[0]

    # -- the session -----------------------------------------------------------------------------------------------
    @property
    def idle_timeout(self) -> float:
        return float(self.ledger.get_setting(IDLE_TIMEOUT, DEFAULT_IDLE))

    def set_idle_timeout(self, seconds: float) -> None:
        if not 10 <= seconds <= 24 * 3600:
            raise StaffError("the idle timeout is between 10 seconds and 24 hours")
        self.ledger.set_setting(IDLE_TIMEOUT, float(seconds))

    def current(self) -> StaffMember | None:
        """Who is on duty now: None when nobody logged in, the session went idle, the member was deactivated or
        the badge they logged in with was replaced (by a newer bundle: a lost badge's finder is logged out too).
        Sets `ledger.on_duty`, so what the ledger queues names them."""
        s = self.ledger.get_setting(SESSION)
        member = None
        if isinstance(s, dict) and self.clock() - float(s.get("last", 0)) <= self.idle_timeout:
            m = self.member(str(s.get("staff_id")))
            replaced = bool(s.get("badge")) and m is not None and s.get("badge") != m.badge_serial
            member = m if m is not None and m.active and not replaced else None
        self.ledger.on_duty = member.staff_id if member else ""
        return member

    def deactivated(self) -> StaffMember | None:
        """The member the session still names when a newer bundle deactivated them since they logged in (so the app
        can say why nobody is on duty); None otherwise, and once the session went idle."""
        s = self.ledger.get_setting(SESSION)
        if not isinstance(s, dict) or self.clock() - float(s.get("last", 0)) > self.idle_timeout:
            return None
        m = self.member(str(s.get("staff_id")))
        return m if m is not None and not m.active else None

    def touch(self) -> None:
        """An action was made: the idle clock starts again (written at most every TOUCH_EVERY seconds)."""
        now = self.clock()
        if now - self._touched < TOUCH_EVERY:
            return
        s = self.ledger.get_setting(SESSION)
        if isinstance(s, dict):
            self.ledger.set_setting(SESSION, dict(s, last=now))
            self._touched = now

    def logout(self) -> None:
        self.ledger.set_setting(SESSION, None)
        self.ledger.on_duty = ""

    def require(self, action: str) -> StaffMember | None:
        """Before acting: the member on duty, who must hold the permission. None when the organiser keeps no staff.
        Raises NotPermitted (nobody logged in, session idle, role without the permission)."""
        if not self.configured:
            self.ledger.on_duty = ""
            return None
        member = self.current()
        if member is None:
            raise NotPermitted("log in first (PIN or staff badge)")
        if not allowed(member.role, action):
            raise NotPermitted(refusal_reason(member.name, member.role, action))
        self.touch()
        return member

    # -- logging in ------------------------------------------------------------------------------------------------
    def wait_left(self) -> float:
        t = self.ledger.get_setting(THROTTLE) or {}
        return max(0.0, float(t.get("until", 0)) - self.clock())

    def login_pin(self, who: str, pin: str) -> StaffMember:
        left = self.wait_left()
        if left > 0:
            raise StaffError(f"too many wrong PINs: wait {left:.0f} s")
        member = self.find(who)
        if not pin_matches(pin, member.pin):
            self._failed()
            raise StaffError("wrong PIN")
        return self._start(member)

    def login_badge(self, text: str) -> StaffMember:
        org, staff_id, serial = read_badge(text, self.server_key)
        self._load()
        if org != self._org:
            raise StaffError("a badge of another organiser")
        member = self.member(staff_id)
        if member is None:
            raise StaffError("unknown staff badge")
        if not member.active:
            raise StaffError(f"{member.name} is deactivated")
        if serial != member.badge_serial or serial == 0:
            raise StaffError(f"this badge of {member.name} was replaced by a newer one")
        return self._start(member, badge=serial)

    def login(self, text: str) -> StaffMember:
        """A scanned badge (the scan path recognises one: `agent.staff.is_badge`)."""
        if not is_badge(text):
            raise StaffError("not a staff badge")
        return self.login_badge(text)

    def unlock_supervisor(self, pin: str) -> str:
        """The kiosk's lock popup (formerly the device's supervisor PIN): a supervisor's PIN logs them in.
        -> "ok" | "wrong" | "locked_out" (throttled like any PIN)."""
        if self.wait_left() > 0:
            return "locked_out"
        for m in self.members():
            if m.active and m.role == "supervisor" and pin_matches(pin, m.pin):
                self._start(m)
                return "ok"
        self._failed()
        return "locked_out" if self.wait_left() > 0 else "wrong"

    def _failed(self) -> None:
        t = self.ledger.get_setting(THROTTLE) or {}
        failures = int(t.get("failures", 0)) + 1
        wait = 0.0 if failures < FREE_ATTEMPTS else min(MAX_WAIT, 5.0 * 2 ** (failures - FREE_ATTEMPTS))
        self.ledger.set_setting(THROTTLE, {"failures": failures, "until": self.clock() + wait})

    def _start(self, member: StaffMember, badge: int = 0) -> StaffMember:
        """`badge`: the serial of the badge logged in with (0: a PIN), so a session opened with a badge since
        replaced (lost) ends with the bundle that replaced it."""
        now = self.clock()
        with self.ledger.transaction():
            self.ledger.set_setting(THROTTLE, None)
            self.ledger.set_setting(SESSION, {"staff_id": member.staff_id, "since": now, "last": now}
                                    | ({"badge": badge} if badge else {}))
        self.ledger.on_duty = member.staff_id
        self._touched = now
        return member

    def session(self) -> dict[str, Any] | None:
        """For status screens: who, role, since when, seconds left before the idle lock."""
        member = self.current()
        if member is None:
            return None
        s = self.ledger.get_setting(SESSION) or {}
        return {"staff_id": member.staff_id, "name": member.name, "role": member.role, "since": s.get("since"),
                "idle_left": max(0.0, self.idle_timeout - (self.clock() - float(s.get("last", 0))))}


def _plain(name: str) -> str:
    """A name as compared when typed: no accents ("Lea" for Léa), case-folded, single spaces."""
    import unicodedata
    bare = "".join(ch for ch in unicodedata.normalize("NFD", name) if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
