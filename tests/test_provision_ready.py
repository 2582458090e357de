"""After one enrollment the device is ready to scan: its saved keyring verifies the organiser's tickets
offline, and a ticket signed by anyone else is refused."""
from __future__ import annotations

import time

from agent.gate import Gate
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy
from agent.ticket_format import Ticket
from agent.verdicts import Code
from agent.signing import SigningKey
from tests.test_provision_env import ORG, enroll_device, provision_env


def test_enrolled_device_scans_the_organisers_tickets(tmp_path):
    with provision_env(tmp_path / "env") as env:
        state, creds = enroll_device(env, tmp_path / "dev", events=(env.events[0],))
        key = env.store.current_key(ORG)
        now = int(time.time())
        good = key.issue(Ticket(key.key_id, env.events[0], 123456, valid_from=now - 60, valid_until=now + 3600))
        stranger = SigningKey.generate(key.key_id)
        forged = stranger.issue(Ticket(key.key_id, env.events[0], 654321, valid_from=now - 60, valid_until=now + 3600))
    keyring = Keyring.load(state.keyring_path)
    assert key.key_id in keyring.keys
    ledger = Ledger.open(state.ledger_path)
    gate = Gate(ledger, keyring, DevicePolicy(device_id=creds.device_id, gate=creds.gate,
                                              events=frozenset(creds.events)))
    assert gate.scan(good).code == Code.ACCEPTED
    assert gate.scan(forged).code == Code.FORGED
    ledger.close()
