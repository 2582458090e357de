"""`ticketgate agent sync`: run the device's MQTT sync from a terminal, as the enrolled device.

It uses the login enrollment saved in the device home (agent.home): the broker address, username/password, the
server key that signs what comes down, the organiser and the device id. Event data (bundles, cancellations)
come in, the outbox (check-ins, kiosk actions) goes out; a row leaves the outbox only when the server's signed
ack names it. With --until-idle it returns once the server answered its hello, the event data its answer said follows
is applied (and some event data for a device enrolled for events), everything is uploaded and nothing more arrived for
1.5 s; not caught up within --for (default IDLE_LIMIT) it says what is missing and exits 1.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent import pid_lock, sync_lock
from agent.home import DeviceHome
from agent.language import SETTING as LANGUAGE_SETTING, choose as choose_language, translate
from agent.safe_text import printable

if TYPE_CHECKING:
    from agent.ledger import Ledger
    from agent.sync.device import DeviceSync

QUIET = 1.5          # s without incoming messages (after the server's answer) before the device counts as caught up
IDLE_LIMIT = 300.0   # s --until-idle waits at most without --for


class RevocationLink(Protocol):
    """What the sync takes from provisioning's revocation rules (provisioning.device.link.DeviceLink)."""
    wiped: dict[str, Any] | None                      # what a signed wipe removed, once it happened

    def on_refused(self, reason: str = "") -> None: ...
    def on_command(self, payload: bytes) -> None: ...
    def on_connected(self) -> None: ...


@dataclass
class _Activity:
    """When the sync last heard something, and why the broker refused the login (if it did)."""
    at: float = field(default_factory=time.monotonic)
    refused: str = ""

    def touch(self, *_: object) -> None:
        self.at = time.monotonic()


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text, flush=True)


def _revocation_link(folder: Path) -> RevocationLink | None:
    """Provisioning's revocation rules for this device (provisioning.device.link.DeviceLink: a signed wipe wipes,
    a refused login is recorded and checked with the enrollment endpoint), the same ones the app's sync takes.
    Looked up by name like every sub-command of `ticketgate` (agent.cli): the agent core does not depend on
    provisioning, and without it the sync runs with no wipe hooks."""
    import importlib
    try:
        link = importlib.import_module("provisioning.device.link")
        state = importlib.import_module("provisioning.device.state")
    except ModuleNotFoundError:
        return None
    found: RevocationLink = link.DeviceLink(state.DeviceState(folder))
    return found


class BrokerFinder(Protocol):
    """What the sync takes from provisioning to find a broker that moved (provisioning.device.rediscover)."""
    def look(self) -> Any: ...           # the new agent.home.Broker (saved), or None


REDISCOVER_AFTER = 15.0   # s without the broker before the device looks for its new address (docs/provisioning.md)


def _broker_finder(folder: Path, args: argparse.Namespace) -> BrokerFinder | None:
    """Provisioning's rediscovery of a broker that moved (a signed zeroconf announcement of `provision serve`),
    looked up by name like the revocation link: without provisioning the device keeps its enrolled address."""
    import importlib
    try:
        rediscover = importlib.import_module("provisioning.device.rediscover")
        state = importlib.import_module("provisioning.device.state")
    except ModuleNotFoundError:
        return None
    found: BrokerFinder = rediscover.BrokerFinder(state.DeviceState(folder), lambda text: _say(args, text),
                                                  interfaces=getattr(args, "interface", None))
    return found


NO_SERVER_AFTER = 3.0   # s online without the organiser's server presence before `agent sync` says so


def _no_server(sync: DeviceSync) -> str:
    """Why the organiser's server does not answer, from its retained presence on the broker ("" : it is running)."""
    if sync.server_offline:
        return ("the organiser's server is stopped (its presence on the broker says offline): `ticketgate server "
                "serve` must run on the organiser's machine")
    if not sync.server_presence_seen:
        return ("the organiser's server has never run on this broker: start `ticketgate server serve` on the "
                "organiser's machine (and `ticketgate server push` for the event data)")
    return ""


