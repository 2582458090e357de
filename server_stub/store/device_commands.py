"""The signed commands the organiser sent to a device (`ticketgate server device configure`), and what became of
each: the device's `cmd_result` (stored whole in `scans`, its scan_uuid the command's id) says applied or rejected.
Plain SQL on purpose: the same statements serve a PostgreSQL store."""
from __future__ import annotations

import json
import time
from typing import Any

from agent.sync.clock import COMMAND_MAX_AGE as STALE_AFTER     # the broker keeps a command this long
from server_stub.store.base import StoreBase
from server_stub.sync.posting import organiser_setting

# a change the broker did not take (`server device events` with the broker unreachable): made at the device's hello
NOT_SENT = "not sent (the broker was unreachable): sent when the device next says hello to `server serve`"


def outcome(result: Any, sent_at: float, now: float) -> str:
    """A command's state for the organiser, from the device's `result` (None: no cmd_result received yet): its first
    word is pending, applied, rejected or expired (no result after COMMAND_MAX_AGE: it can no longer be applied)."""
    if result is None:
        if now - sent_at > STALE_AFTER:
            return (f"expired: no result after {STALE_AFTER / 86400:g} days, not applied (the broker no longer keeps it "
                    "for a device offline that long, the device refuses it as stale): send it again once the device "
                    "is online")
        return "pending"
    if isinstance(result, dict) and "rejected" in result:
        return f"rejected: {result['rejected']}"
    notice = result.get("notice") if isinstance(result, dict) else None
    return f"applied ({notice})" if notice else "applied"


class DeviceCommandsMixin(StoreBase):
    def record_command(self, org: str, device_id: str, command_id: str, cmd: str, args: dict,
                       sent_at: float | None = None) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO device_commands(command_id, org, device_id, cmd, args, sent_at) VALUES (?,?,?,?,?,?)",
                      (command_id, org, device_id, cmd, json.dumps(args, sort_keys=True),
                       time.time() if sent_at is None else sent_at))

    def device_commands(self, device_id: str, now: float | None = None) -> list[dict]:
        """The commands sent to the device, newest first: {command_id, cmd, args, sent_at, status, result,
        answered_at} (result and answered_at None while no cmd_result came back)."""
        rows = self.q("SELECT d.command_id, d.cmd, d.args, d.sent_at, s.body, s.received_at FROM device_commands d "
                      "LEFT JOIN scans s ON s.scan_uuid = d.command_id AND s.type = 'cmd_result' "
                      "AND s.device_id = d.device_id WHERE d.device_id = ? ORDER BY d.sent_at DESC, d.command_id",
                      (device_id,))
        now = time.time() if now is None else now
        out = []
        for command_id, cmd, args, sent_at, body, answered_at in rows:
            result = json.loads(body).get("result") if body else None
            args = json.loads(args)
            status = NOT_SENT if args.get("sent") is False else outcome(result, sent_at, now)
            out.append({"command_id": command_id, "cmd": cmd, "args": args, "sent_at": sent_at,
                        "status": status, "result": result, "answered_at": answered_at})
        return out

    def posted(self, device: dict) -> dict:
        """The gate and mode the organiser set `device` (a `devices` row) at, and whether it applied them
        (`posting.organiser_setting`), in place of its enrolment gate: what `server devices` and `stats` show."""
        return organiser_setting(device["gate"] or "", self.device_commands(device["device_id"]))

    def door_modes(self, org: str) -> dict[str, dict]:
        """The mode each device was last set in at the door (its staff's `config_change` uploads: a supervisor's
        Mode button, `agent configure --mode`; `by` "door"), else the mode its last scan claimed (`by` "scans"):
        device id -> {mode, at, staff, by}. What the organiser compares with the
        mode they set (`server devices`): until they set one, the server counts the door's scans in the mode they
        claim."""
        # a device no staff set at the door: the mode its last scan claimed (stored as claimed while the organiser
        # set none, as the organiser's once they set one)
        out: dict[str, dict] = {d: {"mode": mode, "at": at, "staff": "", "by": "scans"} for d, mode, at in self.q(
            "SELECT s.device_id, s.mode, s.at FROM scans s JOIN (SELECT max(seq) AS seq FROM scans WHERE org = ? AND "
            "type = 'action' AND mode IS NOT NULL GROUP BY device_id) l ON s.seq = l.seq", (org,))}
        for device_id, body in self.q("SELECT device_id, body FROM scans WHERE org = ? AND type = 'config_change' "
                                      "ORDER BY seq", (org,)):
            m = json.loads(body) if body else {}
            change = (m.get("changes") or {}).get("mode")
            if isinstance(change, list) and len(change) == 2 and isinstance(change[1], str):
                out[device_id] = {"mode": change[1], "at": m.get("at"), "staff": m.get("staff") or "", "by": "door"}
        return out

    def events_released(self, device_id: str) -> set[int]:
        """The events `server device events --remove` took away from the device: what it recorded for them, offline
        while it held them or before the change reached it, is still taken (nothing it admitted is lost)."""
        out: set[int] = set()
        for (args,) in self.q("SELECT args FROM device_commands WHERE device_id = ? AND cmd = 'events'", (device_id,)):
            out.update(int(e) for e in json.loads(args).get("removed") or ())
        return out
