"""Generate the published test vectors (tests/vectors/*.json). Deterministic: running it again gives the same files.

    python tests/vectors/make_vectors.py            # rewrite the files
    python tests/vectors/make_vectors.py --check    # exit 1 if the checked-in files differ

The private keys are TEST KEYS derived from fixed public seeds (sha256 of a label): anybody can recompute them.
They exist only to make these vectors; never trust them on a real device. Ed25519 signatures are deterministic
(RFC 8032), so the same seeds always give the same payloads.
"""
from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from agent.base45 import b45decode, b45encode  # noqa: E402
from agent.pretix_sig1 import PretixTicket, sign_secret  # noqa: E402
from agent.ticket_format import SCHEME, SIGNING_DOMAIN, Ticket, encode_ticket  # noqa: E402

NOW = 1_800_000_000            # 2027-01-15T08:00:00Z: the device clock for every vector
WARNING = "TEST KEY, published on purpose: never trust it on a real device"


def seed(label: str) -> bytes:
    return hashlib.sha256(f"ticketgate test vector key: {label}".encode()).digest()


def private(label: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed(label))


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


KEYS = {  # label -> (key id, trusted-key attributes)
    "k1": (1, {"organiser": "Vector Org", "valid_from": None, "valid_until": None, "events": None}),
    "k2": (2, {"organiser": "Vector Org", "valid_from": NOW - 86400, "valid_until": None, "events": None}),
    "k3-retired": (3, {"organiser": "Vector Org", "valid_from": None, "valid_until": NOW - 3600, "events": None}),
    "k4-scoped": (4, {"organiser": "Vector Org", "valid_from": None, "valid_until": None, "events": [1, 900]}),
}
UNTRUSTED = "k99-untrusted"


def tg1(label: str, ticket: Ticket) -> str:
    return encode_ticket(ticket, private(label))


def fields(t: Ticket) -> dict:
    return {"key_id": t.key_id, "event_id": t.event_id, "is_pass": t.is_pass, "ticket_id": t.ticket_id,
            "category": t.category, "zones": list(t.zones), "seat": t.seat, "valid_from": t.valid_from,
            "valid_until": t.valid_until}


def flip(text: str, index: int) -> str:
    raw = bytearray(b45decode(text[len(SCHEME):]))
    raw[index] ^= 0x01
    return SCHEME + b45encode(bytes(raw))


def resign_body(label: str, body: bytes) -> str:
    return SCHEME + b45encode(body + private(label).sign(SIGNING_DOMAIN + body))


P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493   # the order of Ed25519's base point


def s_plus_l(signature: bytes) -> bytes:
    """The same signature with S + L: verifies in lax implementations (RFC 8032 5.1.7 requires S < L)."""
    return signature[:32] + (int.from_bytes(signature[32:], "little") + L).to_bytes(32, "little")


def r_non_canonical(signature: bytes) -> bytes:
    """R spelled y = p + 1 (the identity written with y ≥ p): no canonical encoding, refused by RFC 8032 5.1.3."""
    return (P + 1).to_bytes(32, "little") + signature[32:]


# public keys a verifier must refuse to trust (docs/ticket-format.md, "Signature"), with why
REFUSED_KEYS = [
    ("the all-zero key (a point of order 4)", bytes(32), "small order"),
    ("the identity 01 00…00 (every message verifies under R = identity, S = 0)", (1).to_bytes(32, "little"),
     "small order"),
    ("a point of order 8", bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
     "small order"),
    ("p - 1 (a point of order 2)", (P - 1).to_bytes(32, "little"), "small order"),
    ("y = p + 3: a second spelling of the key y = 3", (P + 3).to_bytes(32, "little"), "not canonical"),
    ("the all-zero key with the sign bit set (order 4)", bytes(31) + b"\x80", "small order"),
    ("y = 2: no point of the curve", (2).to_bytes(32, "little"), "not on the curve"),
]


