"""The signed broker announcement's judgement on a device (provisioning.broker_announce): pure, every way it is
refused, and the counter that survives a clock set back."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provisioning.broker_announce import announcement, judge, next_seq

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw()


def _txt(org: str = "acme", host: str = "10.0.0.9", port: int = 1884, tls: bool = False, seq: int = 50,
         key: Ed25519PrivateKey = KEY) -> dict[str, str]:
    return {"org": org, "tls": "1" if tls else "0", **announcement(key.sign, org, host, port, tls, seq)}


def _judged(txt: dict[str, str], seq: int = 40, tls: bool = False):
    return judge(txt, "acme", PUBLIC, "10.0.0.1", 1883, tls, seq)


def test_a_newer_signed_address_of_its_organiser_is_taken():
    judged = _judged(_txt())
    assert (judged.verdict, judged.host, judged.port, judged.seq) == ("moved", "10.0.0.9", 1884, 50)
    assert _judged(_txt(host="10.0.0.1", port=1883)).verdict == "same"
    assert _judged(_txt(host="fe80::1")).host == "fe80::1"


@pytest.mark.parametrize("change,why", [
    ({"at": "10.6.6.6:1884"}, "not signed by this organiser's server key"),         # the address swapped
    ({"seq": "99"}, "not signed by this organiser's server key"),                  # the counter raised
    ({"tls": "1"}, "not signed by this organiser's server key"),
    ({"sig": "AAAA"}, "not signed by this organiser's server key"),
    ({"sig": "not base64!"}, "not signed by this organiser's server key"),
    ({"at": "10.0.0.9"}, "not signed by this organiser's server key"),             # no port
    ({"seq": ""}, "not signed by this organiser's server key"),
    ({"sig": ""}, "unsigned"),
    ({"org": "beta"}, "another organiser's (beta)"),
])
def test_a_changed_or_incomplete_announcement_is_ignored(change, why):
    judged = _judged({**_txt(), **change})
    assert judged.verdict == "ignored" and why in judged.why, judged


def test_another_key_an_older_counter_and_a_tls_change_are_ignored():
    assert "not signed" in _judged(_txt(key=Ed25519PrivateKey.generate())).why
    assert "counter 50 ≤ 50: a replayed" in _judged(_txt(), seq=50).why
    assert "TLS setting changed" in _judged(_txt(tls=True)).why


def test_the_counter_goes_on_when_the_clock_goes_back():
    assert next_seq(0, now=1000.0) == 1_000_000
    assert next_seq(5_000_000, now=1000.0) == 5_000_001
