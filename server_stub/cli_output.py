"""Output of `ticketgate server …`: JSON (`--json`) or short human text; the shared refusal type."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from agent.errors import TicketgateError
from agent.pricing import cents_text
from agent.safe_text import printable, printable_json, printable_lines, timestamp
from server_stub.stats import OTHER_CONFLICTS, zone_key


class Refused(TicketgateError):
    """A clear, expected refusal: printed on stderr, exit code 1."""


def owned(row: dict, org: str, what: str) -> dict:
    """`row` (an order or a ticket) when it belongs to `org`; Refused naming `what` otherwise."""
    if row["org"] != org:
        raise Refused(f"{what} belongs to another organiser")
    return row


def _json_default(value):
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def emit(args, data, text: str) -> int:
    """Print the result: JSON with --json, else the text. Organiser and buyer data is untrusted: control characters
    are escaped (agent.safe_text), never sent raw to the terminal."""
    if args.json:
        print(printable_json(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)), flush=True)
    else:
        print(printable_lines(text), flush=True)
    return 0


def parse_time(text: str, tz: str, local_to: str = "--tz") -> float:
    """'YYYY-MM-DD HH:MM' in the time zone `tz`, or ISO 8601 with its offset -> UNIX time."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refused(f"time {text!r}: use 'YYYY-MM-DD HH:MM' (local to {local_to}) or ISO 8601") from None
    if value.tzinfo is None:
        value = _wall_clock(value, ZoneInfo(tz), tz)
    return value.timestamp()


def _wall_clock(value: datetime, zone: ZoneInfo, tz: str) -> datetime:
    """`value` as the clocks of `zone` show it; Refused when the clocks never show it (skipped when they go forward)
    or show it twice (when they go back): either would be taken silently an hour off, so the message says what to
    give instead."""
    first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    shown = value.strftime("%Y-%m-%d %H:%M")
    if datetime.fromtimestamp(first.timestamp(), zone).replace(tzinfo=None) != value:      # a time skipped
        later = datetime.fromtimestamp(first.timestamp(), zone)
        raise Refused(f"{shown} does not exist in {tz}: the clocks go forward that night and skip it; give the time "
                      f"the clocks show, e.g. '{later:%Y-%m-%d %H:%M}' ({later:%Z})")
    raise Refused(f"{shown} happens twice in {tz}: the clocks go back that night; say which with its UTC offset, "
                  f"'{value:%Y-%m-%d %H:%M}{_offset(first)}' (the first, {first:%Z}) or "
                  f"'{value:%Y-%m-%d %H:%M}{_offset(second)}' (the second, {second:%Z})")


def _offset(value: datetime) -> str:
    """`+02:00`: the UTC offset as ISO 8601 writes it (and `parse_time` reads it)."""
    text = value.strftime("%z")
    return f"{text[:3]}:{text[3:]}"


def fail(prefix: str, message: object) -> None:
    """An error line on stderr (the message may quote buyer data: escaped)."""
    print(f"{prefix}: {printable(message)}", file=sys.stderr)


LOOK_UP = (("no device ", "`ticketgate server devices` lists the devices, with ids like dev-k3m9x2p7qa"),
           ("no order ", "`ticketgate server order find NAME` finds an order by its buyer's name or e-mail"),
           ("no event or pass ", "`ticketgate server event list` and `ticketgate server pass list` list them"),
           ("no event ", "`ticketgate server event list` lists them"),
           ("no pass ", "`ticketgate server pass list` lists them"),
           ("no staff member ", "`ticketgate server staff list` lists them with their ids"),
           ("no till shift ", "`ticketgate server till list` lists the shifts"),
           ("no ticket ", "`ticketgate server order show ORDER` lists an order's tickets"))


def not_found_hint(message: str) -> str:
    """"no device 'gate-1'" alone left a newcomer guessing: the command that lists what exists, or ''."""
    if ":" in message or "(" in message:      # a refusal that already says more
        return ""
    return next((f" ({hint})" for start, hint in LOOK_UP if message.startswith(start)), "")


def ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise Refused(f"{text!r}: comma-separated numbers expected") from None