def _missing(sync: DeviceSync, summary: dict[str, Any]) -> str:
    """What --until-idle still waited for when its time ran out."""
    if not sync.server_answered:
        return _no_server(sync) or "the server never answered (is `ticketgate server serve` running?)"
    missing = []
    if sync.bundle_version < sync.owed_version:
        missing.append(f"event data v{sync.owed_version} announced by the server never arrived "
                       f"(this device holds v{sync.bundle_version})")
    elif not summary["bundle_version"]:
        missing.append("no event data arrived")
    elif sync.catching_up:
        missing.append("the other gates' entries made while the broker had lost this device's session never arrived")
    if summary["outbox_pending"]:
        missing.append(f"{summary['outbox_pending']} upload(s) not acknowledged by the server")
    if sync.pruning:
        missing.append("the buyers of an event taken away are still being removed from the search index's file "
                       "(it goes on at the next sync or start of the app)")
    return "; ".join(missing) or "messages kept arriving"


def refused_upload(r: dict[str, Any]) -> dict[str, Any]:
    """A row the server refused (`Ledger.outbox_refused`) as `agent sync` and `agent status` list it."""
    body = r["body"]
    return {"id": r["id"], "kind": r["kind"], "action": body.get("action") or body.get("kind") or "",
            "order_number": body.get("order_number") or "", "ticket_key": body.get("ticket_key"),
            "reason": r["refused"], "restored": bool(r.get("restored"))}


# a refused undo undid nothing: the device restored what it undid (agent.ledger.Ledger.outbox_refuse)
RESTORED = "the undo did not count: what it undid stands again on this device, as on the server"


def refused_line(r: dict[str, Any], lang: str = "en") -> str:
    """'REFUSED by the server: outbox #4 kiosk payment_validated order TSYZ-VH: <reason>' (a `refused_upload`): the
    order it names, else its ticket; in `lang` (agent.language), the server's reason as the server said it."""
    names = (" " + translate(lang, "order {number}", number=r["order_number"]) if r.get("order_number") else
             " " + translate(lang, "ticket {key}", key=r["ticket_key"]) if r.get("ticket_key") else "")
    return translate(lang, "REFUSED by the server: outbox #{id} {kind} {action}{names}: {reason}", id=r["id"],
                     kind=r["kind"], action=r["action"], names=names, reason=r["reason"]) \
        + ("; " + translate(lang, RESTORED) if r.get("restored") else "")


def _refused_since(ledger: Ledger, before: int) -> list[dict[str, Any]]:
    """The uploads the server refused during this sync (the newest, beyond the `before` refused at its start)."""
    new = ledger.outbox_refused_count() - before
    return [refused_upload(r) for r in reversed(ledger.outbox_refused(new))] if new > 0 else []


def _refused_at_once(transport: object) -> bool:
    """The last connection attempt failed for a reason known at once (refused, no route, a name that does not
    resolve), not a timeout."""
    error = getattr(transport, "connect_error", None)
    return error is not None and not isinstance(error, TimeoutError)


def _unreached(address: object, transport: object, lang: str = "en") -> str:
    """Why the broker was never reached, with its address: "connection refused" like `server push` says."""
    from agent.sync.transport import unreachable_reason
    error = getattr(transport, "connect_error", None)
    if error is None:
        return translate(lang, "no broker answered at {address}", address=address)
    return translate(lang, "cannot reach the broker at {address}: {why}", address=address,
                     why=translate(lang, unreachable_reason(error)))


