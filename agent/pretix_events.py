"""Load a pretix event's published keys (its event resource JSON) and the item/date mapping onto our events."""
from __future__ import annotations

import binascii
import json
from pathlib import Path
from typing import Any, Sequence

from agent.keyring import PretixEvent, PretixItemMapping, UntrustworthyKey


def parse_item_spec(spec: str) -> tuple[int, PretixItemMapping]:
    """`ITEM=CATEGORY[:ZONE,ZONE]`, e.g. `12=2:1,3` maps pretix item 12 to category 2, zones 1 and 3."""
    item, sep, target = spec.partition("=")
    if not sep:
        raise ValueError(f"item mapping {spec!r} is not ITEM=CATEGORY[:ZONE,...]")
    category, _, zones = target.partition(":")
    try:
        return int(item), PretixItemMapping(int(category or 0), tuple(int(z) for z in zones.split(",") if z.strip()))
    except ValueError:
        raise ValueError(f"item mapping {spec!r} is not ITEM=CATEGORY[:ZONE,...] with integer ids") from None


def parse_subevent_spec(spec: str) -> tuple[int, int]:
    subevent, sep, event = spec.partition("=")
    try:
        if not sep:
            raise ValueError
        return int(subevent), int(event)
    except ValueError:
        raise ValueError(f"subevent mapping {spec!r} is not SUBEVENT=EVENT with integer ids") from None


def pretix_keys(resource: dict[str, Any]) -> list[str]:
    """`valid_keys.pretix_sig1` of a pretix event resource (GET /api/v1/organizers/{o}/events/{e}/)."""
    if not isinstance(resource, dict):
        raise ValueError("not a pretix event resource (expected a JSON object)")
    valid = resource.get("valid_keys") or {}
    keys = (valid.get("pretix_sig1") if isinstance(valid, dict) else None) or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError("valid_keys.pretix_sig1 of that event resource is not a list of keys")
    if not keys:
        raise ValueError("no valid_keys.pretix_sig1 in that event resource (is the event using pretix_sig1 secrets?)")
    return keys


def load_pretix_event(path: str | Path, event_id: int, item_specs: Sequence[str] = (),
                      subevent_specs: Sequence[str] = ()) -> PretixEvent:
    try:
        resource = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from None
    except RecursionError:          # `[[[[…` past the interpreter's limit
        raise ValueError(f"{path} is not a pretix event (JSON nested too deep)") from None
    items = dict(parse_item_spec(s) for s in item_specs)
    subevents = dict(parse_subevent_spec(s) for s in subevent_specs)
    try:
        resource_keys = pretix_keys(resource)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        return PretixEvent.from_pretix_keys(event_id, resource_keys, items=items, subevents=subevents)
    except UntrustworthyKey as exc:
        raise ValueError(f"{path}: {exc}: nothing trusted") from None
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError(f"a pretix_sig1 key in {path} is not a base64 PEM Ed25519 public key ({exc})") from None
