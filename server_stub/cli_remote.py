"""`ticketgate server device configure|commands`: the organiser sets a door from the office (a signed `config`
command over MQTT, queued while the device is offline) and sees what became of each command (its `cmd_result`)."""
from __future__ import annotations

import sys
import time

from agent.event_selection import KnownEvent, SelectionRefused, check_selection
from agent.policy import Mode, reread_arg
from agent.sync.messages import name_arg
from server_stub.cli_live import _hooks, _own_device, broker_login
from server_stub.cli_output import Refused, emit, ints, parse_time, when

MODES = [m.value for m in Mode]             # the same names as `ticketgate agent configure`
DIRECTIONS = ["in", "out", "alternate"]     # alternate: no fixed direction (DevicePolicy.direction None)


def add_parsers(dv, add, broker_flags) -> None:
    c = add(dv, "configure", "set a device's mode, events, zones, direction or gate (a signed command; a device "
                             "offline gets it when it comes back, within 7 days)")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")
    c.add_argument("--mode", choices=MODES, help="normal, entry/exit, multiple entries or quick cancellation")
    c.add_argument("--events", default=None, help="comma-separated event ids it admits ('' for all it holds)")
    c.add_argument("--zones", default=None, help="comma-separated zone ids it admits ('' for all)")
    c.add_argument("--direction", choices=DIRECTIONS, help="in, out, or alternate (entry/exit mode)")
    c.add_argument("--gate", default=None, type=name_arg, help="the gate it scans at (e.g. north)")
    c.add_argument("--since", default=None,
                   help="with --gate or --mode: the device was there from this time ('YYYY-MM-DD HH:MM', UTC, or ISO "
                        "8601): its scans since, refused as at another gate or in another mode, are taken (the device "
                        "sends them again)")
    c.add_argument("--reread-window", type=reread_arg, default=None,
                   help="seconds a re-read of the same code repeats its verdict (0 off, at most 60; as agent configure)")
    broker_flags(c)
    c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker to take it")
    c = add(dv, "commands", "the commands sent to a device and their results (applied, rejected: why, pending)")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")


def _config(store, org: str, device: dict, args) -> dict:
    """The `config` fields asked for, checked against what the server knows; Refused naming what is wrong."""
    config: dict = {}
    if args.mode:
        config["mode"] = args.mode
    if args.direction:
        config["direction"] = None if args.direction == "alternate" else args.direction
    if args.gate is not None:
        config["gate"] = args.gate
    if args.reread_window is not None:
        config["reread_window"] = args.reread_window
    events = ints(args.events) if args.events is not None else None
    zones = ints(args.zones) if args.zones is not None else None
    enrolled = set(device.get("events") or ())
    for e in events or ():
        try:
            target = store.target(e)
        except LookupError:
            raise Refused(f"no event {e}") from None
        if target["org"] != org:
            raise Refused(f"event {e} belongs to another organiser")
        if target["kind"] != "event":
            raise Refused(f"{e} is a pass: give the ids of its events ({', '.join(map(str, target['event_ids']))})")
        if enrolled and e not in enrolled:
            raise Refused(f"event {e} is not an event of {device['device_id']} (registered for events "
                          f"{', '.join(map(str, sorted(enrolled)))}): its entries would be refused")
    if zones:
        held = [store.event(e) for e in sorted(enrolled)] if enrolled else store.events(org)
        known = [KnownEvent(h["event_id"], h["name"], {int(z["zone_id"]): z.get("name", "") for z in h["zones"]})
                 for h in held]
        try:
            check_selection(events or (), zones, known)      # the rule the device applies (agent.event_selection)
        except SelectionRefused as exc:
            raise Refused(str(exc).replace("this device", device["device_id"])) from None
    if events is not None:
        config["events"] = events
    if zones is not None:
        config["zones"] = zones
    if not config:
        raise Refused("nothing to change: give --mode, --events, --zones, --direction, --gate or --reread-window")
    return config


def _since(args) -> dict:
    """`--since`, recorded with the command (not sent: the device applies a config when it gets it), from when the
    server takes the gate or mode given (server_stub.sync.posting)."""
    if args.since is None:
        return {}
    if args.gate is None and not args.mode:
        raise Refused("--since goes with --gate or --mode: from when the device was at that gate or in that mode")
    since = parse_time(args.since, "UTC", "UTC")
    if since > time.time() + 60:
        raise Refused(f"--since {args.since}: a time to come (the change applies as the device gets it)")
    return {"since": since}


def device_configure(store, org, args) -> int:
    device = _own_device(store, org, args.device_id)
    if device.get("revoked"):
        raise Refused(f"device {args.device_id} is revoked")
    config = _config(store, org, device, args)
    since = _since(args)
    try:
        command_id = _hooks().command(store, org, args.device_id, "config", broker_login(args), timeout=args.timeout,
                                      config=config)
    except (ConnectionError, TimeoutError, PermissionError) as exc:
        raise Refused(f"not sent: {exc}") from None
    store.record_command(org, args.device_id, command_id, "config", config | since)
    if not device.get("last_seen"):
        print(f"warning: {args.device_id} was never seen by the sync server: the broker keeps a command only for a "
              "device that connected once (enrolled and synced); until then it is not delivered", file=sys.stderr)
    return emit(args, {"command_id": command_id, "device_id": args.device_id, "config": config},
                f"command {command_id} sent to {args.device_id} ({settings_text(config)}); "
                f"`ticketgate server device commands {args.device_id}` shows its result")


def device_commands(store, org, args) -> int:
    _own_device(store, org, args.device_id)
    found = store.device_commands(args.device_id)
    return emit(args, found, commands_text(args.device_id, found))


def settings_text(config: dict) -> str:
    def value(k: str, v) -> str:
        if isinstance(v, list):     # no events or zones chosen: all of them; none added or removed: none
            return ",".join(map(str, v)) or ("-" if k in ("added", "removed") else "all")
        if k == "since" and isinstance(v, (int, float)):
            return when(v)
        return "alternate" if k == "direction" and v is None else str(v)
    return " ".join(f"{k}={value(k, v)}" for k, v in config.items())


def commands_text(device_id: str, commands: list[dict]) -> str:
    rows = [f"{len(commands)} command(s) sent to {device_id}:"]
    for c in commands:
        rows.append(f"  {when(c['sent_at'])}  {c['command_id']}  {c['cmd']} {settings_text(c['args'])}")
        rows.append(f"      {c['status']}")
    return "\n".join(rows)
