"""Ticket vectors from outside our code, through `ticketgate agent scan --json` (a subprocess, a fresh home):
TG1 payloads built from docs/ticket-format.md alone (an encoder written here from the spec text, not agent.*), as a
laser scanner delivers them, and pretix_sig1 secrets from pretix's own scanner tests. Every valid vector accepted,
every invalid one refused with its specific reason, never a traceback."""
from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = Path(__file__).resolve().parent.parent

# --- TG1 from the spec text: base45 (RFC 9285), big-endian layout, Ed25519 over the domain || body -------------
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
DOMAIN = b"ticketgate-ticket-v1\x00"
SPEC_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))   # a test key of this file, never trusted elsewhere
SPEC_KEY_ID = 7


def b45(data: bytes) -> str:
    out = ""
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += ALPHABET[n % 45] + ALPHABET[n // 45 % 45] + ALPHABET[n // 2025]
    if len(data) % 2:
        out += ALPHABET[data[-1] % 45] + ALPHABET[data[-1] // 45]
    return out


def body(ticket: int, *, version: int = 1, flags: int = 0, event: int = 1, zones: bytes = b"",
         seat: bytes | None = None, valid_from: int | None = None, valid_until: int | None = None) -> bytes:
    out = struct.pack(">BHBI", version, SPEC_KEY_ID, flags, event) + ticket.to_bytes(6, "big")
    out += struct.pack(">HB", 0, len(zones)) + zones
    if seat is not None:
        out += bytes([len(seat)]) + seat
    for value in (valid_from, valid_until):
        if value is not None:
            out += struct.pack(">I", value)
    return out


def tg1(raw_body: bytes, trailing: bytes = b"") -> str:
    return "TG1:" + b45(raw_body + SPEC_KEY.sign(DOMAIN + raw_body) + trailing)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE")}
    return dict(env, HOME=str(home), PYTHONPATH=str(ROOT), TICKETGATE_HOME=str(home / "device"))


def tg(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_env(home), input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def scan_all(home: Path, payloads: list[str]) -> list[dict]:
    """One `agent scan --json` over stdin, one payload a line (as a keyboard-wedge scanner types them)."""
    proc = tg(home, "agent", "scan", "--json", "--events", "1", stdin="".join(p + "\n" for p in payloads))
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(verdicts) == len(payloads), proc.stdout
    return verdicts


def test_tg1_vectors_built_from_the_spec_text(tmp_path):
    public = SPEC_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keyring = tmp_path / "keyring.json"
    keyring.write_text(json.dumps({"keys": [{"key_id": SPEC_KEY_ID, "public_key": base64.b64encode(public).decode(),
                                             "organiser": "Spec", "valid_from": None, "valid_until": None,
                                             "events": None}]}))
    tg(tmp_path, "agent", "trust", str(keyring))
    long_seat = body(9, flags=0x0E, seat=b"S" * 248, valid_from=1, valid_until=2**32 - 1)
    assert len(tg1(long_seat)) == 511                       # an encoder's longest kind of ticket, under 512
    cases = [   # (payload as the scanner hands it over, verdict, words of the reason)
        (tg1(body(1)), "accepted", ""),
        (tg1(body(2, zones=b"\x01\x02")), "accepted", ""),
        (tg1(body(3, flags=0x02, seat="Rang É-12 🎫".encode())), "accepted", ""),
        (" " + tg1(body(4)) + "\t\x00 \r", "accepted", ""),                        # padding a scanner appends
        ("]Q1" + tg1(body(5)), "accepted", ""),                                     # AIM symbology identifier
        ("]Q2\\000026" + tg1(body(6)), "accepted", ""),                             # AIM + ECI designator
        (tg1(long_seat) + "\r", "accepted", ""),                                    # 511 characters + CR
        (tg1(body(10)).lower(), "malformed", "lower-case"),
        (tg1(body(11, version=2)), "malformed", "unsupported version 2"),
        (tg1(body(12, version=0)), "malformed", "unsupported version 0"),
        (tg1(body(13, flags=0x10)), "malformed", "unknown flags"),
        (tg1(body(14), trailing=b"\x00"), "malformed", "does not match its fields"),
        (tg1(body(15))[:-1], "malformed", "base45 length"),
        (tg1(body(16))[:-3], "malformed", "base45"),
        ("TG1:" + base64.b64encode(body(17) + SPEC_KEY.sign(DOMAIN + body(17))).decode(), "malformed", "base45"),
        (tg1(body(18, flags=0x02, seat=b"")), "malformed", "seat"),
        (tg1(body(19, flags=0x02, seat=b"\xff\xfe")), "malformed", "seat label is not UTF-8"),
        (tg1(body(20, flags=0x04, valid_from=1))[:-4] + "0000", "forged", "signature"),
        ("TG1:GGW" + b45(body(21))[3:], "malformed", "triplet"),
        (tg1(body(22)) + "0" * 600, "malformed", "too long"),
        ("]Q1" + tg1(body(23)).replace("T", "\uff34", 1), "malformed", ""),          # full-width T
        (tg1(body(24))[:10] + "\u200b" + tg1(body(24))[10:], "malformed", "base45 character"),
    ]
    verdicts = scan_all(tmp_path, [payload for payload, _, _ in cases])
    for (payload, verdict, reason), got in zip(cases, verdicts):
        assert got["verdict"] == verdict, (payload, got)
        assert reason in got["detail"], (payload, got)


# --- pretix_sig1: the event resource and secrets of pretixSCAN's tests (pretix/pretixscan-ios,
# PretixScanTests/DatalessTicketValidatorTests.swift and Examples/event1.json; the same secrets are in
# pretix/libpretixsync's AsyncCheckProviderTest.kt). Public test keys of pretix, never trusted on a device.
PRETIX_KEYS = [
    "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUNvd0JRWURLMlZ3QXlFQTdBRDcvdkZBMzNFc1k0ejJQSHI3aVpQc1o4bjVkaDBhalA4Z3l6"
    "Tm1tSXM9Ci0tLS0tRU5EIFBVQkxJQyBLRVktLS0tLQo=",
    "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUNvd0JRWURLMlZ3QXlFQVlNSnNPbkxwNUFXR3BKK2RGSkUycjlET1hlUUlaZ1ZyQ3Q5M0xB"
    "bDVCTjg9Ci0tLS0tRU5EIFBVQkxJQyBLRVktLS0tLQo=",
]
VALID = ("E4BibyTSylQOgeKjuMPiTDxi5HXPuTVsx1qCli3IL0143gj0EZXOB9iQInANxRFJTt4Pf9nXnHdB91Qk/RN0L5AIBABSxw2TKFnSUNUCKAEA"
         "PAQA")                                       # item 1, subevent 14
FROM_2023 = ("Ok4EsqDRCr2cL6yDRtqeP7j5Usr1Vj1Db7J0izOuRGx6Qn0BS1ISW2nxlW8PXkYRk7PJhIBmsK1V1ucq5obBoBAMG4p9jCPKBAheRdFV0R"
             "EVDZUCKAEAVAQA")                         # valid from 2023-02-03 23:00 UTC
UNTIL_2023 = ("EU9dJn3k5jzwfY4JQAKrTOVFmo+BvZKwH6UAIFOz3XTxABa7tmjU5UoLD8hJr3440uY7IFEHzau1DVk0sP994bgnzLNswAAKBARdUdGMm"
              "NVSHVUCKAEAVAQA")                        # valid until 2023-02-03 11:00 UTC
UNKNOWN_ITEM = ("OUmw2Ro3YOMQ4ktAlAIsDVe4Xsr1KXla/0SZVN34qIZWtUX0hx1DXDHxaCatGTNzOeCMjHQABR5E6ESCOOx1g7AIkBhVkdDdJJTVSZWC"
                "KAEAPAQA")                            # item 100
FAKE = ("EFAKEyTSylQOgeKjuMPiTDxi5HXPuTVsx1qCli3IL0143gj0EZXOB9iQInANxRFJTt4Pf9nXnHdB91Qk/RN0L5AIBABSxw2TKFnSUNUCKAEA"
        "PAQA")


def test_pretix_sig1_secrets_of_pretix_s_own_scanner_tests(tmp_path):
    resource = tmp_path / "event.json"
    resource.write_text(json.dumps({"slug": "demo", "has_subevents": False, "timezone": "Asia/Tokyo",
                                    "valid_keys": {"pretix_sig1": PRETIX_KEYS}}))
    tg(tmp_path, "agent", "trust-pretix", str(resource), "--event-id", "1", "--item", "1=1:1", "--subevent", "14=1")
    cases = [
        (VALID, "accepted", ""),
        (FROM_2023, "accepted", ""),
        (UNTIL_2023, "expired", ""),
        (UNKNOWN_ITEM, "unknown_product", "item 100"),
        (FAKE, "forged", "does not verify"),
        ("]Q1\\000001" + VALID, "already_used", ""),     # the same ticket behind the AIM and ECI prefixes
        (VALID[:-4], "malformed", ""),
        (VALID + "A", "malformed", ""),
    ]
    verdicts = scan_all(tmp_path, [payload for payload, _, _ in cases])
    for (payload, verdict, reason), got in zip(cases, verdicts):
        assert got["verdict"] == verdict, (payload, got)
        assert reason in got["detail"], (payload, got)
    assert verdicts[0]["ticket"] == "pretix:CTJqJOl1H" and verdicts[0]["zones"] == [1]
