"""mosquitto.conf lines provisioning needs (pure): authenticated listener(s), our password/ACL files,
`use_username_as_clientid` (a device cannot pose as another), optional TLS listener."""
from __future__ import annotations

from pathlib import Path


def config_lines(password_file: str | Path, acl_file: str | Path, tls: object | None = None,
                 tls_port: int | None = None, tls_host: str = "") -> list[str]:
    lines = ["allow_anonymous false", f"password_file {password_file}", f"acl_file {acl_file}",
             "use_username_as_clientid true"]
    if tls is not None and tls_port:
        lines += [f"listener {tls_port} {tls_host}".rstrip(), f"cafile {tls.ca_cert}", f"certfile {tls.cert}",
                  f"keyfile {tls.key}", "tls_version tlsv1.2"]
    return lines


def extra_config(tls: object | None = None, tls_port: int | None = None, tls_host: str = "127.0.0.1") -> str:
    """For tests.broker.Mosquitto(extra_config=...), which writes password_file/acl_file itself.
    Note: `use_username_as_clientid` is a global option, so it must come before any extra listener."""
    lines = ["use_username_as_clientid true"]
    if tls is not None and tls_port:
        lines += [f"listener {tls_port} {tls_host}", f"cafile {tls.ca_cert}", f"certfile {tls.cert}",
                  f"keyfile {tls.key}"]
    return "\n".join(lines)
