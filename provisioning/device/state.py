"""Where a device keeps what enrollment gave it (one folder):

    device_key.pem     its Ed25519 private key (0600)
    credentials.json   device id, org, broker login and address, CA, gate, events, server key (0600)
    keyring.json       the organiser's public ticket keys (agent.keyring.Keyring)
    ledger.sqlite      the ledger (agent.ledger)
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from provisioning.device.identity import write_secret


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    ca_pem: str = ""


@dataclass(frozen=True)
class Credentials:
    device_id: str
    org: str
    name: str
    gate: str
    events: tuple[int, ...]
    username: str
    password: str
    broker: Broker
    server_key: bytes          # raw Ed25519 public key that signs everything server -> device
    enrolled_at: float
    role: str = "door"         # door | kiosk (a kiosk prints: its bundles carry the signed QR payloads)

    def to_json(self) -> dict:
        return {"device_id": self.device_id, "org": self.org, "name": self.name, "gate": self.gate,
                "events": list(self.events), "username": self.username, "password": self.password,
                "broker": {"host": self.broker.host, "port": self.broker.port, "tls": self.broker.tls,
                           "ca_pem": self.broker.ca_pem},
                "server_key": base64.b64encode(self.server_key).decode(), "enrolled_at": self.enrolled_at,
                "role": self.role}

    @classmethod
    def from_json(cls, d: dict) -> "Credentials":
        b = d["broker"]
        return cls(d["device_id"], d["org"], d.get("name", ""), d.get("gate", ""), tuple(d.get("events", ())),
                   d["username"], d["password"], Broker(b["host"], int(b["port"]), bool(b.get("tls")), b.get("ca_pem", "")),
                   base64.b64decode(d["server_key"]), float(d.get("enrolled_at", 0)),
                   d.get("role") if d.get("role") in ("door", "kiosk") else "door")


class DeviceState:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    key_path = property(lambda self: self.folder / "device_key.pem")
    credentials_path = property(lambda self: self.folder / "credentials.json")
    keyring_path = property(lambda self: self.folder / "keyring.json")
    ledger_path = property(lambda self: self.folder / "ledger.sqlite")

    def save(self, creds: Credentials) -> None:
        write_secret(self.credentials_path, json.dumps(creds.to_json(), indent=2).encode())

    def load(self) -> Credentials | None:
        """None when not enrolled (or wiped); a damaged file reads as not enrolled, it is never trusted."""
        try:
            return Credentials.from_json(json.loads(self.credentials_path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def enrolled(self) -> bool:
        return self.load() is not None
