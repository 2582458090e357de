"""Enrollment tokens against the real endpoint: single use, expiry, guessing, throttling, bad requests."""
from __future__ import annotations

import base64
import json
import threading
import urllib.request

import pytest

from provisioning.device.enroll import EnrollError, enroll
from provisioning.device.state import DeviceState
from provisioning.protocol import new_token, show_code
from provisioning.throttle import Throttle
from tests.test_provision_env import ORG, enroll_device, provision_env


@pytest.fixture
def env(tmp_path):
    with provision_env(tmp_path, throttle=Throttle(per_source=3, window=60)) as e:
        yield e


def _fp(env) -> str:
    return env.prov.fingerprint


def test_token_enrolls_once_and_reuse_is_refused(env, tmp_path):
    token = env.prov.registry.create_tokens(ORG, 1, gate="north", events=(env.events[0],))[0]
    creds = enroll(DeviceState(tmp_path / "a"), env.server, token=token.token, expected_fingerprint=_fp(env))
    assert creds.gate == "north" and creds.events == (env.events[0],) and creds.org == ORG
    assert (tmp_path / "a" / "device_key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "a" / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert env.store.device(creds.device_id)["gate"] == "north"
    with pytest.raises(EnrollError, match="already used") as err:
        enroll(DeviceState(tmp_path / "b"), env.server, token=token.token, expected_fingerprint=_fp(env))
    assert err.value.status == 401
    assert not (tmp_path / "b" / "credentials.json").exists() and not (tmp_path / "b" / "device_key.pem").exists()


def test_expired_token_refused(env, tmp_path):
    token = env.prov.registry.create_tokens(ORG, 1, ttl=-1)[0]
    with pytest.raises(EnrollError, match="expired"):
        enroll(DeviceState(tmp_path / "a"), env.server, token=token.token)


def test_guessed_tokens_and_codes_refused_then_throttled(env, tmp_path):
    good = env.prov.registry.create_tokens(ORG, 1)[0]
    state = DeviceState(tmp_path / "a")
    for _ in range(2):
        with pytest.raises(EnrollError, match="unknown enrollment QR"):
            enroll(state, env.server, token=new_token())
    with pytest.raises(EnrollError, match="unknown organiser code"):
        enroll(state, env.server, code="K7M2-Q9XB")
    # three failures from 127.0.0.1: even the right token must wait now
    with pytest.raises(EnrollError) as err:
        enroll(state, env.server, token=good.token)
    assert err.value.status == 429 and err.value.retry_after and err.value.retry_after >= 1
    assert not state.enrolled()
    assert env.prov.registry.find_token(good.token).used_at is None


def test_code_guesses_from_many_sources_are_throttled_together(env, tmp_path):
    env.prov.service.throttle = Throttle(per_source=3, code_limit=4, window=60)
    token = env.prov.registry.create_tokens(ORG, 1)[0]
    for i in range(4):
        env.prov.service.throttle.failed(f"10.0.0.{i}", code=True)     # four sources, one wrong code each
    with pytest.raises(EnrollError) as err:
        enroll(DeviceState(tmp_path / "a"), env.server, code=token.code)
    assert err.value.status == 429 and "code" in str(err.value)
    assert enroll(DeviceState(tmp_path / "b"), env.server, token=token.token).org == ORG   # the QR still works


def test_organiser_code_enrolls(env, tmp_path):
    token = env.prov.registry.create_tokens(ORG, 1, gate="south")[0]
    typed = show_code(token.code).lower().replace("-", " ")
    creds = enroll(DeviceState(tmp_path / "a"), env.server, code=typed)
    assert creds.gate == "south"
    with pytest.raises(EnrollError, match="already used"):
        enroll(DeviceState(tmp_path / "b"), env.server, token=token.token)


def test_wrong_fingerprint_is_refused_by_the_device(env, tmp_path):
    token = env.prov.registry.create_tokens(ORG, 1)[0]
    with pytest.raises(EnrollError, match="does not match"):
        enroll(DeviceState(tmp_path / "a"), env.server, token=token.token, expected_fingerprint="0000111122223333")
    assert not DeviceState(tmp_path / "a").enrolled()


def _post(env, path: str, body: bytes):
    req = urllib.request.Request(f"http://{env.server}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"token": 5}', b'{"nonce": "x", "device_key": "AAAA"}',
                                  b'{"sealed": 5}', b'{"sealed": {}, "token": "A"}',
                                  json.dumps({"token": "A", "code": "B", "nonce": "n", "device_key": base64.b64encode(b"k" * 32).decode(),
                                              "box_key": base64.b64encode(b"k" * 32).decode(),
                                              "proof": base64.b64encode(b"s" * 64).decode()}).encode()])
def test_malformed_requests_get_clear_errors(env, body):
    status, answer = _post(env, "/v1/enroll", body)
    assert status == 400 and answer["error"]


