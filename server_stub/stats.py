"""Reports over ingested scans: tickets admitted twice (conflicts) and live statistics.

The rules are the device's (agent.read_models, built on agent.history.fold): scans of every device are put on
server time (device time + the device's clock offset estimate); an `annul` removes the action it names, a `reset`
(organiser) clears every earlier action of the ticket; "inside" is a last effective movement `in`; a conflict is an
admission while already inside, except from a multiple-entry gate (`mode: multiple`). Normal mode flags the second
`in`; entry/exit flags `in, in` but not `in, out, in`. A ticket admitted twice gives ONE conflict listing every
effective admission (who, where, when). A ticket with an effective quick cancellation (put back on sale) and an
effective admission for that event is a conflict too (`cancelled`: who, where, when), whichever came first: two
offline devices, the box office and a gate, and its seat may be sold again while someone holds it. A ticket the
server had revoked (refunded, cancelled, exchanged) before a door admitted it is a conflict too (`revoked`: reason,
when): the door was offline and could not know, someone came in on a ticket that was refunded or replaced.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from agent.history import Action, fold
from agent.policy import Mode
from agent.safe_text import timestamp
from agent.read_models import conflicts, inside_events


SCAN_COLS = ("scan_uuid, type, kind, verdict, ticket_key, event_id, direction, at, clock_offset, device_id, gate, ref_uuid, "
             "mode, seq, received_at")


@dataclass(frozen=True)
class Scan:
    scan_uuid: str
    type: str                     # action | refusal
    kind: str | None              # entry | cancel | annul | reset (actions)
    verdict: str | None
    ticket_key: str | None
    event_id: int | None
    direction: str | None
    at: float                     # device clock
    clock_offset: float = 0.0     # server time - device time, as the device estimated it
    device_id: str = ""
    gate: str = ""
    ref_uuid: str | None = None
    mode: str | None = None
    seq: int = 0
    received_at: float | None = None     # server time it was stored (the columns SCAN_COLS, in this order)

    @property
    def server_at(self) -> float:
        return self.at + (self.clock_offset or 0.0)

    def action(self) -> Action:
        return Action(self.scan_uuid, self.kind or "", self.at, self.device_id, self.gate, self.event_id, self.direction,
                      self.ref_uuid, self.seq, self.clock_offset or 0.0, self.mode)


def _admission(a: Action) -> dict:
    return {"scan_uuid": a.scan_uuid, "device_id": a.device_id, "gate": a.gate, "at": a.at, "server_at": a.server_at,
            "direction": a.direction or "in", "mode": a.mode}


EXCHANGED = "exchanged:"      # the reason of an exchange's revocation (server_stub.store.exchanges)


def find_conflicts(scans: Iterable[Scan], event_id: int | None = None,
                   revoked: Mapping[str, tuple[str, float, str | None]] | None = None) -> list[dict]:
    """Every (ticket, event) admitted twice, admitted and quick-cancelled, admitted after the server revoked it, or
    admitted and exchanged whichever came first (a door offline admitted it, the desk online did not know: the
    replacement is a second entry for one purchase). `revoked`: ticket -> (reason, server time, replacement ticket or
    None) of its active revocation. -> [{ticket_key, event_id, admissions: [...], first, duplicates, cancelled (the
    cancellation, or None), revoked ({reason, at, exchanged, replacement, replacement_admissions, after_entry}, or
    None)}]."""
    scans = list(scans)
    return _find_conflicts(_folded(scans), event_id, revoked, _received(scans))


def _received(scans: Iterable[Scan]) -> dict[str, float]:
    """scan uuid -> when the server stored it."""
    return {s.scan_uuid: s.received_at for s in scans if s.received_at is not None}


Folded = dict[str, tuple[tuple[Action, ...], Action | None]]     # ticket -> (effective entries, cancellation)


def _folded(scans: Iterable[Scan]) -> Folded:
    by_ticket: dict[str, list[Action]] = defaultdict(list)
    for s in scans:
        if s.type == "action" and s.ticket_key is not None:
            by_ticket[s.ticket_key].append(s.action())
    return {key: fold(actions) for key, actions in by_ticket.items()}


def _find_conflicts(folded: Folded, event_id: int | None,
                    revoked: Mapping[str, tuple[str, float, str | None]] | None,
                    received: Mapping[str, float] | None = None) -> list[dict]:
    """`received`: scan uuid -> when the server stored it. An entry the server received after the ticket's
    revocation is listed whatever its date (a device's word: a stolen door's login dated its entry of a refunded
    ticket before the refund, and it was listed nowhere); `dated_back` says so."""
    received = received or {}
    found = _conflicts({key: entries for key, (entries, _) in folded.items() if entries}, event_id)
    for c in found:
        c["cancelled"] = None
    listed = {(c["ticket_key"], c["event_id"]): c for c in found}
    for key, (entries, cancel) in folded.items():
        if cancel is None or (event_id is not None and cancel.event_id != event_id):
            continue
        admitted = [e for e in entries if e.event_id == cancel.event_id and e.direction != "out"]
        if not admitted:
            continue
        if (key, cancel.event_id) not in listed:
            listed[(key, cancel.event_id)] = {
                "ticket_key": key, "event_id": cancel.event_id, "admissions": [_admission(a) for a in admitted],
                "first": _admission(admitted[0]), "duplicates": []}
            found.append(listed[(key, cancel.event_id)])
        listed[(key, cancel.event_id)]["cancelled"] = dict(_admission(cancel), direction=None)
    for c in found:
        c["revoked"] = None
    for key, (reason, at, replacement) in (revoked or {}).items():
        entries = folded.get(key, ((), None))[0]
        exchanged = reason.startswith(EXCHANGED)
        def uploaded_after(e: Action, at: float = at) -> bool:
            return received.get(e.scan_uuid, e.server_at) > at
        late = [e for e in entries if e.direction != "out" and (exchanged or e.server_at > at or uploaded_after(e))
                and (event_id is None or e.event_id == event_id)]
        for event in sorted({e.event_id for e in late}, key=lambda x: (x is None, x)):
            if (key, event) not in listed:
                admitted = [e for e in entries if e.event_id == event and e.direction != "out"]
                listed[(key, event)] = {
                    "ticket_key": key, "event_id": event, "admissions": [_admission(a) for a in admitted],
                    "first": _admission(admitted[0]), "duplicates": [], "cancelled": None}
                found.append(listed[(key, event)])
            again = [_admission(e) for e in folded.get(replacement or "", ((), None))[0] if e.direction != "out"]
            listed[(key, event)]["revoked"] = {
                "reason": reason, "at": at, "exchanged": exchanged, "replacement": replacement if exchanged else None,
                "replacement_admissions": again if exchanged else [],
                "after_entry": any(e.server_at <= at for e in late if e.event_id == event),
                "dated_back": any(e.server_at <= at and uploaded_after(e) for e in late if e.event_id == event)}
    return found


def _conflicts(effective: dict[str, tuple[Action, ...]], event_id: int | None) -> list[dict]:
    return [{"ticket_key": c.ticket_key, "event_id": c.event_id, "admissions": [_admission(a) for a in c.admissions],
             "first": _admission(c.admissions[0]), "duplicates": [_admission(d) for d in c.duplicates]}
            for c in conflicts(effective, event_id)]


def _hour_label(utc_hour: int, tz: str) -> str:
    """Start of a one-hour bucket (UTC-aligned) in the event's time zone (`HH:30` in half-hour zones). The night the
    clocks go back, the two hours the clocks show twice are told apart by their zone (`02:00 CEST`, `02:00 CET`):
    two rows of one label read as one hour counted twice, and a spreadsheet adds them up as one."""
    zone = ZoneInfo(tz)
    label = timestamp(utc_hour * 3600, "%Y-%m-%d %H:%M", zone)
    try:
        start = datetime.fromtimestamp(utc_hour * 3600, timezone.utc).astimezone(zone)
    except (OverflowError, ValueError, OSError):      # no calendar date holds it: `timestamp` said so
        return label
    if start.replace(fold=1 - start.fold).utcoffset() != start.utcoffset():
        return f"{label} {start:%Z}"
    return label


NOT_ISSUED = "not issued here"
# what `server conflicts` lists besides tickets admitted twice: (`double_entries` key, what the figure counts)
OTHER_CONFLICTS = (("exchanged_after_entry", "exchanged and admitted"),
                   ("admitted_after_refund", "let in after a refund or cancellation"),
                   ("admitted_and_cancelled", "let in and put back on sale"))


def zone_key(row: dict) -> int | str:
    """How `server stats` names an `entries_per_zone` row: the zone's number, `all` (a ticket valid in every zone), or
    NOT_ISSUED: a ticket this server did not issue (pretix, an offline sale not reconciled yet), whose zone only the
    device's mapping knows (`agent trust-pretix --item`): never counted as valid in every zone."""
    if not row.get("issued", True):
        return NOT_ISSUED
    return "all" if row["zone"] is None else row["zone"]


