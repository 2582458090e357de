"""mosquitto's password_file and acl_file: the $7$ hash, rendering (pure) and atomic writing.

Password hash (mosquitto 2.x, `mosquitto_passwd`): `$7$<iterations>$<b64 salt>$<b64 PBKDF2-SHA512>`.
ACL: per device user, its own four topics under its own organiser (`topic write tg/ORG/dev/ID/up|status`, `topic
read …/down|cmd`; no `pattern` with a `+` for the organiser: a device could leave retained messages under any
organiser name, as many as it liked) and `topic read` lines for the live topics of its events. The server user reads
and writes `tg/#`. A user without an organiser (a revoked device being taken over) reads and writes nothing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from agent.private_files import write_private
from agent.sync import topics

ITERATIONS = 101     # mosquitto_passwd's default; passwords are 32 random bytes, so iterations add nothing
SALT_BYTES = 12


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    try:
        _, seven, iterations, salt, digest = hashed.split("$")
        if seven != "7":
            return False
        want = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(want, base64.b64decode(digest))
    except ValueError:
        return False


@dataclass(frozen=True)
class BrokerUser:
    username: str
    password_hash: str
    org: str = ""
    events: tuple[int, ...] = ()
    server: bool = False       # the organiser's server: tg/{org}/# read/write


def _check_username(name: str) -> None:
    if not topics.valid_name(name):
        raise ValueError(f"invalid MQTT username {name!r}")


def render_passwords(users: list[BrokerUser]) -> str:
    for u in users:
        _check_username(u.username)
    return "".join(f"{u.username}:{u.password_hash}\n" for u in sorted(users, key=lambda u: u.username))


def render_acl(users: list[BrokerUser]) -> str:
    lines = ["# written by ticketgate provisioning; edits are overwritten", ""]
    for u in sorted(users, key=lambda u: u.username):
        _check_username(u.username)
        lines.append(f"user {u.username}")
        if u.server:       # its organiser's topics only: another organiser's server may share this broker
            lines.append(f"topic readwrite {topics.ROOT}/{u.org}/#" if u.org else f"topic readwrite {topics.ROOT}/#")
            lines.append("topic read $SYS/#")
        elif u.events:      # the events it holds (a pass enrolled for: the events it opens, BrokerAdmin.users)
            lines += [f"topic read {topics.live(u.org, e)}" for e in sorted(set(u.events))]
        elif u.org:         # enrolled for no event in particular: every event of its organiser
            lines.append(f"topic read {topics.ROOT}/{u.org}/ev/+/live")
        if not u.server and u.org:
            # server presence: the device says hello again after a server restart
            lines.append(f"topic read {topics.server_status(u.org)}")
            # its own topics (the username is the client id: use_username_as_clientid)
            org, me = u.org, u.username
            lines += [f"topic write {topics.up(org, me)}", f"topic write {topics.device_status(org, me)}",
                      f"topic read {topics.down(org, me)}", f"topic read {topics.cmd(org, me)}"]
        lines.append("")
    return "\n".join(lines)


def write_files(password_file: str | Path, acl_file: str | Path, users: list[BrokerUser]) -> None:
    """Both files 0600 from their first byte, replaced atomically: mosquitto never reads a half-written one."""
    write_private(password_file, render_passwords(users))
    write_private(acl_file, render_acl(users))
