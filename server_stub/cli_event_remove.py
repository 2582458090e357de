"""`ticketgate server event remove EVENT`: an event made by mistake, cancelled by the venue or over is taken off the
devices and the event list. Refused, changing nothing, while it would lose money or data: orders still paid or
pending of an event not over (refund or cancel them first), an open desk shift of a kiosk holding it, an exchange
made offline whose price difference nobody settled, a pass opening it, a device holding it alone. Its orders,
scans and Z reports stay (reports show them). Each device registered for it gets the signed `events` command (the
device side of `server device events --remove`: it deletes the event's tickets and buyers, uploads what it
recorded); each device holding every event a `resync`: its hello gets the bundle of the events left, which replaces
what it holds. A device offline gets them when it comes back; what it recorded for the event is still taken."""
from __future__ import annotations

import time
import uuid

from server_stub.cli_live import _hooks, broker_login
from server_stub.cli_output import Refused, emit
from server_stub.store.offline_exchanges import UNSETTLED

SHOWN = 5          # order numbers named in a refusal


def _named(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def removal_refusal(store, org: str, event: dict, now: float) -> str | None:
    """Why removing the event would lose money or data, naming what to do first; None: nothing."""
    e = event["event_id"]
    if event["passes"]:
        names = ", ".join(f"{p['pass_id']} ({p['name']})" for p in event["passes"])
        first = event["passes"][0]["pass_id"]
        return (f"pass {names} opens event {e}: its holders' tickets count for it; a pass's event is not removed: "
                f"take it out of the pass first (`ticketgate server pass edit {first} --remove-event {e}`) or remove "
                f"the pass (`ticketgate server pass remove {first}`)")
    live = store.live_orders(e)
    if live and event["ends_at"] > now:
        paid = [n for n, status in live if status == "paid"]
        pending = [n for n, status in live if status == "pending"]
        todo = ([f"refund the {len(paid)} paid one(s) (`ticketgate server order refund NUMBER`: {_named(paid)})"]
                if paid else []) + ([f"cancel the {len(pending)} pending one(s) (`ticketgate server order cancel "
                                     f"NUMBER`: {_named(pending)})"] if pending else [])
        return (f"event {e} is not over and has {len(live)} order(s) still valid: {' and '.join(todo)} first "
                "(an event over is removed with its orders kept)")
    unsettled = sorted({c["order_number"] for c in store.conflicts(org, e)
                        if c.get("kind") == UNSETTLED and c.get("order_status") in ("paid", "pending")})
    if unsettled:
        return (f"exchanges made offline at event {e} left a price difference nobody settled (orders "
                f"{_named(unsettled)}): `ticketgate server conflicts --event {e}` lists them; settle each with its "
                "buyer and refund or cancel the order first")
    desks = _holders(store, org, e)
    open_shifts = [s for s in store.shifts(org) if s["closed_at"] is None and s["device_id"] in desks]
    if open_shifts:
        s = open_shifts[0]
        return (f"desk {s['device_id']} holding event {e} has shift {s['shift_id']} open: close it first "
                f"(`ticketgate server till close {s['shift_id']} --counted-cents CENTS`: its Z report is kept)")
    alone = sorted(d for d, held in desks.items() if held == [e])
    if alone:
        d = alone[0]
        return (f"device {d} holds event {e} alone: give it another event first (`ticketgate server device events "
                f"{d} --add EVENT --remove {e}`) or take it out of service (`ticketgate server device revoke {d}`)")
    return None


def _holders(store, org: str, event_id: int) -> dict[str, list[int] | None]:
    """Devices in service holding the event -> the events they are registered for (None: every event)."""
    from server_stub.sync.ingest import held_events
    out: dict[str, list[int] | None] = {}
    for d in store.devices(org):
        if d.get("revoked"):
            continue
        if not d.get("events"):
            out[d["device_id"]] = None
        elif event_id in (held := held_events(store, org, d["events"])):
            out[d["device_id"]] = sorted(held)
    return out


def event_remove(store, org, args) -> int:
    e = args.event_id
    try:
        event = store.event(e)
    except LookupError:
        raise Refused(f"no event {e}") from None
    if event["organiser"] != org:
        raise Refused(f"event {e} belongs to another organiser")
    if event.get("removed_at") is not None:
        raise Refused(f"event {e} was removed already")
    now = time.time()

    def nothing_lost(current: dict) -> None:      # in the write: an order bought or a shift opened just now counts
        refusal = removal_refusal(store, org, current, now)
        if refusal:
            raise Refused(f"event {e} ({current['name']}) not removed: {refusal}")
    nothing_lost(event)      # a refusal first, before anything else is looked at; again in the write
    hooks = _hooks()
    holders: dict[str, list[int] | None] = {}

    def check(current: dict) -> None:
        nothing_lost(current)
        holders.update(_holders(store, org, e))
    store.remove_event(org, e, check=check)
    events_of = {d: [x for x in held if x != e] for d, held in holders.items() if held is not None}
    everything = sorted(d for d, held in holders.items() if held is None)
    for device, events in events_of.items():
        store.set_device_events(device, events)
    try:
        sent, missed = hooks.tell_removed(store, org, events_of, everything, broker_login(args), timeout=args.timeout)
        why = "the broker did not acknowledge in time"
    except (ConnectionError, TimeoutError, PermissionError) as exc:
        sent, missed, why = {}, sorted(holders), str(exc)
    for device, events in events_of.items():      # `removed`: what it recorded for the event is still taken
        change = {"events": events, "added": [], "removed": [e]}
        if device in sent:
            store.record_command(org, device, sent[device], "events", change)
        else:
            store.record_command(org, device, f"unsent-{uuid.uuid4().hex}", "events", dict(change, sent=False))
    told = sorted(set(holders) - set(missed))
    text = f"event {e} ({event['name']}) removed: its orders, scans and shift reports stay in the reports"
    if told:
        text += f"; devices told to forget it: {', '.join(told)}"
    if missed:
        text += (f"; not told now ({why}): {', '.join(sorted(missed))}: they forget it when they next say hello to "
                 "`ticketgate server serve` (or with `ticketgate server push`)")
    return emit(args, {"event_id": e, "removed": True, "devices_told": told, "devices_not_told": sorted(missed),
                       "commands": sent}, text)
