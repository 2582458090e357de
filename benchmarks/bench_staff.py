"""Staff logins and the permission check on the scan path.

    python benchmarks/bench_staff.py [--checks 20] [--scans 2000] [--staff 200]

Prints: one PIN check (scrypt, the parameters devices use; the issue's target is ~100-250 ms on a handheld's
Cortex-A53, ~4-5x slower than a VM core at scrypt), a PIN login and a badge login on a real ledger holding a
roster of --staff people, and what the on-duty check (`OnDuty.require`, run before every scan) costs per scan.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from figures import percentiles  # noqa: E402  (puts this checkout on sys.path)

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from agent.ledger import Ledger  # noqa: E402
from agent.staff import KDF_N, KDF_P, KDF_R, hash_pin, make_badge, pin_matches  # noqa: E402
from agent.staff_session import OnDuty, store_roster  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=20)
    ap.add_argument("--scans", type=int, default=2000)
    ap.add_argument("--staff", type=int, default=200)
    a = ap.parse_args()
    stored = hash_pin("482913")
    samples = []
    for _ in range(a.checks):
        t = time.perf_counter()
        assert pin_matches("482913", stored)
        samples.append(time.perf_counter() - t)
    print(f"PIN check, scrypt n={KDF_N} r={KDF_R} p={KDF_P} (16 MiB): {percentiles(samples)}")

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    one_hash = hash_pin("1234")       # the same hash for everyone: building 200 would only time the setup
    members = [{"staff_id": str(i), "name": f"Person {i}", "role": "door" if i % 10 else "supervisor",
                "active": True, "pin": one_hash, "badge_serial": 1} for i in range(1, a.staff + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(Path(tmp) / "ledger.sqlite")
        with ledger.transaction():
            store_roster(ledger, "bench", members)
        duty = OnDuty(ledger, pub)
        pin_logins, badge_logins = [], []
        for i in range(a.checks):
            t = time.perf_counter()
            duty.login_pin(str(1 + i % a.staff), "1234")
            pin_logins.append(time.perf_counter() - t)
            badge = make_badge("bench", str(1 + i % a.staff), 1, key.sign)
            t = time.perf_counter()
            duty.login(badge)
            badge_logins.append(time.perf_counter() - t)
        print(f"PIN login ({a.staff} staff on the device): {percentiles(pin_logins)}")
        print(f"badge login ({a.staff} staff on the device): {percentiles(badge_logins)}")
        checks = []
        for _ in range(a.scans):
            t = time.perf_counter()
            duty.require("entry")
            checks.append(time.perf_counter() - t)
        print(f"on-duty check before a scan ({a.staff} staff): {percentiles(checks)}")
        ledger.close()


if __name__ == "__main__":
    main()
