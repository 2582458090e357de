"""Trusted public keys: which key may sign tickets for which events, and when.

A device trusts several keys at once (rotation: old and new overlap). Each key has an
id (carried in the ticket), an organiser, an optional validity window and an optional
event scope. Pretix events are trusted through their published `pretix_sig1` keys.
Only public keys live here; nothing secret is ever written by this module.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.ed25519_points import public_key_flaw
from agent.errors import TicketgateError
from agent.private_files import write_private


class UntrustworthyKey(TicketgateError, ValueError):
    """A public key no device may trust (agent.ed25519_points.public_key_flaw): said as such, not as a bad file."""


def fingerprint(raw_public_key: bytes) -> str:
    """Short, human-comparable fingerprint of a raw 32-byte Ed25519 public key."""
    digest = hashlib.sha256(raw_public_key).hexdigest()[:16].upper()
    return ":".join(digest[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class TrustedKey:
    key_id: int
    public_key: bytes                      # raw 32 bytes
    organiser: str = ""
    valid_from: int | None = None          # unix seconds; the key is not trusted outside its window
    valid_until: int | None = None
    events: frozenset[int] | None = None   # events (or passes) it may sign for; None: any
    _verifier: Ed25519PublicKey = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        flaw = public_key_flaw(self.public_key)
        if flaw:
            raise UntrustworthyKey(f"key {self.key_id}: {flaw}")
        object.__setattr__(self, "_verifier", Ed25519PublicKey.from_public_bytes(self.public_key))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def active_at(self, now: float) -> bool:
        return (self.valid_from is None or now >= self.valid_from) and (self.valid_until is None or now < self.valid_until)

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self._verifier.verify(signature, message)
            return True
        except InvalidSignature:
            return False

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "public_key": base64.b64encode(self.public_key).decode(),
                "organiser": self.organiser, "valid_from": self.valid_from, "valid_until": self.valid_until,
                "events": sorted(self.events) if self.events is not None else None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrustedKey":
        """Every field checked (ValueError naming it): a keyring file is given by hand (`agent trust`), and a time
        or event scope of another type, taken as is, made every scan with the key fail or say forged."""
        if not isinstance(d, dict):
            raise ValueError(f"a key is an object, not {_shown(d)}")
        key_id: Any = d.get("key_id")
        events, organiser = d.get("events"), d.get("organiser", "")
        if not _whole(key_id, 0xFFFF):
            raise ValueError(f"key id {_shown(key_id)}: a whole number 0..65535")
        if events is not None and not (isinstance(events, list) and all(_whole(e, 0xFFFFFFFF) for e in events)):
            raise ValueError(f"key {key_id}: events {_shown(events)} is not a list of event ids")
        if not isinstance(organiser, str):
            raise ValueError(f"key {key_id}: organiser {_shown(organiser)} is not a name")
        try:
            public_key = base64.b64decode(d.get("public_key"), validate=True)   # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"key {key_id}: public_key {_shown(d.get('public_key'))} is not base64") from None
        return cls(key_id=key_id, public_key=public_key, organiser=organiser, valid_from=_when(d, "valid_from"),
                   valid_until=_when(d, "valid_until"), events=frozenset(events) if events is not None else None)


def _whole(v: Any, top: int) -> bool:
    return type(v) is int and 0 <= v <= top


def _when(d: dict[str, Any], name: str) -> int | None:
    """A key's validity bound: null, or unix seconds (a finite number)."""
    v = d.get(name)
    if v is not None and not (type(v) in (int, float) and math.isfinite(v)):
        raise ValueError(f"key {d.get('key_id')}: {name} {_shown(v)} is not a time (unix seconds)")
    return v


