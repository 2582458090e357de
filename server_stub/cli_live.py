"""`ticketgate server devices|device|stats|conflicts|push|serve` (push/serve come from server_stub.sync)."""
from __future__ import annotations

import importlib
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.safe_text import printable_json, timestamp
from server_stub import device_revocation
from server_stub.cli_output import (Refused, conflicts_text, device_events, devices_text, emit, ints, refusals_text,
                                    revoke_refused, scanned_event, stats_text, uploads_text, when)
from server_stub.cli_desk import newly_oversold, oversold_text, quota_figures
from server_stub.cli_progress import Progress


def cmd_devices(store, org, args) -> int:
    refused = {device: n - sum(_taken_since(store, r) for r in store.refusals(org, device, min(n, 1000)))
               for device, n in store.refusal_counts(org).items()}  # not those sent again and taken (the newest 1000)
    at_door = store.door_modes(org)
    devices = [dict(d, refused_uploads=refused.get(d["device_id"], 0), door_mode=at_door.get(d["device_id"]),
                    **store.posted(d)) for d in store.devices(org)]
    return emit(args, devices, devices_text(devices, refused))


def cmd_refusals(store, org, args) -> int:
    """Uploads the sync server refused (not allowed for the device's role or events, malformed, over its rate), and
    those of devices not registered here, revoked or another organiser's (counted per device and reason)."""
    unregistered = [{"device_id": u["device_id"], "outbox_id": 0, "reason": f"device {u['reason']}",
                     "body": {}, "received_at": u["last_at"], "count": u["count"], "first_at": u["first_at"]}
                    for u in store.unregistered_uploads(org, args.device, args.limit)]
    found = sorted([dict(r, taken_since=_taken_since(store, r)) for r in store.refusals(org, args.device, args.limit)]
                   + unregistered, key=lambda r: -r["received_at"])[:args.limit]
    remedies = [f"{device}: {n} upload(s) for event {event}, which it does not hold (scanned before it was wiped and "
                f"enrolled again for other events?): to count them, `ticketgate server device events {device} --add "
                f"{event}`: the device sends them again by itself" for (device, event), n in _not_held(store, org, found).items()]
    for (device, option, value), (n, first) in _not_posted(found).items():
        what = (f"scan(s) at gate {value}" if option == "gate" else "exit(s) not in entry/exit mode"
                if value == "entry_exit" else "quick cancellation(s) not in quick-cancel mode")
        remedies.append(f"{device}: {n} {what}, not as the organiser set it (changed at the door?): if it was so "
                        f"from {when(first)} on, to count them, `ticketgate server device configure {device} --{option} "
                        f"{shlex.quote(value)} --since '{time.strftime('%Y-%m-%d %H:%M', time.gmtime(first))}'`: the "
                        "device sends them again by itself")
    return emit(args, found, "\n".join([refusals_text(found), *remedies]))


def _not_posted(refusals: list[dict]) -> dict[tuple[str, str, str], tuple[int, float]]:
    """(device, gate|mode, the gate it named or entry_exit) -> (how many, the first one's server time) of its scans
    refused as at a gate or an exit in a mode the organiser had not set (server_stub.sync.posting), not taken since."""
    out: dict[tuple[str, str, str], tuple[int, float]] = {}
    for r in refusals:
        body, device = r["body"] if isinstance(r["body"], dict) else {}, r["device_id"]
        if r.get("taken_since") or not isinstance(body.get("at"), (int, float)):
            continue
        if str(r["reason"]).startswith(f"not allowed: {device} scanned at gate "):
            key = (device, "gate", str(body.get("gate", "")))
        elif str(r["reason"]).startswith(f"not allowed: an exit from {device}, "):
            key = (device, "mode", "entry_exit")
        elif str(r["reason"]).startswith(f"not allowed: a quick cancellation from {device}, "):
            key = (device, "mode", "quick_cancel")
        else:
            continue
        at = body["at"] + (body.get("clock_offset") if isinstance(body.get("clock_offset"), (int, float)) else 0)
        n, first = out.get(key, (0, at))
        out[key] = (n + 1, min(first, at))
    return out


