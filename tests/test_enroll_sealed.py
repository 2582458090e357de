"""Nothing usable crosses the hotspot in clear at enrolment (docs/provisioning.md "Why HTTP", docs/security.md).

Through the public commands (`provision serve`, `provision tokens create`, `provision enroll`) on loopback: a relay
between the device and the endpoint records every byte (a listener on the Wi-Fi); a rogue endpoint answers with
another key; an app of the previous version sends its QR in clear."""
from __future__ import annotations

import base64
import json
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from provisioning.protocol import normalize_code, parse_qr
from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg
from tests.test_provision_cli import _decode_sheet
from tests.test_qa_skew import _event_now

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


class Listener:
    """A TCP relay on 127.0.0.1 to the real endpoint that passes every byte on and keeps a copy: what anyone on the
    hotspot's Wi-Fi reads (and could send again)."""

    def __init__(self, upstream: int):
        self.upstream = upstream
        self.requests: list[bytes] = []
        self.answers: list[bytes] = []
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
            with conn, socket.create_connection(("127.0.0.1", self.upstream), timeout=10) as up:
                conn.settimeout(10)
                request = _read_request(conn)
                up.sendall(request)
                answer = b""
                while chunk := up.recv(65536):
                    answer += chunk
                self.requests.append(request)
                self.answers.append(answer)
                conn.sendall(answer)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(65536)
        if not chunk:
            return request
        request += chunk
    head, _, body = request.partition(b"\r\n\r\n")
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _send(port: int, raw: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def _sheet(home: Path, count: int) -> tuple[list[str], list[str]]:
    """(QR texts, organiser codes) of a new sheet of `count` door enrolments."""
    printed = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", str(count), "--gate", "north",
                 "--out", str(home / "sheet.png")).stdout
    codes = [line.split("code ")[1].strip() for line in printed.splitlines() if line.strip().startswith("code ")]
    return _decode_sheet(home / "sheet.png"), codes


def _devices(home: Path) -> list[dict]:
    return json.loads(tg(home, "provision", "devices", "--org", "acme", "--json").stdout)


