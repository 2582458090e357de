"""Device side of the MQTT sync (docs/sync-protocol.md): transport adapter, bundles, durable upload."""
from __future__ import annotations

from agent.sync import topics
from agent.sync.transport import BrokerConfig, Delivery, PahoTransport, Transport


def device_transport(org: str, device: str, config: BrokerConfig) -> PahoTransport:
    """client id = MQTT username = device id; retained presence with a Last Will `offline`; each received message
    acknowledged by the sync once handled (a live one once committed), not on arrival."""
    import json
    will = (topics.device_status(org, device), json.dumps({"state": "offline", "device": device}).encode())
    return PahoTransport(device, config, will=will, manual_ack=True)


__all__ = ["BrokerConfig", "Delivery", "PahoTransport", "Transport", "device_transport", "topics"]
