"""Apply a verified, assembled bundle (or a live update) to the device ledger: all or nothing, never blocking scans."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

from agent.keyring import Keyring, TrustedKey
from agent.sqlite_file import let_writers_in
from agent.ledger import Ledger
from agent.staff import StaffError
from agent.staff_session import store_roster
from agent.sync.bundle import Pending, sections
from agent.sync.messages import UpdateSets
from agent.sync.signed import Rejected

BUNDLE_SETTING = "sync.bundle"   # {"org", "version", "events", "applied_at"}


def current_bundle(ledger: Ledger) -> dict[str, Any]:
    return ledger.get_setting(BUNDLE_SETTING) or {"version": 0, "events": []}


STAGE_BATCH = 200        # ticket rows per staging commit (in the staged index file: the disk's writes come in small steps)
MERGE_BATCH = 500        # other gates' actions of a full bundle per commit while it is staged (`FullBundleStager`)


def apply_bundle(ledger: Ledger, p: Pending, keyring: Keyring | None,
                 keyring_path: str | Path | None = None, drop_old: bool = True,
                 staged: "FullBundleStager | None" = None) -> dict[str, Any]:
    """Apply a complete bundle, all or nothing: a bad section rejects the whole bundle and changes nothing.

    A delta (base_version > 0) is decoded first, then written in one transaction. A full bundle (base_version 0)
    can hold 1M tickets: its tickets are staged in an index file of their own while the door keeps scanning
    (`FullBundleStager`; DeviceSync stages each chunk as it arrives and passes `staged`), then made live by one
    short transaction of the ledger that points at that file, with the events, flags and the new version
    (agent/ledger/staging.py). Until that commit the old bundle stays live: a crash leaves it scannable, and the
    next hello (old version) fetches the bundle again. The replaced file is deleted afterwards (`drop_old`;
    DeviceSync does it once the new bundle is announced: `Ledger.stage_drop_old`).

    Order against a crash: the new trusted keys are written to `keyring_path` first, the ledger (event data and
    the bundle version) is committed last. A crash between them leaves the old version with the new keys (the
    device asks for the bundle again); never the new version with the old keys."""
    m = p.manifest
    new_keys = _keys(m.get("keyring") or {})
    full = m["base_version"] == 0
    if full:
        if staged is None:
            staged = FullBundleStager(ledger)
            for s in sections(p):
                staged.add(s)
        counts, rest = staged.counts, staged.rest
    else:
        counts, rest = {"tickets": 0, "revocations": 0, "blocks": 0}, list(sections(p))
    keys = None
    if keyring is not None and new_keys:
        keys = {} if full else dict(keyring.keys)
        keys.update({k.key_id: k for k in new_keys})
        if keyring_path is not None:
            Keyring(keys, list(keyring.pretix)).save(keyring_path)

    def write() -> None:
        if full:               # the whole truth for this device: the tickets were swapped in, the rest replaced
            ledger.clear_catalogue(keep=("tickets",))
        for s in rest:
            if "events" in s:
                ledger.upsert_events(s["events"])
            if "staff" in s:
                try:
                    store_roster(ledger, m["org"], s["staff"])
                except StaffError as exc:
                    raise Rejected(f"bundle staff section refused ({exc})") from None
            counts["tickets"] += len(s["tickets"]["rows"]) if "tickets" in s else 0
            counts["revocations"] += apply_live(ledger, s)["revocations"]
            counts["blocks"] += len(s.get("blocks") or ())
        ledger.set_setting(BUNDLE_SETTING, {"org": m["org"], "version": m["version"], "events": m["events"],
                                            "applied_at": time.time()})

    if full:
        try:
            ledger.stage_swap(write)
        except BaseException:
            ledger.stage_discard()
            raise
        if drop_old:
            ledger.stage_drop_old()      # the replaced index file, unlinked
    else:
        with ledger.transaction():
            write()
    if keyring is not None and keys is not None:
        keyring.keys = keys       # swapped in one assignment once committed: never an empty keyring in between
    return counts


class FullBundleStager:
    """The tickets of a full bundle staged section by section (one decoded at a time: memory stays flat whatever
    the size); the other parts (events, flags) kept for the swap. A bad section discards the whole stage.

    The event's actions (every gate's entries, exits, annulments, resets: 300,000 at a big event) are merged as
    their sections arrive, in short commits without an fsync, like the live relay's. Merged in the swap's
    transaction they held the door's scans for seconds, and kept for it they filled the memory. They are facts,
    merged once by scan id, that the live relay brings anyway: a bundle refused later leaves them (its version is
    not taken: it comes again)."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.counts = {"tickets": 0, "revocations": 0, "blocks": 0}
        self.rest: list[dict[str, Any]] = []
        ledger.stage_begin()

    def add(self, s: dict[str, Any]) -> None:
        try:
            tickets = s.pop("tickets", None)
            if tickets is not None:
                cols, rows = tickets["columns"], tickets["rows"]
                if not isinstance(cols, list) or not isinstance(rows, list) or "ticket_key" not in cols:
                    raise Rejected("malformed ticket section")
                for i in range(0, len(rows), STAGE_BATCH):
                    try:
                        self.ledger.stage_ticket_rows(cols, rows[i:i + STAGE_BATCH])
                    except ValueError as exc:
                        raise Rejected(f"malformed ticket section ({exc})") from None
                self.counts["tickets"] += len(rows)
            actions = s.pop("resets", None)
            if actions:
                if not isinstance(actions, list):
                    raise Rejected("malformed actions section")
                # in ticket order (stable: a ticket's own keep theirs): each commit writes fewer pages of the
                # ticket index of `checkins` (300,000 merged: 3.4 -> 3.1 s of CPU, docs/performance.md)
                actions.sort(key=lambda a: str(a.get("ticket_key")) if isinstance(a, dict) else "")
                for i in range(0, len(actions), MERGE_BATCH):
                    let_writers_in()
                    with self.ledger.relaxed_transaction():
                        self.ledger.merge_remote(actions[i:i + MERGE_BATCH])
            if s:
                self.rest.append(s)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        self.ledger.stage_discard()


