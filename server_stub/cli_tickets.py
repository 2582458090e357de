"""`ticketgate server ticket|keys|export-etickets`."""
from __future__ import annotations

import time

from server_stub.cli_output import Refused, emit, keys_text, owned
from server_stub.cli_progress import Progress
from agent.pretix_sig1 import KEY_PREFIX as PRETIX_KEY, decode_ticket_message, split_secret
from agent.ticket_format import MalformedPayload
from server_stub.keys import SERVER, TICKET
from server_stub.orders import check_in_text, check_ins, quick_cancel_text, ticket_states


def _own_ticket(store, org, key) -> dict:
    return owned(store.ticket(key), org, f"ticket {key}")


def ticket_flag(store, org, args) -> int:
    _own_ticket(store, org, args.ticket_key)
    if args.sub == "block":
        result = store.block_ticket(args.ticket_key, args.reason)
        text = f"ticket {args.ticket_key} blocked ({args.reason}); devices get it with the next sync"
    elif args.sub == "unblock":
        result = store.unblock_ticket(args.ticket_key)
        text = f"ticket {args.ticket_key} unblocked"
    else:
        result = store.reset_ticket(args.ticket_key, args.reason)
        text = f"ticket {args.ticket_key}: check-ins cleared ({args.reason}); devices get it with the next sync"
    return emit(args, result, text)


def pretix_key(text: str) -> str:
    """`pretix:SEED` as it is, or a pretix_sig1 secret (what pretix lists as revoked) -> `pretix:<its seed>`."""
    text = text.strip()
    if text.startswith(PRETIX_KEY):
        return text
    try:
        return PRETIX_KEY + decode_ticket_message(split_secret(text)[0]).seed
    except MalformedPayload as exc:
        raise Refused(f"{text[:40]!r} is neither pretix:SEED nor a pretix_sig1 secret ({exc})") from None


def ticket_revoke(store, org, args) -> int:
    """A pretix ticket (a key this server did not issue) revoked at one event's devices, or its revocation lifted."""
    key = pretix_key(args.ticket_key)
    result = store.revoke_key(org, args.event, key, args.reason, active=not args.lift)
    done = "revocation lifted" if args.lift else f"revoked ({args.reason})"
    return emit(args, result, f"ticket {key} {done} at event {args.event}; devices get it live or with the next sync")


def ticket_show(store, org, args) -> int:
    t = _own_ticket(store, org, args.ticket_key)
    line = next(x for x in store.order(t["order_number"])["tickets"] if x["ticket_id"] == t["ticket_id"])
    # the doors refuse it: said with its QR, with the reason
    cancel = t.pop("quick_cancelled")
    shown = dict(t, quick_cancelled=quick_cancel_text(cancel) if cancel else "no", revoked=line["revoked"] or "no",
                 blocked=line["blocked"] or "no")
    t.update(ticket_states(dict(line, quick_cancelled=cancel)))
    t["check_in"] = check_ins(store, org, t["target_id"]).get(t["ticket_key"], [])
    t["payload"] = store.issue_ticket_payload(args.ticket_key)
    shown.update(check_in=check_in_text(t["check_in"]), payload=t["payload"])
    return emit(args, t, "\n".join(f"{k:>15}: {v}" for k, v in shown.items()))


def keys_list(store, org, args) -> int:
    keys = store.key_infos(org, TICKET) + store.key_infos(org, SERVER)
    return emit(args, keys, keys_text(keys))


def keys_rotate(store, org, args) -> int:
    retire = None if args.retire_old_in is None else time.time() + args.retire_old_in * 3600
    key = store.rotate_key(org, retire_old_at=retire)
    info = {"key_id": key.key_id, "fingerprint": key.fingerprint, "old_keys_retire_at": retire}
    return emit(args, info, f"new ticket key {key.key_id} {key.fingerprint}; push to the devices so they trust it "
                            f"before tickets signed with it reach the doors")


def keys_export(store, org, args) -> int:
    ring = store.keyring(org)
    tmp = args.out.with_name(args.out.name + ".part")
    ring.save(tmp)
    tmp.replace(args.out)
    info = {"file": str(args.out), "keys": [k.key_id for k in ring.keys.values()],
            "server_public_key": store.server_public_key(org).hex()}
    return emit(args, info, f"{len(ring.keys)} public ticket key(s) written to {args.out}")


def cmd_export(store, org, args) -> int:
    from server_stub.eticket import export          # Pillow + fpdf2: loaded only by the command that draws
    if bool(args.order) == (args.event is not None):
        raise Refused("give an order number or --event N (not both)")
    skipped: list[dict] = []
    if args.order:
        order = store.order(args.order)
        if order["org"] != org:
            raise Refused(f"order {order['number']} belongs to another organiser")
        keys = [t["ticket_key"] for t in order["tickets"]]      # as send-etickets: the valid ones (after an exchange)
    else:
        if store.event(args.event)["organiser"] != org:
            raise Refused(f"event {args.event} belongs to another organiser")
        keys = []
        for row in store.tickets_for_event(args.event):
            if row["order_status"] in ("cancelled", "refunded"):
                skipped.append({"ticket_key": row["ticket_key"], "reason": f"order {row['order_status']}"})
            else:
                keys.append(row["ticket_key"])
    formats = ("png", "pdf") if args.format == "both" else (args.format,)
    with Progress(len(keys), "rendering e-tickets") as bar:
        files = export(store, keys, args.out, formats, progress=bar, skipped=skipped)
    if args.order and not files:            # nothing to hand the buyer: why, once per reason
        raise Refused("; ".join(dict.fromkeys(x["reason"] for x in skipped)))
    result = {"out": str(args.out), "files": [str(f) for f in files], "skipped": skipped}
    return emit(args, result, f"{len(files)} file(s) written to {args.out}"
                + (f"; {len(skipped)} ticket(s) skipped (cancelled, revoked or blocked)" if skipped else ""))
