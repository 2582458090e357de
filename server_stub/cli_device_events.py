"""`ticketgate server device events DEVICE --add IDS --remove IDS`: the organiser changes which events a device
registered for events holds. The registration changes at once (the sync server judges the device's uploads, hellos
and desk requests by it; `provision serve` rewrites the broker's ACL); a signed `events` command tells the device,
queued while it is offline: it deletes what it holds of the events taken away, reads the added events' live topics
and asks for their data. A device that missed the command gets it again when it says hello (server_stub.sync)."""
from __future__ import annotations

import sys
import uuid

from server_stub.cli_live import _hooks, _own_device, broker_login
from server_stub.cli_output import Refused, device_events, emit, ints
from server_stub.sync.ingest import held_events


def add_parsers(dv, add, broker_flags) -> None:
    c = add(dv, "events", "give a device registered for events more events, or take some away (a signed command; "
                          "a device offline gets it when it comes back)")
    c.add_argument("device_id", metavar="DEVICE", help="the device's id (`server devices`)")
    c.add_argument("--add", default="", help="comma-separated event or pass ids it holds from now on (a pass: its events)")
    c.add_argument("--remove", default="", help="comma-separated event or pass ids taken away: it stops admitting "
                                                "them and deletes their buyers' names and e-mails")
    broker_flags(c)
    c.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the broker to take the command")


def _listed(ids) -> str:
    return ", ".join(map(str, sorted(ids)))


def new_events(store, org: str, device: dict, add: list[int], remove: list[int]) -> list[int]:
    """The events the device holds after the change; Refused naming what is wrong (nothing changed)."""
    name = device["device_id"]
    if not add and not remove:
        raise Refused("nothing to change: give --add or --remove (event or pass ids)")
    if not device.get("events"):
        raise Refused(f"{name} holds every event of {org} (registered without --events): events created later reach "
                      "it already, and none can be taken away from it")
    held = held_events(store, org, device["events"])
    both = set(add) & set(remove)
    if both:
        raise Refused(f"event {_listed(both)} both added and removed")
    absent = set(remove) - held
    if absent:
        raise Refused(f"event {_listed(absent)} is not an event of {name} (it holds events {_listed(held)})")
    new = (held | set(add)) - set(remove)
    if not new:
        raise Refused(f"that would leave {name} no event (a device registered for events keeps at least one); "
                      "`ticketgate server device revoke` takes a device out of service")
    if new == held:
        raise Refused(f"nothing to change: {name} holds events {_listed(held)} already")
    return sorted(new)


def device_events_change(store, org, args) -> int:
    device = _own_device(store, org, args.device_id)
    if device.get("revoked"):
        raise Refused(f"device {args.device_id} is revoked")
    before = sorted(held_events(store, org, device.get("events") or []))
    add = device_events(store, org, ints(args.add))       # another organiser's event or pass: refused here
    remove = device_events(store, org, ints(args.remove))
    events = new_events(store, org, device, add, remove)
    store.set_device_events(args.device_id, events)
    acl = "`provision serve` rewrites the broker's ACL within seconds"
    change = {"events": events, "added": sorted(set(events) - set(before)),
              "removed": sorted(set(before) - set(events))}
    try:
        command_id = _hooks().command(store, org, args.device_id, "events", broker_login(args), timeout=args.timeout,
                                      events=events)
    except (ConnectionError, TimeoutError, PermissionError) as exc:
        # kept all the same: the events taken away still take what the device recorded for them (events_released;
        # the events its hello names do not count), and `device commands` says it was not sent
        store.record_command(org, args.device_id, f"unsent-{uuid.uuid4().hex}", "events", dict(change, sent=False))
        raise Refused(f"{args.device_id} now holds events {_listed(events)} ({acl}), but the command was not sent "
                      f"({exc}): the device gets the change when it next says hello to `server serve`") from None
    store.record_command(org, args.device_id, command_id, "events", change)
    if not device.get("last_seen"):
        print(f"warning: {args.device_id} was never seen by the sync server: the broker keeps a command only for a "
              "device that connected once; it gets the change when it first says hello to `server serve`",
              file=sys.stderr)
    return emit(args, dict(change, device_id=args.device_id, command_id=command_id),
                f"{args.device_id} holds events {_listed(events)} (added {_listed(change['added']) or '-'}, removed "
                f"{_listed(change['removed']) or '-'}); {acl}; command {command_id} sent: "
                f"`ticketgate server device commands {args.device_id}` shows its result")
