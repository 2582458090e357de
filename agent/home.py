"""One device home, one identity, one address type: what every entry point of a device reads.

The device home is one folder (`ticketgate agent`, `decode`, `provision enroll|status|wipe`, the app):

    ledger.sqlite      the ledger (agent.ledger)
    keyring.json       trusted ticket keys (agent.keyring)
    credentials.json   what enrollment gave: identity, broker login, server key (0600)
    device_key.pem     the device's own Ed25519 key (0600)

Where: `--home`/`--dir` when given, else $TICKETGATE_HOME, else $TICKETGATE_DEVICE_DIR (older name), else
~/.local/share/ticketgate/device. The two older default folders (~/.local/share/ticketgate/agent of the agent,
~/.ticketgate/device of provisioning) are moved there the first time the default is used (`migrate_legacy`).

The identity (organiser, device id, gate, role, events) comes from credentials.json only: `adopt_identity`
makes the device's policy act as the enrolled device, whatever name staff type on the Set-up screen.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TYPE_CHECKING

from agent.errors import TicketgateError
from agent.policy import DevicePolicy

if TYPE_CHECKING:
    from agent.keyring import Keyring
    from agent.ledger import Ledger

log = logging.getLogger("ticketgate.home")

HOME_ENV = "TICKETGATE_HOME"
LEGACY_HOME_ENV = "TICKETGATE_DEVICE_DIR"
ROLES = ("door", "kiosk")
UNENROLLED_ID = "device"


class HomeError(TicketgateError, ValueError):
    """The device home cannot be used as it is (str(exc) says why and what to do)."""


# -- addresses ------------------------------------------------------------------------------------------------------
class BadAddress(TicketgateError, ValueError):
    """Text that is not HOST:PORT (str(exc) is shown to the user)."""


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]{1,253})$")


@dataclass(frozen=True)
class HostPort:
    """A network address typed by a person or read from a file: `192.168.8.10:1883`, `box.local:8787`,
    `[fe80::1]:1883` (IPv6 in brackets; a bare IPv6 address is accepted when a default port applies)."""
    host: str
    port: int

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host) or not 0 < int(self.port) < 65536:
            raise BadAddress(f"address {self.host!r}:{self.port!r}: expected HOST:PORT with a port 1-65535")

    @classmethod
    def parse(cls, text: str, default_port: int | None = None, what: str = "address") -> "HostPort":
        raw = (text or "").strip()
        host, port = raw, None
        if raw.startswith("["):
            close = raw.find("]")
            host, rest = raw[:close + 1], raw[close + 1:]
            if close < 0 or (rest and not rest.startswith(":")):
                raise BadAddress(f"{what} {text!r}: expected HOST:PORT")
            port = rest[1:] if rest else None
        elif raw.count(":") == 1:
            host, port = raw.split(":")
        elif raw.count(":") > 1:
            host = f"[{raw}]"           # a bare IPv6 address: only with a default port
        if port is None:
            if default_port is None:
                raise BadAddress(f"{what} {text!r}: expected HOST:PORT, e.g. 192.168.8.10:1883")
            port = str(default_port)
        if not _HOST.match(host) or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise BadAddress(f"{what} {text!r}: expected HOST:PORT with a port 1-65535, e.g. 192.168.8.10:1883")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# -- what enrollment gives a device ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Broker:
    """A device's MQTT broker: what enrollment hands out (provisioning's BrokerEndpoint) and the device keeps."""
    host: str
    port: int
    tls: bool = False
    ca_pem: str = ""            # the CA the device must trust when tls is on
    seq: int = 0                # the counter of the signed announcement of this address (provisioning.broker_announce)

    @property
    def address(self) -> HostPort:
        return HostPort(self.host, self.port)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "tls": self.tls, "ca_pem": self.ca_pem, "seq": self.seq}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Broker":
        seq = d.get("seq")
        return cls(str(d["host"]), int(d["port"]), bool(d.get("tls")), str(d.get("ca_pem") or ""),
                   seq if type(seq) is int and seq > 0 else 0)


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
    enroll_server: str = ""    # HOST:PORT of the enrollment endpoint: asked for the signed wipe when revoked

    def to_json(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "org": self.org, "name": self.name, "gate": self.gate,
                "events": list(self.events), "username": self.username, "password": self.password,
                "broker": self.broker.to_json(),
                "server_key": base64.b64encode(self.server_key).decode(), "enrolled_at": self.enrolled_at,
                "role": self.role, "enroll_server": self.enroll_server}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Credentials":
        return cls(d["device_id"], d["org"], d.get("name", ""), d.get("gate", ""), tuple(d.get("events", ())),
                   d["username"], d["password"], Broker.from_json(d["broker"]),
                   base64.b64decode(d["server_key"]), float(d.get("enrolled_at", 0)),
                   str(d["role"]) if d.get("role") in ROLES else "door", str(d.get("enroll_server") or ""))

    @property
    def identity(self) -> "Identity":
        return Identity(self.org, self.device_id, self.gate, self.role, tuple(self.events), self.name,
                        server_id(self.server_key))


def server_id(server_key: bytes) -> str:
    """Which organiser's server an enrollment is with: its server key, shortened (two organisers may share a slug)."""
    import hashlib
    return hashlib.sha256(server_key).hexdigest()[:16]