def run_sync(folder: Path, args: argparse.Namespace) -> int:
    from agent.keyring import Keyring
    from agent.ledger import Ledger, LedgerError
    from agent.sync import BrokerConfig, device_transport
    from agent.sync.device import DeviceSync
    from agent.home import store_identity
    from agent.stored_policy import load_policy
    home = DeviceHome(folder)
    creds = home.load()
    lang = choose_language(getattr(args, "lang", None), None)      # the device's setting once its ledger is open
    if creds is None:
        print("ticketgate agent sync: " + translate(lang, "this device is not enrolled ({folder}): run `ticketgate provision enroll` first", folder=home.folder),
              file=sys.stderr)
        return 1
    ca_file = None
    if creds.broker.tls and creds.broker.ca_pem:
        home.broker_ca_path.write_text(creds.broker.ca_pem)
        ca_file = str(home.broker_ca_path)
    config = BrokerConfig(creds.broker.host, creds.broker.port, creds.username, creds.password,
                          tls=creds.broker.tls, ca_file=ca_file)
    try:
        keyring = Keyring.load(home.keyring_path) if home.keyring_path.exists() else Keyring()
        watch = Ledger.open(home.ledger_path)
        # before anything is uploaded: what was done unenrolled, or under an enrollment a technician's wipe ended,
        # is sent as this device's own (agent.home.store_identity)
        store_identity(watch, load_policy(watch), creds.identity)
        refused_before = watch.outbox_refused_count()
        lang = choose_language(getattr(args, "lang", None), watch.get_setting(LANGUAGE_SETTING))
    except (LedgerError, OSError, ValueError) as exc:
        print(f"ticketgate agent sync: {exc}", file=sys.stderr)
        return 3
    try:
        held = sync_lock.hold(home.folder)
    except (sync_lock.AlreadySyncing, pid_lock.NotALock) as exc:
        watch.close()
        print(f"ticketgate agent sync: {exc}", file=sys.stderr)
        return 1
    activity = _Activity()
    stop = threading.Event()
    link = _revocation_link(home.folder)

    def refused(reason: str) -> None:
        activity.refused = reason or "refused"
        if link is not None:
            link.on_refused(reason)      # recorded for `provision status`; a signed revocation wipes the device
        if args.until_idle or (link is not None and link.wiped is not None):
            stop.set()
    transport = device_transport(creds.org, creds.device_id, config)
    sync = DeviceSync(home.ledger_path, creds.org, creds.device_id, creds.server_key, transport, keyring=keyring,
                      keyring_path=home.keyring_path, events=list(creds.events),
                      on_change=activity.touch, on_refused=refused,
                      on_command=link.on_command if link is not None else None,
                      on_connected=link.on_connected if link is not None else None)
    seen = transport.on_message

    def on_message(topic: str, payload: bytes) -> None:
        activity.touch()
        seen(topic, payload)
    transport.on_message = on_message
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    limit = args.duration or (IDLE_LIMIT if args.until_idle else None)
    deadline = time.monotonic() + limit if limit else None
    _say(args, translate(lang, "syncing as {device} (organiser {org}) with {address}", device=creds.device_id,
                         org=creds.org, address=creds.broker.address) + (" (TLS)" if creds.broker.tls else ""))
    sync.start()
    idle = was_online = ever_online = told_no_server = False
    online_since = 0.0
    finder = _broker_finder(home.folder, args)
    next_look = time.monotonic() + REDISCOVER_AFTER      # the broker unreachable this long: look where it went
    moving: Any = None                                    # a new broker address not handed to the transport yet
    looked = False
    address = creds.broker.address
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            online = sync.transport.connected
            if online != was_online:
                _say(args, translate(lang, "online" if online else "offline: retrying"))
                was_online, online_since = online, time.monotonic()
                ever_online = ever_online or online
                next_look = time.monotonic() + REDISCOVER_AFTER
            # refused at once (nothing listens there, no route) before ever reaching it: looked for at once
            refused_now = not ever_online and _refused_at_once(sync.transport) and not looked
            if finder is not None and not online and not activity.refused and moving is None \
                    and (time.monotonic() >= next_look or refused_now):
                moving, looked = finder.look(), True          # browses a few seconds
                next_look = time.monotonic() + REDISCOVER_AFTER
                if moving is None and refused_now and args.until_idle:
                    break
                continue
            if moving is not None and transport.move(moving.host, moving.port):
                address, moving, looked = moving.address, None, False
                next_look = time.monotonic() + REDISCOVER_AFTER
                continue
            if online and not told_no_server and not sync.server_answered \
                    and time.monotonic() - online_since > NO_SERVER_AFTER and _no_server(sync):
                _say(args, f"{_no_server(sync)}; waiting for it")    # said at once, not after --for
                told_no_server = True
            if args.until_idle and not ever_online and _refused_at_once(sync.transport) and finder is None:
                break           # nothing listens there (or no route): waiting --for changes nothing
            if args.until_idle and online and sync.caught_up and (sync.bundle_version or not creds.events) \
                    and watch.outbox_size() == 0 and not sync.pruning and time.monotonic() - activity.at > QUIET:
                idle = True
                break
            stop.wait(0.1)
    finally:
        sync.stop()
        held.close()
    summary: dict[str, Any] = {"device_id": creds.device_id, "org": creds.org, "online": was_online, "idle": idle,
               "bundle_version": sync.bundle_version, "outbox_pending": watch.outbox_size(),
               "uploaded": sync.uploader.acked_rows if sync.uploader else 0,
               "sent": sync.uploader.sent_rows if sync.uploader else 0, **sync.stats,
               "rejected": [{"topic": t, "reason": r} for t, r in sync.rejections],
               "refused_by_server": _refused_since(watch, refused_before),
               "wiped": link.wiped if link is not None else None}     # revoked: what the wipe removed, kept
    watch.close()
    if link is not None and link.wiped is not None:
        from agent.wiped_status import removed_text
        if getattr(link, "replaced", False):
            print("ticketgate agent sync: " + translate(
                lang, "the organiser replaced this device by a spare and wiped it ({removed}); enroll it again to use it: what it did not send yet is uploaded as its own then",
                removed=removed_text(link.wiped)), file=sys.stderr)
        else:
            print("ticketgate agent sync: " + translate(
                lang, "this device was revoked by the organiser and wiped ({removed}); enroll it again to use it",
                removed=removed_text(link.wiped)), file=sys.stderr)
    elif activity.refused:
        print("ticketgate agent sync: " + translate(
            lang, "the broker refused the login of {device} ({why}): see `ticketgate provision status`",
            device=creds.device_id, why=activity.refused), file=sys.stderr)
    elif not ever_online:
        print("ticketgate agent sync: " + translate(
            lang, "{why}; the device keeps working offline and sends everything at the next sync",
            why=_unreached(address, sync.transport, lang)), file=sys.stderr)
    elif args.until_idle and not idle and not stop.is_set():
        print("ticketgate agent sync: " + translate(
            lang, "not caught up after {n} s: {missing}; what arrived is kept, what is not uploaded stays queued for the next sync", n=f"{limit:.0f}", missing=_missing(sync, summary)), file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    elif link is None or link.wiped is None:     # wiped: said above, with what it kept; no figures of data gone
        late = translate(lang, ", {n} late update(s) brought by the event data instead", n=summary["late"]) \
            if summary.get("late") else ""
        print(translate(lang, "event data v{version}, uploaded {uploaded}, waiting {waiting}, live updates {live}{late}, {rejected} message(s) from the server refused, {refused} upload(s) REFUSED by the server", version=summary["bundle_version"], uploaded=summary["uploaded"],
                        waiting=summary["outbox_pending"], live=summary["live"], late=late,
                        rejected=len(summary["rejected"]), refused=len(summary["refused_by_server"])))
        for r in summary["rejected"]:
            print("  " + translate(lang, "refused on {topic}: {why}", topic=r["topic"], why=r["reason"]))
        for r in summary["refused_by_server"]:
            print(printable(f"  {refused_line(r, lang)}"))
        if summary["refused_by_server"]:
            print("  " + translate(lang, "kept on this device (`ticketgate agent status`); once the organiser fixed the cause: `ticketgate agent resend-refused`"))
    if activity.refused or not ever_online or (args.until_idle and not idle):
        return 1
    return 0
