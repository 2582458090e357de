"""Enrolling this device: challenge, prove key possession, check the signed answer, save everything.

    creds = enroll(state, server="192.168.8.10:8787", token=qr.token, expected_fingerprint=qr.fingerprint)

The answer is trusted only when it is signed by a server key whose fingerprint matches the QR's (with a
hand-typed code there is no QR: the fingerprint seen by zeroconf is pinned instead and shown to compare). The request
(token or code, the device's keys) is sealed to the endpoint's enrollment key, which the challenge carries signed by
that same server key: checked before anything is sent, so a listener or a rogue relaying the key reads nothing.
"""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent import pid_lock
from agent.errors import TicketgateError
from agent.private_files import private_dir
from agent.clock import ServerClock, boot_clock
from agent.keyring import Keyring, fingerprint
from agent.ledger import Ledger
from agent.sync import signed
from agent.sync.signed import Rejected, Verifier
from agent.sync.transport import unreachable_reason
from provisioning import box
from provisioning.device import identity, retire
from provisioning.device.state import Broker, Credentials, DeviceState
from provisioning.protocol import (ENROLL_KEY, STALE_NONCE, UNKNOWN_SECRET, compact_fingerprint, proof_message,
                                   split_hostport)

MAX_ANSWER = 1 << 20
WRONG_KEY = "key"      # `reason` of a server whose key is not the pinned one, or that did not sign its enrollment key:
                       # refused by the device before anything was sent (a rogue, or a server before sealed requests)
ENROLLING_KEY = ".enrolling_key.pem"     # the device key of an enrollment under way (0600), the device key once done
ENROLL_LOCK = "enroll.lock"              # held while one enrollment runs: two at once took one key file in turns


