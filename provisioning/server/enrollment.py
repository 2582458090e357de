"""The enrollment service (no I/O of its own: the HTTP shell calls it, the store/registry/broker are injected).

    POST /v1/challenge  -> {"nonce", "server_key", "enroll_key"}   a fresh nonce, single use, 60 s; the endpoint's
                        X25519 enrollment key signed by the server key (`protocol.enroll_key_body`)
    POST /v1/enroll     {"sealed": box.seal(JSON of {token | code, nonce, device_key, box_key, proof, name[, replaces]},
                        enrollment key, box.REQUEST + org)}
                        -> {"server_key", "signed"}          signed(enrolled) with the organiser's server key
                        A request in clear (an app before sealed requests) is refused, and the unused QR or code it
                        carried no longer enrolls (anyone on the Wi-Fi may have read it: `void`)
                        replaces {device, proof, v: 2}: the enrollment this device ends (a technician's wipe, or
                        enrolling again over it), with `retire_message` signed by its key over this request's
                        device_key; once the new one is issued, the old login is removed. A proof that does not
                        verify (or a v1 one, from a device before v2: not bound to the new enrollment) retires
                        nothing; the enrollment goes on and the organiser is told (`on_enrolled`)
    POST /v1/revocation {device} -> {"signed"}               signed(wipe) for a revoked device, else 404

Every refusal counts against the source address (provisioning.throttle), a wrong organiser code also against
the one budget of code guesses; a throttled source gets 429 before any token is looked at.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.sync import signed, topics
from provisioning import box
from provisioning.protocol import (IN_CLEAR, MAX_DEVICE_NAME, RETIRE_VERSION, STALE_NONCE, UNKNOWN_SECRET, BadInput,
                                   enroll_key_body, normalize_code, proof_message, retire_message, wipe_body)
from provisioning.server.broker_admin import BrokerAdmin
from provisioning.server.mosquitto_files import hash_password
from provisioning.server.registry import DeviceCredential, Registry
from provisioning.throttle import Throttle

log = logging.getLogger("ticketgate.provision.enroll")
NONCE_TTL = 60.0
MAX_NONCES = 10000
ANSWER_AGAIN_WITHIN = 600.0   # s after a token's use when the device that used it may ask for its lost answer
NONCES_PER_SOURCE = 32      # a device needs one; more is someone filling the table
# Why a device's QR or typed organiser code does not enroll it, in the words of what the technician holds (the
# sheet of `provision tokens create`: one QR per device, its organiser code printed under it).
SAID_OF_CODE = {
    "unknown": "unknown organiser code: check the 8 characters against the sheet (like K7M2-Q9XB), or scan its QR",
    "used": "this organiser code was already used (one code enrolls one device): take the next one on the sheet",
    "expired": "this organiser code has expired: ask the organiser for a new sheet (`provision tokens create`)",
}
SAID_OF_QR = {
    "unknown": "unknown enrollment QR: it is not on a sheet of this organiser's server; ask for a new sheet",
    "used": "this enrollment QR was already used (one QR enrolls one device): scan the next one on the sheet",
    "expired": "this enrollment QR has expired: ask the organiser for a new sheet (`provision tokens create`)",
}
# A request in clear: its QR or code crossed the Wi-Fi readable by anyone there, so it is voided (`Registry.void`).
SAID_IN_CLEAR = {
    False: "this app sent the enrollment QR unsealed (a version before sealed enrollment): anyone on the Wi-Fi could "
           "read it, so this QR no longer enrolls. Update the app, then scan the next QR on the sheet",
    True: "this app sent the organiser code unsealed (a version before sealed enrollment): anyone on the Wi-Fi could "
          "read it, so this code no longer enrolls. Update the app, then type the next code on the sheet",
}
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


class OrganiserStore(Protocol):
    """The part of server_stub.store.SqliteStore provisioning uses."""

    def register_device(self, org: str, device_id: str, name: str = "", gate: str = "",
                        events: list[int] | None = None, public_key: bytes | None = None,
                        role: str = "door") -> dict: ...
    def revoke_device(self, device_id: str, replaced_by: str = "", spare: bool = False) -> dict: ...
    def devices(self, org: str) -> list[dict]: ...          # each with `device_id` and `revoked`
    def device(self, device_id: str) -> dict | None: ...    # `org` and `events` as registered now
    def keyring(self, org: str) -> Any: ...                 # agent.keyring.Keyring
    def server_key(self, org: str) -> Any: ...              # agent.signing.SigningKey
    def events(self, org: str) -> list[dict]: ...           # each with `event_id`
    def target(self, target_id: int) -> dict: ...           # an event or pass: `event_ids` (LookupError: unknown)


@dataclass
class Outcome:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)


def new_device_id() -> str:
    return "dev-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def _b64(value: Any, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise BadInput(f"{what}: expected {size} bytes in base64")
    return raw


def _replaces(value: Any) -> tuple[str, bytes, int] | None:
    """The optional `replaces` of an enrollment request: (old device id, its signature, its version: 1 when not
    given), else BadInput."""
    if value is None:
        return None
    device = value.get("device") if isinstance(value, dict) else None
    version = value.get("v", 1) if isinstance(value, dict) else None
    if not isinstance(device, str) or not topics.valid_name(device) or type(version) is not int:
        raise BadInput("replaces: {\"device\": \"dev-…\", \"proof\": base64, \"v\": 2}")
    return device, _b64(value.get("proof"), 64, "replaces.proof"), version


class EnrollmentService:
    def __init__(self, org: str, store: OrganiserStore, registry: Registry, admin: BrokerAdmin,
                 throttle: Throttle | None = None, clock: Callable[[], float] = time.time,
                 on_enrolled: Callable[[dict], None] | None = None):
        self.org, self.store, self.registry, self.admin = org, store, registry, admin
        self.throttle = throttle or Throttle()
        self.clock = clock
        self.on_enrolled = on_enrolled or (lambda device: None)
        self._nonces: dict[str, tuple[float, str]] = {}   # nonce -> (expiry, source address)
        self._lock = threading.Lock()
        key = store.server_key(org)
        self._sign, self.server_public = key.sign, key.public_raw
        # requests are sealed to this key (one per `provision serve`, never stored); the server key vouches for it
        self._request_key = X25519PrivateKey.generate()
        self.enroll_key = signed.seal(enroll_key_body(org, box.raw_public(self._request_key), self.clock()),
                                      self._sign).decode()

    def info(self) -> dict:
        from agent.keyring import fingerprint
        return {"org": self.org, "fingerprint": fingerprint(self.server_public), "version": 1}

    def challenge(self, source: str) -> Outcome:
        wait = self.throttle.retry_after(source)
        if wait:
            return self._throttled(wait)
        now = self.clock()
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            for n in [n for n, (exp, _) in self._nonces.items() if exp <= now]:
                del self._nonces[n]
            if sum(1 for _, src in self._nonces.values() if src == source) >= NONCES_PER_SOURCE:
                return self.refuse(source, 429, "too many open challenges from this address")
            if len(self._nonces) >= MAX_NONCES:
                return Outcome(503, {"error": "too many enrollments in progress, try again"}, {"Retry-After": "5"})
            self._nonces[nonce] = (now + NONCE_TTL, source)
        return Outcome(200, {"nonce": nonce, "expires_in": NONCE_TTL, "enroll_key": self.enroll_key,
                             "server_key": base64.b64encode(self.server_public).decode()})

    def throttled(self, source: str) -> Outcome | None:
        """The 429 for a source that must wait, else None (checked before a request body is even parsed)."""
        wait = self.throttle.retry_after(source)
        return self._throttled(wait) if wait else None

    def _throttled(self, wait: float, error: str = "too many failed attempts from this address, wait") -> Outcome:
        return Outcome(429, {"error": error, "retry_after": round(wait, 1)},
                       {"Retry-After": str(max(1, int(wait + 0.999)))})

    def refuse(self, source: str, status: int, error: str, code: bool = False, reason: str = "") -> Outcome:
        """A refusal that counts against `source` (and, for an organiser code, against all code guesses); `reason`:
        a word the device acts on (STALE_NONCE)."""
        self.throttle.failed(source, code)
        return Outcome(status, {"error": error, **({"reason": reason} if reason else {})})

    def _opened(self, req: Any) -> Any:
        """The request a device sealed to the enrollment key; BadInput when it is not one, ValueError (not BadInput)
        when it was sealed to another key (a `provision serve` before a restart, or a rogue's)."""
        if not isinstance(req, dict) or set(req) != {"sealed"} or not isinstance(req["sealed"], dict):
            raise BadInput("the request is not a sealed enrollment request: {\"sealed\": {\"epk\", \"nonce\", \"ct\"}}")
        text = box.open_box(req["sealed"], self._request_key, box.REQUEST + self.org, "the sealed request")
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise BadInput("the sealed request is not JSON") from None

    def _in_clear(self, source: str, req: dict) -> Outcome:
        """A request of an app before sealed requests: refused, and the unused QR or code it carried voided (a listener
        on the Wi-Fi may hold it now). The same answer whether the secret was known or not."""
        token, code = req.get("token"), req.get("code")
        by_code = code is not None and token is None
        wait = self.throttle.retry_after(source, code=True) if by_code else 0.0
        if wait:
            return self._throttled(wait, "too many wrong organiser codes on this network: scan the QR code, or wait")
        try:
            row = (self.registry.find_token(normalize_code(code), by_code=True) if by_code and isinstance(code, str)
                   else self.registry.find_token(token.strip().upper()) if isinstance(token, str) and token else None)
        except BadInput:
            row = None
        if row is not None and row.org == self.org and self.registry.void(row.token_id, self.clock()):
            log.warning("an enrollment %s came in clear from %s (an app before sealed enrollment): it no longer "
                        "enrolls", "code" if by_code else "QR", source)
        return self.refuse(source, 400, SAID_IN_CLEAR[by_code], code=by_code, reason=IN_CLEAR)

    def enroll(self, source: str, req: Any) -> Outcome:
        wait = self.throttle.retry_after(source)
        if wait:
            return self._throttled(wait)
        now = self.clock()
        if isinstance(req, dict) and ("token" in req or "code" in req):
            return self._in_clear(source, req)
        try:
            req = self._opened(req)
        except BadInput as exc:
            return self.refuse(source, 400, str(exc))
        except ValueError:
            return self.refuse(source, 401, "the request is sealed to another enrollment key (this server restarted "
                                            "since the challenge): ask for a new challenge", reason=STALE_NONCE)
        try:
            if not isinstance(req, dict):
                raise BadInput("the request is not a JSON object")
            device_key = _b64(req.get("device_key"), 32, "device_key")
            box_key = _b64(req.get("box_key"), 32, "box_key")
            proof = _b64(req.get("proof"), 64, "proof")
            nonce, name = req.get("nonce"), req.get("name", "")
            if not isinstance(nonce, str):
                raise BadInput("nonce: a string")
            if not isinstance(name, str) or len(name) > MAX_DEVICE_NAME:
                raise BadInput(f"name: the device's name is text of at most {MAX_DEVICE_NAME} characters")
            token, code = req.get("token"), req.get("code")
            if isinstance(token, str) and token and code is None:
                secret, by_code = token.strip().upper(), False
            elif isinstance(code, str) and token is None:
                secret, by_code = normalize_code(code), True
            else:
                raise BadInput("give exactly one of an enrollment QR's token or an organiser code")
            replaces = _replaces(req.get("replaces"))
        except BadInput as exc:
            return self.refuse(source, 400, str(exc))
        if by_code:
            wait = self.throttle.retry_after(source, code=True)
            if wait:
                return self._throttled(wait, "too many wrong organiser codes on this network: scan the QR code, or wait")
        with self._lock:
            expires, _ = self._nonces.pop(nonce, (None, None))
        if expires is None or expires <= now:
            return self.refuse(source, 401, "unknown or expired nonce: ask for a new challenge", reason=STALE_NONCE)
        row = self.registry.find_token(secret, by_code=by_code)
        said = SAID_OF_CODE if by_code else SAID_OF_QR       # the words of what the technician has in hand
        if row is None or row.org != self.org:
            return self.refuse(source, 401, said["unknown"], code=by_code, reason=UNKNOWN_SECRET)
        again = self._enrolled_with(row, device_key, now) if row.used_at is not None else None
        if row.used_at is not None and again is None:
            return self.refuse(source, 401, said["used"])
        if again is None and row.expires <= now:
            return self.refuse(source, 401, said["expired"])
        try:
            Ed25519PublicKey.from_public_bytes(device_key).verify(proof, proof_message(nonce, device_key, box_key))
        except (InvalidSignature, ValueError):
            return self.refuse(source, 401, "proof of key possession failed")
        if again is not None:
            return self._issue_again(again, row, box_key, now)
        return self._issue(source, row, device_key, box_key, name, now, replaces, said)

    def _enrolled_with(self, row, device_key: bytes, now: float) -> DeviceCredential | None:
        """The enrollment this used token made for this very device key, when its answer may have been lost on the
        way (the device asks again within ANSWER_AGAIN_WITHIN s): None for anyone else."""
        cred = self.registry.holder(row.token_id)
        if cred is None or cred.revoked_at is not None or cred.public_key != device_key:
            return None
        return cred if now - (row.used_at or 0.0) <= ANSWER_AGAIN_WITHIN else None

    def _issue_again(self, cred: DeviceCredential, row, box_key: bytes, now: float) -> Outcome:
        """The answer of an enrollment already made, to the device that made it (it proved its key on a new nonce):
        the same device id, a new broker password sealed to this request's box key. No second device is listed."""
        password = secrets.token_urlsafe(32)
        self.registry.set_password(cred.device_id, hash_password(password))
        self.admin.sync()
        log.warning("enrollment %s answered again (its first answer did not reach the device)", cred.device_id)
        return self._answer(cred.device_id, cred.name, row, password, box_key, now)

    def revocation(self, source: str, req: Any) -> Outcome:
        """The signed wipe of a revoked device (it asks when the broker refuses its login); 404 for any other.
        Harmless to anyone else: the wipe names the device and only that device acts on it."""
        wait = self.throttle.retry_after(source)
        if wait:
            return self._throttled(wait)
        device = req.get("device") if isinstance(req, dict) else None
        if not isinstance(device, str) or not topics.valid_name(device):
            return self.refuse(source, 400, "give the device id: {\"device\": \"dev-…\"}")
        cred = self.registry.credential(device)
        if cred is None or cred.org != self.org or cred.revoked_at is None:
            return Outcome(404, {"error": "this device is not revoked"})
        body = wipe_body(self.org, device, self.clock(), keep=self.registry.replaced(device))
        return Outcome(200, {"signed": signed.seal(body, self._sign).decode()})

    def _retire(self, replaces: tuple[str, bytes, int] | None, device_key: bytes, now: float,
                successor: str) -> tuple[str | None, str]:
        """The old enrollment a re-enrolled device proves it held, for this enrollment (its key signed
        `retire_message` over `device_key`, the new enrollment's key): its login is removed and the store marks it
        retired, replaced by `successor`. -> (the retired device id, '') or (None, why nothing was retired: '' when nothing was asked)."""
        if replaces is None:
            return None, ""
        device_id, proof, version = replaces
        cred = self.registry.credential(device_id)
        if cred is None or cred.org != self.org:
            return None, f"{device_id} is not a device of {self.org}"
        if cred.revoked_at is not None:
            return None, f"{device_id} was already revoked"
        if version != RETIRE_VERSION:
            return None, (f"{device_id}'s retire proof is v{version} (a device before v{RETIRE_VERSION}: not bound "
                          f"to this enrollment), not honoured: `provision revoke {device_id}` if it is gone")
        try:
            Ed25519PublicKey.from_public_bytes(cred.public_key).verify(
                proof, retire_message(self.org, device_id, device_key))
        except (InvalidSignature, ValueError):
            return None, f"{device_id}'s retire proof does not verify for this enrollment: not retired"
        self.registry.mark_revoked(device_id, now)
        try:
            self.store.revoke_device(device_id, replaced_by=successor)
        except LookupError:
            pass
        return device_id, ""

    def _issue(self, source: str, row, device_key: bytes, box_key: bytes, name: str, now: float,
               replaces: tuple[str, bytes, int] | None, said: dict[str, str]) -> Outcome:
        device_id, password = new_device_id(), secrets.token_urlsafe(32)
        cred = DeviceCredential(device_id, self.org, name, row.gate, row.events, hash_password(password),
                                device_key, now, None)
        if not self.registry.claim_and_register(row.token_id, cred, now):     # another device won the race
            return self.refuse(source, 401, said["used"])
        try:
            self.store.register_device(self.org, device_id, name=name, gate=row.gate, events=list(row.events),
                                       public_key=device_key, role=row.role)
            keyring = self.store.keyring(self.org).to_json()
        except BaseException:
            self.registry.unclaim(row.token_id, device_id)   # the token works again; no login was written
            raise
        retired, refused = self._retire(replaces, device_key, now, device_id)
        if refused:
            log.warning("enrollment %s: %s", device_id, refused)
        self.admin.sync()
        self.on_enrolled({"device_id": device_id, "name": name, "gate": row.gate, "source": source,
                          "replaces": retired, "retire_refused": refused})
        return self._answer(device_id, name, row, password, box_key, now, keyring)

    def _answer(self, device_id: str, name: str, row, password: str, box_key: bytes, now: float,
                keyring: Any = None) -> Outcome:
        body = {"type": "enrolled", "id": str(uuid.uuid4()), "ts": now, "org": self.org, "device": device_id,
                "name": name, "gate": row.gate, "events": list(row.events), "role": row.role,
                "mqtt": {"username": device_id, "password_box": box.seal(password, box_key, device_id)},
                "broker": self.admin.endpoint.to_json(),
                "keyring": keyring if keyring is not None else self.store.keyring(self.org).to_json()}
        return Outcome(200, {"server_key": base64.b64encode(self.server_public).decode(),
                             "signed": signed.seal(body, self._sign).decode()})
