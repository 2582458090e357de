"""A connected paho client (MQTT 3.1.1, clean session) or a clear error; bounded wait for CONNACK.

Raises `Refused` (a PermissionError, with the CONNACK reason) when the broker refuses the login, OSError when it
cannot be reached (a refused connection at once, naming the address and why).
"""
from __future__ import annotations

import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.errors import TicketgateError
from agent.sync.transport import loop_stop, unreachable_reason


class Refused(TicketgateError, PermissionError):
    """The broker answered the login with a refusal; `reason` is its CONNACK reason ("Server busy", "Not
    authorized"…). A refusal proves nothing about who answered: it is retried, never acted on."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


def _tls(client: mqtt.Client, endpoint: Any) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.load_verify_locations(cadata=endpoint.ca_pem)
    client.tls_set_context(ctx)


def connect(endpoint: Any, username: str, password: str, client_id: str = "", timeout: float = 5.0,
            on_message=None, subscribe: list[str] | None = None) -> mqtt.Client:
    """`endpoint` has host, port, tls, ca_pem (BrokerEndpoint or the device's saved broker)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)
    if getattr(endpoint, "tls", False):
        _tls(client, endpoint)
    done = threading.Event()
    result: dict[str, Any] = {}

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        if not reason_code.is_failure and subscribe:
            for t in subscribe:
                c.subscribe(t, qos=1)
        done.set()

    client.on_connect = on_connect
    if on_message is not None:
        client.on_message = on_message
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=30)
    except OSError as exc:      # refused, no route, a name that does not resolve: known at once, said plainly
        raise OSError(f"cannot reach the broker at {endpoint.host}:{endpoint.port}: {unreachable_reason(exc)}") \
            from exc
    client.loop_start()
    if not done.wait(timeout):
        loop_stop(client)
        client.disconnect()
        raise OSError(f"no answer from the broker at {endpoint.host}:{endpoint.port} within {timeout}s")
    if result["rc"].is_failure:
        client.disconnect()
        loop_stop(client)
        raise Refused(f"broker refused {username!r}: {result['rc']}", str(result["rc"]))
    return client
