"""`ticketgate agent …`: the door agent from a terminal (laser scanners in keyboard mode, scripts, support)."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent import desk
from agent.gate import Gate
from agent.event_selection import SelectionRefused
from agent.event_names import EventNames, organiser_messages
from agent.stored_policy import check_policy_selection, load_policy, save_policy
from agent.wiped_status import describe as describe_wiped, inside_shown, wiped_status
from agent.home import WIPED_IDENTITY, DeviceHome, HomeError, carried_identity, open_home, resolve_home
from agent.keyring import Keyring, UntrustworthyKey
from agent.pretix_events import load_pretix_event
from agent.ledger import Ledger, LedgerError
from agent.policy import DevicePolicy, Mode, reread_arg
from agent.pricing import cents_text
from agent.safe_text import printable
from agent.staff import NotPermitted, StaffError, is_badge
from agent.config_record import record_config_change
from agent.staff_session import OnDuty
from agent.ticket_state import ticket_state
from agent.sync.login_state import LoginState
from agent.sync.messages import MAX_PARTS, REFERENCE_NEEDED, SETTLE_METHODS, PaymentPart, name_arg, reference_missing
from agent.status_words import configured_lines, status_lines
from agent.cli_words import human, login_needed_line, on_duty_line, role_word, search_line, undone_line
from agent.language import SETTING as LANGUAGE_SETTING, LANGUAGES, choose as choose_language, translate
from agent.verdicts import Reason, Verdict
from agent.cli_parser import Parser

__all__ = ["build_parser", "human", "main", "undone_line"]


def _ints(text: str | None) -> frozenset[int] | None:
    return None if text is None else frozenset(int(x) for x in text.split(",") if x.strip())


def _id_list(text: str) -> str:
    """argparse type of --events/--zones: comma-separated integers ('' allowed), kept as text."""
    try:
        _ints(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers, e.g. 1,2") from None
    return text


def _amount(text: str) -> int:
    """argparse type of pay --amount: '35', '35.5', '35,50' -> cents."""
    units, _, frac = text.strip().replace(",", ".").partition(".")
    if not text.isascii() or not (units.isdigit() or (not units and frac)) or not (frac.isdigit() or not frac) or len(frac) > 2 \
            or len(units) > 9:
        raise argparse.ArgumentTypeError(f"{text!r}: an amount such as 35.00")
    return int(units or 0) * 100 + int((frac + "00")[:2])


def _split(text: str) -> tuple[PaymentPart, ...]:
    """argparse type of pay --split: 'cash:20,card:15.50:AUTH7' -> payment parts."""
    parts = []
    for item in text.split(","):
        method, _, rest = item.strip().partition(":")
        cents, _, ref = rest.partition(":")
        if method not in SETTLE_METHODS:
            raise argparse.ArgumentTypeError(f"{item!r}: METHOD:AMOUNT, the method one of {', '.join(SETTLE_METHODS)}")
        if reference_missing(method, ref):
            raise argparse.ArgumentTypeError(f"{item!r}: {REFERENCE_NEEDED} (a {method} part: {method}:AMOUNT:REF)")
        parts.append(PaymentPart(method, _amount(cents), ref.strip()))
    if not 2 <= len(parts) <= MAX_PARTS or any(p.cents <= 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: 2 to {MAX_PARTS} parts, each more than 0")
    return tuple(parts)


def _limit(text: str) -> int:
    """argparse type of search --limit: 1..1000 rows (0 or a negative number said `no match` for tickets it holds)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of rows, 1 to 1000")
    return n