def device_events(store, org: str, ids: list[int]) -> list[int]:
    """The events a device is limited to, from ids of events or passes (a pass stands for the events it opens); an
    event removed (`server event remove`) is refused: no device gets it again."""
    out = _events_of(store, org, ids)
    for i in ids:
        if store.target(i).get("removed_at") is not None:
            raise Refused(f"pass {i} was removed (`ticketgate server pass remove`): no device gets it again")
    for e in out:
        if store.event(e).get("removed_at") is not None:
            raise Refused(f"event {e} was removed (`ticketgate server event remove`): no device gets it again")
    return out


def _events_of(store, org: str, ids: list[int]) -> list[int]:
    out: set[int] = set()
    for i in ids:
        try:
            target = store.target(i)
        except LookupError:
            raise Refused(f"no event or pass {i}") from None
        if target["org"] != org:
            raise Refused(f"event or pass {i} belongs to another organiser")
        out.update(target["event_ids"])
    return sorted(out)


def own_event(store, org: str, event: int | None) -> None:
    """A report's `--event` that is not an event or pass of `org` is refused, not reported as one nobody came to
    (a removed event's is taken: its money and entries stay in the reports)."""
    if event is not None:
        _events_of(store, org, [event])


def scanned_event(store, org: str, event: int | None) -> None:
    """Entries are counted under the event where the guest came in, never under a pass: a pass's `--event` would
    read as one nobody came to (entries 0, no conflicts), so it is refused naming its events."""
    own_event(store, org, event)
    if event is not None and (target := store.target(event))["kind"] == "pass":
        events = ", ".join(str(e) for e in target["event_ids"])
        raise Refused(f"{event} is a pass (events {events}): entries are counted per event where its holders came "
                      f"in: give {' or '.join(f'--event {e}' for e in target['event_ids'])} (or no --event for "
                      "every event)")


def when(ts: float | None, tz: str = "UTC") -> str:
    if not ts:
        return "-"
    return timestamp(ts, "%Y-%m-%d %H:%M %Z", ZoneInfo(tz))


def events_text(events: list[dict]) -> str:
    rows = []
    for e in events:
        gone = f"  (removed {when(e['removed_at'])})" if e.get("removed_at") is not None else ""
        rows.append(f"event {e['event_id']:>6}  {e['name']}  {when(e['starts_at'], e['timezone'])} -> "
                    f"{when(e['ends_at'], e['timezone'])}{gone}")
        for plural, key in (("zones", "zone_id"), ("categories", "category_id")):      # as `event create` takes them
            if e[plural]:
                rows.append(f"    {plural}: " + ", ".join(f"{x[key]}={x['name']}" + (f":{x['message']}" if x.get("message")
                                                                                      else "") for x in e[plural]))
        if e["passes"]:
            rows.append("    passes: " + ", ".join(f"{p['pass_id']}={p['name']}" for p in e["passes"]))
    return "\n".join(rows) or "no events"


def keys_text(keys: list[dict]) -> str:
    rows = []
    for k in keys:
        window = f" valid until {when(k['valid_until'])}" if k["valid_until"] else ""
        rows.append(f"{k['purpose']:<6} key {k['key_id']:>5}  {k['fingerprint']}  created {when(k['created_at'])}"
                    f"{'  CURRENT' if k['current'] else ''}{window}")
    return "\n".join(rows) or "no keys"


def device_state(d: dict) -> str:
    """A device out of service, in words: RETIRED (its device enrolled again under another id: when, which) or
    REVOKED (by the organiser or the technician: when)."""
    if d.get("retired"):
        return f"RETIRED {when(d['revoked_at'])} (enrolled again as {d['replaced_by']})"
    return f"REVOKED {when(d['revoked_at'])}" if d.get("revoked_at") else "REVOKED"


def revoke_refused(d: dict, device: Callable[[str], dict | None], revoke: str) -> tuple[int, str] | None:
    """What revoking `d` again would say instead of doing it: None while it is in service. A retired id: the id its
    device is enrolled under now (followed through `device`), to revoke with the `revoke` command (exit 1: the
    device the organiser means works on); one revoked already: when (exit 0, nothing changed)."""
    if d.get("retired"):
        now, seen = d, {d["device_id"]}
        while now.get("retired") and now["replaced_by"] not in seen and (later := device(now["replaced_by"])):
            seen.add(later["device_id"])
            now = later
        chain = (f"{d['replaced_by']}, now {now['device_id']}" if now["device_id"] != d["replaced_by"]
                 else d["replaced_by"])
        said = f"{d['device_id']} is out of use since {when(d['revoked_at'])}: its device was enrolled again as {chain}"
        if now.get("revoked"):
            return 1, f"{said}, itself {device_state(now)}; nothing changed"
        return 1, (f"{said}, which works on: to take that device out of service, `{revoke} {now['device_id']}`; "
                   "nothing changed")
    if d.get("revoked"):
        return 0, f"device {d['device_id']} was already revoked {when(d['revoked_at'])}; nothing changed"
    return None


