"""Build signed event bundles (full or delta since a version) from the store's change log."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from agent.sync import bundle
from server_stub.sync.contract import SyncStore

CHUNK_TICKETS = 1000      # rows per section: a device decodes one in ~2 ms (the door keeps scanning meanwhile)
CHUNK_ACTIONS = 2000      # actions per section of a full bundle: the device merges each as it comes (agent.sync.apply)


_STORE_ONLY = frozenset(("active", "version"))      # fields of the store's rows a device is not sent


def flag_section(revocations: list[dict], blocks: list[dict], resets: list[dict]) -> dict:
    """Store rows (with `active`) -> the section keys a device applies."""
    out: dict = {}
    rev_on = [r for r in revocations if r.get("active", True)]
    rev_off = [r["ticket_key"] for r in revocations if not r.get("active", True)]
    blk_on = [r for r in blocks if r.get("active", True)]
    blk_off = [r["ticket_key"] for r in blocks if not r.get("active", True)]
    for key, value in (("revocations", rev_on), ("unrevoked", rev_off), ("blocks", blk_on), ("unblocked", blk_off),
                       ("resets", resets)):
        if value:
            out[key] = [{k: v for k, v in r.items() if k not in _STORE_ONLY}
                        if isinstance(r, dict) and not _STORE_ONLY.isdisjoint(r) else r for r in value]
    return out


LIVE_ROWS = 2000     # more changed ticket rows than this at once (a big import): by push / the devices' next hello


def live_ticket_changes(rows: Iterable[dict], flagged: set[str]) -> tuple[list[dict], list[list[str]]]:
    """Changed ticket rows for a live update -> (whole rows, [ticket_key, order_status] pairs). A row whose
    revocation changed in the same change is an order status change (a ticket's text never changes once issued):
    its status travels alone. Whole rows (new tickets) only up to LIVE_ROWS, else none."""
    whole: list[dict] | None = []
    states: list[list[str]] = []
    for row in rows:
        if row["ticket_key"] in flagged:
            states.append([row["ticket_key"], row["order_status"]])
        elif whole is not None:
            whole.append(row)
            if len(whole) > LIVE_ROWS:
                whole = None
        if whole is None and len(states) == len(flagged):
            break            # a big import: no whole rows, and every status found (no need to read the rest)
    return whole or [], sorted(states)     # in key order: the device's index pages are met in order (15 % less)


def live_ticket_changes_of(store: SyncStore, event_id: int, since: int, flagged: set[str]
                           ) -> tuple[list[dict], list[list[str]]]:
    """`live_ticket_changes` of the event's tickets changed after `since`, their whole rows read only when one of
    them is not in `flagged` (a new ticket): 1,000 cancellations read two columns, not nine (the look 14.5 -> 12.1 ms
    CPU at 300,000 tickets)."""
    states = store.ticket_states_for_event(event_id, since)
    if any(key not in flagged for key, _ in states):
        return live_ticket_changes(store.tickets_for_event(event_id, since), flagged)
    return [], sorted([key, status] for key, status in states)


def is_kiosk(device: dict | None) -> bool:
    """Kiosk devices print tickets: only their bundles carry signed QR payloads (door devices never hold one)."""
    return device is not None and device.get("role") == "kiosk"


def _issuer(store: SyncStore, org: str | None) -> Callable[[str], str]:
    """The store's bulk signer for the organiser (key loaded once); without one, `issue_ticket_payload` per ticket."""
    return store.payload_issuer(org) if org else store.issue_ticket_payload


def _stock(store: SyncStore, target_id: int, categories: Iterable[int]) -> dict[str, int]:
    """Stock left per category when quotas count it: the smallest of the target's and the category's."""
    quotas = store.quotas(target_id)
    whole = [q["left"] for q in quotas if q["scope"] == "event"]
    stock = {}
    for category in categories:
        lefts = whole + [q["left"] for q in quotas if q["scope"] == "category" and q["ref"] == category]
        if lefts:
            stock[str(category)] = min(lefts)
    return stock


def desk_offer(store: SyncStore, event_id: int) -> dict | None:
    """Kiosk bundles: what the desk sells for this event (agent.pricing.Offer: prices, promotions, window, limit) and
    the stock left per category, then the same for each pass that admits to it (`passes`, with its name). None:
    nothing priced, nothing on sale. The server's stock stays the truth: a sale it cannot serve is refused by name."""
    offer = store.offer(event_id)
    passes = []
    for p in store.event(event_id).get("passes") or ():
        pass_offer = store.offer(p["pass_id"])
        if pass_offer.prices:
            passes.append({"offer": pass_offer.to_json(), "stock": _stock(store, p["pass_id"], pass_offer.prices),
                           "name": p["name"], "is_pass": True})
    if not offer.prices and not passes:
        return None
    return {"offer": offer.to_json() if offer.prices else None, "stock": _stock(store, event_id, offer.prices),
            "passes": passes}


def _event(store: SyncStore, event_id: int, kiosk: bool) -> dict:
    # the margin lets a device judge a check-in by ticket key (no QR to carry the window) like a scan: agent.validity
    event = dict(store.event(event_id), validity_margin_h=store.validity_margin_hours)
    desk = desk_offer(store, event_id) if kiosk else None
    return dict(event, desk=desk) if desk is not None else event


def sections(store: SyncStore, events: list[int], since: int,
             progress: Callable[[int], None] | None = None, payloads: bool = False,
             org: str | None = None, after: dict[int, int] | None = None) -> Iterator[dict]:
    """`after` (a delta for a device catching up, docs/sync-protocol.md "A broker that lost its sessions"): per event,
    the devices' actions after that action cursor travel too, beside the organiser's resets since `since`."""
    first: dict = {"events": [_event(store, e, payloads) for e in events]}
    if org:
        first["staff"] = store.staff_roster(org)      # whole, in every bundle: small, and a deactivation arrives
    yield first
    issue = _issuer(store, org) if payloads else None
    sent = 0
    for e in events:
        rows: list[dict] = []
        # kiosk: the orders of the rows sent -> their status, for their dues (a full bundle: the pending ones; it
        # replaces every due the device held)
        orders: dict[str, str] = {}
        for row in store.tickets_for_event(e, since):
            if issue is not None:
                row = dict(row, payload=issue(row["ticket_key"]))
                if since or row["order_status"] == "pending":
                    orders[row["order_number"]] = row["order_status"]
            rows.append(row)
            if len(rows) >= CHUNK_TICKETS:
                sent += len(rows)
                yield bundle.ticket_section(rows, payloads)
                rows = []
                if progress:
                    progress(sent)
        if rows:
            sent += len(rows)
            yield bundle.ticket_section(rows, payloads)
            if progress:
                progress(sent)
        for i in range(0, len(orders), CHUNK_TICKETS):
            yield dues_section(store, list(orders.items())[i:i + CHUNK_TICKETS])
        # a delta: the organiser's resets since; a full bundle (a device new to the event): every action so far,
        # devices' and organiser's, so it knows who is inside (merged once by scan id, like the live relays)
        if not since:
            actions = store.actions_for_event(e) + store.resets_for_event(e)
        elif after is not None:
            actions = store.actions_for_event(e, after.get(e, 0)) + store.resets_for_event(e, since)
        else:
            actions = store.resets_for_event(e, since)
        flags = flag_section(store.revocations_for_event(e, since), store.blocks_for_event(e, since),
                             actions[:CHUNK_ACTIONS])
        if flags:
            yield flags
        for i in range(CHUNK_ACTIONS, len(actions), CHUNK_ACTIONS):
            yield flag_section([], [], actions[i:i + CHUNK_ACTIONS])


def dues_section(store: SyncStore, orders: list[tuple[str, str]]) -> dict:
    """Kiosk bundles: the amount due of each pending order among `orders` ((number, status) of the ticket rows
    sent), so the desk shows what to collect; an order no longer pending (or unpriced) comes with None: the device
    forgets its due. [[number, cents | None, currency], …]"""
    out = []
    for number, status in orders:
        due = store.order_due(number) if status == "pending" else None
        out.append([number, due["cents"], due["currency"]] if due else [number, None, ""])
    return {"dues": out}


@dataclass
class Built:
    version: int
    base_version: int
    events: list[int]
    bundle_id: bytes
    chunks: list[bytes]
    keyring: dict
    cursor: int | None = None     # it carries the events' actions up to this action cursor (full bundles, catch-ups)

    def manifest(self, org: str, device: str, sign: Callable[[bytes], bytes]) -> bytes:
        """The signed manifest naming one device (chunks are shared by every device of a push)."""
        return bundle.manifest(org, device, self.bundle_id, self.version, self.base_version, self.events, self.keyring,
                               self.chunks, sign, cursor=self.cursor)


def build(store: SyncStore, org: str, events: list[int], since: int = 0, level: int = 1,
          progress: Callable[[int], None] | None = None, payloads: bool = False,
          after: dict[int, int] | None = None) -> Built:
    """payloads=True only for kiosk devices (`is_kiosk`): each ticket row carries its signed QR payload. `after`: a
    catch-up delta (`sections`)."""
    version = store.version(org)      # read first: anything changed while streaming comes again in the next delta
    # read first too: the actions read next reach it at least (a relay carries anything later)
    cursor = store.action_cursor() if not since or after is not None else None
    bundle_id = os.urandom(16)
    chunks = bundle.encode_chunks(sections(store, events, since, progress, payloads, org, after), bundle_id, level)
    return Built(version, since, sorted(events), bundle_id, chunks, store.keyring(org).to_json(), cursor)
