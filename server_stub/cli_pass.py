"""`ticketgate server pass edit PASS` and `pass remove PASS`: a pass renamed, given or taken an event, or taken off.

A pass's events decide where its tickets are admitted (the ticket carries the pass id, never its events: a door reads
them from the pass in its bundle), so an edit reaches tickets issued already. Refused, changing nothing, while it
would take from holders what they paid for: a pass sold in orders still paid or pending loses no event still to come
(an event over, or removed, goes) and is not removed while one of its events is still to come (refund or cancel the
orders first); checked inside the store's write transaction, so an order bought while the command runs is counted.
Gaining an event is always allowed: holders get more. Devices learn the change with their next bundle
(`server push`, or their next hello to `server serve`, which asks the devices online to say hello at once): the
events the pass opened and opens get a new version."""
from __future__ import annotations

import time

from server_stub.cli_event_remove import _named
from server_stub.cli_output import Refused, emit, ints

PUSH = ("devices online to a running `ticketgate server serve` learn it at once, the others when they next say hello "
        "to it (or with `ticketgate server push`)")


def _pass(store, org: str, pass_id: int) -> dict:
    try:
        found = store.pass_of(org, pass_id)
    except LookupError:
        raise Refused(f"no pass {pass_id}") from None
    if found.get("removed_at") is not None:
        raise Refused(f"pass {pass_id} was removed")
    return found


def still_to_come(store, event_ids: list[int], now: float) -> list[int]:
    """The events among these not over and not removed: a holder still expects to go in."""
    events = [store.event(e) for e in event_ids]
    return [e["event_id"] for e in events if e.get("removed_at") is None and e["ends_at"] > now]


def holders_refusal(store, pass_: dict, events: list[int], now: float, what: str, instead: str = "") -> str | None:
    """Why taking `events` from the pass's holders would lose them money (`what`: what is refused, `instead`: the
    other way out), naming what to do first; None: nothing (no order still paid or pending, or each event over or
    removed)."""
    coming = still_to_come(store, events, now)
    live = store.live_orders(pass_["pass_id"])
    if not coming or not live:
        return None
    paid = [n for n, status in live if status == "paid"]
    pending = [n for n, status in live if status == "pending"]
    todo = ([f"refund the {len(paid)} paid one(s) (`ticketgate server order refund NUMBER`: {_named(paid)})"]
            if paid else []) + ([f"cancel the {len(pending)} pending one(s) (`ticketgate server order cancel "
                                 f"NUMBER`: {_named(pending)})"] if pending else [])
    named = (f"event {coming[0]} is" if len(coming) == 1 else
             f"events {', '.join(str(e) for e in coming)} are")
    return (f"{what}: pass {pass_['pass_id']} is sold in {len(live)} order(s) still valid and {named} not "
            f"over (its holders paid for it): {' and '.join(todo)} first{instead}")


def _new_events(pass_id: int, current: list[int], args) -> list[int] | None:
    """The events asked for (--events, --add-event, --remove-event), None when unchanged."""
    given = [x for x in (args.events, args.add_event, args.remove_event) if x is not None]
    if len(given) > 1:
        raise Refused("give one of --events, --add-event, --remove-event")
    if args.events is not None:
        return sorted(set(ints(args.events)))
    if args.add_event is not None:
        if args.add_event in current:
            raise Refused(f"pass {pass_id} opens event {args.add_event} already (events {_list(current)})")
        return sorted(current + [args.add_event])
    if args.remove_event is not None:
        if args.remove_event not in current:
            raise Refused(f"pass {pass_id} does not open event {args.remove_event} (events {_list(current)})")
        return [e for e in current if e != args.remove_event]
    return None


def _list(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids)


def pass_edit(store, org, args) -> int:
    before = _pass(store, org, args.pass_id)
    events = _new_events(args.pass_id, before["event_ids"], args)
    if args.name is None and events is None:
        raise Refused("nothing to change: give --name, --events, --add-event or --remove-event")
    if (args.name is None or args.name.strip() == before["name"]) and events in (None, before["event_ids"]):
        raise Refused(f"nothing to change: pass {args.pass_id} is named {before['name']!r} and opens events "
                      f"{_list(before['event_ids'])}")
    if events is not None and not events:
        raise Refused(f"a pass opens at least one event: to take pass {args.pass_id} off, `ticketgate server pass "
                      f"remove {args.pass_id}`")
    now = time.time()

    def keep_holders(current: dict, lost: list[int]) -> None:      # in the write: an order bought just now counts
        refusal = holders_refusal(store, current, lost, now, f"pass {args.pass_id} ({current['name']}) not changed",
                                  ", or keep the event in the pass")
        if refusal:
            raise Refused(refusal)
    after = store.edit_pass(org, args.pass_id, name=args.name, event_ids=events, check=keep_holders)
    lost = sorted(set(before["event_ids"]) - set(after["event_ids"]))
    gained = sorted(set(after["event_ids"]) - set(before["event_ids"]))
    changes = ([f"renamed from {before['name']!r}"] if after["name"] != before["name"] else []) + \
        ([f"opens event {_list(gained)} too"] if gained else []) + \
        ([f"no longer opens event {_list(lost)} (its doors refuse the pass's tickets"
          + ("; they no longer count in its ticket list, their entries there stay in the reports)"
             if store.live_orders(after["pass_id"]) else ")")] if lost else [])
    text = (f"pass {after['pass_id']} ({after['name']}): {'; '.join(changes)}; events "
            f"{_list(after['event_ids'])}; {PUSH}")
    return emit(args, dict(after, added=gained, removed=lost), text)


def pass_remove(store, org, args) -> int:
    before = _pass(store, org, args.pass_id)
    now = time.time()

    def keep_holders(current: dict) -> None:      # in the write: an order bought just now counts
        refusal = holders_refusal(store, current, current["event_ids"], now,
                                  f"pass {args.pass_id} ({current['name']}) not removed")
        if refusal:
            raise Refused(refusal)
    after = store.remove_pass(org, args.pass_id, check=keep_holders)
    text = (f"pass {after['pass_id']} ({after['name']}) removed: no door admits its tickets and it takes no orders; "
            f"its orders stay in the reports; {PUSH}")
    return emit(args, after, text)