@dataclass(frozen=True)
class Identity:
    """Who the server knows this device as. Only enrollment sets it; nothing on the device edits it."""
    org: str
    device_id: str
    gate: str
    role: str
    events: tuple[int, ...]
    name: str = ""
    server: str = ""           # server_id of the organiser's server key ('' : not known)


# -- the folder -----------------------------------------------------------------------------------------------------
class DeviceHome:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    key_path = property(lambda self: self.folder / "device_key.pem")
    credentials_path = property(lambda self: self.folder / "credentials.json")
    keyring_path = property(lambda self: self.folder / "keyring.json")
    ledger_path = property(lambda self: self.folder / "ledger.sqlite")
    broker_ca_path = property(lambda self: self.folder / "broker-ca.pem")
    link_path = property(lambda self: self.folder / "link.json")     # broker login state (agent.sync.login_state)

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

    def identity(self) -> Identity | None:
        creds = self.load()
        return creds.identity if creds else None


def default_home() -> Path:
    """The folder used when none is given (see the module doc); never creates or moves anything."""
    explicit = os.environ.get(HOME_ENV) or os.environ.get(LEGACY_HOME_ENV)
    return Path(explicit) if explicit else Path.home() / ".local" / "share" / "ticketgate" / "device"


def server_home() -> Path:
    """The organiser's server data folder when `--data` is not given (`ticketgate server`, `ticketgate provision`)."""
    return Path(os.environ.get("TICKETGATE_SERVER_HOME") or Path.home() / ".local" / "share" / "ticketgate" / "server")


def legacy_homes() -> list[Path]:
    return [Path.home() / ".local" / "share" / "ticketgate" / "agent", Path.home() / ".ticketgate" / "device"]


def resolve_home(explicit: str | Path | None = None) -> Path:
    """`explicit`, or the default home after moving the older default folders into it (first use only)."""
    if explicit:
        return Path(explicit)
    home = default_home()
    if not (os.environ.get(HOME_ENV) or os.environ.get(LEGACY_HOME_ENV)):
        for line in migrate_legacy(home, legacy_homes()):
            log.warning("device home: moved %s", line)     # once; on stderr when nothing else logs
    return home


def migrate_legacy(home: Path, legacy: list[Path]) -> list[str]:
    """Move the files of the older default folders into `home` (which must not hold them yet).

    Each file goes to the new folder by rename (same file system) and its old copy disappears with it; a file
    present in two places (a ledger in both older folders) stops the move with a HomeError naming both, so
    nothing is overwritten: the user picks one with --home. Returns what was moved, for the record."""
    sources = [p for p in legacy if p.is_dir() and p.resolve() != home.resolve() and any(p.iterdir())]
    if not sources:
        return []
    names: dict[str, Path] = {}
    for folder in sources:
        for f in folder.iterdir():
            if f.name in names or (home / f.name).exists():
                other = names.get(f.name, home)
                raise HomeError(f"{f.name} exists in {other} and in {folder}: choose the device folder with --home "
                                f"(or {HOME_ENV}) and move or remove the other one")
            names[f.name] = folder
    from agent.private_files import private_dir
    private_dir(home)
    moved = []
    for name, folder in names.items():
        shutil.move(folder / name, home / name)     # a rename on one file system, else copy then delete
        moved.append(f"{folder / name} -> {home / name}")
    for folder in sources:
        try:
            folder.rmdir()
        except OSError:
            pass
    return moved


def adopt_identity(policy: DevicePolicy, identity: Identity | None) -> DevicePolicy:
    """The policy of a device acting as its enrolled identity.

    The device id is always the enrolled one. The first time a policy meets an identity (the device id differs:
    just enrolled, by the app or by `ticketgate provision enroll`), the enrolled gate and events become the
    device's gate and event selection; later changes of gate or selection by the technician stay."""
    if identity is None or policy.device_id == identity.device_id:
        return policy
    return replace(policy, device_id=identity.device_id, gate=identity.gate or policy.gate,
                   events=frozenset(identity.events) or policy.events)


def store_identity(ledger: "Ledger", policy: DevicePolicy, identity: Identity | None) -> DevicePolicy:
    """`adopt_identity`, stored in the ledger when it changed anything. What the device did before its first
    enrollment (as the unenrolled id "device") becomes its own under the enrolled id, so the server takes it; so does
    what it did under an enrollment a technician's wipe ended (`carried_identity`), not one the organiser revoked,
    and under the enrollment it held when it enrolled again over it (the app's Set-up screen: the new enrollment
    retired the old one, provisioning.device.retire; a revocation's wipe removes the policy, so never that one)."""
    from agent.stored_policy import save_policy
    adopted = adopt_identity(policy, identity)
    if adopted is not policy:
        with ledger.transaction():
            if policy.device_id == UNENROLLED_ID:
                ledger.adopt_device_id(UNENROLLED_ID, adopted.device_id)
                wiped = carried_over(ledger)
                old = None if wiped is None else str(wiped["device_id"])
                other = other_organiser(wiped, identity)
                if old is not None and other:       # never sent to another organiser: kept, said, not re-stamped
                    ledger.outbox_keep_unsent(old, f"made for organiser {other} as {old}, before this device was "
                                                   f"enrolled with another organiser: not sent to this one")
                elif old is not None and old != adopted.device_id:
                    ledger.adopt_device_id(old, adopted.device_id)
            else:
                ledger.adopt_device_id(policy.device_id, adopted.device_id)
            save_policy(ledger, adopted)
    return adopted


