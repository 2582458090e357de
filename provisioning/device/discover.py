"""Finding the organiser's server on the hotspot: zeroconf browse + resolve, or a manual address."""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from provisioning.protocol import SERVICE_TYPE, split_hostport


@dataclass(frozen=True)
class Found:
    name: str
    host: str
    port: int
    org: str
    fingerprint: str
    version: str
    tls: bool
    txt: tuple[tuple[str, str], ...] = ()     # every TXT entry as announced (the signed broker address among them)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class _Collector(ServiceListener):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.event = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.append(name)
        self.event.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def _text(props: dict, key: str) -> str:
    value = props.get(key.encode())
    return value.decode(errors="replace") if isinstance(value, bytes) else ""


def discover(timeout: float = 3.0, org: str | None = None, interfaces: list[str] | None = None,
             first: bool = False, settle: float = 0.0, accept: Callable[[Found], bool] | None = None) -> list[Found]:
    """Servers advertising `_ticketgate._tcp` within `timeout` s (only `org`'s when given, only those `accept`ed when
    given); `first`: return once one was kept and `settle` s more passed (the others on the network answer too, in
    the order they did)."""
    zc = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only) if interfaces else Zeroconf()
    found: list[Found] = []
    try:
        collector = _Collector()
        browser = ServiceBrowser(zc, SERVICE_TYPE, collector)
        deadline = time.monotonic() + timeout
        settled: float | None = None
        seen: set[str] = set()
        while time.monotonic() < deadline:
            collector.event.wait(max(0.0, min(0.2, deadline - time.monotonic())))
            collector.event.clear()
            for name in [n for n in collector.names if n not in seen]:
                seen.add(name)
                info = zc.get_service_info(SERVICE_TYPE, name, timeout=int(max(100, min(2000, (deadline - time.monotonic()) * 1000))))
                if info is None or not info.addresses or info.port is None:
                    continue
                props = info.properties or {}
                item = Found(name, socket.inet_ntop(socket.AF_INET6 if len(info.addresses[0]) == 16 else socket.AF_INET,
                                                    info.addresses[0]), info.port, _text(props, "org"),
                             _text(props, "fp"), _text(props, "v"), _text(props, "tls") == "1",
                             tuple(sorted((k.decode(errors="replace"), _text(props, k.decode(errors="replace")))
                                          for k in props if isinstance(k, bytes))))
                if (org is None or item.org == org) and (accept is None or accept(item)):
                    found.append(item)
            if first and found:
                settled = settled if settled is not None else time.monotonic() + settle
                if time.monotonic() >= settled:
                    break
        browser.cancel()
    finally:
        zc.close()
    return found


def manual(address: str) -> tuple[str, int]:
    """`HOST:PORT` typed by the technician -> (host, port); raises provisioning.protocol.BadInput."""
    return split_hostport(address)