def device_presence(d: dict) -> str:
    """A device's state as `server devices` and `server stats` say it: out of service (`device_state`), else its
    presence (online, offline…), else never seen."""
    return device_state(d) if d.get("revoked") else (d.get("status") or "never seen")


def devices_text(devices: list[dict], refused: dict[str, int] | None = None) -> str:
    rows = []
    for d in devices:
        state = device_presence(d)
        seen = f"  last seen {when(d['last_seen'])}" if d["last_seen"] else ""
        events = ", ".join(map(str, d["events"] or ())) or "all"
        n = (refused or {}).get(d["device_id"], 0)
        rows.append(f"{d['device_id']:<20} {d.get('role', 'door'):<5} gate {d['gate'] or '-':<12} "
                    f"mode {d.get('mode') or 'any':<10} events {events}  {state}{seen}" + setting_text(d.get("setting"))
                    + (f"  {n} upload(s) REFUSED" if n else ""))
        if (note := door_mode_text(d)) is not None:
            rows.append(note)
    for twins in case_twins(devices):
        rows.append(f"NOTE: {', '.join(twins)} differ only by case (registered before such ids were refused; both "
                    f"still work): revoke the one not in use (`ticketgate server device revoke ID`)")
    return "\n".join(rows) or "no devices registered"


def door_mode_text(d: dict) -> str | None:
    """NOTE when the mode a device was set in at the door (`door_mode`: its staff's last change) is not the
    organiser's: with none set, its scans count in the mode they claim (say it, and how to confirm it or set
    another); with one set, they count in the organiser's (an exit or a quick cancellation refused, a second entry
    flagged), not the door's."""
    door, mine = d.get("door_mode"), d.get("mode")
    # normal with none set: the default, hiding nothing (every second entry flagged): nothing to say
    if not door or door["mode"] == mine or (mine is None and door["mode"] == "normal"):
        return None
    who = f" by staff {door['staff']}" if door.get("staff") else ""
    since = f" on {when(door['at'])}{who}" if isinstance(door.get("at"), (int, float)) else who
    device = d["device_id"]
    what = (f"was set in {door['mode']} mode at the door{since}" if door.get("by") == "door"
            else f"scans in {door['mode']} mode (its last scan{since})")
    if mine is None:
        return (f"NOTE: {device} {what}, and you set none: its scans count as it claims. To keep it, `ticketgate "
                f"server device configure {device} --mode {door['mode']}`; else set the mode it must use "
                f"(`--mode normal`)")
    return (f"NOTE: {device} {what}, not yours ({mine}): its scans count in {mine} mode (exits or quick "
            f"cancellations refused, second entries flagged). If the door is right, `ticketgate server device "
            f"configure {device} --mode {door['mode']}`")


def setting_text(setting: str | None) -> str:
    """The state of the gate or mode the organiser last set (`posting.organiser_setting`), when not applied yet."""
    if setting in (None, "applied"):
        return ""
    return "  gate/mode " + ("sent, not applied yet" if setting == "pending" else f"{setting}: not applied")


def case_twins(devices: list[dict]) -> list[list[str]]:
    """Groups of device ids that differ only by case (kept by the store's migration 21), revoked ones left out."""
    groups: dict[str, list[str]] = {}
    for d in devices:
        if not d["revoked"]:
            groups.setdefault(d["device_id"].lower(), []).append(d["device_id"])
    return [sorted(ids) for ids in groups.values() if len(ids) > 1]