def _taken_since(store, refusal: dict) -> bool:
    """A refused scan the device sent again once the cause was fixed (`agent resend-refused`, an event given to it),
    and the server took."""
    body = refusal["body"] if isinstance(refusal["body"], dict) else {}
    return isinstance(body.get("scan_uuid"), str) and store.annul_target(body["scan_uuid"], "") is not None


def _not_held(store, org: str, refusals: list[dict]) -> dict[tuple[str, int], int]:
    """(device, event) -> its uploads refused as not of its events, for an event it still does not hold and not
    taken since: the organiser gives it the event and the device sends them again (agent.sync.enrolled_events)."""
    devices = {d["device_id"]: d for d in store.devices(org) if not d["revoked"]}
    held: dict[str, set[int]] = {}
    out: dict[tuple[str, int], int] = {}
    for r in refusals:
        body, device = r["body"] if isinstance(r["body"], dict) else {}, devices.get(r["device_id"])
        event = body.get("event_id")
        if device is None or type(event) is not int or not str(r["reason"]).startswith(
                f"not allowed: event {event} is not an event of ") or r.get("taken_since"):
            continue
        if device["device_id"] not in held:
            held[device["device_id"]] = set(device_events(store, org, device["events"]) if device["events"]
                                            else (e["event_id"] for e in store.events(org)))
        if event not in held[device["device_id"]]:
            out[device["device_id"], event] = out.get((device["device_id"], event), 0) + 1
    return out


def _own_device(store, org, device_id) -> dict:
    d = store.device(device_id)
    if d is None or d["org"] != org:
        raise Refused(f"no device {device_id!r}")
    return d


def device_uploads(store, org, args) -> int:
    _own_device(store, org, args.device_id)
    found = store.device_uploads(args.device_id)
    return emit(args, found, uploads_text(args.device_id, found))


