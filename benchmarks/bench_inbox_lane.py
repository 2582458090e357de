"""The device inbox's lane check (agent.sync.inbox.lane): CPU per live message to tell an update from a check-in relay
on the transport thread, against the verify it comes before (agent.sync.signed.Verifier.open).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_inbox_lane.py
"""
from __future__ import annotations

import time
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.sync import keyset
from agent.sync.inbox import lane
from agent.sync.messages import RelayedAction
from agent.sync.signed import Verifier, seal


def per_call(fn, payload: bytes, n: int) -> float:
    t0 = time.thread_time()
    for _ in range(n):
        fn(payload)
    return (time.thread_time() - t0) / n


def main() -> None:
    key = Ed25519PrivateKey.generate()
    verify = Verifier(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).open
    now = time.time()
    cases = {}
    for n in (1, 10, 50):
        actions = [RelayedAction(scan_uuid=uuid.uuid4().hex, kind="entry", ticket_key=str(100000 + i), event_id=1,
                                 direction="in", at=now, device_id="gate-17", gate="gate-17", device_seq=i).to_wire()
                   for i in range(n)]
        cases[f"checkins, {n} action(s)"] = seal({"type": "checkins", "event": 1, "org": "demo", "id": uuid.uuid4().hex,
                                                  "ts": now, "actions": actions}, key.sign)
    keys = [str(k) for k in range(500000, 501000)]
    cases["update2, 1,000 cancellations"] = seal(
        {"type": "update2", "event": 1, "org": "demo", "id": uuid.uuid4().hex, "ts": now,
         "revoked": [dict(keyset.pack(keys), reason="cancelled", at=now, status="cancelled")]}, key.sign)
    for name, payload in cases.items():
        n = 2000
        lane_s, verify_s = per_call(lambda p: lane("live", p), payload, n), per_call(verify, payload, n)
        print(f"{name:32} {len(payload):6} B: lane {lane_s * 1e6:6.1f} us CPU, verify {verify_s * 1e6:6.1f} us CPU "
              f"({lane_s / verify_s:.0%} of it)")


if __name__ == "__main__":
    main()
