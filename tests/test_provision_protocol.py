"""Pure parts: QR text, organiser codes, Wi-Fi escaping, throttle, mosquitto hash/ACL rendering;
plus the real mosquitto_passwd / mosquitto accepting our $7$ hashes."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from provisioning.protocol import (BadInput, EnrollQR, new_code, new_token, normalize_code, parse_qr, show_code,
                                   wifi_escape, wifi_payload)
from provisioning.server.mosquitto_files import BrokerUser, check_password, hash_password, render_acl, render_passwords
from provisioning.throttle import Throttle

FP = "6D7B5E94FB5A5395"


def test_qr_round_trip():
    qr = EnrollQR(new_token(), FP, "192.168.8.10:8787", "acme")
    assert parse_qr(qr.text()) == qr
    v6 = EnrollQR(new_token(), FP, "[fe80::1]:8787", "acme")
    assert parse_qr(v6.text()) == v6


@pytest.mark.parametrize("text", ["", "hello", "TGE1:", "TGE2:" + new_token() + f":{FP}:h:1:acme",
                                  "TGE1:short:" + FP + ":h:1:acme", "TGE1:" + new_token() + ":XYZ:h:1:acme",
                                  "TGE1:" + new_token() + f":{FP}:h:acme", "TGE1:" + new_token() + f":{FP}:h:1:Bad/Org",
                                  "WIFI:S:x;T:WPA;P:y;;"],
                         ids=["empty", "text", "no-fields", "tge2", "short-token", "bad-fingerprint", "no-port",
                              "bad-org", "wifi"])   # (stable ids: the tokens are random, pytest-xdist's workers compare)
def test_qr_malformed(text):
    with pytest.raises(BadInput):
        parse_qr(text)


def test_codes_are_typable():
    code = new_code()
    assert len(code) == 8 and normalize_code(show_code(code).lower()) == code
    assert normalize_code("k7m2 q9xb") == "K7M2Q9XB"
    for bad in ("", "K7M2", "K7M2-Q9XB-1", "UUUUUUUU", "K7M2_Q9XB"):
        with pytest.raises(BadInput):
            normalize_code(bad)


def test_a_code_fits_the_key_of_the_server_that_issued_it_and_few_others():
    """The device picks the server a typed code belongs to before sending it (zeroconf announces each key's
    fingerprint): a code fits its server's key, in any spelling of the fingerprint, and about 1 in 30 other keys."""
    from provisioning.protocol import code_fits
    ours, keys = "91E7:7B23:A6FB:9B3F", [f"{i:016X}" for i in range(3000)]
    codes = [new_code(ours) for _ in range(200)]
    assert all(code_fits(c, ours) and code_fits(c, ours.replace(":", "").lower()) for c in codes)
    assert all(normalize_code(show_code(c)) == c for c in codes)
    others = sum(code_fits(codes[0], key) for key in keys)
    assert 40 < others < 170, others               # 3000 / 30 = 100
    assert not code_fits(codes[0], "")


def test_wifi_payload_escapes_special_characters():
    assert wifi_payload("Door Net", "s3cret-2026") == "WIFI:S:Door Net;T:WPA;P:s3cret-2026;;"
    assert wifi_escape('a;b,c:d\\e"f') == 'a\\;b\\,c\\:d\\\\e\\"f'
    assert wifi_payload('Gate;"1"', "pass:w,d\\", hidden=True) == 'WIFI:S:Gate\\;\\"1\\";T:WPA;P:pass\\:w\\,d\\\\;H:true;;'
    assert wifi_payload("Open", None, security="nopass") == "WIFI:S:Open;T:nopass;;"
    for args in (("", "x"), ("n", ""), ("n", "x", "WPA3")):
        with pytest.raises(BadInput):
            wifi_payload(*args)


@pytest.mark.parametrize("ssid,password,security,said", [
    ("Door Net", "event", "WPA", "8 to 63 characters"),            # a phone cannot join with it: WPA needs 8..63
    ("Door Net", "x" * 64, "WPA", "8 to 63 characters"),
    ("Door Net", "évènement-2026", "WPA", "8 to 63 characters"),   # WPA passphrases are printable ASCII
    ("Door Net", "event-2026", "nopass", "no password"),            # the password was left out of the QR silently
    ("D" * 33, "event-2026", "WPA", "32 bytes"),                    # no Wi-Fi network has such a name
])
def test_a_wifi_qr_no_phone_can_join_with_is_refused(ssid, password, security, said):
    with pytest.raises(BadInput, match=said):
        wifi_payload(ssid, password, security)
    assert wifi_payload("Door Net", "a" * 63) and wifi_payload("Door Net", "0123456789abcdef" * 4)   # 64 hex: a raw key


