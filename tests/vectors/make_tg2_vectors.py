"""Generate tests/vectors/ticketgate-tg2.json: TG2 tickets (a kiosk's offline sales, agent/allotment.py) with the
verdict a door gives them. Ed25519 is deterministic, so the file is reproducible: `--check` compares.

    .venv/bin/python tests/vectors/make_tg2_vectors.py [--check]
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from agent.allotment import ALLOTMENT_ID_BASE, Certificate, encode_offline_ticket, sign_certificate  # noqa: E402
from agent.keyring import TrustedKey  # noqa: E402
from agent.ticket_format import Ticket  # noqa: E402

OUT = Path(__file__).resolve().parent / "ticketgate-tg2.json"
NOW = 1_800_000_000


def _key(seed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


ORG_SEED = "11" * 32          # TEST KEYS, published on purpose
KIOSK_SEED = "22" * 32
ROGUE_SEED = "33" * 32


def build() -> dict:
    org, kiosk, rogue = _key(ORG_SEED), _key(KIOSK_SEED), _key(ROGUE_SEED)
    first = ALLOTMENT_ID_BASE + 1000
    cert = sign_certificate(Certificate(1, 7, "kiosk-1", _raw(kiosk), first, first + 99, 100, NOW - 3600, NOW + 86400,
                                        (1,), (1, 2)), org)
    revoked = sign_certificate(replace(cert, allotment_id=8), org)
    forged = sign_certificate(cert, rogue)            # a certificate the organiser never signed
    t = Ticket(1, 1, first + 1, category=1)

    def ticket(c: Certificate, tk: Ticket, device: Ed25519PrivateKey = kiosk) -> str:
        return encode_offline_ticket(tk, c, device, check=False)
    vectors = [
        ("sold offline, accepted", ticket(cert, t), "accepted", None),
        ("second category", ticket(cert, replace(t, ticket_id=first + 2, category=2)), "accepted", None),
        ("forged certificate", ticket(forged, t), "uncertified", "allotment_untrusted"),
        ("revoked allotment", ticket(revoked, t), "uncertified", "allotment_revoked"),
        ("category not allotted", ticket(cert, replace(t, ticket_id=first + 3, category=0)), "uncertified",
         "allotment_out_of_range"),
        ("ticket id outside the range", ticket(cert, replace(t, ticket_id=first + 100)), "uncertified",
         "allotment_out_of_range"),
        ("event not allotted", ticket(cert, replace(t, event_id=2)), "uncertified", "allotment_out_of_range"),
        ("kiosk signature does not verify", ticket(cert, t, rogue), "forged", None),
    ]
    expired = sign_certificate(replace(cert, allotment_id=9, valid_from=NOW - 86400, valid_until=NOW - 60), org)
    vectors.append(("expired allotment", ticket(expired, t), "uncertified", "allotment_expired"))
    return {
        "format": "ticketgate TG2 (offline sale under an allotment) test vectors (docs/ticket-format.md)",
        "generator": "tests/vectors/make_tg2_vectors.py",
        "now": NOW,
        "device": {"events": [1], "revoked_allotments": [8]},
        "keyring": {"warning": "TEST KEYS, published on purpose: never trust them on a real device",
                    "keys": [TrustedKey(1, _raw(org), "Vector Org").to_json() | {"test_private_seed_hex": ORG_SEED}],
                    "kiosk_test_private_seed_hex": KIOSK_SEED},
        "vectors": [{"name": n, "payload": p, "verdict": v, "reason": r} for n, p, v, r in vectors],
    }


def main() -> int:
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        same = OUT.read_text(encoding="utf-8") == text
        print("vectors up to date" if same else f"{OUT} differs from what the generator makes")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