@pytest.fixture
def organiser(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    with organiser_running(home, serve=False) as running:
        yield home, running


def test_a_listener_reads_no_token_nor_code_and_its_copy_enrolls_nobody(organiser, tmp_path):
    """Before, the QR's token and a typed code crossed the Wi-Fi in clear in the POST /v1/enroll: a listener racing
    the device spent it and won that device's broker login. Now the request is sealed to the endpoint's enrolment key
    (signed by the organiser's key the QR pins): the copy holds no token and no code, and sent again it enrolls
    nobody."""
    home, running = organiser
    qrs, codes = _sheet(home, 2)
    listener = Listener(running.http_port)
    try:
        via = f"127.0.0.1:{listener.port}"
        tg(tmp_path / "door1", "provision", "enroll", "--qr", qrs[0], "--server", via, "--no-connect")
        tg(tmp_path / "door2", "provision", "enroll", "--code", codes[1], "--server", via, "--no-connect")
    finally:
        listener.stop()
    token = parse_qr(qrs[0]).token
    seen = b"".join(listener.requests + listener.answers)
    for secret in (token, token.lower(), normalize_code(codes[1]), codes[1]):
        assert secret.encode() not in seen, secret
    enrolls = [r for r in listener.requests if r.startswith(b"POST /v1/enroll ")]
    assert len(enrolls) == 2
    for request in enrolls:
        assert list(json.loads(request.partition(b"\r\n\r\n")[2])) == ["sealed"]
    assert len(_devices(home)) == 2
    for request in enrolls:                                  # the listener sends its copies to the endpoint
        status, answer = _send(running.http_port, request)
        assert status == 401 and answer["reason"] == "nonce", answer
    assert len(_devices(home)) == 2                          # nobody else enrolled


class Rogue(BaseHTTPRequestHandler):
    """An endpoint on the hotspot that is not the organiser's: its challenge carries `offer` (set by the test) and it
    keeps every enrolment request it receives."""

    offer: dict = {}
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/enroll":
            type(self).received.append(body)
        answer = json.dumps({"nonce": "n" * 32, "expires_in": 60, **self.offer} if self.path == "/v1/challenge"
                            else {"error": "no"}).encode()
        self.send_response(200 if self.path == "/v1/challenge" else 500)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


def _rogue_offers(real: dict) -> dict[str, dict]:
    """What a rogue can put in its challenge: its own server key (another fingerprint), or the organiser's real
    server key with its own enrolment key signed by its own key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from agent.sync import signed
    own = Ed25519PrivateKey.generate()
    own_public = base64.b64encode(own.public_key().public_bytes_raw()).decode()
    own_box = base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    offer = signed.seal({"type": "enroll_key", "org": "acme", "key": own_box, "ts": 0.0}, own.sign).decode()
    return {"another key": {"server_key": own_public, "enroll_key": offer},
            "the organiser's key, its own enrolment key": {"server_key": real.get("server_key", own_public),
                                                           "enroll_key": offer}}


def test_a_rogue_endpoint_gets_nothing_sent(organiser, tmp_path):
    """A rogue answering on the QR's address (or found by zeroconf with the organiser's fingerprint copied) with
    another server key, or with the organiser's public key and an enrolment key of its own: the device refuses before
    sending the token (before, the token went to it in clear)."""
    home, running = organiser
    qrs, _ = _sheet(home, 1)
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{running.http_port}/v1/challenge",
                                                       data=b"{}", method="POST"), timeout=10) as r:
        real = json.loads(r.read())
    rogue = ThreadingHTTPServer(("127.0.0.1", 0), Rogue)
    threading.Thread(target=rogue.serve_forever, daemon=True).start()
    try:
        said = {}
        for what, offer in _rogue_offers(real).items():
            Rogue.offer = offer
            said[what] = tg(tmp_path / "door", "provision", "enroll", "--qr", qrs[0], "--server",
                            f"127.0.0.1:{rogue.server_address[1]}", ok=False)
    finally:
        rogue.shutdown()
        rogue.server_close()
    assert Rogue.received == []                              # not even a sealed request
    assert said["another key"].returncode == 1
    assert "does not match the organiser fingerprint (the QR's" in said["another key"].stderr
    assert "refused, nothing sent" in said["another key"].stderr
    mine = said["the organiser's key, its own enrolment key"]
    assert mine.returncode == 1 and "not signed by its organiser key" in mine.stderr, mine.stderr
    assert not (tmp_path / "door" / "device" / "credentials.json").exists()
    tg(tmp_path / "door", "provision", "enroll", "--qr", qrs[0], "--server", f"127.0.0.1:{running.http_port}",
       "--no-connect")                                       # the QR still enrolls, at the organiser's endpoint


def test_a_qr_an_older_app_sent_in_clear_is_refused_and_enrolls_nobody_after(organiser, tmp_path):
    """An app of the previous version sends the token in clear: refused with what to do, and that QR no longer
    enrolls (anyone on the Wi-Fi may have read it); the next QR on the sheet does."""
    home, running = organiser
    qrs, _ = _sheet(home, 2)
    clear = json.dumps({"token": parse_qr(qrs[0]).token, "nonce": "x", "device_key": "", "box_key": "", "proof": ""})
    try:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{running.http_port}/v1/enroll",
                                                      data=clear.encode(), method="POST"), timeout=10)
        raise AssertionError("a request in clear was taken")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        said = json.loads(exc.read())
    assert said.get("reason") == "clear" and "Update the app, then scan the next QR on the sheet" in said["error"], said
    spent = tg(tmp_path / "door", "provision", "enroll", "--qr", qrs[0], "--server",
               f"127.0.0.1:{running.http_port}", ok=False)
    assert spent.returncode == 1 and "this enrollment QR has expired" in spent.stderr, spent.stderr
    tg(tmp_path / "door", "provision", "enroll", "--qr", qrs[1], "--server", f"127.0.0.1:{running.http_port}",
       "--no-connect")
    assert len(_devices(home)) == 1


def test_a_rogue_announcing_the_organisers_fingerprint_on_zeroconf_gets_no_typed_code(tmp_path):
    """`provision enroll --code` by zeroconf, a rogue on the hotspot announcing the organiser's fingerprint (copied
    from the real announcement) before the organiser's `provision serve` announces itself: the code went to the rogue
    in clear. Now the rogue's challenge cannot carry an enrolment key the organiser's key signed: the device sends it
    nothing, passes it over and enrolls at the organiser's server."""
    from functools import partial

    from provisioning.server.advertiser import Advertiser, service_infos
    from tests.helpers import provision_serve, stop_process
    from tests.qa_organiser import _start
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    prov, port = provision_serve(partial(_start, home), seconds=120)          # not announced yet
    rogue = ThreadingHTTPServer(("127.0.0.1", 0), Rogue)
    threading.Thread(target=rogue.serve_forever, daemon=True).start()
    Rogue.received.clear()
    try:
        _, codes = _sheet(home, 1)
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/challenge", data=b"{}",
                                                           method="POST"), timeout=10) as r:
            real = json.loads(r.read())
        Rogue.offer = _rogue_offers(real)["the organiser's key, its own enrolment key"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/info", timeout=10) as r:
            fp = json.loads(r.read())["fingerprint"]                     # what the organiser announces
        rogue_port = rogue.server_address[1]
        with Advertiser(service_infos("tg-rogue", ["127.0.0.1"], rogue_port, 1883, "acme", fp),
                        interfaces=["127.0.0.1"]), \
                Advertiser(service_infos("tg-acme", ["127.0.0.1"], port, 1883, "acme", fp), interfaces=["127.0.0.1"]):
            done = tg(tmp_path / "door", "provision", "enroll", "--code", codes[0], "--interface", "127.0.0.1",
                      "--no-connect")
    finally:
        rogue.shutdown()
        rogue.server_close()
        stop_process(prov)
    assert Rogue.received == []                                  # the code was sent to the organiser only
    assert f"enrolling with 127.0.0.1:{port}" in done.stdout and "enrolled as dev-" in done.stdout, done.stdout
    if f"enrolling with 127.0.0.1:{rogue_port}" in done.stdout:  # asked first (it answered zeroconf first)
        assert "not signed by its organiser key (" in done.stdout and ": passed over" in done.stdout, done.stdout
