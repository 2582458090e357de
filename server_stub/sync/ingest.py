"""Device -> server messages (pure-ish handlers): parse an upload batch or a hello; refuse bad ones.

Raises `Rejected(reason)`; the server logs it and keeps running.
"""
from __future__ import annotations

from agent.sync.signed import Rejected, load_json

MAX_UPLOAD = 4 << 20
MAX_ITEMS = 5000
ACTION_KINDS = ("entry", "cancel", "annul", "reset")


def parse_upload(payload: bytes, org: str, device: str, limit: int = MAX_UPLOAD) -> dict:
    msg = load_json(payload, limit)
    if not isinstance(msg, dict) or msg.get("type") not in ("batch", "hello"):
        raise Rejected("upload is not a batch or hello")
    if msg.get("org") != org or msg.get("device") != device:
        raise Rejected(f"upload names {msg.get('org')}/{msg.get('device')} on the topic of {org}/{device}")
    return msg


def batch_items(msg: dict, org: str, device: str) -> tuple[list[int], list[dict], list[int]]:
    """-> (outbox ids to acknowledge, records for store.ingest, ids refused for good)."""
    items = msg.get("items")
    if not isinstance(items, list) or len(items) > MAX_ITEMS or not isinstance(msg.get("batch"), str):
        raise Rejected("malformed batch")
    ids, records, refused = [], [], []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise Rejected("malformed batch item")
        body = item.get("body")
        if not _valid(body, device):
            refused.append(item["id"])   # acknowledged anyway: retrying it can never succeed
            continue
        ids.append(item["id"])
        records.append(dict(body, org=org, device_id=device, outbox_id=item["id"]))   # outbox id: stable dedupe key
    return ids, records, refused


def _valid(body: object, device: str) -> bool:
    if not isinstance(body, dict) or body.get("device_id", device) != device:
        return False
    kind = body.get("type")
    if kind == "action":
        return (isinstance(body.get("scan_uuid"), str) and body.get("kind") in ACTION_KINDS
                and isinstance(body.get("ticket_key"), str) and isinstance(body.get("at"), (int, float)))
    return isinstance(kind, str)


def relayable(records: list[dict]) -> dict[int, list[dict]]:
    """Accepted actions grouped by event, shaped for `Ledger.merge_remote` on the other gates."""
    out: dict[int, list[dict]] = {}
    for r in records:
        if r.get("type") == "action" and isinstance(r.get("event_id"), int):
            out.setdefault(r["event_id"], []).append(
                {k: r.get(k) for k in ("scan_uuid", "kind", "ticket_key", "event_id", "direction", "at", "device_id",
                                       "gate", "device_seq", "ref_uuid", "reason", "clock_offset", "mode")})
    return out
