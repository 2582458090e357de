"""The broker's address, announced by `provision serve` and signed by the organiser's server key, so that an enrolled
device that lost its broker (the laptop got another address on the hotspot, the broker port changed) finds it again
by itself (docs/provisioning.md, "The broker's address moves").

Zeroconf TXT of `_ticketgate._tcp` (and `_mqtt._tcp`), next to v/org/fp/tls:

    at   HOST:PORT of the broker the devices log in to
    seq  the announcement's counter: larger than every earlier one of this organiser's `provision serve` (its time in
         ms, or the last one + 1 when the clock went back); the enrolment answer carries the one current then
    sig  base64 Ed25519 signature, by the server key, of DOMAIN + org, host, port, tls and seq

A device takes an announcement only when it verifies with the server key it pinned at enrolment, names its
organiser, keeps its TLS setting and counts past the counter of the address it holds (no replay of an older one).
Pure functions: the shell browses (provisioning.device.rediscover) and advertises (provisioning.cli_server).
"""
from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"ticketgate-broker-at-v1\x00"


def next_seq(previous: int, now: float | None = None) -> int:
    """The counter of a new announcement: the time in ms, past `previous` even when the clock went back."""
    return max(int((time.time() if now is None else now) * 1000), previous + 1)


def _message(org: str, host: str, port: int, tls: bool, seq: int) -> bytes:
    return DOMAIN + "\x00".join((org, host, str(port), "1" if tls else "0", str(seq))).encode()


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def announcement(sign: Callable[[bytes], bytes], org: str, host: str, port: int, tls: bool, seq: int) -> dict[str, str]:
    """The TXT entries announcing the broker at host:port (signed with `sign`, the server key's)."""
    signature = sign(_message(org, host, port, tls, seq))
    return {"at": _address(host, port), "seq": str(seq), "sig": base64.b64encode(signature).decode()}


@dataclass(frozen=True)
class Judged:
    """What a device makes of one announcement: `moved` (take host:port, seq), `same` (nothing to do) or
    `ignored` (`why`, said once)."""
    verdict: str
    why: str = ""
    host: str = ""
    port: int = 0
    seq: int = 0


def _split(at: str) -> tuple[str, int]:
    host, _, port = at.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(at)
    return host, int(port)


def judge(txt: Mapping[str, str], org: str, server_key: bytes, host: str, port: int, tls: bool, seq: int) -> Judged:
    """One announcement (its TXT entries) judged by a device of `org` that pinned `server_key` and holds the broker at
    host:port, from the announcement numbered `seq` (0: its enrolment predates announcements)."""
    said_org = txt.get("org", "")
    if said_org != org:
        return Judged("ignored", f"another organiser's ({said_org or 'no organiser named'})")
    if not txt.get("sig"):
        return Judged("ignored", "unsigned (a `provision serve` of an older version, or not the organiser's)")
    try:
        new_host, new_port = _split(txt.get("at", ""))
        new_seq = int(txt.get("seq", ""))
        signature = base64.b64decode(txt["sig"], validate=True)
        new_tls = txt.get("tls") == "1"
        Ed25519PublicKey.from_public_bytes(server_key).verify(signature,
                                                              _message(org, new_host, new_port, new_tls, new_seq))
    except (ValueError, binascii.Error, InvalidSignature):
        return Judged("ignored", "not signed by this organiser's server key (a forged or another server's announcement)")
    if (new_host, new_port) == (host, port):
        return Judged("same", host=host, port=port, seq=new_seq)
    if new_seq <= seq:
        return Judged("ignored", f"older than the address this device holds (counter {new_seq} ≤ {seq}: a replayed "
                                 "announcement)")
    if new_tls != tls:
        return Judged("ignored", "the broker's TLS setting changed: enrol this device again")
    return Judged("moved", host=new_host, port=new_port, seq=new_seq)
