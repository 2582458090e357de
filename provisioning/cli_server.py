"""Organiser-side provisioning commands (see provisioning.cli)."""
from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import TicketgateError
from agent.safe_text import printable
from agent.sync.messages import name_arg
from provisioning.cli_output import fail
from provisioning.server.broker_address import address_changed_words, moved_announced_words
from provisioning.protocol import BadInput, split_hostport

if TYPE_CHECKING:
    from provisioning.server.runtime import Provisioning
    from server_stub.store import SqlStore

SERVE_PORT = 8787
SERVER_FILE = "server.json"     # written by `serve`: where the endpoint and broker are, for the other commands
REVOKED_POLL_SECONDS = 2.0     # how soon `provision serve` cuts the broker login of a device `server device revoke` revoked


def _common(p) -> None:
    p.add_argument("--data", default=None, help="the organiser's server data folder (default: `ticketgate server`'s, "
                                                "$TICKETGATE_SERVER_HOME or ~/.local/share/ticketgate/server)")
    p.add_argument("--db", default=None, metavar="URL", help="the organiser's PostgreSQL database, as `ticketgate "
                   "server --db` (default $TICKETGATE_SERVER_DB; neither: SQLite in the data folder)")
    p.add_argument("--org", required=True, help="organiser slug")
    p.add_argument("--state", help="provisioning state folder (default: DATA/provision)")


def add_commands(sub) -> None:
    p = sub.add_parser("serve", help="enrollment endpoint + zeroconf advertisement (+ optionally mosquitto)")
    _common(p)
    p.add_argument("--listen", default="0.0.0.0", help="address the endpoint listens on")
    p.add_argument("--port", type=int, default=SERVE_PORT, help="port of the enrollment endpoint (default 8787)")
    p.add_argument("--advertise", action="append", default=[], metavar="IP",
                   help="IP to advertise over zeroconf (repeatable; default: this host's address)")
    p.add_argument("--no-zeroconf", action="store_true",
        help="do not announce it on the network (devices then need --server or the QR's address)")
    p.add_argument("--broker-host", help="broker address the devices get (default: first advertised IP)")
    p.add_argument("--broker-port", type=int, default=1883,
        help="port of the broker (default 1883); change it only before any device is enrolled")
    p.add_argument("--start-broker", action="store_true", help="run mosquitto with the provisioning config")
    p.add_argument("--mosquitto-pid-file", help="PID file of a mosquitto already using STATE/mosquitto/{passwd,acl}")
    p.add_argument("--tls", action="store_true", help="TLS listener on --tls-port (CA made in STATE/tls)")
    p.add_argument("--tls-port", type=int, default=8883, help="port of the broker's TLS listener (default 8883)")
    p.add_argument("--for", dest="duration", type=float, help="stop after SECONDS (default: until Ctrl-C)")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("tokens", help="one-time enrollment QRs, each with its organiser code (a sheet to print)")
    tsub = p.add_subparsers(dest="tokens_command", required=True)
    c = tsub.add_parser("create", help="a sheet of N enrollment QRs, each with its organiser code to type instead")
    _common(c)
    c.add_argument("--count", type=int, default=1, help="how many codes (one per device)")
    c.add_argument("--gate", default="", type=name_arg, help="the gate the devices scan at (e.g. north)")
    c.add_argument("--events", default="", help="comma-separated event or pass ids, e.g. 1,2 (a pass: its events)")
    c.add_argument("--role", choices=("door", "kiosk"), default="door",
                   help="kiosk: the device prints tickets (gets their signed QR payloads)")
    c.add_argument("--ttl-hours", type=float, default=12.0, help="how long the codes enroll (default 12)")
    c.add_argument("--server", help="HOST:PORT hint printed in the QR (default: from `serve`)")
    c.add_argument("--out", required=True, help="sheet.pdf or sheet.png")
    c.set_defaults(run=cmd_tokens_create)

    p = sub.add_parser("wifi-qr", help="the hotspot's Wi-Fi join QR")
    p.add_argument("--ssid", required=True, help="the hotspot's name")
    p.add_argument("--password", default=None, help="the hotspot's password (WPA: 8 to 63 characters)")
    p.add_argument("--security", default="WPA", choices=("WPA", "WEP", "nopass"),
        help="WPA (default), WEP or nopass (an open hotspot)")
    p.add_argument("--hidden", action="store_true", help="the hotspot does not broadcast its name")
    p.add_argument("--out", required=True, help="wifi.png or wifi.svg")
    p.set_defaults(run=cmd_wifi_qr)

    p = sub.add_parser("devices", help="enrolled devices")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    p.set_defaults(run=cmd_devices)

    p = sub.add_parser("revoke", help="revoke a device: cut its broker login now; it wipes itself")
    _common(p)
    p.add_argument("device", metavar="DEVICE", help="the device's id (`provision devices`)")
    from server_stub.device_revocation import REPLACED_HELP
    p.add_argument("--replaced", action="store_true", help=REPLACED_HELP)
    p.set_defaults(run=cmd_revoke)


