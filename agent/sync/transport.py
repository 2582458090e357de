"""The MQTT adapter: a small `Transport` protocol and its paho-mqtt 2.x implementation.

Sync logic talks to `Transport` only; `PahoTransport` is the one place that knows paho. MQTT v5,
QoS 1, persistent session (clean_start False + session expiry), Last Will, automatic reconnect. A device's
transport acknowledges a received message only when the sync says it is applied (`manual_ack`, `Delivery`).
"""
from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol

from agent.sync.backoff import Backoff

if TYPE_CHECKING:       # paho is imported when a transport is made, never by the scan path
    from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("ticketgate.sync.transport")


@dataclass(frozen=True)
class Delivery:
    """A received QoS 1 message the broker waits to see acknowledged (a transport made with `manual_ack`). The
    receiver acknowledges it (`Transport.ack`) once it is durably handled; until then the broker keeps it and, the
    session being persistent, sends it again after a reconnection or a restart."""
    mid: int              # the packet id, unique among the unacknowledged messages of one connection
    qos: int
    connection: int       # the connection it came on: after a reconnection its packet id may name another message
    dup: bool = False     # MQTT's DUP flag: the broker sends it again, unacknowledged (set by the broker alone: a
                          # publisher's flag is never passed on to subscribers)


class Transport(Protocol):
    on_message: Callable[[str, bytes], None]    # with manual_ack: delivery() names the message while it runs
    on_connect: Callable[[bool], None]          # argument: the broker still had our session
    on_disconnect: Callable[[], None]
    on_refused: Callable[[str], None]           # the broker refused our login (reason)

    @property
    def connected(self) -> bool: ...
    def start(self) -> None: ...
    def stop(self, status: tuple[str, bytes] | None = None) -> None:
        """Disconnect; `status` (topic, payload) is published retained first (an orderly goodbye)."""
    def subscribe(self, topic: str, qos: int = 1, retain_as_published: bool = False) -> None:
        """retain_as_published: a live message keeps the retain flag its sender set (`published_retained`), and
        the broker's retained messages are not sent at subscription (`sweep_retained` reads those)."""
    def sweep_retained(self, topic: str) -> None:
        """At each connection, read the messages the broker keeps retained on `topic` (`retained()` True), once:
        subscribed and unsubscribed at once; a live message in between is not delivered by it."""
    def unsubscribe(self, topic: str) -> None:
        """Stop reading `topic` (in the broker's session too; not read again after a reconnection)."""
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                wait: float | None = None) -> bool: ...
    def delivery(self) -> Delivery | None:
        """Inside on_message: the message being delivered when it waits for `ack`, else None (auto acks, QoS 0)."""
    def retained(self) -> bool:
        """Inside on_message: the message came from the broker's retained store (a subscription's first sight of
        a topic), not live."""
    def published_retained(self) -> bool:
        """Inside on_message: a live message of a `retain_as_published` subscription its sender published with the
        retain flag (the broker keeps it, and would send it at every new subscription)."""
    def ack(self, delivery: Delivery) -> None:
        """Acknowledge a delivered message to the broker (nothing when it came on an earlier connection)."""


@dataclass
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    keepalive: int = 10
    session_expiry: int = 7 * 24 * 3600          # the broker keeps our subscriptions and QoS 1 queue this long
    tls: bool = False
    ca_file: str | None = None
    refused_backoff: Backoff = field(default_factory=Backoff)   # retries after a refused login (with jitter)
    extra: dict[str, Any] = field(default_factory=dict)


def _no_delay(client: object, userdata: object, sock: Any) -> None:
    """TCP_NODELAY on the broker connection: paho leaves Nagle's algorithm on, which held each small message (a
    desk answer, an ack) back ~40 ms waiting for the previous one's TCP ack (docs/performance.md, bench_sales)."""
    import socket
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):     # not a TCP socket (a websocket wrapper, a Unix socket): nothing to do
        pass