WIPED_IDENTITY = "wiped_identity"      # ledger setting written by provisioning.device.wipe


def carried_over(ledger: "Ledger") -> dict[str, Any] | None:
    """The `WIPED_IDENTITY` mark of the enrollment a technician's wipe ended ({device_id, carry_over, reason, unsent,
    retire_proof}: provisioning.device.wipe), whose uploads not sent yet this device carries over to its next
    enrollment; None when there is none, or when the organiser revoked it (signed wipe)."""
    wiped = ledger.get_setting(WIPED_IDENTITY)
    if not isinstance(wiped, dict) or not wiped.get("carry_over") or not isinstance(wiped.get("device_id"), str):
        return None
    return wiped


def other_organiser(wiped: dict[str, Any] | None, identity: Identity | None) -> str:
    """The organiser (its slug) a technician's wipe ended an enrollment with, when the device is now enrolled with
    another organiser's server (another key, the same slug or not); '' when it is the same or not known."""
    if wiped is None or identity is None or not identity.server or not wiped.get("server"):
        return ""
    return str(wiped.get("org") or "?") if wiped["server"] != identity.server else ""


def carried_identity(ledger: "Ledger") -> str | None:
    """The device id of `carried_over`'s enrollment."""
    wiped = carried_over(ledger)
    return None if wiped is None else str(wiped["device_id"])


def open_home(folder: str | Path) -> "tuple[Ledger, Keyring]":
    """Open the device home: (Ledger, Keyring), the policy already acting as the enrolled identity.

    Raises LedgerError (unusable ledger) or ValueError/OSError (unreadable keyring.json)."""
    from agent.stored_policy import load_policy
    from agent.keyring import Keyring
    from agent.ledger import Ledger
    from agent.private_files import private_dir
    home = DeviceHome(folder)
    private_dir(home.folder, tighten=True)       # its ledger and keys: 0700, also when an older version made it 0755
    ledger = Ledger.open(home.ledger_path)
    try:
        keyring = Keyring.load(home.keyring_path) if home.keyring_path.exists() else Keyring()
        store_identity(ledger, load_policy(ledger), home.identity())
    except BaseException:
        ledger.close()
        raise
    return ledger, keyring


# -- the organiser server's broker login ------------------------------------------------------------------------------
SERVER_LOGIN_FILE = "broker-login.json"     # in the provisioning state folder (DATA/provision), 0600
SERVER_PURPOSES = ("push", "cmd", "revoke")  # one-shot clients beside `server serve`
MAX_SERVER_WORKERS = 8


def server_username(base: str, purpose: str = "serve", worker: int = 1) -> str:
    """The broker username (= client id on the provisioned broker) of one server connection.

    The provisioned mosquitto sets client id = username, so two connections with one username kick each other off:
    `server serve` worker 1 is `base`, worker N is `base-wN`, `server push` is `base-push`, commands `base-cmd`,
    `provision revoke` `base-revoke`. Provisioning writes every one of them with the same password."""
    if purpose == "serve":
        if not 1 <= worker <= MAX_SERVER_WORKERS:
            raise ValueError(f"at most {MAX_SERVER_WORKERS} server workers")
        return base if worker == 1 else f"{base}-w{worker}"
    if purpose not in SERVER_PURPOSES:
        raise ValueError(f"unknown server connection {purpose!r}")
    return f"{base}-{purpose}"


def server_usernames(base: str) -> list[str]:
    return ([server_username(base, "serve", w) for w in range(1, MAX_SERVER_WORKERS + 1)]
            + [server_username(base, p) for p in SERVER_PURPOSES])


@dataclass(frozen=True)
class BrokerLogin:
    """Where and as whom the organiser's server logs in to the broker (written by `provision serve`)."""
    address: HostPort
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"broker": str(self.address), "username": self.username, "password": self.password, "tls": self.tls,
                "ca_file": self.ca_file}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "BrokerLogin":
        return cls(HostPort.parse(str(d["broker"])), str(d.get("username") or ""), str(d.get("password") or ""),
                   bool(d.get("tls")), str(d.get("ca_file") or ""))

    @classmethod
    def load(cls, path: str | Path) -> "BrokerLogin | None":
        """None when there is no such file; HomeError when it cannot be read (never a silent anonymous login)."""
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HomeError(f"broker login {path} unreadable ({exc})") from None