_SELECTION_RULE = ("--events and --zones take only events the device's event data holds and zones of the chosen "
                   "events; anything else is refused, naming those it holds, and nothing changes. A device with no "
                   "event data yet (enrolled, first sync not done) takes them unchecked, with a warning.")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="ticketgate agent", description="door agent")
    p.add_argument("--home", type=Path, default=None,
                   help="device folder (default $TICKETGATE_HOME or ~/.local/share/ticketgate/device)")
    sub = p.add_subparsers(dest="cmd", required=True)

    scan = sub.add_parser("scan", help="scan payloads (arguments, or stdin one per line)",
                          description="scan payloads; --mode, --events, --zones… apply to this run only. " + _SELECTION_RULE)
    scan.add_argument("payloads", nargs="*", metavar="PAYLOAD",
        help="ticket QR texts to scan (none: read one a line from stdin, as a laser types them)")
    scan.add_argument("--json", action="store_true", help="one JSON object per verdict")
    _lang_flag(scan)
    _policy_flags(scan)

    conf = sub.add_parser("configure", help="store device settings (mode, events, zones, gate)",
                          description=_SELECTION_RULE)
    _policy_flags(conf)
    conf.add_argument("--json", action="store_true", help="the settings saved, as JSON")
    _lang_flag(conf)

    search = sub.add_parser("search", help="find tickets by buyer name, email, order number or ticket id")
    search.add_argument("query", help="part of an order number, a buyer's name or e-mail")
    search.add_argument("--limit", type=_limit, default=20, help="at most this many results (default 20)")
    search.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _lang_flag(search)

    status = sub.add_parser("status", help="device settings and ledger counters")
    status.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    status.add_argument("--verify", action="store_true", help="also run a full integrity check of the ledger (slow)")
    _lang_flag(status)

    annul = sub.add_parser("annul", help="annul a mistaken check-in (the last one, or --scan UUID)")
    annul.add_argument("--scan", dest="scan_uuid", metavar="SCAN",
        help="the scan id to undo (default: this device's last entry)")
    annul.add_argument("--reason", required=True, help="why (kept with the undo)")
    annul.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _lang_flag(annul)

    checkin = sub.add_parser("checkin", help="manual check-in of a ticket found by search")
    checkin.add_argument("ticket_key", metavar="TICKET", help="the ticket's number")
    checkin.add_argument("--reason", required=True, help="why it is let in by hand (kept with the entry)")
    checkin.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _lang_flag(checkin)

    login = sub.add_parser("login", help="log a staff member in on this device (by PIN or badge); what the device "
                                         "records names them until they log out or the session goes idle")
    login.add_argument("--staff", help="staff id or name (with --pin)")
    login.add_argument("--pin", action="store_true", help="read the PIN (prompt, or one line of stdin)")
    login.add_argument("--badge", metavar="PAYLOAD", help="a staff badge's QR text ('-': one line of stdin)")
    login.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                       help="also set how long an idle session stays open (supervisors)")
    login.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _lang_flag(login)
    _lang_flag(sub.add_parser("logout", help="end the staff session on this device"))

    trust = sub.add_parser("trust", help="add trusted keys from a keyring JSON file (merges)")
    trust.add_argument("keyring_file", type=Path, metavar="FILE", help="the keyring `server keys export` wrote")

    sync = sub.add_parser("sync", help="sync with the organiser's server over the enrolled broker login: "
                                       "event data in, check-ins and kiosk actions out")
    sync.add_argument("--for", dest="duration", type=float, default=None, metavar="SECONDS",
                      help="stop after SECONDS (default: until Ctrl-C)")
    sync.add_argument("--until-idle", action="store_true",
                      help="stop as soon as everything is uploaded and the event data the server announced is "
                           "applied (exit 1 if --for, default 300 s, runs out first)")
    sync.add_argument("--json", action="store_true", help="one JSON summary at the end")
    sync.add_argument("--interface", action="append", metavar="IP",
                      help="IP of the interface to look for a moved broker on (zeroconf; repeatable; default: all)")
    _lang_flag(sync)

    resend = sub.add_parser("resend-refused", help="put the uploads the server refused back in the queue (after the "
                                                   "organiser fixed the reason); the next sync sends them")
    resend.add_argument("--json", action="store_true", help="machine-readable output (JSON)")

    pay = sub.add_parser("pay", help="kiosk: payment received for a pending order (the server is told)")
    pay.add_argument("order_number", metavar="ORDER", help="the order number (e.g. K7Q2-9XDM)")
    pay.add_argument("--operator", default="", metavar="WHO",
                     help="the staff member on duty (name or id), checked: the payment is theirs, as logged in "
                          "with `agent login`; refused when WHO is someone else")
    pay.add_argument("--payment", choices=SETTLE_METHODS, default="cash",
                     help="how the buyer paid (the till's Z report counts it; default: cash)")
    pay.add_argument("--reference", default="", metavar="REF",
                     help="the card terminal's or the voucher's reference: needed with --payment card or voucher, "
                          "as in the app")
    pay.add_argument("--amount", type=_amount, default=None, metavar="35.00",
                     help="the amount collected: refused unless it is the order's amount due held here")
    pay.add_argument("--split", type=_split, default=(), metavar="cash:20.00,card:15.00[:REF]",
                     help="paid several ways (2 to 4 parts of cash, card, voucher; a card's terminal reference after "
                          "a second colon, needed for card and voucher parts): the till counts each part under its method, a refund "
                          "hands each back")
    pay.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _lang_flag(pay)

    exch = sub.add_parser("exchange", help="kiosk: take a ticket out of use here; the server issues its replacement")
    exch.add_argument("ticket_key", metavar="TICKET", help="the ticket's number")
    exch.add_argument("--reason", required=True, help="why (kept with the exchange)")
    exch.add_argument("--category", type=int, help="category of the replacement (default: the same)")
    exch.add_argument("--zone", type=int, help="zone of the replacement (default: the same)")
    exch.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    _lang_flag(exch)

    pretix = sub.add_parser("trust-pretix", help="trust a pretix event's pretix_sig1 keys")
    pretix.add_argument("event_json", type=Path, help="pretix event resource JSON (with valid_keys.pretix_sig1)")
    pretix.add_argument("--event-id", type=int, required=True, help="our event id the pretix event maps to")
    pretix.add_argument("--item", action="append", default=[], metavar="ITEM=CATEGORY[:ZONE,ZONE]",
                        help="map a pretix item id to a category and zones")
    pretix.add_argument("--subevent", action="append", default=[], metavar="SUBEVENT=EVENT",
                        help="map a pretix event date (subevent id) to one of our event ids")
    return p


