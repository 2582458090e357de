"""The broker address each enrolled device knows, and what to tell the technician when `provision serve` now runs its
broker at another one (the laptop's address on the hotspot changed: DHCP after a reboot, another interface chosen;
or `--broker-port` changed because the port was taken). A device keeps the address enrollment gave it
(credentials.json) unless `provision serve` announces the new one on zeroconf, signed with the organiser's key
(provisioning.broker_announce): without that announcement (--no-zeroconf, another network) such a device stays
offline until the broker is back at its address or it is enrolled again. Pure functions: `cli_server` reads the files and the machine's addresses."""
from __future__ import annotations

from typing import Callable, Iterable


def left_behind(given: dict[str, str], previous: str | None, enrolled: Iterable[str], now: str) -> dict[str, list[str]]:
    """The broker address (HOST:PORT) each enrolled device knows, when it is not `now`: {address: [device ids]}.
    `given`: device id -> the address its enrollment gave it (recorded by `provision serve`); a device enrolled before
    that record (an older version) is taken to know `previous`, the address of the last serve, if any."""
    behind: dict[str, list[str]] = {}
    for device_id in enrolled:
        known = given.get(device_id) or previous
        if known and known != now:
            behind.setdefault(known, []).append(device_id)
    return behind


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]


def _port(address: str) -> str:
    return address.rsplit(":", 1)[1]


def moved_words(behind: dict[str, list[str]], now: str, is_local: Callable[[str], bool]) -> list[str]:
    """One line per old address: how many devices know it, that they cannot reach the broker at `now`, and what
    to do. `is_local(host)`: this machine still has that address (another interface was chosen by default)."""
    lines = []
    for address, devices in sorted(behind.items()):
        shown = ", ".join(sorted(devices)[:5]) + (", …" if len(devices) > 5 else "")
        head = (f"{len(devices)} enrolled device(s) ({shown}) know the broker at {address}, not {now}: they cannot "
                f"reach it and keep their scans until they can. ")
        if _host(address) == _host(now):
            todo = (f"Start `provision serve` again with --broker-port {_port(address)} (free that port first), or "
                    "enrol them again (`ticketgate provision wipe --yes` on each, then a new code: unsent scans are "
                    "kept).")
        elif is_local(_host(address)):
            todo = (f"This machine still has {_host(address)}: start `provision serve` again with --advertise "
                    f"{_host(address)}" + (f" --broker-port {_port(address)}" if _port(address) != _port(now) else "")
                    + ".")
        else:
            todo = (f"This machine's address changed (DHCP): give it {_host(address)} again (a fixed address for this "
                    "machine in the hotspot's DHCP settings) and the devices reconnect by themselves, or enrol them "
                    "again (`ticketgate provision wipe --yes` on each, then a new code: unsent scans are kept).")
        lines.append(head + todo)
    return lines


def address_changed_words(was: str, now: str, port: int) -> str:
    """Said by a running `provision serve` when this machine's own address (its default, no --advertise) changed."""
    if now.startswith("127."):
        return (f"this machine lost its network address {was} (hotspot down, Wi-Fi off?): the devices cannot reach "
                f"the broker at {was}:{port} until it is back; they keep their scans meanwhile")
    return (f"this machine's address changed from {was} to {now} (DHCP): the devices know the broker at {was}:{port} "
            f"and cannot reach it. Give this machine {was} again (a fixed address for it in the hotspot's DHCP "
            "settings): the devices reconnect by themselves; new enrolments still name the old address until "
            "`provision serve` is started again")


def address_back_words(was: str, port: int) -> str:
    return f"this machine has its address {was} again: the devices reach the broker at {was}:{port} by themselves"


FOLLOW_WITHIN = 20      # s: a device that lost its broker looks for it after 15 s, a look listens 4 s


def followed_words(behind: dict[str, list[str]], now: str) -> list[str]:
    """`provision serve` announces its broker's address (zeroconf, signed by the server key): one line per old
    address, saying its devices find the broker at `now` by themselves."""
    lines = []
    for address, devices in sorted(behind.items()):
        shown = ", ".join(sorted(devices)[:5]) + (", …" if len(devices) > 5 else "")
        lines.append(f"{len(devices)} enrolled device(s) ({shown}) knew the broker at {address}: it is announced at "
                     f"{now}, signed with the organiser's key; they find it there by themselves (within about "
                     f"{FOLLOW_WITHIN} s of looking for it, on this network). One that stays offline: `ticketgate "
                     "agent sync` on it says why")
    return lines


def moved_announced_words(was: str, now: str, port: int) -> str:
    """Said by a running `provision serve` (zeroconf on) when this machine's address changed: it announces the new
    one, signed."""
    return (f"this machine's address changed from {was} to {now} (DHCP): the broker is announced at {now}:{port}, "
            f"signed with the organiser's key; the enrolled devices find it there by themselves (within about "
            f"{FOLLOW_WITHIN} s)")