def ticketgate_vectors() -> dict:
    device = {"events": [1, 2], "zones": [1, 2], "pass_events": {"900": [1, 2]}, "mode": "normal",
              "reread_window": 0}
    t_min = Ticket(1, 1, 1)
    t_typ = Ticket(1, 1, 123456789, category=2, zones=(1,))
    t_full = Ticket(1, 2, 281474976710655, category=65535, zones=(1, 2, 3), seat="Balcony B · Row 3 · Seat 14",
                    valid_from=NOW - 3600, valid_until=NOW + 3600)
    t_pass = Ticket(1, 900, 77, zones=(2,), is_pass=True)
    good = tg1("k1", t_typ)
    body, good_sig = b45decode(good[len(SCHEME):])[:-64], b45decode(good[len(SCHEME):])[-64:]
    cases = [
        ("minimal", tg1("k1", t_min), "ok", t_min, "accepted", "in"),
        ("typical: category and zone", good, "ok", t_typ, "accepted", "in"),
        ("all fields: seat, validity, max ids (one of its zones is taken)", tg1("k1", t_full), "ok", t_full, "accepted",
         "in"),
        ("festival pass: counts for the first selected event it opens", tg1("k1", t_pass), "ok", t_pass, "accepted", "in"),
        ("rotated key 2", tg1("k2", Ticket(2, 1, 5)), "ok", Ticket(2, 1, 5), "accepted", "in"),
        ("other event", tg1("k1", Ticket(1, 3, 6)), "ok", Ticket(1, 3, 6), "wrong_event", None),
        ("other zone", tg1("k1", Ticket(1, 1, 7, zones=(3,))), "ok", Ticket(1, 1, 7, zones=(3,)), "wrong_zone", None),
        ("not yet valid", tg1("k1", Ticket(1, 1, 8, valid_from=NOW + 60)), "ok", Ticket(1, 1, 8, valid_from=NOW + 60),
         "not_yet_valid", None),
        ("expired (valid_until is exclusive)", tg1("k1", Ticket(1, 1, 9, valid_until=NOW)), "ok",
         Ticket(1, 1, 9, valid_until=NOW), "expired", None),
        ("scoped key, event in scope", tg1("k4-scoped", Ticket(4, 1, 10)), "ok", Ticket(4, 1, 10), "accepted", "in"),
        ("scoped key signing outside its scope", tg1("k4-scoped", Ticket(4, 2, 11)), "forged", None, "forged", None),
        ("forged: last signature byte flipped", flip(good, -1), "forged", None, "forged", None),
        ("tampered: ticket id changed", flip(good, 13), "forged", None, "forged", None),
        ("tampered: zone changed", flip(good, 17), "forged", None, "forged", None),
        ("signature of the body without the domain separator", SCHEME + b45encode(body + private("k1").sign(body)),
         "forged", None, "forged", None),
        ("right key id, wrong key", encode_ticket(Ticket(1, 1, 12), private(UNTRUSTED)), "forged", None, "forged", None),
        ("malleable signature: S + L", SCHEME + b45encode(body + s_plus_l(good_sig)), "forged", None, "forged", None),
        ("signature with R not canonical", SCHEME + b45encode(body + r_non_canonical(good_sig)), "forged", None,
         "forged", None),
        ("signature over the body without the domain prefix",
         SCHEME + b45encode(body + private("k1").sign(body)), "forged", None, "forged", None),
        ("signature R = identity, S = 0", SCHEME + b45encode(body + (1).to_bytes(32, "little") + bytes(32)), "forged",
         None, "forged", None),
        ("unknown key id", tg1(UNTRUSTED, Ticket(99, 1, 13)), "unknown_key", None, "unknown_key", None),
        ("retired key (outside its validity window)", tg1("k3-retired", Ticket(3, 1, 14)), "unknown_key", None,
         "unknown_key", None),
        ("scanner suffix CR LF is ignored", good + "\r\n", "ok", t_typ, "accepted", "in"),
        ("truncated", good[:-5], "malformed", None, "malformed", None),
        ("bad base45 character", good[:10] + "a" + good[11:], "malformed", None, "malformed", None),
        ("base45 triplet above 65535", SCHEME + "GGW" + good[7:], "malformed", None, "malformed", None),
        ("unknown version 2", resign_body("k1", bytes([2]) + body[1:]), "malformed", None, "malformed", None),
        ("unknown flag bit", resign_body("k1", body[:3] + bytes([0x10]) + body[4:]), "malformed", None, "malformed", None),
        ("trailing byte after the fields", resign_body("k1", body + b"\x00"), "malformed", None, "malformed", None),
        ("oversized (over 512 characters)", good + "0" * (513 - len(good)), "malformed", None, "malformed", None),
        ("other scheme", "TG2:" + good[4:], "malformed", None, "malformed", None),
        ("empty", "", "malformed", None, "malformed", None),
    ]
    vectors = []
    for name, payload, status, ticket, verdict, direction in cases:
        v = {"name": name, "payload": payload, "status": status}
        if ticket is not None:
            v["fields"] = fields(ticket)
        v["verdict"] = verdict
        if direction:
            v["direction"] = direction
        vectors.append(v)
    return {
        "format": "ticketgate ticket format v1 test vectors (docs/ticket-format.md)",
        "generator": "tests/vectors/make_vectors.py",
        "now": NOW,
        "device": device,
        "keyring": {"warning": WARNING, "keys": [
            {"key_id": kid, "public_key": b64(raw_public(private(label))), "seed_label": label,
             "test_private_seed_hex": seed(label).hex(), **attrs}
            for label, (kid, attrs) in KEYS.items()]},
        "untrusted_key": {"warning": WARNING, "seed_label": UNTRUSTED, "public_key": b64(raw_public(private(UNTRUSTED)))},
        "refused_keys": [{"name": n, "public_key": b64(k), "reason": r} for n, k, r in REFUSED_KEYS],
        "vectors": vectors,
    }


