"""Entry points the organiser CLI (`ticketgate server push|serve`) calls."""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable

from agent.home import MAX_SERVER_WORKERS, SERVER_LOGIN_FILE, BrokerLogin, HostPort, server_username
from agent.sync import topics
from agent.sync.transport import BrokerConfig, PahoTransport, unreachable_reason
from server_stub.sync import bundles, sessions
from server_stub.sync.contract import SyncStore
from server_stub.sync.server import SyncServer

log = logging.getLogger("ticketgate.sync")


def broker_config(broker: "BrokerConfig | BrokerLogin | str | None", username: str | None = None,
                  password: str | None = None) -> BrokerConfig:
    """"host:port" (agent.home.HostPort), a BrokerLogin, a BrokerConfig, or None for 127.0.0.1:1883."""
    if isinstance(broker, BrokerConfig):
        return broker
    if isinstance(broker, BrokerLogin):
        return BrokerConfig(host=broker.address.host, port=broker.address.port, username=broker.username or None,
                            password=broker.password or None, tls=broker.tls, ca_file=broker.ca_file or None)
    address = HostPort.parse(broker or "127.0.0.1:1883", what="broker address")
    return BrokerConfig(host=address.host, port=address.port, username=username, password=password)


def _transport(config: BrokerConfig, purpose: str, fallback_id: str, worker: int = 1,
               will: tuple[str, bytes] | None = None, clean_start: bool = False) -> PahoTransport:
    """A server connection. With a login, username = client id = `server_username(login, purpose, worker)` (the
    provisioned broker uses the username as client id: one name per connection, none kicks another off)."""
    if config.username:
        name = server_username(config.username, purpose, worker)
        return PahoTransport(name, replace(config, username=name), will=will, clean_start=clean_start)
    return PahoTransport(fallback_id, config, will=will, clean_start=clean_start)


def connect_or_explain(transport: PahoTransport, timeout: float = 10.0) -> None:
    """Wait for the broker; a refused login, a refused connection (nothing listens: known at once) or no answer
    within `timeout` raise with what to do about it."""
    refused: list[str] = []
    previous = transport.on_refused

    def on_refused(reason: str) -> None:
        refused.append(reason)
        previous(reason)
    transport.on_refused = on_refused
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not refused and not transport.wait_connected(0.05):
        if transport.connect_error is not None and not isinstance(transport.connect_error, TimeoutError):
            break           # refused, no route, a name that does not resolve: waiting changes nothing
    transport.on_refused = previous
    where = f"{transport.config.host}:{transport.config.port}"
    if refused:
        who = f"user {transport.config.username!r}" if transport.config.username else "an anonymous login"
        raise PermissionError(f"the broker at {where} refused {who}: {refused[0]}. On the broker of `ticketgate "
                              f"provision serve`, run from the same --data folder (its login is read from "
                              f"DATA/provision/{SERVER_LOGIN_FILE}) or give --broker-user/--broker-password-file")
    if not transport.connected:
        error = transport.connect_error
        why = unreachable_reason(error) if error is not None else f"no answer within {timeout:g} s"
        raise ConnectionError(f"cannot reach the broker at {where}: {why}. Check that the broker runs (`ticketgate "
                              f"provision serve --start-broker` starts one) and that --broker HOST:PORT (or the "
                              f"address in DATA/provision/{SERVER_LOGIN_FILE}) names it")


def push(store: SyncStore, org: str, event_ids: list[int], broker: BrokerConfig | str | None,
         progress: Callable[[int], None] | None = None, timeout: float = 60.0) -> dict:
    """Send a full signed bundle of `event_ids` to every registered device of `org` allowed those events.
    Returns {"devices", "delivered", "tickets", "events" (those some device got), "version", "bytes", "seconds"}
    once the broker acknowledged (devices offline get it from their persistent session when they come back)."""
    started = time.monotonic()
    wanted = sorted(set(int(e) for e in event_ids))
    targets: dict[tuple[tuple[int, ...], bool], list[str]] = {}     # (events, kiosk) -> devices
    for d in store.devices(org):
        if d.get("revoked"):
            continue
        allowed = d.get("events") or wanted
        events = tuple(sorted(set(allowed) & set(wanted)))
        if events:
            targets.setdefault((events, bundles.is_kiosk(d)), []).append(d["device_id"])
    transport = _transport(broker_config(broker), "push", f"{org}-push-{int(time.time() * 1000) % 10**9}",
                           clean_start=True)
    server = SyncServer(store, transport, name="push", ingest=False, announce=False, orgs=[org])
    server.start()
    total = delivered = 0
    tickets: dict[tuple[int, ...], int] = {}    # rows sent per event set (a pass's ticket in each of its events')
    version = store.version(org)
    try:
        connect_or_explain(transport)
        for (events, kiosk), devices in targets.items():
            counted = [0]

            done = sum(n for seen, n in tickets.items() if seen != events)

            def step(n: int, counted=counted, done=done) -> None:
                counted[0] = n
                if progress:
                    progress(done + n)
            built = bundles.build(store, org, list(events), 0, progress=step, payloads=kiosk)
            tickets[events] = counted[0]
            total += sum(len(c) for c in built.chunks) * len(devices)
            version = built.version
            delivered += server.send_bundle(org, devices, built, wait=timeout)
    finally:
        server.stop()
    sent = sorted({e for events, _ in targets for e in events})
    return {"devices": sum(len(v) for v in targets.values()), "delivered": delivered,
            "tickets": store.count_tickets_of(sent), "events": sent,
            "version": version, "bytes": total, "seconds": round(time.monotonic() - started, 3)}