def device_rollback(store, org, args) -> int:
    _own_device(store, org, args.device_id)
    since = None
    if args.since is not None:
        try:
            at = datetime.fromisoformat(args.since.strip())
        except ValueError:
            raise Refused(f"--since {args.since!r}: use 'YYYY-MM-DD HH:MM' (UTC, as `device uploads` shows it) or "
                          "ISO 8601 with an offset") from None
        since = (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
    before = quota_figures(store, org)
    done = store.rollback_device(args.device_id, args.reason, since)
    # a refund undone gives its buyer their seats back even past a quota's capacity: said here, not found later
    done["oversold"] = newly_oversold(store, org, before)
    text = (f"rolled back {args.device_id}: {done['annulled']} entry/cancellation(s) annulled, "
            f"{len(done['payments'])} payment(s) back to pending, {len(done['exchanges'])} exchange(s) undone, "
            f"{len(done['sales'])} sale(s) cancelled, {len(done['refunds'])} refund(s) or cancellation(s) undone, "
            f"{len(done['allotments'])} allotment(s) revoked")
    for why in done["skipped"]:
        text += f"\n  skipped: {why}"
    if done["not_undone"]:
        text += "\nnot undone (settle these yourself):" + "".join(f"\n  {what}" for what in done["not_undone"])
    for q in done["oversold"]:
        text += (f"\nOVERSOLD: {oversold_text(q)}: the refunds undone gave their buyers their seats back; the kiosks "
                 f"sell none of it until it is raised ({q['raise_with']}) or orders are cancelled")
    return emit(args, done, text + "\n(running `ticketgate server serve` relays it to the gates; `server push` too)")


def device_annul(store, org, args) -> int:
    _own_device(store, org, args.device_id)
    done = store.annul_upload(org, args.device_id, args.scan_uuid, args.reason)
    what = "entry" if done["kind"] == "entry" else "quick cancellation"
    return emit(args, done, f"undone: the {what} of ticket {done['ticket_key']} by {args.device_id} at gate "
                            f"{done['gate'] or '-'} ({when(done['at'])}); the entry stays listed, marked ROLLED BACK "
                            f"(`server device uploads {args.device_id}`)\n(running `ticketgate server serve` relays it "
                            f"to the gates; `server push` too)")


def device_register(store, org, args) -> int:
    earlier = store.device(args.device_id)
    if earlier is not None and earlier["org"] == org and earlier["revoked"] and not args.reinstate:
        raise Refused(f"device {args.device_id} was revoked on {when(earlier['revoked_at'])}: registering it again "
                      "puts it back in service (its uploads taken again); give --reinstate for that. A lost or "
                      "stolen device stays revoked: register its replacement under another id")
    d = store.register_device(org, args.device_id, args.name, args.gate, device_events(store, org, ints(args.events)),
                              role=getattr(args, "role", "door"))
    back = (f"; reinstated: it was revoked on {when(earlier['revoked_at'])}"
            if earlier is not None and earlier["revoked"] else "")
    return emit(args, d, f"device {d['device_id']} registered ({d['role']}, gate {d['gate'] or '-'}, "
                         f"events {d['events'] or 'all'}){back}")


def device_revoke(store, org, args) -> int:
    d = store.device(args.device_id)
    if d is None or d["org"] != org:
        raise Refused(f"no device {args.device_id!r}")
    code, said = device_revocation.revoke(
        store, args.device_id, replaced=args.replaced, command="ticketgate server device revoke",
        cut=lambda: (store.revoke_device(args.device_id, spare=args.replaced) and "")
        + f"device {args.device_id} revoked: `provision serve` cuts its broker login in a few seconds")
    if code:
        raise Refused(said)
    return emit(args, store.device(args.device_id), said)


def cmd_stats(store, org, args) -> int:
    scanned_event(store, org, args.event)
    if not args.watch:
        return _show_stats(store, org, args)
    outage: str | None = None      # the database cannot be reached: said once, the watch goes on
    try:
        while True:
            try:
                _show_stats(store, org, args)
            except Exception as exc:   # noqa: BLE001 - only a database outage is waited for
                said = store.unreachable(exc)
                if said is None:
                    raise
                if outage is None:
                    print(f"{said}; still watching: the figures come back with it", file=sys.stderr, flush=True)
                outage = said
            else:
                if outage is not None:
                    print("the database is reachable again", file=sys.stderr, flush=True)
                outage = None
            time.sleep(max(args.watch, 0.5))
    except KeyboardInterrupt:       # Ctrl-C ends a watch, whether it lands in a refresh or between two
        return 0


def _show_stats(store, org, args) -> int:
    s = store.stats(org, args.event)
    if args.watch and not args.json and sys.stdout.isatty():
        print("\x1b[2J\x1b[H", end="")
    if args.watch and args.json:        # one object per line (JSON Lines), in one write: a dashboard reads each
        sys.stdout.write(printable_json(json.dumps(s, ensure_ascii=False, default=str)) + "\n")
        sys.stdout.flush()
        return 0
    if args.watch:      # each refresh says when it was taken: on screen, and apart from the last one in a log
        head = f"as of {timestamp(s['generated_at'], '%Y-%m-%d %H:%M:%S UTC')}, every {args.watch:g} s (Ctrl-C stops)"
        return emit(args, s, head + "\n" + stats_text(s))
    return emit(args, s, stats_text(s))


def cmd_conflicts(store, org, args) -> int:
    scanned_event(store, org, args.event)
    found = store.conflicts(org, args.event)
    return emit(args, found, conflicts_text(found))


def _hooks():
    try:
        return importlib.import_module("server_stub.sync.cli_hooks")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("server_stub.sync"):
            raise Refused("MQTT sync is not available in this installation (server_stub.sync.cli_hooks is missing)") from None
        raise Refused(f"MQTT sync is not available: {exc} (pip install 'ticketgate')") from None


def broker_login(args):
    """Where and as whom `push`/`serve` log in (agent.home.BrokerLogin): --broker/--broker-user/... when given,
    else the server login `provision serve` wrote for this data folder, else anonymous on 127.0.0.1:1883."""
    from agent.home import SERVER_LOGIN_FILE, BadAddress, BrokerLogin, HomeError, HostPort
    try:
        saved = BrokerLogin.load(Path(args.data) / "provision" / SERVER_LOGIN_FILE)
        address = (HostPort.parse(args.broker, what="--broker") if args.broker
                   else saved.address if saved else HostPort("127.0.0.1", 1883))
    except (BadAddress, HomeError) as exc:
        raise Refused(str(exc)) from None
    tls: dict[str, Any] = {"tls": True, "ca_file": str(args.broker_ca)} if args.broker_ca else {}
    if args.broker_user:
        if args.broker_password_file is None:
            raise Refused("--broker-user needs --broker-password-file (a file holding the password)")
        try:
            password = args.broker_password_file.read_text().splitlines()[0] if args.broker_password_file.stat().st_size else ""
        except OSError as exc:
            raise Refused(f"--broker-password-file: {exc.strerror or exc}") from None
        return BrokerLogin(address, args.broker_user, password, **tls)
    if args.broker_password_file is not None:
        raise Refused("--broker-password-file goes with --broker-user")
    if saved is not None:
        return replace(saved, address=address, **tls)
    return BrokerLogin(address, **tls)


def cmd_push(store, org, args) -> int:
    hooks = _hooks()
    # a mistyped id is refused, not "pushed 0 ticket(s) … to 0 device(s)"; a pass stands for its events
    events = device_events(store, org, args.event) if args.event else [e["event_id"] for e in store.events(org)]
    if not events:
        raise Refused("no events to push")
    try:
        with Progress(sum(store.count_tickets(e) for e in events), "pushing tickets") as bar:
            result = hooks.push(store, org, events, broker_login(args), bar, timeout=args.timeout)
    except (ConnectionError, TimeoutError, PermissionError) as exc:
        raise Refused(f"push failed: {exc}") from None
    sent = result.get("events", events)
    held_by_none = sorted(set(events) - set(sent))     # "pushed … of events [1, 2]" when no device holds 2 misled
    return emit(args, result, f"pushed {result.get('tickets', '?')} ticket(s) of events {sent} to "
                              f"{result.get('devices', '?')} device(s), {result.get('delivered', '?')} delivered"
                + (f"\nnot pushed: no device holds event(s) {held_by_none} (give them to one: `ticketgate server "
                   f"device events DEVICE --add {','.join(map(str, held_by_none))}`, or enrol one: `ticketgate "
                   f"provision tokens create … --events {','.join(map(str, held_by_none))}`)" if held_by_none else ""))


def cmd_serve(store, org, args) -> int:
    hooks = _hooks()
    login = broker_login(args)
    first = getattr(args, "first_worker", 1)
    if not 1 <= args.workers <= 8 or not 1 <= first <= 9 - args.workers:
        raise Refused("--workers/--first-worker: worker numbers 1..8")
    for name in [args.org] if args.org else [o["org"] for o in store.organisers()]:
        store.server_key(name)       # its private key file (KeyFileError) before it says it serves: it signs every ack
    store.close()         # each worker opens its own store (the same database)
    held = _hold_workers(Path(args.data), range(first, first + args.workers))
    try:
        return _serve(hooks, args, login, first)
    finally:
        for lock in held:
            lock.close()


def _hold_workers(data: Path, numbers: range) -> list:
    """One `server serve` per worker number and data folder: a second one (another terminal) logged in to the broker
    under the same client id, each knocking the other off every second ("lost the broker … answers again"), neither
    ingesting. It is refused before it connects, naming the one running. The open lock files, or Refused."""
    from agent import pid_lock
    held: list = []
    try:
        for n in numbers:
            held.append(pid_lock.take(data / f"serve-worker-{n}.lock"))
    except pid_lock.Held as other:
        for lock in held:
            lock.close()
        raise Refused(f"another `ticketgate server serve` runs on this data folder ({data}{other.naming()}) as worker "
                      f"{n}: two would take turns on the broker under one login, neither keeping up. Use the one "
                      f"running, or stop it (Ctrl-C in its terminal) first; several on one PostgreSQL database take "
                      f"distinct worker numbers (--first-worker). Nothing was started") from None
    return held


def _serve(hooks, args, login, first: int) -> int:
    from server_stub.store import open_store
    return int(hooks.serve(args.data, login, orgs=[args.org] if args.org else None, workers=args.workers,
                           store_factory=lambda data: open_store(data, create=False, db=getattr(args, "db", None)),
                           first_worker=first) or 0)