def refusals_text(refusals: list[dict]) -> str:
    rows = []
    for r in refusals:
        if "count" in r:            # a device not registered here: its uploads counted, not kept
            rows.append(f"{when(r['received_at'])}  {r['device_id']:<18} {r['count']} upload(s) since "
                        f"{when(r['first_at'])}, none read: {r['reason']}")
            continue
        b = r["body"] if isinstance(r["body"], dict) else {}
        what = str(b.get("kind") or b.get("action") or b.get("type") or "?")     # (a refused body's may be a list)
        row = (f"request {b['request_id']}" if "request_id" in b else    # desk: no row; a whole upload: its topic
               f"message on {b['topic']} ({b.get('size')} bytes)" if "topic" in b else f"row {r['outbox_id']:<6}")
        rows.append(f"{when(r['received_at'])}  {r['device_id']:<18} {row} {what:<18} "
                    f"ticket {b.get('ticket_key') or '-'} order {b.get('order_number') or '-'}: {r['reason']}"
                    + ("  (sent again and TAKEN since)" if r.get("taken_since") else ""))
    return "\n".join(rows) or "no refused uploads"


def _signed_money(cents: int, currency: str) -> str:
    """+40.00 EUR taken, -40.00 EUR handed back."""
    return ("+" if cents > 0 else "-" if cents < 0 else "") + f"{abs(cents) // 100}.{abs(cents) % 100:02d} {currency}".rstrip()


def uploads_text(device_id: str, uploads: list[dict]) -> str:
    rows = [f"{len(uploads)} upload(s) from {device_id}:"]
    for u in uploads:
        what = u["kind"] or u["type"]
        desk = ""
        if u["type"] == "desk":          # done through the server at the desk: the money it moved, what it issued
            desk = (f"  {_signed_money(u['amount_cents'], u['currency'])} "
                    f"{u['payment'] or ('handed back' if u['amount_cents'] < 0 else '')}"
                    + (f" tickets {', '.join(u['tickets'])}" if u["tickets"] else "")
                    + (f" replacement {u['replacement']}" if u["replacement"] else ""))
        rows.append(f"  {when(u['at'])}  {what:<18} ticket {u['ticket_key'] or '-'} order {u['order_number'] or '-'}"
                    f"{' event ' + str(u['event_id']) if u['event_id'] is not None else ''}{desk}  {u['scan_uuid']}"
                    f"{'  ROLLED BACK' if u['rolled_back'] else ''}{'  FLAGGED: ' + u['flag'] if u.get('flag') else ''}")
    return "\n".join(rows)


def _exits(n: int) -> str:
    """'1 exit, ' (as a door's Statistics counts them, entry/exit mode), or nothing when none."""
    return f"{n} exit{'s' if n != 1 else ''}, " if n else ""


def stats_text(s: dict) -> str:
    doubles = s["double_entries"]
    inside = s["inside_now"]      # per event: a pass holder inside two events is one person in each, never a sum
    inside_now = (", ".join(f"event {k}: {v}" for k, v in inside.items()) if len(inside) > 1
                  else str(sum(inside.values())))
    rows = [f"entries: {s['entries']}   inside now: {inside_now}   double entries: "
            f"{doubles['conflicts']} conflict(s), {doubles['refused_already_used']} refused as already used"
            + "".join(f", {doubles[k]} ticket(s) {what}" for k, what in OTHER_CONFLICTS if doubles.get(k))
            + (" (`server conflicts`)" if any(doubles.get(k) for k, _ in OTHER_CONFLICTS) else "")]
    if s["entries_per_event"]:
        rows.append("per event: " + ", ".join(f"{k}: {v}" for k, v in s["entries_per_event"].items()))
    if s["entries_per_zone"]:
        rows.append("per zone:  " + ", ".join(f"{z['event_id']}/{zone_key(z)}: {z['entries']} "
                                              f"({_exits(z.get('exits', 0))}{z.get('inside_now', 0)} inside now)"
                                              for z in s["entries_per_zone"]))
    gates, exits = s["entries_per_gate"], s.get("exits_per_gate", {})
    if gates or exits:               # an exit-only door's gate too
        rows.append("per gate:  " + ", ".join(f"{k}: {gates.get(k, 0)}" + (f" ({_exits(exits[k])[:-2]})" if exits.get(k) else "")
                                              for k in sorted(set(gates) | set(exits))))
    if s["entries_per_hour"]:
        rows.append("per hour (event time):")
        peak = max(h["entries"] for h in s["entries_per_hour"])
        width = max(len(h["hour"]) for h in s["entries_per_hour"])     # `02:00 CEST` and `02:00 CET` the night the clocks go back
        for h in s["entries_per_hour"]:
            rows.append(f"  {h['hour']:<{width}}  event {h['event_id']:<5} {h['entries']:>6}  {'#' * max(1, 40 * h['entries'] // peak)}")
    if s["refusals"]:
        rows.append("refusals:  " + ", ".join(f"{k}: {v}" for k, v in s["refusals"].items()))
    if s.get("back_on_sale"):
        rows.append(f"back on sale: {s['back_on_sale']} ticket(s) cancelled by a box office (quick cancellation)")
    for device, d in s["devices"].items():
        exits = d.get("exits", 0)
        out = f", {exits} exit{'s' if exits != 1 else ''}" if exits else ""
        out += f", {d['back_on_sale']} back on sale" if d.get("back_on_sale") else ""
        rows.append(f"device {device:<18} {d['scans']:>6} scans ({d['entries']} entries{out}, {d['refusals']} refused)  "
                    f"gate {d.get('gate') or '-'} mode {d.get('mode') or 'any'}  "       # as `server devices` says them
                    f"last scan {when(d.get('last_scan'))}  last seen {when(d.get('last_seen'))} {device_presence(d)}"
                    + setting_text(d.get("setting")))
    return "\n".join(rows)


