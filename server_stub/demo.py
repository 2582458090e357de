"""`ticketgate demo`: issue a few signed tickets and scan them through the real core (temporary folder)."""
from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from agent.agent_cli import human
from agent.gate import Gate
from agent.keyring import Keyring
from agent.ledger import Ledger
from agent.policy import DevicePolicy, Mode
from agent.ticket_format import Ticket
from server_stub.signing import SigningKey


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="ticketgate-demo-") as tmp:
        key = SigningKey.generate(1, organiser="Demo Festival")
        other = SigningKey.generate(9, organiser="someone else")
        keyring = Keyring()
        keyring.add(key.trusted())
        ledger = Ledger.open(Path(tmp) / "ledger.sqlite")
        ledger.upsert_events([{"event_id": 1, "name": "Opening night", "zones": [{"zone_id": 1, "name": "Floor"},
                                                                                 {"zone_id": 2, "name": "Balcony"}]}])
        ledger.upsert_tickets([{"ticket_key": "1001", "event_id": 1, "order_number": "A-1", "buyer_name": "Hélène Dupont"},
                               {"ticket_key": "1003", "event_id": 1, "order_number": "A-2", "buyer_name": "Bob Martin",
                                "order_status": "pending"}])
        ledger.revoke(["1004"], "order refunded")
        now = int(time.time())
        gate = Gate(ledger, keyring, DevicePolicy(device_id="tablet-1", gate="north", events=frozenset({1}),
                                                  zones=frozenset({1}), reread_window=0))
        good = key.issue(Ticket(1, 1, 1001, zones=(1,), valid_until=now + 86400))
        print(f"key {key.key_id} fingerprint {key.fingerprint}; a ticket is {len(good)} QR alphanumeric characters\n")
        tampered = good[:-10] + ("0" if good[-10] != "0" else "1") + good[-9:]
        cases = [
            ("valid ticket", good),
            ("same ticket again", good),
            ("balcony ticket at the floor gate", key.issue(Ticket(1, 1, 1002, zones=(2,)))),
            ("payment pending", key.issue(Ticket(1, 1, 1003, zones=(1,)))),
            ("refunded order", key.issue(Ticket(1, 1, 1004, zones=(1,)))),
            ("another event", key.issue(Ticket(1, 2, 2001))),
            ("tomorrow's ticket", key.issue(Ticket(1, 1, 1005, valid_from=now + 86400))),
            ("tampered", tampered),
            ("signed by an unknown key", other.issue(Ticket(9, 1, 1006))),
            ("not a ticket", "hello world"),
        ]
        for label, payload in cases:
            print(f"{label:<34} -> {human(gate.scan(payload))}")
        gate.set_policy(replace(gate.policy, mode=Mode.ENTRY_EXIT), save=False)
        moves = [gate.scan(good) for _ in range(3)]
        print("\nentry/exit mode, same ticket three times: " + ", ".join(f"{v.code} {v.direction}" for v in moves))
        print(f"search 'helene': {[r['buyer_name'] for r in ledger.search('helene')]}")
        print(f"outbox waiting for the server: {ledger.outbox_size()} messages")
        ledger.close()
    return 0
