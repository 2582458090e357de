"""Device-side provisioning commands (see provisioning.cli)."""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

from agent.safe_text import printable
from provisioning.cli_output import fail
from provisioning.protocol import BadInput

HOME_HELP = "device folder (default $TICKETGATE_HOME or ~/.local/share/ticketgate/device, the agent's and the app's)"


def _state(args):
    """The device home (agent.home.resolve_home) as provisioning's DeviceState."""
    from agent.home import HomeError, resolve_home
    from provisioning.device.state import DeviceState
    try:
        return DeviceState(resolve_home(args.dir))
    except HomeError as exc:
        raise BadInput(str(exc)) from None


def add_commands(sub) -> None:
    p = sub.add_parser("discover", help="find the organiser's server on this network (zeroconf)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to look (default 3)")
    p.add_argument("--org", help="only this organiser's servers")
    p.add_argument("--interface", action="append", help="IP of the interface to browse on (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    p.set_defaults(run=cmd_discover)

    p = sub.add_parser("enroll", help="enroll this device with a QR text or an organiser code")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--qr", help="the text of the enrollment QR (TGE1:...)")
    how.add_argument("--code", help="the organiser code typed by hand (K7M2-Q9XB)")
    p.add_argument("--server", help="HOST:PORT of the enrollment endpoint (default: QR hint, then zeroconf)")
    p.add_argument("--name", default="", help="a name for this device (shown to the organiser; at most 64 characters)")
    p.add_argument("--dir", "--home", dest="dir", default=None, help=HOME_HELP)
    p.add_argument("--no-connect", action="store_true", help="do not check the broker login afterwards")
    p.add_argument("--interface", action="append", help="IP of the interface to browse on (repeatable)")
    p.set_defaults(run=cmd_enroll)

    p = sub.add_parser("status", help="is this device enrolled, with whom, for which gate and events")
    p.add_argument("--dir", "--home", dest="dir", default=None, help=HOME_HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser("wipe", help="forget orders, names, keys and the broker login (device handed back)")
    p.add_argument("--dir", "--home", dest="dir", default=None, help=HOME_HELP)
    p.add_argument("--yes", action="store_true", help="do it (without it, nothing happens)")
    p.set_defaults(run=cmd_wipe)


def cmd_discover(args) -> int:
    from provisioning.device.discover import discover
    try:
        found = discover(args.timeout, org=args.org, interfaces=args.interface)
    except OSError as exc:
        return fail(f"zeroconf cannot browse here ({exc}); enroll with the address instead: "
                    "`ticketgate provision enroll --code CODE --server HOST:PORT`")
    if not found:
        return fail(f"no ticketgate server answered within {args.timeout:g} s; enroll with its address instead: "
                    "`ticketgate provision enroll --code CODE --server HOST:PORT`")
    if args.json:
        print(json.dumps([{"address": f.address, "host": f.host, "port": f.port, "org": f.org, "fingerprint":
                           f.fingerprint, "version": f.version, "tls": f.tls, "name": f.name} for f in found], indent=2))
        return 0
    for f in found:
        print(printable(f"{f.address:<24} org={f.org:<16} key={f.fingerprint} v{f.version}{' tls' if f.tls else ''}  "
                        f"{f.name}"))     # zeroconf answers are anyone's: escaped
    return 0


DISCOVERY_SETTLE = 1.0     # s of zeroconf answers gathered after the first: another server on the hotspot answers too


def _found_servers(args, org: str | None, fingerprint: str | None, code: str | None) -> list[tuple[str, str]]:
    """[(HOST:PORT, fingerprint to pin)] from zeroconf, in the order they answered; with a code, only the servers
    whose advertised fingerprint the code fits (protocol.code_fits: another organiser's server never receives it),
    each one's fingerprint pinned (shown, to compare with the one on the sheet)."""
    from provisioning.device.discover import Found, discover
    from provisioning.protocol import code_fits
    print("looking for the server (zeroconf)...", flush=True)
    others: list[Found] = []

    def ours(f: Found) -> bool:
        fits = (not fingerprint or f.fingerprint.replace(":", "") == fingerprint) and (
            code is None or code_fits(code, f.fingerprint))
        if not fits:
            others.append(f)
        return fits
    try:
        found = discover(5.0, org=org, interfaces=args.interface, first=True, settle=DISCOVERY_SETTLE, accept=ours)
    except OSError as exc:
        raise BadInput(f"zeroconf cannot browse here ({exc}): give --server HOST:PORT") from None
    for f in others:
        print(printable(f"found {f.address} (organiser {f.org}, key {f.fingerprint}): not the server of this "
                        f"{'code' if code else 'QR'}, nothing sent"), flush=True)
    if not found:
        raise BadInput(f"no server {'of this organiser code ' if others else ''}found on this network within 5 s "
                       f"(zeroconf): {GIVE_SERVER}")
    for f in found:
        print(printable(f"found {f.address} (organiser {f.org}, key {f.fingerprint})"), flush=True)
    return [(f.address, fingerprint or f.fingerprint) for f in found]


GIVE_SERVER = ("give --server HOST:PORT, the 'enrollment endpoint' `ticketgate provision serve` prints on the "
               "organiser's machine (e.g. --server 192.168.8.10:8787)")


def cmd_enroll(args) -> int:
    from provisioning.device.enroll import EnrollError, enroll, enroll_at_first_that_knows
    from provisioning.protocol import parse_qr
    try:
        state = _state(args)
    except BadInput as exc:
        return fail(str(exc))
    if state.enrolled():
        return fail(f"already enrolled ({state.load().device_id}); run `ticketgate provision wipe --yes` first")
    from provisioning.protocol import MAX_DEVICE_NAME
    if len(args.name) > MAX_DEVICE_NAME:       # before a code is spent on a request the server refuses
        return fail(f"--name: at most {MAX_DEVICE_NAME} characters (this one has {len(args.name)}); nothing was sent")
    t0 = time.monotonic()
    try:
        if args.qr:
            qr = parse_qr(args.qr)
            candidates = [args.server or qr.server]
            token, code, fingerprint, org = qr.token, None, qr.fingerprint, qr.org
        else:
            from provisioning.protocol import normalize_code
            candidates = [args.server] if args.server else []
            token, code, fingerprint, org = None, normalize_code(args.code), None, None
        creds = None
        for server in candidates:
            try:
                print(f"enrolling with {server}...", flush=True)
                creds = enroll(state, server, token=token, code=code, expected_fingerprint=fingerprint, name=args.name,
                               fresh=True)
            except EnrollError as exc:
                if not exc.network or args.server:
                    raise
                print(f"  {exc}; trying zeroconf", flush=True)
        if creds is None:       # a code without --server, or the QR's address unreachable: whoever answers zeroconf
            try:
                creds = enroll_at_first_that_knows(state, _found_servers(args, org, fingerprint, code), token=token,
                                                   code=code, name=args.name, enroll_at=partial(enroll, fresh=True),
                                                   trying=lambda server, fp: print(
                                                       f"enrolling with {server}...", flush=True),
                                                   passed_over=lambda server, exc: print(
                                                       f"  {exc}: passed over", flush=True))
            except EnrollError as exc:    # the server that issued it may not be among those found
                raise EnrollError(f"{exc}; or {GIVE_SERVER}") if exc.not_issued_here and code else exc from None
        assert creds is not None          # enrolled, or raised
    except (BadInput, EnrollError) as exc:
        return fail(str(exc))
    took = time.monotonic() - t0
    print(f"enrolled as {creds.device_id} (organiser {creds.org}, gate {creds.gate or '-'}, events "
          f"{','.join(map(str, creds.events)) or 'all'}) in {took * 1000:.0f} ms; device folder {state.folder}")
    if not args.no_connect:
        from provisioning.device.link import DeviceLink
        from provisioning.mqtt_connect import Refused
        link = DeviceLink(state)
        try:
            link.connect(timeout=10)
            print(f"broker {creds.broker.host}:{creds.broker.port} login OK - ready to scan "
                  f"({(time.monotonic() - t0) * 1000:.0f} ms after the QR)")
        except Refused as exc:
            return fail(f"enrolled, but the broker login failed: {exc}")
        except OSError as exc:
            return fail(f"enrolled, but the broker login failed: {exc}. Check that the organiser's broker runs "
                        f"(`ticketgate provision serve --start-broker`); the device keeps its enrollment and logs in "
                        f"at its next `ticketgate agent sync`")
        finally:
            link.close()
    return 0


def _wiped(ledger_path: Path) -> bool:
    """A wipe ended an enrollment of this device (provisioning.device.wipe left its mark); a device never enrolled
    has a ledger too once any command ran."""
    import sqlite3

    from agent.home import WIPED_IDENTITY
    if not ledger_path.exists():
        return False
    try:
        conn = sqlite3.connect(f"{ledger_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute("SELECT 1 FROM settings WHERE key=?", (WIPED_IDENTITY,)).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


def cmd_status(args) -> int:
    from agent.keyring import fingerprint
    try:
        state = _state(args)
    except BadInput as exc:
        return fail(str(exc))
    creds = state.load()
    if creds is None:
        wiped = _wiped(state.ledger_path)
        print(json.dumps({"enrolled": False, "wiped": wiped, "home": str(state.folder)}) if getattr(args, "json", False)
              else "not enrolled" + (" (wiped)" if wiped else "") + ": enroll it with `ticketgate provision enroll "
                   "--code CODE` (a code of the organiser's sheet) or `--qr 'TGE1:…'`")
        return 1
    info = {"device_id": creds.device_id, "org": creds.org, "role": creds.role, "name": creds.name, "gate": creds.gate,
            "events": list(creds.events), "broker": f"{creds.broker.host}:{creds.broker.port}",
            "tls": creds.broker.tls, "server_key": fingerprint(creds.server_key),
            "enrolled_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(creds.enrolled_at)),
            "home": str(state.folder)}
    from agent.sync.login_state import LoginState
    login = LoginState.load(state.link_path)      # a refused login shows here with the broker's reason
    info["broker_login"] = login.to_json() if args.json else login.describe()
    if state.ledger_path.exists():
        from agent.ledger import Ledger
        from agent.sync.enrolled_events import enrolled_events
        ledger = Ledger.open(state.ledger_path, create=False)
        info["ledger"] = ledger.counts()
        info["events"] = list(enrolled_events(ledger, creds.events))     # as the organiser last changed them
        if ledger.get_setting("policy"):            # the gate and mode it scans at now (`server device configure`)
            from agent.stored_policy import load_policy
            policy = load_policy(ledger)
            info["gate"], info["mode"] = policy.gate, policy.mode.value
        ledger.close()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(printable(f"{k:<12} {_said(k, v)}"))
    return 0


def _said(key: str, value: object) -> str:
    """A status value in words: events '1, 2' (none: 'all'), tls 'yes', the ledger's counts 'events 1, tickets 5, …',
    an empty name '-' — not Python's reprs ([1], True, {'events': 1, …})."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or ("all" if key == "events" else "-")
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value) if value not in ("", None) else "-"


def cmd_wipe(args) -> int:
    from provisioning.device.wipe import unsent_uploads, wipe
    try:
        state = _state(args)
    except BadInput as exc:
        return fail(str(exc))
    unsent = unsent_uploads(state.ledger_path)
    kept = (f"; the {unsent} check-in(s) and other upload(s) not sent to the server yet stay on this device and are "
            f"uploaded as its own when it is enrolled again by the same organiser (enrolled by another, it keeps "
            f"them and sends them to no one: moving it to another organiser, `ticketgate agent sync --until-idle` "
            f"first)" if unsent else "")
    if not args.yes:
        return fail(f"this removes orders, names, keys and the broker login{kept}; add --yes to do it")
    done = wipe(state, "by the technician", carry_over=True)
    from agent.wiped_status import removed_text
    print(f"wiped {state.folder}: {removed_text(dict(done, unsent=0))}{kept}")
    return 0