def sealed(challenge: dict, request: dict) -> bytes:
    """`request` as a device seals it to the enrollment key the challenge offered (its signature checked)."""
    from agent.sync.signed import Verifier
    from provisioning import box
    offer = Verifier(base64.b64decode(challenge["server_key"])).open(challenge["enroll_key"].encode())
    return json.dumps({"sealed": box.seal(json.dumps(request), base64.b64decode(offer["key"]),
                                          box.REQUEST + offer["org"])}).encode()


def test_bad_proof_and_replayed_nonce_refused(env, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    token = env.prov.registry.create_tokens(ORG, 1)[0]
    _, ch = _post(env, "/v1/challenge", b"{}")
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    req = {"token": token.token, "nonce": ch["nonce"], "device_key": base64.b64encode(pub).decode(),
           "box_key": base64.b64encode(b"b" * 32).decode(), "proof": base64.b64encode(key.sign(b"other")).decode()}
    status, answer = _post(env, "/v1/enroll", sealed(ch, req))
    assert status == 401 and "proof" in answer["error"]
    status, answer = _post(env, "/v1/enroll", sealed(ch, req))   # the nonce was spent
    assert status == 401 and "nonce" in answer["error"]
    assert env.prov.registry.find_token(token.token).used_at is None


def test_oversized_body_refused(env):
    status, answer = _post(env, "/v1/enroll", b"x" * 20000)
    assert status == 413


def test_two_devices_racing_for_one_token_one_wins(env, tmp_path):
    token = env.prov.registry.create_tokens(ORG, 1)[0]
    results: list = []

    def go(i):
        try:
            results.append(enroll(DeviceState(tmp_path / f"d{i}"), env.server, token=token.token).device_id)
        except EnrollError as exc:
            results.append(exc)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert sum(isinstance(r, str) for r in results) == 1
    assert len(env.prov.registry.credentials()) == 1


def test_twenty_devices_enroll_concurrently_and_connect(tmp_path):
    from provisioning.device.link import DeviceLink
    with provision_env(tmp_path) as env:
        tokens = env.prov.registry.create_tokens(ORG, 20, gate="north", events=tuple(env.events))
        results: dict[int, object] = {}

        def go(i):
            try:
                state = DeviceState(tmp_path / f"d{i}")
                # generous waits: the 20 share one enrollment server, each with its fsyncs and a broker reload,
                # so the last one waits for all the others on a loaded machine (speed is not what this test checks)
                enroll(state, env.server, token=tokens[i].token, expected_fingerprint=env.prov.fingerprint, timeout=60)
                link = DeviceLink(state)
                link.connect(timeout=60)
                results[i] = link
            except Exception as exc:   # reported by the assertion below
                results[i] = exc
        threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
        [t.start() for t in threads]
        [t.join(150) for t in threads]
        assert [r for r in results.values() if isinstance(r, Exception)] == []
        assert len(results) == 20
        assert len({r.creds.device_id for r in results.values()}) == 20
        logins = [line.split(":")[0] for line in env.prov.paths.password_file.read_text().splitlines()]
        assert sorted(n for n in logins if n.startswith("dev-")) == sorted(r.creds.device_id for r in results.values())
        for link in results.values():
            link.close()


def test_store_failure_gives_the_token_back(env, tmp_path, monkeypatch):
    import sqlite3
    token = env.prov.registry.create_tokens(ORG, 1)[0]

    def locked(*a, **kw):                       # what a busy organiser database raises
        raise sqlite3.OperationalError("database is locked")
    monkeypatch.setattr(env.store, "register_device", locked)
    with pytest.raises(EnrollError, match="could not finish") as err:
        enroll(DeviceState(tmp_path / "a"), env.server, token=token.token)
    assert err.value.status == 500
    assert env.prov.registry.find_token(token.token).used_at is None and env.prov.registry.credentials() == []
    assert "dev-" not in env.prov.paths.password_file.read_text()
    assert not DeviceState(tmp_path / "a").enrolled()
    monkeypatch.undo()
    assert enroll(DeviceState(tmp_path / "a"), env.server, token=token.token).org == ORG


def test_state_files_are_private(env, tmp_path):
    enroll_device(env, tmp_path / "a")
    for path in (env.prov.paths.registry, env.prov.paths.password_file, env.prov.paths.acl_file):
        assert path.stat().st_mode & 0o077 == 0, path


def test_challenge_flood_from_one_address_is_refused(env):
    statuses = [_post(env, "/v1/challenge", b"{}")[0] for _ in range(33)]
    assert statuses[:32] == [200] * 32 and statuses[32] == 429


def test_stalled_client_does_not_block_enrollment(env, tmp_path):
    import socket
    stalled = socket.create_connection(("127.0.0.1", env.http.port))
    stalled.sendall(b"POST /v1/enroll HTTP/1.1\r\nContent-Length: 500\r\n\r\n{")   # and never the rest
    try:
        token = env.prov.registry.create_tokens(ORG, 1)[0]
        assert enroll(DeviceState(tmp_path / "a"), env.server, token=token.token).org == ORG
    finally:
        stalled.close()


class _RestartsBeforeFirstEnroll:
    """The endpoint's service as `provision serve` restarted between a device's challenge and its enrollment: a
    new process (a new EnrollmentService, its nonces gone) on the same store, registry and broker files."""

    def __init__(self, env):
        self.env, self.service, self.restarted = env, env.prov.service, False

    def enroll(self, source, req):
        if not self.restarted:
            from provisioning.server.enrollment import EnrollmentService
            old = self.service
            self.service = EnrollmentService(ORG, old.store, old.registry, old.admin, old.throttle)
            self.restarted = True
        return self.service.enroll(source, req)

    def __getattr__(self, name):
        return getattr(self.service, name)


def test_a_server_restarted_mid_enrollment_enrolls_the_device_with_a_new_challenge(env, tmp_path):
    token = env.prov.registry.create_tokens(ORG, 1, gate="north")[0]
    env.http.service = _RestartsBeforeFirstEnroll(env)
    creds = enroll(DeviceState(tmp_path / "a"), env.server, token=token.token, expected_fingerprint=_fp(env))
    assert env.http.service.restarted and creds.gate == "north"
    assert env.store.device(creds.device_id)["gate"] == "north"
    assert env.prov.registry.find_token(token.token).used_at is not None


class _LosesTheFirstEnrollAnswer:
    """The hotspot losing one answer: a TCP relay on 127.0.0.1 to the real endpoint that passes every request and
    every answer on, except the first answer to /v1/enroll, which the server sent and the relay drops (the device's
    connection is reset)."""

    def __init__(self, upstream: int):
        import socket
        self.upstream, self.dropped = upstream, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port, self.stopped = self.sock.getsockname()[1], threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._relay(conn)

    def _relay(self, conn) -> None:
        import socket
        import struct
        with conn, socket.create_connection(("127.0.0.1", self.upstream), timeout=10) as up:
            conn.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536) or b"\r\n\r\n"
            head, _, body = request.partition(b"\r\n\r\n")
            length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
            while len(body) < length:
                body += conn.recv(65536) or b" " * (length - len(body))
            up.sendall(head + b"\r\n\r\n" + body)
            up.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := up.recv(65536):
                answer += chunk
            if head.startswith(b"POST /v1/enroll ") and not self.dropped:
                self.dropped += 1
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # reset, no answer
                return
            conn.sendall(answer)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def test_an_enrollment_whose_answer_was_lost_is_answered_again_not_spent(env, tmp_path):
    """The server enrolled the device but its answer never arrived (Wi-Fi drop): the device asked again and got "this
    enrollment QR was already used", and the organiser's list kept a device nobody holds, with a broker login. The
    device asks again with the same key: the server answers again (same device id, a new password)."""
    from tests.test_provision_env import close, login
    token = env.prov.registry.create_tokens(ORG, 1, gate="north")[0]
    relay = _LosesTheFirstEnrollAnswer(env.http.port)
    try:
        creds = enroll(DeviceState(tmp_path / "a"), f"127.0.0.1:{relay.port}", token=token.token,
                       expected_fingerprint=_fp(env))
    finally:
        relay.stop()
    assert relay.dropped == 1
    assert [d["device_id"] for d in env.store.devices(ORG)] == [creds.device_id]
    assert [c.device_id for c in env.prov.registry.credentials(include_revoked=True)] == [creds.device_id]
    assert not (tmp_path / "a" / ".enrolling_key.pem").exists()
    client, _ = login(env, creds.username, creds.password, client_id=creds.device_id)   # the password it holds works
    close(client)
    with pytest.raises(EnrollError, match="already used"):        # anyone else, with another key: used, as before
        enroll(DeviceState(tmp_path / "b"), env.server, token=token.token, expected_fingerprint=_fp(env))


def test_a_request_sealed_to_another_key_is_answered_as_a_lost_challenge(env):
    """What the endpoint cannot open (sealed to the key of a `provision serve` before a restart, or garbage): 401 with
    the reason a device acts on by asking for a new challenge, counted like any refusal."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from provisioning import box
    other = box.raw_public(X25519PrivateKey.generate())
    for envelope in (box.seal(json.dumps({"token": "A"}), other, box.REQUEST + ORG), {"epk": "", "nonce": "", "ct": ""}):
        status, answer = _post(env, "/v1/enroll", json.dumps({"sealed": envelope}).encode())
        assert status == 401 and answer["reason"] == "nonce", answer