def command(store: SyncStore, org: str, device: str, cmd: str, broker: BrokerConfig | str | None,
            timeout: float = 10.0, **fields) -> str:
    """Send one signed command (wipe, reset_ticket, config) to a device; its id once the broker holds it (QoS 1,
    queued in the device's persistent session while it is offline). TimeoutError: not acknowledged in time."""
    transport = _transport(broker_config(broker), "cmd", f"{org}-cmd-{int(time.time() * 1000) % 10**9}",
                           clean_start=True)
    server = SyncServer(store, transport, name="cmd", ingest=False, announce=False, orgs=[org]).start()
    command_id = uuid.uuid4().hex
    try:
        connect_or_explain(transport)
        if not server.send_command(org, device, cmd, wait=timeout, command_id=command_id, **fields):
            raise TimeoutError(f"the broker did not acknowledge the command within {timeout:g} s")
        return command_id
    finally:
        server.stop()


def tell_removed(store: SyncStore, org: str, events_of: dict[str, list[int]], everything: list[str],
                 broker: BrokerConfig | str | None, timeout: float = 10.0) -> tuple[dict[str, str], list[str]]:
    """An event was removed (`server event remove`): each device of `events_of` gets the signed `events` command
    with the events it holds now, each of `everything` (devices holding every event) a `resync`, so it says hello
    and gets the bundle of the events left. Queued by the broker in the sessions of devices offline.
    -> (device -> id of its command the broker holds, devices the broker did not acknowledge within `timeout`)."""
    transport = _transport(broker_config(broker), "cmd", f"{org}-cmd-{int(time.time() * 1000) % 10**9}",
                           clean_start=True)
    server = SyncServer(store, transport, name="cmd", ingest=False, announce=False, orgs=[org]).start()
    sent: dict[str, str] = {}
    missed: list[str] = []
    try:
        connect_or_explain(transport)
        for device, events in events_of.items():
            command_id = uuid.uuid4().hex
            if server.send_command(org, device, "events", wait=timeout, command_id=command_id, events=events):
                sent[device] = command_id
            else:
                missed.append(device)
        missed += [d for d in everything if not server.ask_hello(org, d, wait=timeout)]
        return sent, missed
    finally:
        server.stop()


def _say(text: str) -> None:
    """A line on stdout at once: piped to a log, a service manager or a script waiting for it, Python would
    otherwise hold it in its buffer while the server runs."""
    print(text, flush=True)


def _end_sessions(config: BrokerConfig, workers: list[int]) -> list[int]:
    once = replace(config, session_expiry=0)
    return sessions.end({n: _transport(once, "serve", f"server-{n}", worker=n) for n in workers})


def _watch_sessions(config: BrokerConfig, presences: sessions.Presences, last: int, stop: threading.Event,
                    end_after: float | None, say: Callable[[str], None], checked: bool) -> None:
    """While this process serves: the check of the start once the broker answers when it did not then (`checked`
    False), and the workers above `last` whose presence has said offline for `end_after` s (stopped for good, or died
    and not back) have their sessions ended: the broker stops handing them uploads."""
    while not stop.wait(1.0 if not checked or end_after is None else min(30.0, end_after / 2)):
        if not checked:
            if presences.transport.connected:
                _say_ended(say, _end_stale_sessions(config, presences, last), "left by an earlier run with more workers")
                checked = True
            continue
        if end_after is None:
            return
        gone = [n for n in range(last + 1, MAX_SERVER_WORKERS + 1) if presences.offline_for(n) >= end_after]
        if not gone:
            continue
        ended = _end_sessions(config, gone)
        for n in gone:
            presences.forget(n)
        _say_ended(say, ended, f"stopped for {end_after:g} s or more")


def _watch_link(transport: PahoTransport, where: str, stop: threading.Event, say: Callable[[str], None],
                up: bool) -> None:
    """Until stopped: the broker lost and back, said once each with the time. The organiser watching `serve` saw
    nothing while the broker was gone (the check-ins waited on the doors and `stats` stood still). `up`: whether the
    start said it runs on the broker (a loss between then and here is said too)."""
    while not stop.wait(1.0):
        if transport.connected == up:
            continue
        up = transport.connected
        at = time.strftime("%H:%M:%S")
        say(f"{at} broker at {where} answers again: check-ins flow in" if up else
            f"{at} lost the broker at {where}: reconnecting by itself; the doors keep their check-ins meanwhile")


