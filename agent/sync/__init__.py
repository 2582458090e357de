"""Device side of the MQTT sync (docs/sync-protocol.md): transport adapter, bundles, durable upload."""
from __future__ import annotations

from agent.sync import topics
from agent.sync.transport import BrokerConfig, PahoTransport, Transport


def device_transport(org: str, device: str, config: BrokerConfig) -> PahoTransport:
    """client id = MQTT username = device id; retained presence with a Last Will `offline`."""
    import json
    will = (topics.device_status(org, device), json.dumps({"state": "offline", "device": device}).encode())
    return PahoTransport(device, config, will=will)


__all__ = ["BrokerConfig", "PahoTransport", "Transport", "device_transport", "topics"]
