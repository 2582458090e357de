"""Attacks on the enrollment endpoint (docs/security.md, issue 10 §9), against the real endpoint on loopback:
ten "sources" are the addresses 127.0.0.2-11 (Linux routes all of 127/8 to lo)."""
from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

from provisioning.device.enroll import enroll
from provisioning.device.state import DeviceState
from tests.helpers import wait_for
from tests.test_provision_env import ORG, provision_env

SOURCES = [f"127.0.0.{i}" for i in range(2, 12)]


def post(port: int, path: str, body: bytes, source: str = "127.0.0.1") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _enrolling_time(env, folder, token: str) -> float:
    """Seconds a device takes to enroll on this host with no attack going on: what 'at once' is measured against
    (not a fixed 5 s: on a slow, loaded host an enrollment alone takes seconds)."""
    started = time.monotonic()
    assert enroll(DeviceState(folder), env.server, token=token, expected_fingerprint=env.prov.fingerprint).org == ORG
    return time.monotonic() - started


def test_attack_enrollment_flood_other_sources(tmp_path):
    """200 malformed POSTs from 10 addresses at once: each address is throttled on its own; the device that
    scans a valid unused QR token from another address enrolls at once."""
    with provision_env(tmp_path / "env") as env:
        quiet, token = env.prov.registry.create_tokens(ORG, 2, gate="north")
        at_rest = _enrolling_time(env, tmp_path / "before", quiet.token)
        statuses: dict[str, list[int]] = {s: [] for s in SOURCES}

        def flood(source: str) -> None:
            for _ in range(20):
                statuses[source].append(post(env.http.port, "/v1/enroll", b'{"token": "GUESS"}', source)[0])
        threads = [threading.Thread(target=flood, args=(s,)) for s in SOURCES]
        [t.start() for t in threads]
        [t.join(60) for t in threads]
        for source, got in statuses.items():
            assert got[:5] == [400] * 5 and set(got[5:]) == {429}, (source, got)     # counted, per source
        t0 = time.monotonic()
        creds = enroll(DeviceState(tmp_path / "door"), env.server, token=token.token,
                       expected_fingerprint=env.prov.fingerprint)
        assert creds.gate == "north" and time.monotonic() - t0 < 5 * at_rest + 2, (time.monotonic() - t0, at_rest)
        assert post(env.http.port, "/v1/enroll", b'{"token": "GUESS"}', SOURCES[0])[0] == 429   # still throttled


def test_attack_enrollment_slowloris(tmp_path):
    """400 clients from 10 addresses send a request one byte every 5 s: they hold sockets, not threads; a valid
    enrollment goes through meanwhile; every slow request is cut off at the deadline (408)."""
    with provision_env(tmp_path / "env") as env:
        quiet, token = env.prov.registry.create_tokens(ORG, 2)
        at_rest = _enrolling_time(env, tmp_path / "before", quiet.token)
        threads_before = threading.active_count()
        slow = []
        for i in range(400):
            s = socket.socket()
            s.bind((SOURCES[i % 10], 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", env.http.port))
            s.sendall(b"P")
            slow.append(s)
        started = time.monotonic()
        time.sleep(1.0)                                 # every slow request is in by now
        assert threading.active_count() - threads_before <= 8 + 2      # at most the worker pool
        t0 = time.monotonic()
        creds = enroll(DeviceState(tmp_path / "door"), env.server, token=token.token)
        assert creds.org == ORG and time.monotonic() - t0 < 5 * at_rest + 2, (time.monotonic() - t0, at_rest)
        assert env.http.connections == 400
        assert threading.active_count() - threads_before <= env.http.limits.workers + 2
        for _ in range(2):                              # a byte every 5 s, as the attacker does
            time.sleep(max(0.0, started + 5 * (_ + 1) - time.monotonic()))
            for s in slow:
                try:
                    s.sendall(b"O")
                except OSError:
                    pass                                # already cut off
        assert wait_for(lambda: env.http.connections == 0, 8), env.http.connections
        assert time.monotonic() - started <= env.http.limits.deadline + 8
        answers = set()
        for s in slow:
            try:
                answers.add(s.recv(64)[:12])
            except OSError:
                answers.add(b"reset")
            s.close()
        assert answers <= {b"HTTP/1.1 408", b"", b"reset"} and b"HTTP/1.1 408" in answers, answers


def test_attack_enrollment_deep_json(tmp_path, caplog):
    """`[`×8000 (and the same inside an object) on every POST path: a clear 400, counted by the throttle (the
    sixth try from that address is 429), no RecursionError anywhere; others enroll normally."""
    caplog.set_level(logging.DEBUG)
    with provision_env(tmp_path / "env") as env:
        token = env.prov.registry.create_tokens(ORG, 1)[0]
        bodies = [b"[" * 8000, b'{"token": ' + b"[" * 8000, b"[" * 8000 + b"]" * 8000]
        for path, source in (("/v1/enroll", SOURCES[0]), ("/v1/challenge", SOURCES[1]), ("/v1/revocation", SOURCES[2])):
            got = [post(env.http.port, path, bodies[i % 3], source) for i in range(6)]
            assert [status for status, _ in got] == [400] * 5 + [429], (path, got)
            assert all("nested deeper than 32 levels" in answer["error"] for _, answer in got[:5])
        assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text
        assert enroll(DeviceState(tmp_path / "door"), env.server, token=token.token).org == ORG


def test_attack_enrollment_content_length_in_other_digits(tmp_path, caplog):
    """`Content-Length: ²` (latin-1 0xB2: a digit to str.isdigit, not to int()), `١٢` and 5,000 nines (over int()'s
    digit limit) from one address. Before: int() raised past the request parser: no answer, a traceback logged for
    each, and the failure never counted by the throttle (a flooder filled the log, never slowed). Now a clear 411,
    counted."""
    caplog.set_level(logging.DEBUG)
    with provision_env(tmp_path / "env") as env:
        answers = []
        for length in (b"\xb2", "١٢".encode(), b"9" * 5000) * 2:
            with socket.create_connection(("127.0.0.1", env.http.port), timeout=10) as s:
                s.sendall(b"POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
                answers.append(s.recv(100).split(b"\r\n")[0])
        assert answers == [b"HTTP/1.1 411 Length Required"] * 6, answers
        assert post(env.http.port, "/v1/enroll", b'{"token": "GUESS"}')[0] == 429         # the 6 were counted
        assert "Traceback" not in caplog.text and "ValueError" not in caplog.text, caplog.text
