"""Zeroconf (DNS-SD) advertisement of the enrollment endpoint and the broker.

    _ticketgate._tcp  port = enrollment endpoint; TXT v, org, fp (server key fingerprint), api, tls
    _mqtt._tcp        port = broker;              TXT v, org, fp, tls
    both also          at, seq, sig: the broker's address signed by the server key (provisioning.broker_announce)
"""
from __future__ import annotations

import socket

from zeroconf import IPVersion, ServiceInfo, Zeroconf

from provisioning.protocol import MQTT_SERVICE_TYPE, PROTOCOL_VERSION, SERVICE_TYPE


def service_infos(instance: str, addresses: list[str], http_port: int, mqtt_port: int, org: str,
                  fingerprint: str, tls: bool = False, host_name: str | None = None,
                  broker_at: dict[str, str] | None = None) -> list[ServiceInfo]:
    """Pure: the two records (instance names are unique per server on the network). `broker_at`: the signed broker
    address (provisioning.broker_announce.announcement: TXT at, seq, sig)."""
    packed = [socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in addresses]
    server = host_name or f"{instance}.local."
    common = {"v": PROTOCOL_VERSION, "org": org, "fp": fingerprint, "tls": "1" if tls else "0", **(broker_at or {})}
    return [ServiceInfo(SERVICE_TYPE, f"{instance}.{SERVICE_TYPE}", port=http_port, addresses=packed,
                        properties={**common, "api": "/v1"}, server=server),
            ServiceInfo(MQTT_SERVICE_TYPE, f"{instance}.{MQTT_SERVICE_TYPE}", port=mqtt_port, addresses=packed,
                        properties=common, server=server)]


class Advertiser:
    def __init__(self, infos: list[ServiceInfo], interfaces: list[str] | None = None):
        self.infos = infos
        ip_version = IPVersion.V4Only if interfaces and all(":" not in i for i in interfaces) else IPVersion.All
        self.zc = Zeroconf(interfaces=interfaces, ip_version=ip_version) if interfaces else Zeroconf()

    def start(self) -> "Advertiser":
        for info in self.infos:
            self.zc.register_service(info, allow_name_change=True)
        return self

    def stop(self) -> None:
        try:
            for info in self.infos:
                self.zc.unregister_service(info)
        finally:
            self.zc.close()

    def __enter__(self) -> "Advertiser":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
