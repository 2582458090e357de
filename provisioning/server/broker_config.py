"""mosquitto.conf for provisioning (pure): authenticated listener(s), our password/ACL files, and
`use_username_as_clientid true` on every listener (it is a per-listener option in mosquitto 2.0), so a
device cannot pose as another. Optional TLS listener with the event CA (provisioning.server.tls).
"""
from __future__ import annotations

import os
from pathlib import Path

from agent.sync.messages import broker_size_limit


def _tls_listener(tls, tls_port: int, host: str) -> list[str]:
    return [f"listener {tls_port} {host}".rstrip(), "use_username_as_clientid true", f"cafile {tls.ca_cert}",
            f"certfile {tls.cert}", f"keyfile {tls.key}", "tls_version tlsv1.2"]


def full_config(folder: Path, port: int, password_file: Path, acl_file: Path, listen: str = "",
                tls=None, tls_port: int | None = None) -> str:
    """A complete mosquitto.conf for `ticketgate provision serve --start-broker`."""
    lines = ["per_listener_settings false", "allow_anonymous false", f"password_file {password_file}",
             f"acl_file {acl_file}", "persistence true", f"persistence_location {folder}/",
             f"pid_file {folder / 'mosquitto.pid'}", f"log_dest file {folder / 'mosquitto.log'}",
             "log_type error", "log_type warning", "log_type notice", "log_type information",
             "max_queued_messages 100000", "persistent_client_expiration 7d",
             broker_size_limit(),     # = the sync server's upload limit: a flood stops at the broker
             "set_tcp_nodelay true"]  # small answers (acks, desk answers) not held back by Nagle's ~40 ms
    if os.geteuid() == 0:
        lines.append("user root")
    lines += [f"listener {port} {listen}".rstrip(), "use_username_as_clientid true"]
    if tls is not None and tls_port:
        lines += _tls_listener(tls, tls_port, listen)
    return "\n".join(lines) + "\n"


def extra_config(tls=None, tls_port: int | None = None, tls_host: str = "127.0.0.1") -> str:
    """For tests.broker.Mosquitto(extra_config=...), which writes its listener, password_file and acl_file
    first: this applies to that listener and adds the TLS one."""
    lines = ["use_username_as_clientid true"]
    if tls is not None and tls_port:
        lines += _tls_listener(tls, tls_port, tls_host)
    return "\n".join(lines)
