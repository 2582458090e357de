"""Shared helpers for the core tests (no tests here): keys, a clock, a gate on a real SQLite ledger."""
from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.gate import Gate
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.ticket_format import Ticket
from agent.signing import SigningKey

T0 = 1_800_000_000   # a fixed "now" (2027-01-15) so tests never depend on the wall clock


def test_key(key_id: int = 1, seed: int = 1, **kw) -> SigningKey:
    """A deterministic TEST key (private bytes from a fixed seed): never for real tickets."""
    return SigningKey(key_id, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32), **kw)


test_key.__test__ = False   # not a pytest test


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Uuids:
    def __init__(self):
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"00000000-0000-4000-8000-{self.n:012d}"


def make_gate(tmp_path: Path, policy: DevicePolicy | None = None, keys: tuple[SigningKey, ...] | None = None,
              events=({"event_id": 1, "name": "Night 1"}, {"event_id": 2, "name": "Night 2"}),
              tickets=(), clock: Clock | None = None, name: str = "ledger.sqlite") -> Gate:
    keys = keys if keys is not None else (test_key(),)
    ring = Keyring()
    for k in keys:
        ring.add(k.trusted())
    ledger = Ledger.open(tmp_path / name)
    if events:
        ledger.upsert_events(list(events))
    if tickets:
        ledger.upsert_tickets(list(tickets))
    policy = policy or DevicePolicy(device_id="dev-1", gate="north", reread_window=0)
    return Gate(ledger, ring, policy, clock=clock or Clock(), new_uuid=Uuids())


def issue(key: SigningKey, ticket_id: int, event_id: int = 1, **kw) -> str:
    return key.issue(Ticket(key.key_id, event_id, ticket_id, **kw))
