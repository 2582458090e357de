"""Pure reports over ingested scans: the conflict rule (tickets admitted twice) and live statistics.

Conflict rule, per (ticket, event), over the scans of every device merged on server time
(device time + the device's clock offset estimate):
  * effective actions only: an `annul` removes the action it names; a `reset` (organiser) clears
    every earlier action of the ticket;
  * walk the effective entries in time order keeping "inside": an `out` movement sets it false, an
    `in` (normal and entry/exit modes alike) while already inside is a second admission;
  * entries uploaded with `mode: multiple` (multiple-entry gates) are never conflicts.
So normal mode flags the second `in`; entry/exit flags `in, in` but not `in, out, in`.
A ticket admitted twice gives ONE conflict listing every effective admission (who, where, when).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable
from zoneinfo import ZoneInfo


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

    @property
    def server_at(self) -> float:
        return self.at + (self.clock_offset or 0.0)


def _effective(scans: Iterable[Scan]) -> dict[str, list[Scan]]:
    """ticket -> effective entries (time order), after annulments and resets."""
    by_ticket: dict[str, list[Scan]] = defaultdict(list)
    for s in scans:
        if s.type == "action" and s.ticket_key is not None:
            by_ticket[s.ticket_key].append(s)
    out: dict[str, list[Scan]] = {}
    for key, actions in by_ticket.items():
        actions.sort(key=lambda a: (a.server_at, a.seq))
        annulled = {a.ref_uuid for a in actions if a.kind == "annul"}
        live: list[Scan] = []
        for a in actions:
            if a.kind == "reset":
                live.clear()
            elif a.kind == "entry" and a.scan_uuid not in annulled:
                live.append(a)
        if live:
            out[key] = live
    return out


def _admission(s: Scan) -> dict:
    return {"scan_uuid": s.scan_uuid, "device_id": s.device_id, "gate": s.gate, "at": s.at, "server_at": s.server_at,
            "direction": s.direction or "in", "mode": s.mode}


def find_conflicts(scans: Iterable[Scan], event_id: int | None = None) -> list[dict]:
    """Every (ticket, event) admitted twice: [{ticket_key, event_id, admissions: [...], first, duplicates}]."""
    return _conflicts(_effective(scans), event_id)


def _conflicts(effective: dict[str, list[Scan]], event_id: int | None) -> list[dict]:
    conflicts = []
    for key, entries in effective.items():
        by_event: dict[int | None, list[Scan]] = defaultdict(list)
        for e in entries:
            by_event[e.event_id].append(e)
        for ev, moves in by_event.items():
            if event_id is not None and ev != event_id:
                continue
            inside, dupes = False, []
            for m in moves:
                if m.direction == "out":
                    inside = False
                    continue
                if inside and m.mode != "multiple":
                    dupes.append(m)
                inside = True
            if dupes:
                admissions = [m for m in moves if m.direction != "out"]
                conflicts.append({"ticket_key": key, "event_id": ev, "admissions": [_admission(a) for a in admissions],
                                  "first": _admission(admissions[0]), "duplicates": [_admission(d) for d in dupes]})
    conflicts.sort(key=lambda c: (c["event_id"] or 0, c["duplicates"][0]["server_at"]))
    return conflicts


def _hour_label(utc_hour: int, tz: str) -> str:
    """Start of a one-hour bucket (UTC-aligned) in the event's time zone (`HH:30` in half-hour zones)."""
    return datetime.fromtimestamp(utc_hour * 3600, timezone.utc).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def compute_stats(scans: list[Scan], zone_of: dict[str, int | None], tz_of: dict[int, str],
                  devices: dict[str, dict] | None = None, event_id: int | None = None) -> dict:
    """Entries per event / zone / gate / hour (event-local), inside now, double entries, per device."""
    devices = devices or {}
    if event_id is not None:
        scans = [s for s in scans if s.event_id == event_id or (s.kind == "reset")]
    effective = _effective(scans)
    per_event, per_zone, per_gate, per_hour, inside = Counter(), Counter(), Counter(), Counter(), Counter()
    for key, entries in effective.items():
        last: dict[int | None, str] = {}
        for e in entries:
            last[e.event_id] = e.direction or "in"
            if e.direction == "out":
                continue
            per_event[e.event_id] += 1
            per_zone[(e.event_id, zone_of.get(key))] += 1
            per_gate[e.gate or "?"] += 1
            per_hour[(e.event_id, int(e.server_at // 3600))] += 1
        for ev, direction in last.items():
            if direction == "in":
                inside[ev] += 1
    refusals = Counter(s.verdict for s in scans if s.type == "refusal")
    per_device: dict[str, dict] = {}
    for s in scans:
        if s.device_id in ("", "server"):
            continue
        d = per_device.setdefault(s.device_id, {"scans": 0, "entries": 0, "refusals": 0, "gate": s.gate, "last_scan": 0.0})
        d["scans"] += 1
        d["entries"] += s.type == "action" and s.kind == "entry"
        d["refusals"] += s.type == "refusal"
        d["last_scan"] = max(d["last_scan"], s.server_at)
    for device_id, info in devices.items():
        d = per_device.setdefault(device_id, {"scans": 0, "entries": 0, "refusals": 0, "gate": info.get("gate", ""),
                                              "last_scan": None})
        d["last_seen"], d["status"] = info.get("last_seen"), info.get("status", "")
    conflicts = _conflicts(effective, event_id)
    return {
        "event_id": event_id,
        "entries": sum(per_event.values()),
        "entries_per_event": {str(k): v for k, v in sorted(per_event.items(), key=lambda kv: kv[0] or 0)},
        "entries_per_zone": [{"event_id": ev, "zone": z, "entries": n} for (ev, z), n in sorted(per_zone.items(), key=str)],
        "entries_per_gate": dict(sorted(per_gate.items())),
        "entries_per_hour": [{"event_id": ev, "hour": _hour_label(h, tz_of.get(ev, "UTC")), "entries": n}
                             for (ev, h), n in sorted(per_hour.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))],
        "inside_now": {str(k): v for k, v in sorted(inside.items(), key=lambda kv: kv[0] or 0)},
        "double_entries": {"refused_already_used": refusals.get("already_used", 0), "conflicts": len(conflicts)},
        "refusals": dict(sorted(refusals.items(), key=lambda kv: str(kv[0]))),
        "devices": dict(sorted(per_device.items())),
    }