class EnrollError(TicketgateError):
    """Enrollment did not happen; str(exc) says why, for the technician. Nothing was saved."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None,
                 network: bool = False, reason: str = ""):
        super().__init__(message)
        self.status, self.retry_after, self.network, self.reason = status, retry_after, network, reason

    @property
    def again(self) -> bool:
        """Worth a new attempt: the network failed before the server answered, or the server no longer holds our
        challenge (restarted between the challenge and the enrollment; the token was not looked at)."""
        return self.network or self.reason == STALE_NONCE

    @property
    def not_issued_here(self) -> bool:
        """The server never issued this code or QR (a server before `reason` said it in words only)."""
        return self.reason == UNKNOWN_SECRET or (self.status == 401 and not self.reason
                                                 and str(self).startswith("server refused (401): unknown "))


@dataclass(frozen=True)
class Timing:
    challenge: float
    enroll: float
    total: float


def _post(base: str, path: str, body: dict, timeout: float) -> dict:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read(MAX_ANSWER))
    except urllib.error.HTTPError as exc:
        try:
            said = json.loads(exc.read(4096))
            detail, reason = str(said.get("error", "")), str(said.get("reason", ""))
        except (ValueError, AttributeError):
            detail, reason = "", ""
        retry = exc.headers.get("Retry-After") if exc.headers else None
        seconds = retry.isascii() and retry.isdigit() and len(retry) <= 9 if retry else False   # '²': not to float()
        raise EnrollError(f"server refused ({exc.code}): {detail or exc.reason}", exc.code,
                          float(retry) if retry and seconds else None, reason=reason) from None
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)      # "connection refused (nothing listens on that port)", not "[Errno 111]"
        why = unreachable_reason(why) if isinstance(why, OSError) else why
        raise EnrollError(f"cannot reach the server at {base}: {why}", network=True) from None
    except ValueError:
        raise EnrollError("the server answered something that is not JSON") from None


def enroll(state: DeviceState, server: str, token: str | None = None, code: str | None = None,
           expected_fingerprint: str | None = None, name: str = "", timeout: float = 10.0,
           attempts: int = 3, fresh: bool = False) -> Credentials:
    """Retries (bounded) when the network failed or the server lost our challenge (it restarted); any other refusal
    is final. One enrollment at a time per device folder (a second one, another terminal or the app, is refused
    before it sends anything); `fresh`: this device was not enrolled when asked, and one that is once the lock is
    taken (the other enrollment ended first) is refused too. Every attempt uses one device key: a server that
    enrolled us but whose answer was lost on the way answers again to that key (the same device id), so a dropped
    answer neither spends the QR nor leaves a device nobody holds."""
    try:
        lock = pid_lock.take(private_dir(state.folder) / ENROLL_LOCK)
    except pid_lock.Held as other:
        raise EnrollError(f"another enrollment of this device is under way ({state.folder}{other.naming()}: "
                          f"`ticketgate provision enroll` or the app's Set-up): wait for it to end, then "
                          f"`ticketgate provision status` says whether it enrolled. Nothing was sent, the code "
                          f"is not used") from None
    try:
        enrolled = state.load() if fresh and state.enrolled() else None
        if enrolled is not None:      # the other one ended first: this one would spend a code for nothing
            raise EnrollError(f"already enrolled ({enrolled.device_id}), by another enrollment meanwhile; "
                              f"nothing was sent, the code is not used")
        return _enroll_attempts(state, server, token, code, expected_fingerprint, name, timeout, attempts)
    finally:
        lock.close()


def _enroll_attempts(state: DeviceState, server: str, token: str | None, code: str | None,
                     expected_fingerprint: str | None, name: str, timeout: float, attempts: int) -> Credentials:
    held: dict[str, Any] = {}
    try:
        for attempt in range(attempts):
            try:
                return _enroll_once(state, server, token, code, expected_fingerprint, name, timeout, held)
            except EnrollError as exc:
                if not exc.again or attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")
    except BaseException:
        (state.folder / ENROLLING_KEY).unlink(missing_ok=True)
        raise


def enroll_at_first_that_knows(state: DeviceState, servers: Sequence[tuple[str, str | None]], *,
                               token: str | None = None, code: str | None = None, name: str = "",
                               enroll_at: Callable[..., Credentials] = enroll,
                               trying: Callable[[str, str | None], None] = lambda server, fingerprint: None,
                               passed_over: Callable[[str, EnrollError], None] = lambda server, exc: None
                               ) -> Credentials:
    """Enrollment at the first of `servers` ((HOST:PORT, fingerprint to pin or None), in the order zeroconf found
    them) that issued this code or QR. Another organiser's server on the same hotspot, or the announcement of one no
    longer there, says it never issued it, cannot be reached or makes us wait (429), or a rogue announcing the
    organiser's fingerprint shows another key (nothing sent to it: `passed_over` says so): the next one is asked.
    Any other refusal (used, expired) is final. None left: a "wait" (one of them may be ours), else the first
    "unknown …" refusal, else the last network error."""
    throttled: EnrollError | None = None
    unknown: EnrollError | None = None
    last: EnrollError | None = None
    for server, fingerprint in servers:
        trying(server, fingerprint)
        try:
            return enroll_at(state, server, token=token, code=code, expected_fingerprint=fingerprint, name=name)
        except EnrollError as exc:
            if not (exc.network or exc.not_issued_here or exc.status == 429 or exc.reason == WRONG_KEY):
                raise
            if exc.reason == WRONG_KEY:
                passed_over(server, exc)
            throttled = throttled or (exc if exc.status == 429 else None)
            unknown = unknown or (exc if exc.not_issued_here else None)
            last = exc
    raise throttled or unknown or last or EnrollError("no organiser server to enroll with")


def _enroll_once(state: DeviceState, server: str, token: str | None, code: str | None,
                 expected_fingerprint: str | None, name: str, timeout: float, held: dict[str, Any]) -> Credentials:
    host, port = split_hostport(server)
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    challenge = _post(base, "/v1/challenge", {}, timeout)
    nonce = challenge.get("nonce")
    if not isinstance(nonce, str):
        raise EnrollError("the server sent no challenge")
    server_key, org, seal_to = _enroll_key(challenge, expected_fingerprint)   # nothing is sent before this holds
    if "key" not in held:                              # made once the server answered: one for every attempt
        held["key"] = retire.next_key(state, state.folder / ENROLLING_KEY)
    key = held["key"]
    box_key = X25519PrivateKey.generate()
    device_pub, box_pub = identity.public_raw(key), box.raw_public(box_key)
    request: dict[str, Any] = {"nonce": nonce, "name": name, "device_key": base64.b64encode(device_pub).decode(),
               "box_key": base64.b64encode(box_pub).decode(),
               "proof": base64.b64encode(key.sign(proof_message(nonce, device_pub, box_pub))).decode()}
    request.update({"token": token} if token is not None else {"code": code})
    replaces = retire.replaces(state, device_pub)     # the enrollment this one ends, if any: the server retires it
    if replaces:
        request["replaces"] = replaces
    sealed = {"sealed": box.seal(signed.dumps(request), seal_to, box.REQUEST + org)}
    sent = boot_clock()
    answer = _post(base, "/v1/enroll", sealed, timeout)
    answered = boot_clock()
    creds, keyring, server_ts = _accept(answer, expected_fingerprint or fingerprint(server_key), box_key, device_pub,
                                        server)
    (state.folder / ENROLLING_KEY).replace(state.key_path)
    retire.successor_path(state).unlink(missing_ok=True)      # taken: the wipe's proof named it
    keyring.save(state.keyring_path)
    state.save(creds)
    _learn_server_time(state, server_ts, sent, answered)
    return creds


def _enroll_key(challenge: dict, expected_fp: str | None) -> tuple[bytes, str, bytes]:
    """(server key, organiser, X25519 key to seal the request to) of a challenge: the server key must have the QR's
    fingerprint (or zeroconf's, for a typed code) and must have signed the enrollment key. EnrollError otherwise: the
    token or code is then sent nowhere."""
    try:
        server_key = base64.b64decode(challenge["server_key"], validate=True)
        if len(server_key) != 32:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise EnrollError("this server offers no key to seal the enrollment to (a rogue, or a `provision serve` before "
                          "sealed enrollment: update it): nothing was sent", reason=WRONG_KEY) from None
    if expected_fp and compact_fingerprint(fingerprint(server_key)) != compact_fingerprint(expected_fp):
        raise EnrollError("the server's key does not match the organiser fingerprint (the QR's, or the one zeroconf "
                          "announced): refused, nothing sent", reason=WRONG_KEY)
    try:
        body = Verifier(server_key).open(str(challenge.get("enroll_key", "")).encode(), MAX_ANSWER)
        seal_to = base64.b64decode(body["key"], validate=True) if body.get("type") == ENROLL_KEY else b""
        org = body["org"]
        if len(seal_to) != 32 or not isinstance(org, str):
            raise ValueError
    except Rejected as exc:
        raise EnrollError(f"the server's enrollment key is not signed by its organiser key ({exc}): refused, nothing "
                          "sent", reason=WRONG_KEY) from None
    except (KeyError, TypeError, ValueError):
        raise EnrollError("the server's enrollment key is malformed: refused, nothing sent", reason=WRONG_KEY) from None
    return server_key, org, seal_to


def _learn_server_time(state: DeviceState, server_ts: float | None, sent: float, answered: float) -> None:
    """The signed answer's time (the server's clock when it issued it, between our request and its answer) is the
    device's first server-time estimate: a device whose clock is days off judges tickets and stamps its scans on the
    server's time from enrollment on, not only after its first sync (which measures again, better)."""
    if server_ts is None:
        return
    ledger = Ledger.open(state.ledger_path)
    try:
        server_now = server_ts + (boot_clock() - (sent + answered) / 2)
        ledger.set_clock_estimate(ServerClock().measured(server_now), answered - sent)
    finally:
        ledger.close()