def apply_live(ledger: Ledger, s: dict[str, Any]) -> dict[str, Any]:
    """Revocations, blocks and their reversals (from a bundle section or a live message)."""
    revs = list(_rows(s.get("revocations")))
    with ledger.transaction():
        ledger.revoke_rows(revs)
        ledger.block_rows(list(_rows(s.get("blocks"))))
        if s.get("unrevoked"):
            ledger.unrevoke([str(k) for k in s["unrevoked"]])
        if s.get("unblocked"):
            ledger.unblock([str(k) for k in s["unblocked"]])
        if s.get("tickets"):
            cols, rows = s["tickets"]["columns"], s["tickets"]["rows"]
            ledger.upsert_tickets(ledger.update_ticket_states(dict(zip(cols, r)) for r in rows))
        if s.get("states"):
            ledger.set_ticket_order_states((str(k), str(status)) for k, status in s["states"])
        if s.get("resets"):
            ledger.merge_remote(s["resets"])
        if s.get("dues"):
            ledger.set_order_dues(_dues(s["dues"]))
    return {"revocations": len(revs)}


def apply_update(ledger: Ledger, u: UpdateSets) -> None:
    """A checked `update2`, group by group: one statement per key set (docs/sync-protocol.md "Update v2"), in one
    transaction; the parts in the order of `apply_live` (flags, their lifting, ticket rows, statuses, resets)."""
    with ledger.transaction():
        for g in u.revoked:
            ledger.revoke(g.keys, g.reason, g.at)
        for g in u.blocks:
            ledger.block(g.keys, g.reason, g.at)
        if u.unrevoked:
            ledger.unrevoke(u.unrevoked)
        if u.unblocked:
            ledger.unblock(u.unblocked)
        if u.tickets:
            cols, rows = u.tickets["columns"], u.tickets["rows"]
            ledger.upsert_tickets(ledger.update_ticket_states(dict(zip(cols, r)) for r in rows))
        for g in (*u.revoked, *u.states):
            if g.status is not None:
                ledger.set_order_status_of(g.keys, g.status)
        if u.resets:
            ledger.merge_remote(u.resets)


def _rows(items: Iterable[object] | None) -> Iterable[tuple[str, str, float]]:
    for r in items or ():
        if not isinstance(r, dict) or "ticket_key" not in r:
            raise Rejected("malformed revocation/block row")
        yield str(r["ticket_key"]), str(r.get("reason") or ""), float(r.get("at") or time.time())


def _dues(items: object) -> list[tuple[str, int | None, str]]:
    """A kiosk bundle's `dues` ([[order number, cents | None, currency], …]), checked: Rejected when malformed."""
    out = []
    for r in items if isinstance(items, list) else [None]:
        if (not isinstance(r, list) or len(r) != 3 or not isinstance(r[0], str) or not isinstance(r[2], str)
                or not (r[1] is None or (isinstance(r[1], int) and not isinstance(r[1], bool) and r[1] >= 0))):
            raise Rejected("malformed dues row")
        out.append((r[0], r[1], r[2]))
    return out


def _keys(keyring_json: dict[str, Any]) -> list[TrustedKey]:
    try:
        return list(Keyring.from_json(keyring_json).keys.values())
    except (KeyError, ValueError, TypeError) as exc:
        raise Rejected(f"bundle keyring unreadable ({exc})") from None