def compute_stats(scans: list[Scan], zone_of: dict[str, int | None], tz_of: dict[int, str],
                  devices: dict[str, dict] | None = None, event_id: int | None = None,
                  revoked: Mapping[str, tuple[str, float, str | None]] | None = None) -> dict:
    """Entries per event / zone (and inside now in it) / gate / hour (event-local), inside now, double entries, per device (its uploads, and
    its effective entries and exits, as per gate; its gate and mode: the organiser's, from `devices` (each with
    `posting.organiser_setting`'s gate, mode, enrolled_gate, setting), else those of its latest scan; `back_on_sale`:
    the tickets it put back on sale that still are). `back_on_sale`: tickets a quick cancellation put back on sale,
    not undone nor reset. `zone_of`: the zone (None: every zone) of each ticket this server
    issued; the others are counted under no zone, `issued` false (`zone_key`). `revoked`: as `find_conflicts`'s; an
    exchanged ticket a door admitted counts in `double_entries.exchanged_after_entry` (its entry is counted: the
    holder went in), and every other ticket `server conflicts` lists is counted too (`double_entries`)."""
    devices = devices or {}
    if event_id is not None:
        scans = [s for s in scans if s.event_id == event_id or (s.kind == "reset")]
    folded = _folded(scans)
    effective = {key: entries for key, (entries, _) in folded.items() if entries}
    exchanged = {key for key, (reason, _, _) in (revoked or {}).items() if reason.startswith(EXCHANGED)}
    per_event: Counter[int | None] = Counter()
    per_zone: Counter[tuple[int | None, int | None, bool]] = Counter()     # (event, zone, issued here)
    per_gate: Counter[str] = Counter()
    zone_exits: Counter[tuple[int | None, int | None, bool]] = Counter()      # exits, as a door's Statistics counts
    gate_exits: Counter[str] = Counter()
    per_hour: Counter[tuple[int | None, int]] = Counter()
    inside: Counter[int | None] = Counter()
    inside_zone: Counter[tuple[int | None, int | None, bool]] = Counter()     # (event, zone, issued here), as per_zone
    inside_not_issued: Counter[int | None] = Counter()     # of them, tickets this server did not issue (pretix)
    moved: Counter[tuple[str, bool]] = Counter()           # (device, exit): its effective movements
    for key, entries in effective.items():
        for e in entries:
            moved[(e.device_id, e.direction == "out")] += 1
            if e.direction == "out":
                zone_exits[(e.event_id, zone_of.get(key), key in zone_of)] += 1
                gate_exits[e.gate or "?"] += 1
                continue
            per_event[e.event_id] += 1
            per_zone[(e.event_id, zone_of.get(key), key in zone_of)] += 1
            per_gate[e.gate or "?"] += 1
            per_hour[(e.event_id, int(e.server_at // 3600))] += 1
        inside.update(inside_events(entries))
        inside_zone.update((ev, zone_of.get(key), key in zone_of) for ev in inside_events(entries))
        if key not in zone_of:
            inside_not_issued.update(inside_events(entries))
    refusals = Counter(s.verdict for s in scans if s.type == "refusal")
    twice = sum(1 for s in scans if s.type == "refusal" and s.verdict == "already_used" and s.mode != Mode.QUICK_CANCEL.value)
    per_device: dict[str, dict] = {}
    for s in scans:
        if s.device_id in ("", "server"):
            continue
        d = per_device.setdefault(s.device_id, {"scans": 0, "entries": 0, "exits": 0, "refusals": 0, "gate": s.gate,
                                                "mode": None, "last_scan": 0.0})
        if s.server_at >= d["last_scan"]:       # a device not registered here: the gate its latest scan named
            d["gate"] = s.gate
        d["scans"] += 1
        d["entries"], d["exits"] = moved[(s.device_id, False)], moved[(s.device_id, True)]
        d["refusals"] += s.type == "refusal"
        d["last_scan"] = max(d["last_scan"], s.server_at)
    for device_id, info in devices.items():
        d = per_device.setdefault(device_id, {"scans": 0, "entries": 0, "exits": 0, "refusals": 0, "last_scan": None})
        d["gate"], d["mode"] = info.get("gate") or "", info.get("mode")        # the organiser's, as `server devices`
        d["enrolled_gate"], d["setting"] = info.get("enrolled_gate", d["gate"]), info.get("setting")
        d["last_seen"], d["status"] = info.get("last_seen"), info.get("status", "")
        d.update((k, info.get(k)) for k in ("revoked", "revoked_at", "retired", "replaced_by"))   # out of service
    # tickets a box office put back on sale (quick cancellation), undone and reset ones left out, by the device
    on_sale = [cancel for cancel in (c for _, c in folded.values()) if cancel is not None
               and (event_id is None or cancel.event_id == event_id)]
    for device_id, n in Counter(c.device_id for c in on_sale).items():
        per_device.setdefault(device_id, {"scans": 0, "entries": 0, "exits": 0, "refusals": 0, "gate": "",
                                          "mode": None, "last_scan": None})["back_on_sale"] = n
    found = _find_conflicts(folded, event_id, revoked, _received(scans))
    return {
        "event_id": event_id,
        "entries": sum(per_event.values()),
        "entries_per_event": {str(k): v for k, v in sorted(per_event.items(), key=lambda kv: kv[0] or 0)},
        "entries_per_zone": [{"event_id": ev, "zone": z, "issued": issued, "entries": per_zone[(ev, z, issued)],
                              "exits": zone_exits[(ev, z, issued)], "inside_now": inside_zone[(ev, z, issued)]}
                             for (ev, z, issued) in sorted(set(per_zone) | set(zone_exits), key=str)],
        "entries_per_gate": dict(sorted(per_gate.items())),
        "exits_per_gate": dict(sorted(gate_exits.items())),
        "entries_per_hour": [{"event_id": ev, "hour": _hour_label(h, tz_of.get(ev, "UTC") if ev is not None else "UTC"), "entries": n}
                             for (ev, h), n in sorted(per_hour.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))],
        "inside_now": {str(k): v for k, v in sorted(inside.items(), key=lambda kv: kv[0] or 0)},
        "inside_now_not_issued": {str(k): v for k, v in sorted(inside_not_issued.items(), key=lambda kv: kv[0] or 0)},
        "double_entries": {"refused_already_used": twice, "conflicts": sum(1 for c in found if c["duplicates"]),
                           "exchanged_after_entry": sum(1 for key in exchanged if any(
                               e.direction != "out" for e in effective.get(key, ()))),
                           "admitted_and_cancelled": sum(1 for c in found if c["cancelled"]),
                           "admitted_after_refund": sum(1 for c in found
                                                        if c["revoked"] and not c["revoked"]["exchanged"])},
        "refusals": dict(sorted(refusals.items(), key=lambda kv: str(kv[0]))),
        "back_on_sale": len(on_sale),
        "devices": dict(sorted(per_device.items())),
    }