def _accept(answer: dict, expected_fp: str | None, box_key: X25519PrivateKey, device_pub: bytes, server: str):
    try:
        server_key = base64.b64decode(answer["server_key"], validate=True)
        if len(server_key) != 32:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise EnrollError("the answer carries no valid server key") from None
    if expected_fp and compact_fingerprint(fingerprint(server_key)) != compact_fingerprint(expected_fp):
        raise EnrollError("the server's key does not match the organiser fingerprint of the QR: refused")
    try:
        body = Verifier(server_key).open(str(answer.get("signed", "")).encode(), MAX_ANSWER)
    except Rejected as exc:
        raise EnrollError(f"the answer is not validly signed ({exc})") from None
    try:
        if body["type"] != "enrolled":
            raise ValueError("not an enrollment answer")
        device_id = body["device"]
        password = box.open_box(body["mqtt"]["password_box"], box_key, device_id)
        creds = Credentials(device_id, body["org"], body.get("name", ""), body.get("gate", ""),
                            tuple(int(e) for e in body.get("events", ())), body["mqtt"]["username"], password,
                            Broker.from_json(body["broker"]),
                            server_key, time.time(), "kiosk" if body.get("role") == "kiosk" else "door", server)
        keyring = Keyring.from_json(body.get("keyring") or {})
        ts = body.get("ts")
        server_ts = float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) and 0 < ts < 1e11 else None
    except (KeyError, TypeError, ValueError) as exc:
        raise EnrollError(f"malformed enrollment answer ({exc})") from None
    return creds, keyring, server_ts