def test_throttle_per_source_bucket():
    now = [0.0]
    t = Throttle(per_source=2, window=10, clock=lambda: now[0])
    t.failed("a"), t.failed("a")
    assert t.retry_after("a") == pytest.approx(5) and t.retry_after("b") == 0     # one failure back every 5 s
    now[0] = 5.1
    assert t.retry_after("a") == 0
    t.failed("a")
    assert t.retry_after("a") > 0


def test_throttle_sources_are_independent_and_ipv6_counts_by_prefix():
    t = Throttle(per_source=2, window=10, clock=lambda: 0.0)
    for i in range(100):
        t.failed(f"10.0.0.{i}")
    assert t.retry_after("10.9.9.9") == 0 and t.retry_after("10.0.0.1") == 0      # one failure each: still fine
    t.failed("2001:db8::1"), t.failed("2001:db8::2")                             # one /64
    assert t.retry_after("2001:db8::ffff") > 0 and t.retry_after("2001:db8:0:1::1") == 0
    assert t.retry_after("::ffff:10.0.0.1") == 0


def test_throttle_code_guesses_share_one_bucket_tokens_do_not():
    t = Throttle(per_source=100, code_limit=3, window=10, clock=lambda: 0.0)
    for s in "xyz":
        t.failed(s, code=True)
    assert t.retry_after("fresh", code=True) > 0
    assert t.retry_after("fresh") == 0


def test_hash_format_and_check():
    h = hash_password("pw", salt=b"0123456789ab")
    assert h.startswith("$7$101$MDEyMzQ1Njc4OWFi$") and check_password("pw", h) and not check_password("px", h)
    assert not check_password("pw", "garbage")


def test_acl_rendering_and_names():
    users = [BrokerUser("server-acme", "$7$x", "acme", server=True), BrokerUser("dev-a", "$7$y", "acme", (2, 1, 2))]
    acl = render_acl(users)
    assert "user dev-a\ntopic read tg/acme/ev/1/live\ntopic read tg/acme/ev/2/live\n" in acl
    assert "user server-acme\ntopic readwrite tg/acme/#" in acl      # not another organiser's topics
    assert ("topic write tg/acme/dev/dev-a/up\ntopic write tg/acme/dev/dev-a/status\n"
            "topic read tg/acme/dev/dev-a/down\ntopic read tg/acme/dev/dev-a/cmd\n") in acl
    assert "pattern" not in acl and "tg/+/dev" not in acl     # no topic under another organiser's name
    assert "topic" not in render_acl([BrokerUser("dev-b", "$7$z")])    # no organiser (taken over): nothing
    assert render_passwords(users) == "dev-a:$7$y\nserver-acme:$7$x\n"
    for bad in ("a/b", "a+", "#", "x y", ""):
        with pytest.raises(ValueError):
            render_passwords([BrokerUser(bad, "$7$z")])


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed")
def test_our_check_reads_mosquitto_passwd_hashes(tmp_path):
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "dev-a", "s3cret-pw"], check=True, timeout=10)
    _, hashed = path.read_text().strip().split(":", 1)
    assert check_password("s3cret-pw", hashed) and not check_password("other", hashed)


def test_mosquitto_accepts_our_hashes(tmp_path):
    from provisioning.mqtt_connect import Refused, connect
    from provisioning.server.broker_admin import BrokerEndpoint
    from tests.broker import Mosquitto
    (tmp_path / "pw").write_text(render_passwords([BrokerUser("dev-a", hash_password("right"))]))
    (tmp_path / "acl").write_text(render_acl([BrokerUser("dev-a", "$7$")]))
    with Mosquitto(tmp_path / "mq", password_file=tmp_path / "pw", acl_file=tmp_path / "acl") as broker:
        endpoint = BrokerEndpoint("127.0.0.1", broker.port)
        client = connect(endpoint, "dev-a", "right")
        client.disconnect(), client.loop_stop()
        with pytest.raises(Refused):
            connect(endpoint, "dev-a", "wrong")