# -- helpers ----------------------------------------------------------------------------------------------------
def _data(args) -> Path:
    if args.data is None:
        from agent.home import server_home
        args.data = str(server_home())
    return Path(args.data)


def _state(args) -> Path:
    return Path(args.state) if args.state else _data(args) / "provision"


def _open_store(args):
    from server_stub.store import describe, open_store
    store = open_store(_data(args), create=False, db=args.db)    # the devices go where `server serve` looks for them
    if store.organiser(args.org) is None:
        where = describe(store)
        store.close()
        raise BadInput(f"no organiser {args.org!r} in {where}")
    return store


def _saved(args) -> dict:
    try:
        return json.loads((_state(args) / SERVER_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _local_ip() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))      # no packet is sent; picks the outgoing interface
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _provisioning(args, store, saved: dict):
    from provisioning.server.broker_admin import BrokerEndpoint, PidReloader
    from provisioning.server.runtime import Provisioning
    b = saved.get("broker") or {}
    endpoint = BrokerEndpoint(b.get("host", "127.0.0.1"), int(b.get("port", 1883)), bool(b.get("tls")), b.get("ca_pem", ""))
    pid_file = saved.get("pid_file")
    reload = PidReloader(pid_file=pid_file) if pid_file else (lambda: None)
    return Provisioning(_state(args), store, args.org, endpoint, reload)


# -- commands ---------------------------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    from agent.pid_lock import NotALock
    from provisioning.server.serve_lock import AlreadyServing, hold
    store = _open_store(args)              # TicketgateError: no data folder, not ours, no such organiser
    state = _state(args)
    try:
        held = hold(state)                 # before anything is written: one `provision serve` per folder
    except (AlreadyServing, NotALock) as exc:
        store.close()
        return fail(str(exc))
    try:
        return _serve(args, store, state)
    finally:
        held.close()