def conflicts_text(conflicts: list[dict]) -> str:
    rows = []
    for c in conflicts:
        if c.get("kind") == "exchange_difference":
            rows.append(unsettled_text(c))
            continue
        rows.append(f"ticket {c['ticket_key']} (order {c.get('order_number') or '?'}, {c.get('buyer_name') or '?'}) "
                    f"admitted {len(c['admissions'])} time{'s' if len(c['admissions']) != 1 else ''} for event "
                    f"{c['event_id']}:")
        for a in c["admissions"]:
            rows.append(f"    {when(a['server_at'])}  {a['device_id']} at {a['gate'] or '?'}")
        gone = c.get("cancelled")
        if gone:
            rows.append(f"    {when(gone['server_at'])}  {gone['device_id']} at {gone['gate'] or '?'}: cancelled for "
                        "resale (quick cancellation): its seat went back on sale")
        revoked = c.get("revoked")
        if revoked and revoked.get("exchanged"):
            rows.append(f"    {when(revoked['at'])}  {revoked['reason']} at the desk, "
                        + ("after this entry: the gate was offline, the desk did not know it was used"
                           if revoked.get("after_entry") else "before this entry: a door offline let it in"))
            new = revoked.get("replacement")
            again = revoked.get("replacement_admissions") or []
            rows.append(f"    replacement ticket {new or '(unknown)'}: " + (
                "admitted " + ", ".join(f"{when(a['server_at'])} {a['device_id']} at {a['gate'] or '?'}" for a in again)
                + ": two entries for one purchase" if again else "not admitted yet (block it if the holder is "
                f"already inside: `ticketgate server ticket block {new or 'KEY'} --reason …`)"))
        elif revoked and revoked.get("dated_back"):
            rows.append(f"    {when(revoked['at'])}  revoked on the server ({revoked['reason']}) before this entry "
                        "reached it, the entry dated before: a door offline let it in, or its clock was set back (or "
                        "its login used elsewhere): ask who held it")
        elif revoked:
            rows.append(f"    {when(revoked['at'])}  revoked on the server before this entry ({revoked['reason']}): a "
                        "door offline let it in")
    return "\n".join(rows) or "no conflicts"


def unsettled_text(c: dict) -> str:
    """An exchange a kiosk recorded offline to a category at another price: nothing collected or handed back."""
    d = c["difference_cents"]
    owed = ("the difference is unknown (a category with no price)" if d is None else
            f"{cents_text(d, c['currency'])} owed by the buyer, not collected" if d > 0 else
            f"{cents_text(-d, c['currency'])} owed to the buyer, not handed back")
    return (f"ticket {c['ticket_key']} (order {c.get('order_number') or '?'}, {c.get('buyer_name') or '?'}, "
            f"{c.get('order_status')}) exchanged OFFLINE {when(c['at']) if c.get('at') else '?'} at "
            f"{c.get('device_id') or '?'} for {c['replacement']}, category {c['category_before']} -> "
            f"{c['category_after']}: PRICE DIFFERENCE NOT SETTLED, {owed}; not in the till or sales reports "
            f"(the order still lists category {c['category_before']})")
