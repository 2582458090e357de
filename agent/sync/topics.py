"""The MQTT topic scheme (docs/sync-protocol.md). Pure string building and parsing.

    tg/{org}/dev/{device}/up       device -> server: outbox batches, hello
    tg/{org}/dev/{device}/down     server -> device: acks, bundles, clock replies (signed)
    tg/{org}/dev/{device}/cmd      server -> device: signed commands
    tg/{org}/dev/{device}/status   device presence (retained, Last Will "offline")
    tg/{org}/ev/{event}/live       server -> devices of an event: revocations, blocks, relayed check-ins (signed)
    tg/{org}/server/status         server presence (retained)
    tg/{org}/server/worker/{n}     presence of `server serve` worker n >= 2 (retained, Last Will "offline")
"""
from __future__ import annotations

import re
from dataclasses import dataclass

ROOT = "tg"
SHARED_GROUP = "ingest"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")   # no MQTT wildcards, separators or control characters


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name or ""))


def _check(*names: str) -> None:
    for n in names:
        if not valid_name(str(n)):
            raise ValueError(f"invalid topic name part {n!r}")


def _device_topic(org: str, device: str, leaf: str) -> str:
    _check(org, device)
    return f"{ROOT}/{org}/dev/{device}/{leaf}"


def up(org: str, device: str) -> str:
    return _device_topic(org, device, "up")


def down(org: str, device: str) -> str:
    return _device_topic(org, device, "down")


def cmd(org: str, device: str) -> str:
    return _device_topic(org, device, "cmd")


def device_status(org: str, device: str) -> str:
    return _device_topic(org, device, "status")


def live(org: str, event_id: int) -> str:
    _check(org)
    return f"{ROOT}/{org}/ev/{int(event_id)}/live"


def server_status(org: str) -> str:
    _check(org)
    return f"{ROOT}/{org}/server/status"


def server_worker(org: str, worker: int) -> str:
    _check(org)
    return f"{ROOT}/{org}/server/worker/{int(worker)}"


def server_workers(org: str) -> str:
    """Every worker presence of the organiser's server, and the fences a reader publishes under it."""
    _check(org)
    return f"{ROOT}/{org}/server/worker/+"


def shared_up(org: str = "+") -> str:
    """What ingestion workers subscribe to: one copy of each upload per group, spread over the workers."""
    return f"$share/{SHARED_GROUP}/{ROOT}/{org}/dev/+/up"


def all_up(org: str = "+") -> str:
    """Every device's upload topic, not shared: what a server reads the broker's retained uploads on."""
    return f"{ROOT}/{org}/dev/+/up"


def all_status(org: str = "+") -> str:
    return f"{ROOT}/{org}/dev/+/status"


@dataclass(frozen=True)
class Parsed:
    org: str
    kind: str          # up | down | cmd | status | live | server_status
    device: str = ""
    event_id: int | None = None


def parse(topic: str) -> Parsed | None:
    """The parts of one of our topics, or None for anything else."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != ROOT or not valid_name(parts[1]):
        return None
    org = parts[1]
    if len(parts) == 5 and parts[2] == "dev" and valid_name(parts[3]) and parts[4] in ("up", "down", "cmd", "status"):
        return Parsed(org, parts[4], device=parts[3])
    if len(parts) == 5 and parts[2] == "ev" and parts[4] == "live" and parts[3].isascii() and parts[3].isdigit() \
            and len(parts[3]) <= 10:       # an event id; '²' is a digit to str.isdigit, not to int()
        return Parsed(org, "live", event_id=int(parts[3]))
    if len(parts) == 4 and parts[2] == "server" and parts[3] == "status":
        return Parsed(org, "server_status")
    return None