def _shown(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass(frozen=True)
class PretixItemMapping:
    category: int = 0
    zones: tuple[int, ...] = ()


@dataclass(frozen=True)
class PretixEvent:
    """A pretix event the device accepts `pretix_sig1` secrets for, mapped onto one of our events."""
    event_id: int
    public_keys: tuple[bytes, ...]                      # raw 32-byte keys
    items: dict[int, PretixItemMapping] = field(default_factory=dict)
    subevents: dict[int, int] = field(default_factory=dict)   # pretix subevent id -> our event id
    _verifiers: tuple[Ed25519PublicKey, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        for key in self.public_keys:
            flaw = public_key_flaw(key)
            if flaw:
                raise UntrustworthyKey(f"pretix key {fingerprint(key)}: {flaw}")
        object.__setattr__(self, "_verifiers", tuple(Ed25519PublicKey.from_public_bytes(k) for k in self.public_keys))

    def verifies(self, signature: bytes, message: bytes) -> bool:
        for key in self._verifiers:
            try:
                key.verify(signature, message)
                return True
            except InvalidSignature:
                continue
        return False

    @classmethod
    def from_pretix_keys(cls, event_id: int, valid_keys: list[str], **kw: Any) -> "PretixEvent":
        """`valid_keys` as pretix publishes them: `event.valid_keys.pretix_sig1`, base64 of a PEM public key."""
        raws = []
        for item in valid_keys:
            key = serialization.load_pem_public_key(base64.b64decode(item))
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("pretix_sig1 keys are Ed25519")
            raws.append(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        return cls(event_id=event_id, public_keys=tuple(raws), **kw)

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id,
                "public_keys": [base64.b64encode(k).decode() for k in self.public_keys],
                "items": {str(k): {"category": v.category, "zones": list(v.zones)} for k, v in self.items.items()},
                "subevents": {str(k): v for k, v in self.subevents.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PretixEvent":
        return cls(event_id=int(d["event_id"]), public_keys=tuple(base64.b64decode(k) for k in d["public_keys"]),
                   items={int(k): PretixItemMapping(v.get("category", 0), tuple(v.get("zones", ())))
                          for k, v in d.get("items", {}).items()},
                   subevents={int(k): int(v) for k, v in d.get("subevents", {}).items()})


@dataclass
class Keyring:
    keys: dict[int, TrustedKey] = field(default_factory=dict)
    pretix: list[PretixEvent] = field(default_factory=list)

    def add(self, key: TrustedKey) -> None:
        self.keys[key.key_id] = key

    def get(self, key_id: int) -> TrustedKey | None:
        return self.keys.get(key_id)

    def to_json(self) -> dict[str, Any]:
        return {"keys": [k.to_json() for k in sorted(self.keys.values(), key=lambda k: k.key_id)],
                "pretix": [p.to_json() for p in self.pretix]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Keyring":
        """ValueError for anything not shaped as `to_json` writes it (what every reader of a keyring catches)."""
        if not isinstance(d, dict) or not isinstance(d.get("keys", []), list) or not isinstance(d.get("pretix", []), list):
            raise ValueError("not a keyring (an object with lists `keys` and `pretix`)")
        ring = cls()
        for k in d.get("keys", []):
            ring.add(TrustedKey.from_json(k))
        try:
            ring.pretix = [PretixEvent.from_json(p) for p in d.get("pretix", [])]
        except (AttributeError, TypeError, KeyError) as exc:
            raise ValueError(f"a pretix event of the keyring is malformed ({type(exc).__name__}: {exc})") from None
        return ring

    def save(self, path: str | Path) -> None:
        """Atomic replace: a crash mid-write never leaves a half keyring. Public keys only, but which organisers and
        events a device trusts is nobody else's business: 0600 like every device file."""
        write_private(path, json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "Keyring":
        try:
            data = json.loads(Path(path).read_text())
        except RecursionError:      # `[[[[…` past the interpreter's limit: a damaged or hostile file, said as such
            raise ValueError(f"{path} is not a keyring (JSON nested too deep)") from None
        return cls.from_json(data)