def _say_ended(say: Callable[[str], None], ended: list[int], why: str) -> None:
    if ended:
        say(f"ended the broker sessions of workers {', '.join(map(str, ended))}, {why} (the broker was handing them "
            f"uploads nobody read)")


def _end_stale_sessions(config: BrokerConfig, presences: sessions.Presences, last: int) -> list[int]:
    """End the broker sessions of the worker numbers above `last` that no running worker holds (their presence is
    not "online"): what a run with more workers left (server_stub.sync.sessions). Numbers at or below this process's
    own belong to other `serve` processes: never touched."""
    if last >= MAX_SERVER_WORKERS:
        return []
    if not presences.current():
        print(f"ticketgate server serve: the workers' presences did not arrive; the sessions of workers above {last} "
              f"a run with more workers left were not checked", file=sys.stderr)
        return []
    return _end_sessions(config, [n for n in range(last + 1, MAX_SERVER_WORKERS + 1) if not presences.running(n)])


def serve(data_dir: str | Path, broker: BrokerConfig | BrokerLogin | str | None,
          store_factory: Callable[[Path], SyncStore], orgs: list[str] | None = None,
          workers: int = 1, stop: threading.Event | None = None, say: Callable[[str], None] = _say,
          first_worker: int = 1, end_after: float | None = sessions.END_AFTER) -> int:
    """Run the sync server until SIGINT/SIGTERM (or `stop` is set): `workers` ingestion clients sharing the
    uploads, worker 1 also announcing live changes and the server presence, with a Last Will that marks the
    server offline (retained) if it dies without saying goodbye. Returns 1 when the broker refuses the login.
    Several processes on one database (PostgreSQL) take distinct worker numbers: `first_worker` is this one's.
    The broker sessions of the worker numbers above this process's own that no worker runs are ended at the start,
    and while it runs once a worker's presence has said offline for `end_after` s (None: never; sessions.py).
    `store_factory` opens a worker's store on `data_dir` (the CLI passes server_stub.store.open_store)."""
    config = broker_config(broker)
    stop = stop or threading.Event()
    stores: list[SyncStore] = []
    servers: list[SyncServer] = []
    transports: list[PahoTransport] = []
    present: list[tuple[PahoTransport, int]] = []       # workers n >= 2 and their connections: presence kept
    watch: threading.Thread | None = None
    presences: sessions.Presences | None = None
    org = ""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        last = first_worker - 1 + max(1, workers)
        for i in range(first_worker - 1, last):
            store = store_factory(Path(data_dir))
            stores.append(store)
            names = orgs or [o["org"] for o in store.organisers()]
            org = names[0] if names else ""
            will = None
            if i == 0 and org:
                will = (topics.server_status(org),
                        json.dumps({"state": "offline", "server": f"server-{i + 1}", "since": time.time(),
                                    "reason": "lost"}).encode())
            elif org:
                will = sessions.will(org, i + 1)
            transport = _transport(config, "serve", f"server-{i + 1}", worker=i + 1, will=will)
            transports.append(transport)
            server = SyncServer(store, transport, name=f"server-{i + 1}", announce=(i == 0), orgs=names)
            if org and i > 0:
                sessions.keep_presence(transport, org, i + 1)
                present.append((transport, i + 1))
            if org and presences is None:
                presences = sessions.Presences(transport, org)
            servers.append(server.start())
        ended: list[int] = []
        checked = False
        try:
            for t in transports:
                connect_or_explain(t)
            if presences is not None:
                ended, checked = _end_stale_sessions(config, presences, last), True
        except PermissionError as exc:
            print(f"ticketgate server serve: {exc}", file=sys.stderr)
            return 1
        except ConnectionError as exc:
            print(f"ticketgate server serve: {exc}; still trying (Ctrl-C to stop)", file=sys.stderr)
        who = f" as {config.username}" if config.username else ""
        up = transports[0].connected
        say(f"sync server on {config.host}:{config.port}{who}: {len(servers)} worker(s) for "
            f"{', '.join(names)}; Ctrl-C to stop")
        _say_ended(say, ended, "left by an earlier run with more workers")
        if presences is not None and last < MAX_SERVER_WORKERS and not (checked and end_after is None):
            watch = threading.Thread(target=_watch_sessions, name="serve-sessions", daemon=True,
                                     args=(config, presences, last, stop, end_after, say, checked))
            watch.start()
        _watch_link(transports[0], f"{config.host}:{config.port}", stop, say, up)
    finally:
        stop.set()
        if watch is not None:
            watch.join(10)
        for transport, n in present:
            sessions.say_stopped(transport, org, n)
        for server in servers:
            server.stop()
        for store in stores:
            store.close()
    return 0