def unreachable_reason(exc: OSError) -> str:
    """Why a TCP connection to a broker failed, in a few words (a refused connection, no route, a name that does not
    resolve, a timeout): the organiser's and the technician's commands say it with the address."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, socket.gaierror):
        return f"the host name does not resolve ({exc.strerror or exc})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"{exc.strerror.lower() if exc.strerror else 'unreachable'}"
    return exc.strerror or str(exc) or type(exc).__name__


def loop_stop(client: Client) -> None:
    """Stop a paho client's network thread. paho 2.x checks its thread, then joins it; a thread that ends meanwhile
    (its loop returns after `disconnect()`) clears the attribute in between: AttributeError on None, a traceback at
    the end of `agent sync` once in a while. The thread has ended then, which is what was asked."""
    try:
        client.loop_stop()
    except AttributeError:
        pass


class PahoTransport:
    def __init__(self, client_id: str, config: BrokerConfig, will: tuple[str, bytes] | None = None,
                 clean_start: bool = False, manual_ack: bool = False):
        """manual_ack: a QoS 1 message is acknowledged by `ack(delivery())`, not when on_message returns (paho's
        default, which acknowledges what is only queued in memory: a crash before it is applied lost it)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._mqtt, self.config, self.client_id, self.clean_start = mqtt, config, client_id, clean_start
        self.on_message: Callable[[str, bytes], None] = lambda topic, payload: None
        self.on_connect: Callable[[bool], None] = lambda session_present: None
        self.on_disconnect: Callable[[], None] = lambda: None
        self.on_refused: Callable[[str], None] = lambda reason: None
        self._subs: dict[str, tuple[int, bool]] = {}     # topic -> (qos, retain as published)
        self._sweeps: list[str] = []                         # topics whose retained messages are read at connection
        self._ids: dict[str, int] = {}                       # topic -> its subscription identifier (MQTT 5)
        self._id_kinds: dict[int, str] = {}                  # identifier -> "rap" (retain as published) or "sweep"
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.refusals = 0                   # refused logins in a row (reset by an accepted one)
        self.connect_error: OSError | None = None   # why the last TCP connection attempt failed (None once connected)
        self.manual_ack = manual_ack
        self._connection = 0                # counts accepted connections (Delivery.connection)
        self._delivering: Delivery | None = None    # the message on_message is handling (network thread)
        self._retained = False              # ... and whether it came from the broker's retained store
        self._published_retained = False    # ... or live, published retained (a retain-as-published subscription)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=1, max_delay=5)     # network drops; refusals: config.refused_backoff
        if config.username:
            c.username_pw_set(config.username, config.password)
        if config.tls:
            c.tls_set(ca_certs=config.ca_file)
        if will:
            c.will_set(will[0], will[1], qos=1, retain=True)
        self._props = Properties(PacketTypes.CONNECT)
        self._props.SessionExpiryInterval = config.session_expiry
        c.on_connect, c.on_disconnect, c.on_message = self._connected_cb, self._disconnected_cb, self._message_cb
        c.on_connect_fail = self._connect_failed_cb
        c.on_socket_open = _no_delay        # small request/answer messages leave at once, not after Nagle's ~40 ms
        self.client = c

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def move(self, host: str, port: int) -> bool:
        """Connect to the broker at host:port from now on (the broker moved): the network thread stopped and started
        again there. False while connected (nothing moved)."""
        if self.connected:
            return False
        loop_stop(self.client)
        if self.connected:            # the old address answered meanwhile: kept
            self.client.loop_start()
            return False
        self.config = replace(self.config, host=host, port=port)
        self.connect_error = None           # it was the old address's
        self.start()
        return True

    def start(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive,
                                  clean_start=self.clean_start, properties=self._props)
        self.client.loop_start()

    def stop(self, status: tuple[str, bytes] | None = None) -> None:
        """Disconnect cleanly; `status` (topic, payload) is published retained first (an orderly goodbye)."""
        if status and self.connected:
            self.publish(status[0], status[1], retain=True, wait=2.0)
        self.client.disconnect()
        loop_stop(self.client)
        self._connected.clear()

    def subscribe(self, topic: str, qos: int = 1, retain_as_published: bool = False) -> None:
        """retain_as_published (MQTT 5 subscription options, honoured by mosquitto 2.0 on shared subscriptions too):
        a live message keeps its sender's retain flag (`published_retained`), and the broker's retained messages
        are not sent at subscription (they would look the same): `sweep_retained` reads those."""
        with self._lock:
            new = topic not in self._subs
            self._subs[topic] = (qos, retain_as_published)
            ident = self._identifier(topic, "rap") if retain_as_published else None
        if new and self.connected:
            self._send_subscribe(self.client, topic, qos, ident)

    def sweep_retained(self, topic: str) -> None:
        """At each connection (now, and after every reconnection) the broker's retained messages on `topic` are
        delivered once, `retained()` True: subscribed and unsubscribed at once (the broker queues a subscription's
        retained messages while it handles the SUBSCRIBE, before it reads the UNSUBSCRIBE). A live message the
        sweep's subscription catches meanwhile is dropped: the regular subscription delivers it."""
        with self._lock:
            new = topic not in self._sweeps
            if new:
                self._sweeps.append(topic)
            ident = self._identifier(topic, "sweep")
        if new and self.connected:
            self._send_sweep(self.client, topic, ident)

    def _identifier(self, topic: str, kind: str) -> int:
        """The subscription identifier of `topic` (under self._lock) as a sweep or a retain-as-published
        subscription: each of their messages names the subscription it came by, so a sweep's copy, a
        retain-as-published one and a plain one (no identifier: a device's subscriptions are all plain, sent as
        before) are told apart."""
        key = kind + ":" + topic
        ident = self._ids.get(key)
        if ident is None:
            ident = self._ids[key] = len(self._id_kinds) + 1
            self._id_kinds[ident] = kind
        return ident

    def _send_subscribe(self, client: Client, topic: str, qos: int, ident: int | None, sweep: bool = False) -> None:
        """A plain subscription (no identifier), a retain-as-published one, or a sweep's (an identifier each: one
        per SUBSCRIBE packet)."""
        if ident is None:
            client.subscribe(topic, qos=qos)
            return
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        from paho.mqtt.subscribeoptions import SubscribeOptions
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = ident
        options = (SubscribeOptions(qos=qos) if sweep
                   else SubscribeOptions(qos=qos, retainAsPublished=True, retainHandling=2))
        client.subscribe(topic, options=options, properties=props)

    def _send_sweep(self, client: Client, topic: str, ident: int) -> None:
        self._send_subscribe(client, topic, 1, ident, sweep=True)
        client.unsubscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        with self._lock:
            held = self._subs.pop(topic, None) is not None
        if held and self.connected:
            self.client.unsubscribe(topic)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, wait: float | None = None) -> bool:
        """True when handed to the broker (or, with `wait`, acknowledged by it within `wait` seconds)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            return False
        if wait is not None:
            try:
                info.wait_for_publish(wait)
            except (RuntimeError, ValueError):
                return False
            return info.is_published()
        return True

    def delivery(self) -> Delivery | None:
        """Inside on_message: the message being delivered when it waits for `ack`, else None."""
        return self._delivering

    def retained(self) -> bool:
        """Inside on_message: the message came from the broker's retained store, not live."""
        return self._retained

    def published_retained(self) -> bool:
        """Inside on_message: a live message of a retain-as-published subscription, published retained."""
        return self._published_retained

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge `delivery` to the broker. Not sent when it came on an earlier connection: the broker sends
        that message again on this one (its packet id may already name another), and that copy is acknowledged."""
        with self._lock:
            if delivery.connection == self._connection and self._connected.is_set():
                self.client.ack(delivery.mid, delivery.qos)

    # -- paho callbacks (network thread) ---------------------------------------------------------------------
    def _connected_cb(self, client: Client, userdata: object, flags: ConnectFlags, reason_code: ReasonCode,
                      properties: Properties | None) -> None:
        if reason_code.is_failure:
            wait = self.config.refused_backoff.delay(self.refusals)
            self.refusals += 1
            log.warning("%s: broker refused the connection: %s (retry %d in %.1f s)", self.client_id, reason_code,
                        self.refusals, wait)
            # paho's next reconnect waits this long; paho annotates the delays as int but computes with them as
            # numbers, and a sub-second backoff must stay sub-second
            client.reconnect_delay_set(min_delay=wait, max_delay=wait)  # type: ignore[arg-type]
            self._safe(self.on_refused, str(reason_code))
            return
        if self.refusals:
            self.refusals = 0
            client.reconnect_delay_set(min_delay=1, max_delay=5)
        with self._lock:
            plain = [(t, q) for t, (q, rap) in self._subs.items() if not rap]
            rap_subs = [(t, q, self._identifier(t, "rap")) for t, (q, rap) in self._subs.items() if rap]
            sweeps = [(t, self._identifier(t, "sweep")) for t in self._sweeps]
            self._connection += 1           # an ack still owed for the previous connection is not sent on this one
        if plain:
            client.subscribe(plain)
        for topic, qos, ident in rap_subs:
            self._send_subscribe(client, topic, qos, ident)
        for topic, ident in sweeps:
            self._send_sweep(client, topic, ident)
        self.connect_error = None
        self._connected.set()
        self._safe(self.on_connect, bool(flags.session_present))

    def _connect_failed_cb(self, client: Client, userdata: object) -> None:
        # paho calls this inside its `except OSError` around the connection attempt and does not pass the error:
        # it is the exception being handled
        exc = sys.exc_info()[1]
        self.connect_error = exc if isinstance(exc, OSError) else OSError(str(exc) or "connection failed")

    def _disconnected_cb(self, client: Client, userdata: object, flags: DisconnectFlags, reason_code: ReasonCode,
                         properties: Properties | None) -> None:
        self._connected.clear()
        self._safe(self.on_disconnect)

    def _message_cb(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        if self.manual_ack and message.qos:
            self._delivering = Delivery(message.mid, message.qos, self._connection, bool(message.dup))
        idents = getattr(message.properties, "SubscriptionIdentifier", None) if message.properties else None
        kind = self._id_kinds.get(idents[0], "plain") if idents else "plain"
        if kind == "sweep" and not message.retain:      # live, caught by the sweep's subscription: the regular
            if self._delivering is not None:              # one delivers it; this copy is only acknowledged
                self.ack(self._delivering)
            self._delivering = None
            return
        self._retained = bool(message.retain) and kind != "rap"
        self._published_retained = bool(message.retain) and kind == "rap"
        try:
            self._safe(self.on_message, message.topic, bytes(message.payload))
        finally:
            self._delivering, self._retained, self._published_retained = None, False, False

    def _safe(self, fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:  # a handler bug must never kill the network thread
            log.exception("%s: sync handler failed", self.client_id)
