"""The door as the screens see it: the real core agent (Gate + Ledger) behind a few intents.

Every intent goes to the core (`Gate.scan`, `Gate.annul`, `Gate.checkin_by_key`, `Gate.set_policy`,
`Ledger.search`…); this class keeps only session counters and looks up names for display.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from agent import desk
from agent.gate import Gate
from agent.home import DeviceHome, store_identity
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy, Mode
from agent.config_record import record_config_change
from agent.event_names import EventNames
from agent.stored_policy import check_policy_selection
from agent.staff_session import OnDuty
from agent.ticket_state import ticket_state
from agent.sync.messages import name_refusal
from agent.verdicts import Code, Verdict
from kiosk_ui import door_queries


@dataclass
class Counters:
    scanned: int = 0
    accepted: int = 0
    inside: int = 0
    back_on_sale: int = 0       # quick cancellation: tickets this session put back on sale (not undone)


class Door:
    def __init__(self, ledger: Ledger, keyring: Keyring, policy: DevicePolicy | None = None, **gate_kw):
        self.ledger, self.keyring = ledger, keyring
        self.gate = Gate(ledger, keyring, policy, **gate_kw)
        self.staff = OnDuty(ledger)              # who is on duty (agent.staff_session); the gate asks it first
        self.gate.permit = self.staff.require
        self.session = Counters()
        self.last_verdict: Verdict | None = None
        self._names = EventNames(ledger)

    @classmethod
    def open_home(cls, home: str | Path) -> "Door":
        """The device home (agent.home): ledger, keyring, and the enrolled identity applied to the policy."""
        from agent.home import open_home
        ledger, keyring = open_home(Path(home))
        door = cls(ledger, keyring)
        credentials = DeviceHome(Path(home)).load()
        door.staff.server_key = credentials.server_key if credentials else None    # staff badges are signed with it
        return door

    # -- scanning --------------------------------------------------------------------------------------------------
    def scan(self, raw: str | bytes) -> Verdict:
        verdict = self.gate.scan(raw)
        if not verdict.repeat:
            self.session.scanned += 1
            self.session.accepted += int(verdict.accepted)
            put_back = verdict.code is Code.CANCELLED and Mode(self.policy.mode) is Mode.QUICK_CANCEL
            self.session.back_on_sale += int(put_back)
        self.last_verdict = verdict
        return verdict

    def undo_last(self, reason: str) -> dict:
        """Annul this device's last check-in (the core keeps the original and appends an annulment)."""
        result = self.gate.annul(reason)
        if result.get("kind") == "entry":
            self.session.accepted = max(0, self.session.accepted - 1)
        if result.get("kind") == "cancel":
            self.session.back_on_sale = max(0, self.session.back_on_sale - 1)
        self.last_verdict = None
        return result

    def checkin(self, ticket_key: str, reason: str) -> Verdict:
        verdict = self.gate.checkin_by_key(ticket_key, reason)
        self.session.scanned += 1
        self.session.accepted += int(verdict.accepted)
        self.last_verdict = verdict
        return verdict

    def counters(self) -> Counters:
        return replace(self.session, inside=door_queries.inside_now(self.ledger, self.gate.policy.events or None,
                                                                    enrolled=self.identity() is not None))

    # -- settings ----------------------------------------------------------------------------------------------------
    @property
    def policy(self) -> DevicePolicy:
        return self.gate.policy

    def set_mode(self, mode: Mode, direction: str | None = None) -> None:
        """direction (entry/exit mode): "in" / "out" for a gate that only lets in or out; None alternates."""
        self._configure(replace(self.gate.policy, mode=Mode(mode), direction=direction))

    def set_selection(self, events: frozenset[int], zones: frozenset[int] | None) -> str | None:
        """Only events and zones the device's event data holds (the rule of `agent configure`,
        agent.event_selection): raises SelectionRefused, nothing changed; -> a notice when it holds none yet."""
        policy = replace(self.gate.policy, events=frozenset(events), zones=zones)
        notice = check_policy_selection(self.ledger, policy, self.keyring.pretix)
        self._configure(policy)
        return notice

    def _configure(self, policy: DevicePolicy) -> None:
        """A supervisor's change of the gate's settings, saved and queued for the organiser with their name."""
        self.staff.require("configure")
        with self.ledger.transaction():
            record_config_change(self.ledger, self.gate.policy, policy)
            self.gate.set_policy(policy)

    def identity(self):
        """The enrolled identity (agent.home.Identity) of the device home this door's ledger is in; None: not enrolled."""
        return DeviceHome(Path(self.ledger.path).parent).identity()

    def adopt_identity(self) -> None:
        """Act as the enrolled device (just enrolled in Set-up): its id, and its gate and events the first time; staff
        badges are checked with the organiser key it enrolled with (not only after a restart)."""
        policy = store_identity(self.ledger, self.gate.policy, self.identity())
        if policy is not self.gate.policy:
            self.gate.set_policy(policy, save=False)
        credentials = DeviceHome(Path(self.ledger.path).parent).load()
        self.staff.server_key = credentials.server_key if credentials else None

    @property
    def display_name(self) -> str:
        return str(self.ledger.get_setting("device_name") or self.gate.policy.device_id)

    def set_identity(self, name: str, gate: str) -> None:
        """Name and gate typed in Set-up. The name is what this screen shows; the id the server knows the device by
        stays the enrolled one (an unenrolled device, which never syncs, takes the name as its id). ValueError,
        nothing changed, for a name the server would refuse in every entry (agent.sync.messages.name_refusal)."""
        why = name_refusal(name) or name_refusal(gate)
        if why:
            raise ValueError(why)
        identity = self.identity()
        self.ledger.set_setting("device_name", name)
        self.gate.set_policy(replace(self.gate.policy, device_id=identity.device_id if identity else name, gate=gate))

    # -- look-ups ---------------------------------------------------------------------------------------------------
    def events(self) -> list[dict]:
        return self.ledger.events()

    def search(self, query: str, limit: int = 30) -> list[dict]:
        """Tickets found, each with what a manual check-in at this gate would say now (`state`)."""
        rows = self.ledger.search(query, limit)
        return [dict(r, state=self.ticket_state(r["ticket_key"])) for r in rows]

    def order(self, order_number: str) -> list[dict]:
        """An order's tickets for the ticket desk: their state judged for any event and zone this device knows."""
        return [dict(self.ledger.ticket(k) or {}, state=self.ticket_state(k, at_this_gate=False))
                for k in self.ledger.order_tickets(order_number)]

    def ticket_state(self, ticket_key: str, at_this_gate: bool = True) -> str:
        """What a manual check-in would say now, named for a list (agent.ticket_state)."""
        return ticket_state(self.gate, ticket_key, at_this_gate)

    def ticket(self, ticket_key: str | None) -> dict | None:
        return self.ledger.ticket(ticket_key) if ticket_key else None

    def zone(self, event_id: int | None, zone_id: int) -> dict | None:
        return self._names.zone(event_id, zone_id)

    def category(self, event_id: int | None, category_id: int | None) -> dict | None:
        return self._names.category(event_id, category_id)

    def event(self, event_id: int | None) -> dict | None:
        return self._names.event(event_id)

    def stats(self, by: str) -> list[tuple[str, int, int]]:
        return door_queries.stats_rows(self.ledger, by)

    def outbox_size(self) -> int:
        return self.ledger.outbox_size()

    # -- kiosk (guichet) ---------------------------------------------------------------------------------------------
    def validate_payment(self, order_number: str, operator: str, payment: str = "cash",
                         amount_cents: int | None = None, parts: tuple = (), reference: str | None = None) -> int:
        """Mark a pending order paid on this device (taken by `payment`; `amount_cents` collected, checked against
        the amount due held here) and queue the fact for the server (agent.desk)."""
        self.staff.require("validate_payment")
        return desk.validate_payment(self.ledger, order_number, self.policy.device_id, operator, payment, amount_cents,
                                     parts, reference)

    def exchange(self, ticket_key: str, reason: str, category: int | None = None, zone: int | None = None) -> None:
        """Take a ticket out of use here and ask the server for its replacement (agent.desk)."""
        self.staff.require("exchange")
        desk.exchange(self.ledger, ticket_key, reason, self.policy.device_id, category, zone)

    def reload_keyring(self) -> None:
        """Trusted keys written by enrollment or the sync (keyring.json next to the ledger), merged in place."""
        path = Path(self.ledger.path).with_name("keyring.json")
        if path.exists():
            fresh = Keyring.load(path)
            self.keyring.keys.update(fresh.keys)
            self.keyring.pretix[:] = fresh.pretix or self.keyring.pretix

    def reload_names(self) -> None:
        self._names = EventNames(self.ledger)

    def close(self) -> None:
        self.ledger.close()


def device_role(door: Door) -> str:
    """door | kiosk: the enrolled role (agent.home identity); a device never enrolled (demo, bench) may say it in the
    ledger setting `device_role`; otherwise a door."""
    identity = door.identity()
    role = identity.role if identity is not None else door.ledger.get_setting("device_role")
    return role if role in ("door", "kiosk") else "door"