def pretix_pem_b64(key: Ed25519PrivateKey) -> str:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64(pem)


def pretix_vectors() -> dict:
    k, other = private("pretix-event"), private("pretix-other-event")
    resource = {"name": {"en": "Vector Conference"}, "slug": "vectorconf", "live": True, "testmode": False,
                "currency": "EUR", "date_from": "2027-01-15T09:00:00Z", "date_to": None, "has_subevents": True,
                "valid_keys": {"pretix_sig1": [pretix_pem_b64(k)]}}
    mapping = {"event_id": 1, "items": {"21": {"category": 1, "zones": [1]}, "22": {"category": 2, "zones": [3]}},
               "subevents": {"301": 1, "302": 2}}
    ok_cases = [
        ("item and subevent", PretixTicket("Jz9mPq3sA", item=21, variation=0, subevent=301)),
        ("with variation", PretixTicket("hdk2LPa9x", item=22, variation=7, subevent=302)),
        ("no subevent (plain event)", PretixTicket("aaaaaaaaa", item=21)),
        ("validity window", PretixTicket("vw1234567", item=21, subevent=301, valid_from=NOW - 60, valid_until=NOW + 60)),
        ("large ids", PretixTicket("big000001", item=2**40, variation=2**33, subevent=301)),
    ]
    vectors = []
    for name, pt in ok_cases:
        vectors.append({"name": name, "secret": sign_secret(pt, k), "status": "ok",
                        "fields": {"seed": pt.seed, "item": pt.item, "variation": pt.variation, "subevent": pt.subevent,
                                   "valid_from": pt.valid_from, "valid_until": pt.valid_until},
                        "ticket_key": f"pretix:{pt.seed}"})
    good = vectors[0]["secret"]
    good_raw = base64.b64decode(good[::-1])
    payload, signature = good_raw[5:-64], good_raw[-64:]

    def frame(p: bytes, sig: bytes) -> str:      # pretix's framing: version, u16 lengths, payload, signature
        return b64(b"\x01" + len(p).to_bytes(2, "big") + len(sig).to_bytes(2, "big") + p + sig)[::-1]
    raw = bytearray(base64.b64decode(good[::-1]))
    raw[-1] ^= 1
    forged = base64.b64encode(bytes(raw)).decode()[::-1]
    bad = [
        ("signed by another event's key", sign_secret(PretixTicket("zzzzzzzzz", item=21), other), "forged"),
        ("signature byte flipped", forged, "forged"),
        ("truncated", good[5:], "malformed"),
        ("version byte 2", base64.b64encode(bytes([2]) + bytes(raw[1:])).decode()[::-1], "malformed"),
        ("not reversed", good[::-1], "malformed"),
        ("random pretix-style secret", "abcdefghjkmnpqrstuvwxyz23456789a", "malformed"),
        ("malleable signature: S + L", frame(payload, s_plus_l(signature)), "forged"),
        ("signature with R not canonical", frame(payload, r_non_canonical(signature)), "forged"),
        ("signature over other bytes (item 22)", frame(payload, k.sign(payload.replace(b"\x10\x15", b"\x10\x16"))), "forged"),
        ("signature R = identity, S = 0", frame(payload, (1).to_bytes(32, "little") + bytes(32)), "forged"),
        ("extra byte after the signature", b64(bytes(good_raw) + b"\x00")[::-1], "malformed"),
        ("payload length one more than there is",
         b64(good_raw[:1] + (len(payload) + 1).to_bytes(2, "big") + good_raw[3:])[::-1], "malformed"),
        ("signature length 63", b64(good_raw[:3] + (63).to_bytes(2, "big") + good_raw[5:-1])[::-1], "malformed"),
        ("base64 character outside the alphabet", good[:10] + "-" + good[11:], "malformed"),
        ("padding removed", good.lstrip("="), "malformed"),      # `good` starts with "==" (reversed)
    ]
    vectors += [{"name": n, "secret": s, "status": st} for n, s, st in bad]
    return {"format": "pretix_sig1 secrets (docs/pretix.md)", "generator": "tests/vectors/make_vectors.py", "now": NOW,
            "warning": WARNING, "event_resource": resource, "mapping": mapping, "vectors": vectors}


FILES = {"ticketgate-v1.json": ticketgate_vectors, "pretix-sig1.json": pretix_vectors}


def render(fn) -> str:
    return json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, fn in FILES.items():
        text, path = render(fn), HERE / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale vectors: {', '.join(stale)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
