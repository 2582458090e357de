"""Where a device keeps what enrollment gave it: the one device home (agent.home), written here.

    device_key.pem     its Ed25519 private key (0600)
    credentials.json   device id, org, broker login and address, CA, gate, events, server key (0600)
    keyring.json       the organiser's public ticket keys (agent.keyring.Keyring)
    link.json          the broker login's last state: connected, or refused with the broker's reason (0600)
    ledger.sqlite      the ledger (agent.ledger)
"""
from __future__ import annotations

import json

from agent.home import Broker, Credentials, DeviceHome
from agent.private_files import write_private

__all__ = ["Broker", "Credentials", "DeviceState"]


class DeviceState(DeviceHome):
    """The device home, plus saving the credentials (only enrollment writes them)."""

    def save(self, creds: Credentials) -> None:
        write_private(self.credentials_path, json.dumps(creds.to_json(), indent=2))