def _serve(args, store, state: Path) -> int:
    from provisioning.server.broker_admin import BrokerEndpoint, PidReloader
    from provisioning.server.broker_config import full_config
    from provisioning.server.http_endpoint import EnrollmentServer
    from provisioning.server.runtime import Provisioning
    advertise = args.advertise or [_local_ip()]
    broker_host = args.broker_host or advertise[0]
    tls_files = None
    if args.tls:
        from provisioning.server import tls
        tls_files = tls.ensure(state / "tls", [broker_host])
    from provisioning.broker_announce import next_seq
    saved = _saved(args)                   # the last serve's: the broker address each device was given
    # the counter of this serve's signed broker announcement: past every earlier one (a device takes no older one)
    seq = next_seq(int((saved.get("broker") or {}).get("seq") or 0))
    endpoint = BrokerEndpoint(broker_host, args.tls_port if args.tls else args.broker_port, args.tls,
                              tls_files.ca_pem() if tls_files else "", seq)
    broker_dir = state / "mosquitto"
    pid_file = Path(args.mosquitto_pid_file) if args.mosquitto_pid_file else broker_dir / "mosquitto.pid"
    enrolled = {"n": 0}
    here = f"{endpoint.host}:{endpoint.port}"
    given: dict[str, str] = dict(saved.get("given") or {})
    server_hint = f"{advertise[0]}:{args.port}"
    served_lock = threading.Lock()         # the endpoint's worker threads enrol at once

    def progress(device: dict) -> None:
        with served_lock:
            enrolled["n"] += 1
            given[device["device_id"]] = here
            try:
                _write_served(state, args.org, server_hint, endpoint, pid_file, given)
            except OSError as exc:      # a full disk: the device is enrolled all the same
                print(f"[!] cannot write {state / SERVER_FILE}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        print(printable(f"[{time.strftime('%H:%M:%S')}] enrolled #{enrolled['n']}: {device['device_id']} "
                        f"gate={device['gate'] or '-'} name={device['name'] or '-'} from {device['source']}"
                        + (f" (replaces {device['replaces']}: its login removed)" if device.get("replaces") else "")
                        + (f" ({device['retire_refused']})" if device.get("retire_refused") else "")),
              flush=True)

    prov = Provisioning(state, store, args.org, endpoint, PidReloader(pid_file=pid_file), on_enrolled=progress)
    prov.write_broker_files()
    prov.follow_registrations()           # the events of each device as written now: a change is followed from here
    broker = http = advertiser = None
    previous = signal.signal(signal.SIGTERM, _interrupt)     # `kill` stops mosquitto too, like Ctrl-C
    previous_int = signal.signal(signal.SIGINT, _interrupt)  # Ctrl-C / kill -INT, even when started ignoring it (`cmd &`)
    try:
        if args.start_broker:
            conf = broker_dir / "mosquitto.conf"
            conf.write_text(full_config(broker_dir, args.broker_port, prov.paths.password_file, prov.paths.acl_file,
                                        "" if args.listen == "0.0.0.0" else args.listen, tls_files, args.tls_port))
            binary = shutil.which("mosquitto") or next((b for b in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
                                                        if Path(b).exists()), "")
            if not binary:
                return fail("mosquitto is not installed (apt-get install --no-install-recommends mosquitto)")
            taken = _port_taken(args.listen, args.broker_port)
            if taken:
                return fail(_port_taken_words(args.broker_port, taken, _knowing(prov, args.org, saved, given, here),
                                              announced=not args.no_zeroconf))
            broker, said = _start_mosquitto(binary, conf, pid_file)
            if broker is None:
                return fail(f"mosquitto did not start: {said}")
        try:
            http = EnrollmentServer(prov.service, args.listen, args.port).start()
        except OSError as exc:
            return fail(f"cannot listen on {args.listen}:{args.port}: {exc.strerror or exc}")
        _write_server_login(state, prov, args)      # once serve runs: a serve that stopped at once changed nothing
        server_hint = f"{advertise[0]}:{http.port}"
        _write_served(state, args.org, server_hint, endpoint, pid_file, given)
        print(f"enrollment endpoint http://{server_hint}  organiser {args.org}  key {prov.fingerprint}", flush=True)
        _say_devices_left_behind(prov, args.org, saved, given, here, announced=not args.no_zeroconf)
        print(f"broker {endpoint.host}:{endpoint.port}{' (TLS)' if endpoint.tls else ''}; Ctrl-C to stop", flush=True)
        own_address = None if args.advertise or args.broker_host else broker_host   # followed: DHCP may change it
        sign = store.server_key(args.org).sign

        def announce(addresses: list[str]):
            from provisioning.broker_announce import announcement
            from provisioning.server.advertiser import Advertiser, service_infos
            infos = service_infos(f"ticketgate-{args.org}-{socket.gethostname()}"[:60], addresses, http.port,
                                  endpoint.port, args.org, prov.fingerprint, args.tls,
                                  broker_at=announcement(sign, args.org, endpoint.host, endpoint.port, endpoint.tls,
                                                         endpoint.seq))
            return Advertiser(infos, interfaces=addresses if args.advertise else None).start()
        if not args.no_zeroconf:
            advertiser = announce(advertise)
            print(f"advertised on zeroconf ({', '.join(advertise)}), the broker's address signed", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        next_check = 0.0
        outage: str | None = None          # the database is unreachable: said once, and once when it is back
        moved: str | None = None           # this machine's address now, when it is no longer own_address
        restarts: list[float] = []
        while deadline is None or time.monotonic() < deadline:
            if broker is not None and broker.poll() is not None:     # crashed or killed: every device is cut off
                restarts = [t for t in restarts if t > time.monotonic() - 60] + [time.monotonic()]
                how = f"signal {-broker.returncode}" if broker.returncode < 0 else f"exit {broker.returncode}"
                # mosquitto saves its sessions and queues on an orderly stop only (exit 0 after SIGTERM/SIGINT)
                kept = "queued messages kept" if broker.returncode == 0 else \
                    "what it held for offline devices went with it: they ask for the entries made meanwhile"
                if len(restarts) > BROKER_RESTARTS:
                    return fail(f"the broker stopped again ({how}), {BROKER_RESTARTS} restarts in a minute: not "
                                f"restarted (its log: {broker_dir / 'mosquitto.log'})")
                print(f"[{time.strftime('%H:%M:%S')}] the broker stopped ({how}); restarting it", flush=True)
                broker, said = _start_mosquitto(binary, conf, pid_file)
                if broker is None:
                    return fail(f"mosquitto did not start again: {said}")
                print(f"[{time.strftime('%H:%M:%S')}] broker {endpoint.host}:{endpoint.port} restarted ({kept})",
                      flush=True)
            if time.monotonic() >= next_check:     # `server device revoke` in another terminal cuts the login too
                outage = _follow_store(prov, store, outage)
                if own_address is not None and advertiser is not None and not args.tls:
                    now = _local_ip()     # moved: announced there, signed; the devices follow by themselves
                    stamp = time.strftime("%H:%M:%S")
                    if now.startswith("127.") and moved != now:        # no network: said once
                        print(f"[{stamp}] [!] {address_changed_words(endpoint.host, now, endpoint.port)}",
                              file=sys.stderr, flush=True)
                        moved = now
                    elif now != endpoint.host and not now.startswith("127."):
                        moved = None
                        print(f"[{stamp}] {moved_announced_words(endpoint.host, now, endpoint.port)}", flush=True)
                        endpoint = dataclasses.replace(endpoint, host=now, seq=next_seq(endpoint.seq))
                        prov.admin.endpoint = endpoint          # new enrolments get it too
                        here = f"{endpoint.host}:{endpoint.port}"
                        server_hint = f"{now}:{http.port}"
                        _write_served(state, args.org, server_hint, endpoint, pid_file, given)
                        advertiser.stop()
                        advertiser = None
                        advertiser = announce([now])
                elif own_address is not None:
                    moved = _follow_address(own_address, moved, endpoint.port)
                next_check = time.monotonic() + REVOKED_POLL_SECONDS
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if advertiser is not None:
            advertiser.stop()
        if http is not None:
            http.stop()
        if broker is not None:
            broker.terminate()
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait(5)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        prov.close()
        store.close()
    return 0


def _write_served(state: Path, org: str, server_hint: str, endpoint, pid_file: Path, given: dict[str, str]) -> None:
    """STATE/server.json: where the endpoint and the broker are (for `tokens create`, `revoke`), and the broker
    address each device enrolled here was given (`given`: a later serve elsewhere says which devices it leaves)."""
    from agent.private_files import write_private      # whole or not at all: two enrolments write it at once
    write_private(state / SERVER_FILE, json.dumps({"org": org, "server": server_hint, "broker": endpoint.to_json(),
                                                   "pid_file": str(pid_file), "given": given}, indent=2))


def _say_devices_left_behind(prov: Provisioning, org: str, saved: dict, given: dict[str, str], here: str,
                             announced: bool = False) -> None:
    """The enrolled devices that know the broker at another address than this serve's (its port taken and
    --broker-port changed, the laptop's address changed after a reboot): said, with what to do, on stderr; when the
    address is `announced` (zeroconf, signed), that they find it by themselves, on stdout."""
    from provisioning.server.broker_address import followed_words, left_behind, moved_words
    b = saved.get("broker") or {}
    previous = f"{b['host']}:{b['port']}" if b.get("host") and b.get("port") else None
    enrolled = [c.device_id for c in prov.registry.credentials() if c.org == org]
    behind = left_behind(given, previous, enrolled, here)
    if announced:
        for line in followed_words(behind, here):
            print(printable(line), flush=True)
        return
    for line in moved_words(behind, here, _is_local):
        print(printable(f"[!] {line}"), file=sys.stderr, flush=True)


def _knowing(prov: Provisioning, org: str, saved: dict, given: dict[str, str], address: str) -> int:
    """How many enrolled devices know the broker at `address` (HOST:PORT)."""
    b = saved.get("broker") or {}
    previous = f"{b['host']}:{b['port']}" if b.get("host") and b.get("port") else None
    return sum(1 for c in prov.registry.credentials() if c.org == org and (given.get(c.device_id) or previous) == address)


def _port_taken_words(port: int, why: str, knowing: int, announced: bool = False) -> str:
    """The broker port is taken: by what, likely, how to see it, and whether another port is a way out (not when
    enrolled devices know this one and the broker's address is not `announced`: they would not find it on another)."""
    said = (f"the broker port {port} is in use ({why}): something else listens there, often another mosquitto "
            f"(Debian's service: `sudo systemctl disable --now mosquitto`); `sudo ss -ltnp 'sport = :{port}'` names it")
    if knowing and announced:
        return (f"{said}; or choose --broker-port: the {knowing} enrolled device(s) that know this port find the "
                "broker on the new one by themselves (its signed announcement on zeroconf, on this network)")
    if knowing:
        return (f"{said}. {knowing} enrolled device(s) know the broker on this port: free it rather than choose "
                "another --broker-port (they would not find the broker there)")
    return f"{said}; or choose --broker-port"


def _is_local(host: str) -> bool:
    """This machine has the address `host` (it can listen on it)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except (OSError, OverflowError):
        return False


def _follow_address(own: str, moved: str | None, port: int) -> str | None:
    """This machine's address compared with `own`, the one the devices were given (serve's default): a change is
    said once, and its return. Returns the address it has instead, if any."""
    from provisioning.server.broker_address import address_back_words, address_changed_words
    now = _local_ip()
    stamp = time.strftime("%H:%M:%S")
    if now != own and now != moved:
        print(f"[{stamp}] [!] {address_changed_words(own, now, port)}", file=sys.stderr, flush=True)
        return now
    if now == own and moved is not None:
        print(f"[{stamp}] {address_back_words(own, port)}", flush=True)
        return None
    return moved


def _follow_store(prov: Provisioning, store: SqlStore, outage: str | None) -> str | None:
    """Apply the organiser's revocations and event changes from the store; a database that cannot be reached (a
    PostgreSQL restarting) is said once and waited for — the broker and the enrolment endpoint keep running, the
    devices keep their logins — and said again when it is back. Returns the outage still going on, if any."""
    now = time.strftime("%H:%M:%S")
    try:
        for device_id in prov.cut_revoked():
            print(f"[{now}] revoked {device_id}: broker login removed", flush=True)
        if prov.follow_registrations():      # `server device events`: the live topics a device reads
            print(f"[{now}] broker ACL rewritten: the devices' events changed", flush=True)
    except Exception as exc:   # noqa: BLE001 - only a database outage is waited for; anything else is raised
        said = store.unreachable(exc)
        if said is None:
            raise
        if outage is None:
            print(f"[{now}] {said}: the broker and the enrolment endpoint keep running; revocations and event "
                  "changes are applied once it is back (checked every few seconds)", file=sys.stderr, flush=True)
        return said
    if outage is not None:
        print(f"[{now}] the database is reachable again: revocations and event changes are followed", flush=True)
    return None


BROKER_RESTARTS = 3         # restarts of a broker that stops, in a minute, before `provision serve` gives up


def _start_mosquitto(binary: str, conf: Path, pid_file: Path) -> tuple[subprocess.Popen | None, str]:
    """mosquitto with `conf`, once it wrote its pid file: (the process, ''), or (None, the end of its log and stderr)."""
    pid_file.unlink(missing_ok=True)
    broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=_die_with_parent)
    for _ in range(100):
        if pid_file.exists() or broker.poll() is not None:
            break
        time.sleep(0.05)
    if broker.poll() is None:
        return broker, ""
    log_file = conf.parent / "mosquitto.log"
    tail = log_file.read_text(errors="replace").splitlines()[-3:] if log_file.exists() else []
    err = broker.stderr.read() if broker.stderr else b""
    return None, " / ".join(tail + err.decode(errors="replace").splitlines()[-2:])


def _port_taken(listen: str, port: int) -> str:
    """'' when `port` is free to listen on, else why not (checked before mosquitto says it in its log only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("" if listen in ("0.0.0.0", "") else listen, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return ""


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the mosquitto child (Linux): SIGTERM when `provision serve` dies, even by SIGKILL, so no broker is left
    behind holding the port."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _write_server_login(state: Path, prov, args) -> None:
    """STATE/broker-login.json (0600): the organiser's server login on this broker, read by `ticketgate server
    push|serve` (agent.home.BrokerLogin). The address is the plain listener, from this machine."""
    from agent.home import SERVER_LOGIN_FILE, BrokerLogin, HostPort
    from agent.private_files import write_private
    username, password = prov.admin.server_login()
    host = "127.0.0.1" if args.listen in ("0.0.0.0", "", "::") else args.listen
    login = BrokerLogin(HostPort(host, args.broker_port), username, password)
    write_private(state / SERVER_LOGIN_FILE, json.dumps(login.to_json(), indent=2))


def cmd_tokens_create(args) -> int:
    from provisioning import qr
    from provisioning.protocol import show_code
    from provisioning.server.registry import Registry
    try:
        try:
            events = tuple(int(e) for e in args.events.split(",") if e.strip())
        except ValueError:
            raise BadInput(f"--events {args.events!r}: comma-separated event ids, e.g. 1,2") from None
        server = args.server or _saved(args).get("server")
        never_served = not server
        server = server or f"{_local_ip()}:{SERVE_PORT}"
        split_hostport(server)
        qr.check_out(args.out)      # before any code is made: a sheet that cannot be written leaves none behind
        if not 1 <= args.count <= 10000:
            raise BadInput("--count is 1..10000")
        if not 0 < args.ttl_hours <= 24 * 366:      # also nan: a sheet of codes already expired helps nobody
            raise BadInput(f"--ttl-hours {args.ttl_hours:g}: more than 0, at most 8784 (a year)")
        store = _open_store(args)
    except TicketgateError as exc:
        return fail(str(exc))
    if never_served:    # said once the data folder is there (before, "run `server init` first" came after it)
        print(f"no `provision serve` has run yet: the QR codes name {server} (serve's default address); "
              f"devices that cannot reach it look for the server with zeroconf", flush=True)
    try:
        from server_stub.cli_output import Refused, device_events
        try:
            events = tuple(device_events(store, args.org, list(events)))
        except Refused as exc:
            return fail(str(exc))
        from agent.keyring import fingerprint
        from provisioning.protocol import EnrollQR, compact_fingerprint
        fp = compact_fingerprint(fingerprint(store.server_key(args.org).public_raw))
        registry = Registry(_state(args) / "provision.sqlite")
        tokens = registry.create_tokens(args.org, args.count, args.gate, events, ttl=args.ttl_hours * 3600,
                                        role=args.role, fingerprint=fp)
        registry.close()
        items = [qr.SheetItem(EnrollQR(t.token, fp, server, args.org).text(), f"{args.gate or args.org} #{i + 1}",
                              t.code, f"events {','.join(map(str, events)) or 'all'}") for i, t in enumerate(tokens)]

        def progress(done: int, total: int) -> None:
            print(f"\rrendering {done}/{total}", end="" if done < total else "\n", flush=True)
        try:
            qr.sheet(items, args.out, progress if sys.stdout.isatty() else None)   # no \r lines in a log or a pipe
        except (TicketgateError, OSError, ImportError) as exc:  # cannot write (full disk), fpdf2/Pillow missing
            registry = Registry(_state(args) / "provision.sqlite")
            registry.drop_unused([t.token_id for t in tokens])    # codes nobody saw: not left to enroll
            registry.close()
            return fail(f"{exc}; no enrollment code was made")
    except (TicketgateError, OSError, ImportError) as exc:    # the state folder cannot be written
        return fail(str(exc))
    finally:
        store.close()
    print(f"{len(tokens)} {args.role} enrollment QR(s), valid {args.ttl_hours:g} h, sheet {args.out}; each QR's "
          f"organiser code, typed instead of scanning it (`provision enroll --code`):")
    for t in tokens:
        print(f"  code {show_code(t.code)}")
    return 0


def cmd_wifi_qr(args) -> int:
    from provisioning import qr
    from provisioning.protocol import wifi_payload
    try:
        text = wifi_payload(args.ssid, args.password, args.security, args.hidden)
        qr.save(text, args.out)
    except (BadInput, ValueError) as exc:
        return fail(str(exc))
    print(f"Wi-Fi QR for {args.ssid!r} written to {args.out}")
    return 0


def cmd_devices(args) -> int:
    from provisioning.server.registry import Registry
    from server_stub.cli_output import setting_text
    store = _open_store(args)              # TicketgateError: no data folder, not ours, no such organiser
    registry = Registry(_state(args) / "provision.sqlite")
    try:
        creds = {c.device_id: c for c in registry.credentials(include_revoked=True)}
        rows = []
        for d in store.devices(args.org):
            rows.append({"device_id": d["device_id"], "name": d["name"], "role": d.get("role") or "door",
                         **store.posted(d), "events": d["events"], "revoked": d["revoked"], "retired": d["retired"],
                         "replaced_by": d["replaced_by"], "last_seen": d.get("last_seen"),
                         "broker_login": d["device_id"] in creds and creds[d["device_id"]].revoked_at is None,
                         # revoked as replaced by a spare: the wipe it gets keeps its unsent uploads
                         "replaced_by_spare": registry.replaced(d["device_id"])})
    finally:
        registry.close()
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'device':<16} {'name':<14} {'role':<6} {'gate':<10} {'mode':<12} {'events':<10} state")
    for r in rows:
        state = (f"retired (enrolled again as {r['replaced_by']})" if r["retired"] else "revoked" if r["revoked"]
                 else "enrolled" if r["broker_login"] else "no login")
        print(printable(f"{r['device_id']:<16} {r['name'][:14]:<14} {r['role']:<6} {r['gate'][:10]:<10} "
                        f"{(r['mode'] or 'any')[:12]:<12} {','.join(map(str, r['events']))[:10]:<10} {state}"
                        + setting_text(r["setting"])))
    print(f"{len(rows)} device(s)")
    return 0


def _mark_replaced(args) -> bool:
    from provisioning.server.registry import Registry
    registry = Registry(_state(args) / "provision.sqlite")
    try:
        return registry.mark_replaced(args.device)
    finally:
        registry.close()


def cmd_revoke(args) -> int:
    store = _open_store(args)              # TicketgateError: no data folder, not ours, no such organiser
    from server_stub import device_revocation
    known = store.device(args.device)
    if known and known["org"] != args.org:           # another organiser's device is not ours to revoke
        store.close()
        return fail(_no_device(args))
    prov = _provisioning(args, store, _saved(args))

    def cut() -> str:                     # the broker login removed now, the signed wipe sent, the store told
        timings = prov.revoke(args.device, replaced=args.replaced)
        return (f"revoked {args.device}: broker login removed in {timings['removed'] * 1000:.0f} ms "
                f"({', '.join(f'{k} {v * 1000:.0f} ms' for k, v in timings.items())})")
    try:
        code, said = device_revocation.revoke(store, args.device, replaced=args.replaced,
                                              command=f"ticketgate provision revoke --org {args.org}", cut=cut,
                                              also_mark=lambda: _mark_replaced(args))
    except KeyError:
        return fail(_no_device(args))
    finally:
        prov.close()
        store.close()
    if code:
        return fail(said)
    print(printable(said))
    return 0


def _no_device(args) -> str:
    return (f"no device {args.device!r} (`ticketgate provision devices --org {args.org}` lists the enrolled devices, "
            f"with ids like dev-k3m9x2p7qa)")
