"""`ticketgate server devices|device|stats|conflicts|push|serve` (push/serve come from server_stub.sync)."""
from __future__ import annotations

import importlib
import sys
import time

from server_stub.cli_output import Refused, conflicts_text, devices_text, emit, ints, stats_text
from server_stub.cli_progress import Progress


def cmd_devices(store, org, args) -> int:
    devices = store.devices(org)
    return emit(args, devices, devices_text(devices))


def device_register(store, org, args) -> int:
    d = store.register_device(org, args.device_id, args.name, args.gate, ints(args.events),
                              role=getattr(args, "role", "door"))
    return emit(args, d, f"device {d['device_id']} registered ({d['role']}, gate {d['gate'] or '-'}, "
                         f"events {d['events'] or 'all'})")


def device_revoke(store, org, args) -> int:
    d = store.device(args.device_id)
    if d is None or d["org"] != org:
        raise Refused(f"no device {args.device_id!r}")
    return emit(args, store.revoke_device(args.device_id), f"device {args.device_id} revoked")


def cmd_stats(store, org, args) -> int:
    if args.event is not None and store.event(args.event)["organiser"] != org:
        raise Refused(f"event {args.event} belongs to another organiser")
    while True:
        s = store.stats(org, args.event)
        if args.watch and not args.json and sys.stdout.isatty():
            print("\x1b[2J\x1b[H", end="")
        emit(args, s, stats_text(s))
        if not args.watch:
            return 0
        try:
            time.sleep(max(args.watch, 0.5))
        except KeyboardInterrupt:
            return 0


def cmd_conflicts(store, org, args) -> int:
    found = store.conflicts(org, args.event)
    return emit(args, found, conflicts_text(found))


def _hooks():
    try:
        return importlib.import_module("server_stub.sync.cli_hooks")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("server_stub.sync"):
            raise Refused("MQTT sync is not available in this installation (server_stub.sync.cli_hooks is missing)") from None
        raise Refused(f"MQTT sync is not available: {exc} (pip install 'ticketgate')") from None


def cmd_push(store, org, args) -> int:
    hooks = _hooks()
    events = args.event or [e["event_id"] for e in store.events(org)]
    if not events:
        raise Refused("no events to push")
    try:
        with Progress(sum(store.count_tickets(e) for e in events), "pushing tickets") as bar:
            result = hooks.push(store, org, events, args.broker, bar, timeout=args.timeout)
    except (ConnectionError, TimeoutError) as exc:
        raise Refused(f"push failed: {exc}") from None
    return emit(args, result, f"pushed {result.get('tickets', '?')} ticket(s) of events {events} to "
                              f"{result.get('devices', '?')} device(s), {result.get('delivered', '?')} delivered")


def cmd_serve(store, org, args) -> int:
    hooks = _hooks()
    store.close()         # each worker opens its own store
    return int(hooks.serve(args.data, args.broker, orgs=[args.org] if args.org else None, workers=args.workers) or 0)
