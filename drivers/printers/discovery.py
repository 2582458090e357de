"""Finding printers: mDNS/DNS-SD browsing (the service types the registered printer languages are announced under:
`_pdl-datastream._tcp` raw 9100, `_ipp._tcp`) plus manual addresses, as one list the kiosk can refresh; and the
checklist shown when a printer does not appear. Each entry names the printer language it is taken for."""
from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass

from drivers.printers import registry

_TRANSPORT = {"_ipp._tcp.local.": "ipp", "_ipps._tcp.local.": "ipp"}     # anything else: raw socket (9100)
SERVICE_TYPES = {t: _TRANSPORT.get(t, "raw") for t in registry.service_types()}

HELP_CHECKLIST = (
    "Printer not in the list?",
    "1. Cable: the printer is on, its network cable (or USB) is plugged in at both ends, no error light.",
    "2. Network: the printer and this kiosk are on the same Wi-Fi / network (print a self-test page to read its IP).",
    "3. One hotspot only: switch off other hotspots or 4G routers nearby; the kiosk must not hop between them.",
    "4. Restart: switch the printer off and on, wait one minute, then tap Refresh.",
    "5. Still missing: type its address by hand (e.g. 192.168.1.50, port 9100 for ESC/POS or ZPL).",
)


@dataclass(frozen=True)
class PrinterEntry:
    name: str
    host: str
    port: int
    kind: str                   # raw (ESC/POS or ZPL on 9100) | ipp
    source: str = "mdns"        # mdns | manual
    resource: str = ""          # IPP path (rp TXT record)
    model: str = ""
    language: str = ""          # the registered printer language it is taken for ("" = none known)

    @property
    def key(self) -> tuple[str, int, str]:
        return self.host, self.port, self.kind

    @property
    def uri(self) -> str:
        return f"ipp://{self.host}:{self.port}/{self.resource}" if self.kind == "ipp" else f"socket://{self.host}:{self.port}"


def manual_entry(address: str, kind: str = "raw", name: str = "", language: str = "") -> PrinterEntry:
    """'192.168.1.50', '192.168.1.50:9100', 'printer.local:631', '[fe80::1]:9100' -> entry (agent.home.HostPort);
    ValueError with a clear message. Without a port: the language's default, else 631 for IPP and 9100 for raw."""
    from agent.home import BadAddress, HostPort
    text = address.strip()
    if not text:
        raise ValueError("type the printer's address, e.g. 192.168.1.50")
    default = registry.get(language).default_port if language else (631 if kind == "ipp" else 9100)
    try:
        where = HostPort.parse(text, default_port=default, what="printer address")
    except BadAddress as exc:
        port_text = text.rpartition(":")[2] if text.count(":") == 1 else ""
        if port_text and not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(f"port {port_text!r} is not a number") from None
        if port_text:
            raise ValueError(f"port {port_text} out of range") from None
        raise ValueError(str(exc)) from None
    host, port = where.host, where.port
    if host.replace(".", "").isdigit():
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host} is not a valid IP address") from None
    return PrinterEntry(name or host, host, port, kind, "manual", "ipp/print" if kind == "ipp" else "", "", language)


def entry_from_service(service_type: str, name: str, addresses: list[str], port: int, properties: dict) -> PrinterEntry | None:
    """A resolved DNS-SD service -> entry (None when it has no usable address)."""
    if not addresses:
        return None
    props = {(k.decode() if isinstance(k, bytes) else k): (v.decode("utf-8", "replace") if isinstance(v, bytes) else v or "")
             for k, v in properties.items()}
    label = name.split("." + service_type)[0] if service_type in name else name.split("._")[0]
    v4 = [a for a in addresses if ":" not in a]
    model = props.get("ty") or props.get("product", "").strip("()")
    language = registry.language_for(service_type, model, label)
    return PrinterEntry(label, (v4 or addresses)[0], port, SERVICE_TYPES.get(service_type, "raw"), "mdns",
                        props.get("rp", ""), model, language.name if language else "")


class PrinterList:
    """Manual entries + what mDNS found; `refresh()` browses again for `seconds`."""

    def __init__(self, zeroconf_factory=None, interfaces=None):
        self.manual: list[PrinterEntry] = []
        self.found: dict[tuple, PrinterEntry] = {}
        self.error = ""
        self._factory = zeroconf_factory
        self._interfaces = interfaces
        self._lock = threading.Lock()

    def add_manual(self, address: str, kind: str = "raw", name: str = "", language: str = "") -> PrinterEntry:
        entry = manual_entry(address, kind, name, language)
        self.manual = [e for e in self.manual if e.key != entry.key] + [entry]
        return entry

    def entries(self) -> list[PrinterEntry]:
        with self._lock:
            seen = {e.key for e in self.manual}
            return self.manual + sorted((e for e in self.found.values() if e.key not in seen), key=lambda e: e.name)

    def refresh(self, seconds: float = 3.0) -> list[PrinterEntry]:
        """Browse again; never raises: a network or zeroconf failure leaves the previous list and a plain `error`
        (the kiosk shows it with the manual-address field)."""
        try:
            return self._browse(seconds)
        except Exception as exc:      # e.g. an older zeroconf on a device, a socket refused mid-browse
            self.error = f"printer search failed ({type(exc).__name__}: {exc}); add the printer by address"
            return self.entries()

    def _browse(self, seconds: float) -> list[PrinterEntry]:
        from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf
        try:
            zc = self._factory() if self._factory else Zeroconf(interfaces=self._interfaces) if self._interfaces else Zeroconf()
        except OSError as exc:
            self.error = f"cannot browse the network ({exc.strerror or exc}); add the printer by address"
            return self.entries()
        self.error = ""
        found: dict[tuple, PrinterEntry] = {}
        resolving = [0]
        failures: list[str] = []

        def on_change(zeroconf, service_type, name, state_change):
            if state_change is ServiceStateChange.Removed:
                return
            with self._lock:
                resolving[0] += 1
            try:
                info = zeroconf.get_service_info(service_type, name, timeout=1500)
                entry = info and entry_from_service(service_type, name, info.parsed_scoped_addresses(), info.port or 0,
                                                    info.properties)
                if entry:
                    with self._lock:
                        found[entry.key] = entry
            except Exception as exc:   # runs on zeroconf's thread: kept, reported after the browse
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    resolving[0] -= 1

        try:
            browser = ServiceBrowser(zc, list(SERVICE_TYPES), handlers=[on_change])
            time.sleep(seconds)
            deadline = time.monotonic() + 2.0          # let a printer that answered late finish resolving
            while resolving[0] and time.monotonic() < deadline:
                time.sleep(0.05)
            browser.cancel()
        finally:
            zc.close()
        with self._lock:
            self.found = found
        if failures:
            self.error = f"{len(failures)} printer(s) answered but could not be read ({failures[0]})"
        return self.entries()