def _lang_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", choices=LANGUAGES, help="the language of the lines (default: the device's, as the app "
                                                    "chooses it: its language setting, else TICKETGATE_LANG or the "
                                                    "locale, else English); --json is the same in every language")


def _policy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=[m.value for m in Mode],
        help="normal, entry/exit, multiple entries or quick cancellation")
    p.add_argument("--events", type=_id_list, help="comma-separated event ids this device admits ('' for all it holds)")
    p.add_argument("--zones", type=_id_list, help="comma-separated zone ids this gate admits ('' for all)")
    p.add_argument("--direction", choices=["in", "out", "alternate"], help="in, out, or alternate (entry/exit mode)")
    p.add_argument("--device-id", type=name_arg,
                   help="this device's id (an enrolled device keeps the id it was enrolled with)")
    p.add_argument("--gate", type=name_arg, help="the gate this device scans at (e.g. north)")
    p.add_argument("--reread-window", type=reread_arg, help="seconds a re-read of the same code repeats its verdict "
                                                          "(0 off, at most 60)")


def _apply_flags(policy: DevicePolicy, args: argparse.Namespace) -> DevicePolicy:
    changes: dict[str, Any] = {}
    if args.mode:
        changes["mode"] = Mode(args.mode)
    if args.events is not None:
        changes["events"] = _ints(args.events)
    if args.zones is not None:
        changes["zones"] = _ints(args.zones) or None
    if args.direction:
        changes["direction"] = None if args.direction == "alternate" else args.direction
    for flag in ("device_id", "gate", "reread_window"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    return replace(policy, **changes)


def _events_outside_enrollment(args: argparse.Namespace, credentials: Any, ledger: Ledger) -> str | None:
    """`--events` on a device enrolled for some events names only those (or the events of the passes it was enrolled
    for, as its event data holds them; '' is the events it holds): an entry for another event was admitted here and refused by the server
    (never counted, never relayed to the other gates). None when fine."""
    if getattr(args, "events", None) is None or credentials is None or not credentials.events:
        return None
    held = set(ledger.event_ids()) | {int(e) for e in credentials.events}
    asked = set(_ints(args.events) or ())          # none: the events its data holds (DevicePolicy.known_events)
    if asked - held:
        return (f"event(s) {sorted(asked - held)} are not events of this device (enrolled for {sorted(held)}): its "
                "entries would be refused by the server; ask the organiser for a token for them")
    return None


def _selection_refused(args: argparse.Namespace, ledger: Ledger, keyring: Keyring, policy: DevicePolicy) -> bool:
    """`--events`/`--zones` given: only events and zones the device's event data holds (agent.event_selection);
    the refusal or, with no event data yet, the notice on stderr. True: refused, nothing may change."""
    if args.events is None and args.zones is None:
        return False
    try:
        notice = check_policy_selection(ledger, policy, keyring.pretix)
    except SelectionRefused as exc:
        print(printable(f"ticketgate agent {args.cmd}: {exc}; nothing changed"), file=sys.stderr)
        return True
    if notice:
        print(printable(f"ticketgate agent {args.cmd}: warning: {notice}"), file=sys.stderr)
    return False


def _scan_line(ledger: Ledger, v: Verdict, policy: DevicePolicy, lang: str) -> str:
    """`human` with the names and messages the ledger holds now (a sync may have changed them meanwhile)."""
    names = EventNames(ledger)
    return human(v, policy.mode, _messages(v, names), names, lang, policy.zones)


def _status_part(part: str, value: Any, lang: str) -> str:
    """The lines of `agent status` other modules word: a wipe, the broker login, a refused upload."""
    from agent.sync_cli import refused_line      # (one wording with `agent sync`'s)
    if part == "wiped":
        return describe_wiped(value, lang)
    if part == "broker_login":
        return LoginState(**value).describe(lang)
    return refused_line(value, lang)


def _messages(v: Verdict, names: EventNames) -> list[str]:
    """The organiser's messages the app shows with this verdict: for an admission, not for a re-read of one."""
    if not v.accepted or v.reason is Reason.REREAD:
        return []
    return organiser_messages(v, names)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        home = resolve_home(args.home)
    except HomeError as exc:
        print(printable(f"ticketgate agent: {exc}"), file=sys.stderr)
        return 3
    identity = DeviceHome(home).identity()
    wanted = getattr(args, "device_id", None)
    if identity is not None and wanted is not None and wanted != identity.device_id:
        print(f"ticketgate agent: this device is enrolled as {identity.device_id}; its id cannot change "
              f"(wipe it with `ticketgate provision wipe --yes` and enroll it again)", file=sys.stderr)
        return 1
    if args.cmd == "sync":
        from agent.sync_cli import run_sync
        return run_sync(home, args)
    try:
        ledger, keyring = open_home(home)
    except LedgerError as exc:
        print(printable(f"ticketgate agent: {exc}"), file=sys.stderr)
        return 3
    except (OSError, ValueError, KeyError, TypeError) as exc:   # unreadable keyring.json (ValueError covers JSON)
        print(printable(f"ticketgate agent: cannot read {home / 'keyring.json'}: {exc}"), file=sys.stderr)
        return 3
    try:
        return _run(args, home, ledger, keyring)
    except LedgerError as exc:   # a storage fault met while working: say so, never show a verdict for it
        print(printable(f"ticketgate agent: {exc}"), file=sys.stderr)
        return 3
    except (NotPermitted, StaffError) as exc:     # nobody on duty, a role without the permission, a refused login
        lang = choose_language(getattr(args, "lang", None), ledger.get_setting(LANGUAGE_SETTING))
        how = (": " + translate(lang, "`ticketgate agent login --staff NAME --pin` (or `--badge -`, the badge's QR text on stdin)")
               if isinstance(exc, NotPermitted) and str(exc).startswith("log in first") else "")
        print(printable(f"ticketgate agent {args.cmd}: {translate(lang, str(exc))}{how}"), file=sys.stderr)
        return 1
    finally:
        ledger.close()


# what each command needs the staff member on duty to be allowed (agent.staff.PERMISSIONS)
_NEEDS = {"configure": "configure", "scan": "entry", "checkin": "entry", "annul": "annul", "pay": "validate_payment",
          "exchange": "exchange", "resend-refused": "configure",
          "trust": "configure", "trust-pretix": "configure"}     # the keys it trusts: what it admits


def _staff_login(args: argparse.Namespace, duty: OnDuty, lang: str) -> int:
    if args.badge:
        member = duty.login_badge(sys.stdin.readline().strip() if args.badge == "-" else args.badge)
    elif args.staff and args.pin:
        member = duty.login_pin(args.staff, getpass.getpass("PIN: ") if sys.stdin.isatty()
                                else sys.stdin.readline().strip())
    else:
        print("ticketgate agent login: give --staff WHO --pin, or --badge PAYLOAD", file=sys.stderr)
        return 2
    if args.idle_timeout is not None:
        duty.require("configure")
        duty.set_idle_timeout(args.idle_timeout)
    session = duty.session()
    print(json.dumps(session) if args.json else printable(translate(lang, "on duty: {name} ({role})", name=member.name,
                                                                    role=role_word(member.role, lang))))
    return 0


def _operator_on_duty(who: str, duty: OnDuty) -> None:
    """`pay --operator WHO`: the server's reports name the staff member on duty (the upload's `staff`), never a typed
    name, so WHO must be them (by name or id). StaffError, nothing recorded, otherwise."""
    if not duty.configured:
        raise StaffError(f"--operator {who!r}: this organiser keeps no staff, so no one is named with a payment "
                         "(the reports count it under the desk); nothing recorded: pay without --operator")
    try:
        member = duty.find(who)
    except StaffError as exc:
        raise StaffError(f"--operator: {exc}; nothing recorded") from None
    on = duty.current()
    if on is None or on.staff_id != member.staff_id:
        raise StaffError(f"{member.name} is not on duty on this device ({on.name if on else 'nobody'} is); nothing "
                         f"recorded: log them in first (`ticketgate agent login --staff {member.staff_id} --pin`)")


def _exchange_refusal(exc: Exception, lang: str = "en") -> str:
    """Why `agent exchange` recorded nothing, in this command's terms: it never asks the server (the exchange is
    uploaded by the next `agent sync`), so a price difference is never settled here, online or not (agent.desk
    says "try again when online": the app's words)."""
    params = getattr(exc, "reason_params", {})
    if getattr(exc, "reason_code", "") == "exchange_price_differs":
        return translate(lang, "the price differs by {difference}: `agent exchange` takes only a category at the same price (it settles no money); the app's Ticket desk, online, exchanges it and collects or hands back the difference (no exchange recorded)",
                         difference=params["difference"])
    if getattr(exc, "reason_code", "") == "exchange_needs_prices":
        return translate(lang, "this device holds no price for category {category} and the ticket's: `ticketgate agent sync --until-idle` fetches them, then exchange again (no exchange recorded)",
                         category=params["category"])
    return translate(lang, str(exc))


# the commands that record at the door (entries, refusals, payments, exchanges: uploaded under the device's id)
_RECORDS = ("scan", "checkin", "annul", "pay", "exchange")


def _wiped_refusal(cmd: str, ledger: Ledger, keyring: Keyring, enrolled: bool) -> str | None:
    """A wiped device (provisioning.device.wipe left its mark) not enrolled again nor given keys since holds no event
    data: what it records would be refusals queued under the unenrolled id "device". Says so, and how to enrol."""
    if enrolled or cmd not in _RECORDS or keyring.keys or keyring.pretix:
        return None
    wiped = ledger.get_setting(WIPED_IDENTITY)
    if not isinstance(wiped, dict):
        return None
    why = (f" ({wiped['reason']})" if isinstance(wiped.get("reason"), str) and wiped["reason"] else "") \
        if wiped.get("carry_over") else " (revoked by the organiser)"
    return (f"ticketgate agent {cmd}: this device was wiped{why}: it is not enrolled and holds no event data or keys, "
            "so nothing was recorded. Enrol it again with the code from the organiser's enrolment sheet: "
            "`ticketgate provision enroll --code CODE --server HOST:PORT`")


def _run(args: argparse.Namespace, home: Path, ledger: Ledger, keyring: Keyring) -> int:
    credentials = DeviceHome(home).load()
    if (wiped := _wiped_refusal(args.cmd, ledger, keyring, credentials is not None)) is not None:
        print(printable(wiped), file=sys.stderr)
        return 1
    duty = OnDuty(ledger, credentials.server_key if credentials else None)
    lang = choose_language(getattr(args, "lang", None), ledger.get_setting(LANGUAGE_SETTING))
    if args.cmd == "login":
        return _staff_login(args, duty, lang)
    if args.cmd == "logout":
        duty.logout()
        print(translate(lang, "logged out"))
        return 0
    if args.cmd in _NEEDS and not (args.cmd == "scan" and duty.configured):
        duty.require(_NEEDS[args.cmd])      # a scan checks per payload: a badge among them logs its holder in
    if args.cmd == "resend-refused":
        device_id = load_policy(ledger).device_id
        with ledger.transaction():
            n = ledger.outbox_resend_refused()
            old = carried_identity(ledger)     # made under the enrollment a technician's wipe ended: now this device's
            restamped = ledger.adopt_device_id(old, device_id) if old and credentials and old != device_id else 0
        print(json.dumps({"requeued": n, "restamped": restamped}) if args.json
              else f"{n} refused upload(s) back in the queue" + (f" ({restamped} from before the wipe now under "
                                                                f"{device_id})" if restamped else ""))
        return 0
    if args.cmd in ("configure", "scan") and (outside := _events_outside_enrollment(args, credentials, ledger)):
        print(printable(f"ticketgate agent {args.cmd}: {outside}"), file=sys.stderr)
        return 1
    if args.cmd == "configure":
        before = load_policy(ledger)
        policy = _apply_flags(before, args)
        if _selection_refused(args, ledger, keyring, policy):
            return 1
        if credentials is not None and credentials.gate and policy.gate != before.gate:
            print(printable(f"ticketgate agent configure: warning: the server takes this device's scans only at the "
                            f"gate the organiser gave it (enrolled at {credentials.gate}, or as `server device "
                            f"configure --gate` set it since): its scans at gate {policy.gate} are refused until the "
                            f"organiser runs `ticketgate server device configure {credentials.device_id} --gate "
                            f"{policy.gate}` (`server refusals` names it)"), file=sys.stderr)
        with ledger.transaction():
            save_policy(ledger, policy)
            record_config_change(ledger, before, policy)     # who changed what, for the organiser
        print(json.dumps(policy.to_json(), indent=2) if args.json
              else "\n".join(configured_lines(policy.to_json(), lang)))
        return 0
    if args.cmd == "scan":
        gate = Gate(ledger, keyring)
        gate.permit = duty.require
        if any(getattr(args, f) is not None for f in ("mode", "events", "zones", "direction", "gate")):
            duty.require("configure")
        override = _apply_flags(gate.policy, args)
        if _selection_refused(args, ledger, keyring, override):
            return 1
        gate.set_policy(override, save=False)
        # stdin is read as bytes: a scanner sending non-UTF-8 garbage gets a `malformed` verdict, not a crash
        source = args.payloads or (line for line in sys.stdin.buffer)
        not_judged = 0
        for raw in source:
            if not raw.strip():
                continue
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            if is_badge(text):           # a staff badge, not a ticket: its holder goes on duty
                member = duty.login_badge(text)
                print(json.dumps({"staff": member.staff_id, "name": member.name, "role": member.role})
                      if args.json else on_duty_line(member.name, member.role, lang), flush=True)
                continue
            try:
                verdict = gate.scan(raw)
            except NotPermitted as exc:  # nobody (allowed) on duty: this one not judged, the laser session goes on
                not_judged += 1
                print(json.dumps({"login_needed": str(exc)}) if args.json else login_needed_line(str(exc), lang),
                      flush=True)
                continue
            print(json.dumps(verdict.to_json()) if args.json
                  else _scan_line(ledger, verdict, gate.policy, lang), flush=True)
            gate.idle()   # after the verdict is out: checkpoint while staff look at the screen
        return 1 if not_judged else 0
    if args.cmd == "search":
        rows = ledger.search(args.query, args.limit)
        gate = Gate(ledger, keyring)
        for r in rows:      # a ticket out of use here (exchanged, cancelled) says so, not only its order's status
            reason = ledger.history(r["ticket_key"]).revoked     # --json: a boolean and the reason, never null for no
            r.update(revoked=reason is not None, revoked_reason=reason or "",
                     state=ticket_state(gate, r["ticket_key"]))  # what a check-in here would say now, as the app lists
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
        else:
            for r in rows:
                print(search_line(r, lang))
            if not rows:
                print(translate(lang, "no match"))
        return 0
    if args.cmd == "status":
        from agent.sync_cli import refused_upload
        identity = DeviceHome(home).identity()
        status: dict[str, Any] = {"home": str(home), "identity": identity.__dict__ if identity else None,
                  "policy": load_policy(ledger).to_json(), "counts": ledger.counts(),
                  "inside": {str(k): v for k, v in sorted(inside_shown(ledger, credentials is not None).items(),
                                                          key=lambda kv: str(kv[0]))},
                  "trusted_keys": [{"key_id": k.key_id, "fingerprint": k.fingerprint, "organiser": k.organiser}
                                   for k in keyring.keys.values()],
                  "pretix_events": [p.event_id for p in keyring.pretix],
                  "on_duty": duty.session(), "staff_on_device": len(duty.members()),
                  "broker_login": LoginState.load(DeviceHome(home).link_path).to_json(),
                  "refused_uploads": [dict(refused_upload(r), reason_code=r["refused_code"],
                                           reason_params=r["refused_params"], at=r["at"])
                                      for r in ledger.outbox_refused(20)]}
        if (was_wiped := wiped_status(ledger, credentials is not None)) is not None:
            status["wiped"] = was_wiped        # outbox_pending on a wiped device: whose, what, and what becomes of it
        if args.verify:
            status["integrity"] = ledger.verify()
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            for line in status_lines(status, lang, policy_stored=ledger.get_setting("policy") is not None,
                                     staff_kept=duty.configured, trusted=len(keyring.keys),
                                     pretix=len(keyring.pretix),
                                     describe=lambda part, value: _status_part(part, value, lang)):
                print(line)
        if args.verify and status["integrity"] != "ok":
            return 3
        return 0
    if args.cmd == "annul":
        gate = Gate(ledger, keyring)
        gate.permit = duty.require
        try:
            result = gate.annul(args.reason, args.scan_uuid)
        except (LookupError, ValueError) as exc:
            print(printable(f"ticketgate agent annul: {exc}"), file=sys.stderr)
            return 1
        print(json.dumps(result) if args.json else undone_line(result, lang))
        return 0
    if args.cmd in ("pay", "exchange") and credentials is not None and credentials.role != "kiosk":
        # the server takes payments and exchanges only from kiosks: a door's would change this door alone
        print(f"ticketgate agent {args.cmd}: " + translate(
            lang, "this device is enrolled as a {role}; payments and exchanges are taken at a kiosk",
            role=translate(lang, credentials.role)), file=sys.stderr)
        return 1
    if args.cmd == "pay":
        device_id = load_policy(ledger).device_id
        if args.operator:
            _operator_on_duty(args.operator, duty)
        try:
            number = ledger.order_number(args.order_number)         # typed in any case: as printed
            held = desk.due(ledger, number)
            changed = desk.validate_payment(ledger, number, device_id, device_id, args.payment, args.amount,
                                            args.split, args.reference)
        except ValueError as exc:
            print(printable(f"ticketgate agent pay: {translate(lang, str(exc))}"), file=sys.stderr)
            return 1
        if not changed:
            print(printable("ticketgate agent pay: " + translate(lang, "no order {number} on this device",
                                                                 number=number)), file=sys.stderr)
            return 1
        collected = (sum(p.cents for p in args.split) if args.split else args.amount if args.amount is not None
                     else held[0] if held else None)
        result = {"order_number": number, "tickets": changed, "outbox_pending": ledger.outbox_size(),
                  "amount_cents": collected, "currency": held[1] if held else None,
                  "parts": [p.to_wire() for p in args.split]}
        paid = f" {cents_text(collected, held[1] if held else '')}" if collected is not None else ""
        print(json.dumps(result) if args.json else translate(
            lang, "order {number} paid{paid} ({n} ticket(s)); {waiting} message(s) waiting for the server",
            number=number, paid=paid, n=changed, waiting=result["outbox_pending"]))
        return 0
    if args.cmd == "exchange":
        try:
            desk.exchange(ledger, args.ticket_key, args.reason, load_policy(ledger).device_id, args.category, args.zone)
        except (LookupError, ValueError) as exc:
            print(printable(f"ticketgate agent exchange: {_exchange_refusal(exc, lang)}"), file=sys.stderr)
            return 1
        result = {"ticket_key": args.ticket_key, "outbox_pending": ledger.outbox_size()}
        print(json.dumps(result) if args.json else translate(
            lang, "ticket {key} out of use here; the replacement comes with the next sync", key=args.ticket_key))
        return 0
    if args.cmd == "checkin":
        gate = Gate(ledger, keyring)
        gate.permit = duty.require
        verdict = gate.checkin_by_key(args.ticket_key, args.reason)
        print(json.dumps(verdict.to_json()) if args.json
              else _scan_line(ledger, verdict, gate.policy, lang))
        return 0 if verdict.accepted else 1
    if args.cmd == "trust":
        try:
            extra = Keyring.load(args.keyring_file)
        except UntrustworthyKey as exc:
            print(printable(f"ticketgate agent trust: {args.keyring_file}: {exc}: nothing trusted"), file=sys.stderr)
            return 1
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(printable(f"ticketgate agent trust: cannot read {args.keyring_file}: {exc}"), file=sys.stderr)
            return 1
        clash = [f"{k.key_id} ({k.fingerprint}, trusted: {keyring.keys[k.key_id].fingerprint})"
                 for k in extra.keys.values() if k.key_id in keyring.keys
                 and keyring.keys[k.key_id].public_key != k.public_key]
        if clash:     # a ticket names its key by id alone: the one trusted would be replaced, its tickets refused
            print(printable(f"ticketgate agent trust: {args.keyring_file}: key {', '.join(clash)} is another key "
                            "under an id this device trusts (another organiser's, or forged): nothing trusted"),
                  file=sys.stderr)
            return 1
        for key in extra.keys.values():
            keyring.add(key)
        replaced = {p.event_id for p in extra.pretix}
        keyring.pretix = [p for p in keyring.pretix if p.event_id not in replaced] + extra.pretix
        keyring.save(home / "keyring.json")
        print(f"{len(keyring.keys)} trusted key(s)")
        return 0
    if args.cmd == "trust-pretix":
        try:
            event = load_pretix_event(args.event_json, args.event_id, args.item, args.subevent)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(printable(f"ticketgate agent trust-pretix: {exc}"), file=sys.stderr)
            return 1
        shared = sorted({p.event_id for p in keyring.pretix if p.event_id != args.event_id
                         and set(p.public_keys) & set(event.public_keys)})
        if shared:      # a pretix secret names no event: the first event trusting its key would take it
            print(printable(f"ticketgate agent trust-pretix: {args.event_json}: its key is trusted for event "
                            f"{', '.join(map(str, shared))} already: a ticket of either event would be admitted at the "
                            "other. Nothing trusted. One pretix event's dates: one event with --subevent ID=EVENT "
                            "for each"), file=sys.stderr)
            return 1
        keyring.pretix = [p for p in keyring.pretix if p.event_id != args.event_id] + [event]
        keyring.save(home / "keyring.json")
        print(f"trusting {len(event.public_keys)} pretix key(s) for event {args.event_id}")
        return 0
    raise AssertionError(args.cmd)
