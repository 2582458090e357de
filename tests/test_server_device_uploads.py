"""Refused uploads and the rollback of a revoked device, on both store backends (SQLite file, PostgreSQL)."""
from __future__ import annotations

import json
import time

import pytest

from agent.sync.messages import ActionItem, Exchange, PaymentValidated
from server_stub.store import StoreError
from server_stub.sync.contract import Upload

NOW = time.time()


def _setup(store):
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    paid_here = store.add_order("fest", event, "Pay Here", status="pending", positions=[{"category": 1}])
    swapped = store.add_order("fest", event, "Swap", positions=[{"category": 1}])
    entered = store.add_order("fest", event, "In", positions=[{"category": 1}] * 2)
    keys = [t["ticket_key"] for t in entered["tickets"]]
    items = [ActionItem("u1", "entry", keys[0], event, "in", NOW, "kiosk-1"),
             ActionItem("u2", "entry", keys[1], event, "in", NOW, "kiosk-1"),
             ActionItem("u3", "annul", keys[1], event, None, NOW + 1, "kiosk-1", ref_uuid="u2", reason="oops"),
             PaymentValidated(paid_here["number"], "kiosk-1", "Zoé", NOW),
             Exchange(swapped["tickets"][0]["ticket_key"], "torn", "kiosk-1", at=NOW)]
    result = store.ingest_uploads([Upload("fest", "kiosk-1", i + 1, item) for i, item in enumerate(items)])
    assert result.new == 5 and not result.refused
    return event, paid_here, swapped, keys


def test_refusals_are_recorded_once_and_listed(store):
    store.register_device("fest", "gate-a")
    body = {"type": "kiosk", "action": "payment_validated", "order_number": "X"}
    store.record_refusals("fest", "gate-a", [(7, "not allowed: a door", body), (8, "rate: too big", {"type": "action"})])
    store.record_refusals("fest", "gate-a", [(7, "not allowed: a door", body)])          # the same row sent again
    listed = store.refusals("fest", "gate-a")
    assert [(r["outbox_id"], r["reason"]) for r in listed] == [(8, "rate: too big"), (7, "not allowed: a door")]
    assert listed[1]["body"] == body and store.refusal_counts("fest") == {"gate-a": 2}
    assert store.refusals("fest", "nobody") == []


def test_rollback_of_a_revoked_device(store):
    event, paid_here, swapped, keys = _setup(store)
    old_key = swapped["tickets"][0]["ticket_key"]
    replacement = [t for t in store.order(swapped["number"])["tickets"] if t["ticket_key"] != old_key][0]["ticket_key"]
    assert store.order(paid_here["number"])["status"] == "paid"
    with pytest.raises(StoreError, match="revoke it first"):
        store.rollback_device("kiosk-1", "stolen")
    store.revoke_device("kiosk-1")
    before = store.version("fest")
    done = store.rollback_device("kiosk-1", "stolen")
    assert done["annulled"] == 1                       # u2 was annulled by the device itself already
    assert done["payments"] == [paid_here["number"]] and done["exchanges"] == [{"ticket_key": old_key,
                                                                                 "replacement": replacement}]
    assert store.order(paid_here["number"])["status"] == "pending"
    tickets = {t["ticket_key"]: t for t in store.order(swapped["number"])["tickets"]}
    assert tickets[old_key]["revoked"] is None and tickets[replacement]["revoked"]
    server_actions = store.resets_for_event(event, before)
    assert [(a["kind"], a["ref_uuid"], a["ticket_key"]) for a in server_actions] == [("annul", "u1", keys[0])]
    stats = store.stats("fest", event)
    assert stats["entries"] == 0
    uploads = store.device_uploads("kiosk-1")
    assert {u["scan_uuid"]: u["rolled_back"] for u in uploads if u["type"] == "action"} == {"u1": True, "u2": False,
                                                                                          "u3": False}
    assert all(u["rolled_back"] for u in uploads if u["type"] == "kiosk")
    again = store.rollback_device("kiosk-1", "stolen")
    assert (again["annulled"], again["payments"], again["exchanges"]) == (0, [], [])


def test_scope_of_a_device_registered_with_a_pass_or_nothing(store):
    from server_stub.sync.ingest import Scope, held_events, store_lookups
    e1, e2, e3 = (store.create_event("fest", f"Night {i}", NOW, NOW + 3600, "UTC") for i in (1, 2, 3))
    weekend = store.create_pass("fest", "Weekend", [e1, e2])
    assert held_events(store, "fest", [weekend]) == {e1, e2}
    assert held_events(store, "fest", []) == {e1, e2, e3}
    scope = Scope({"device_id": "gate-p", "org": "fest"}, lambda: held_events(store, "fest", [weekend]),
                  *store_lookups(store))
    assert scope.refusal(ActionItem("a", "entry", "pretix:1", e2, "in", NOW, "gate-p")) is None
    assert "event 3 is not an event of gate-p" in scope.refusal(ActionItem("b", "entry", "pretix:1", e3, "in", NOW, ""))


def test_scope_of_kiosk_items_and_default_deny(store):
    from agent.sync.messages import OfflineSale, Printed, SoldTicket
    from server_stub.sync.ingest import Scope, held_events, store_lookups
    e1, e2 = (store.create_event("fest", f"Night {i}", NOW, NOW + 3600, "UTC") for i in (1, 2))
    kiosk = Scope({"device_id": "k", "org": "fest", "role": "kiosk"}, lambda: held_events(store, "fest", [e1]),
                  *store_lookups(store))
    door = Scope({"device_id": "d", "org": "fest", "role": "door"}, lambda: held_events(store, "fest", [e1]),
                 *store_lookups(store))
    sale = OfflineSale("s-1", 1, e1, (SoldTicket("140737488355330", 0, None, "TG2:x"),), 1000, "k")
    assert kiosk.refusal(sale) is None
    assert "event or pass" in kiosk.refusal(OfflineSale("s-2", 1, e2, sale.tickets, 1000, "k"))
    assert "unknown event or pass 999" == kiosk.refusal(OfflineSale("s-3", 1, 999, sale.tickets, 1000, "k"))
    assert "comes only from kiosk devices" in door.refusal(OfflineSale("s-4", 1, e1, sale.tickets, 1000, "d"))
    assert kiosk.refusal(Printed("", (), "k")) is None


def test_uploads_name_the_order_of_each_entry_in_the_command_and_its_json(store, open_backend, tmp_path, capsys):
    """`server device uploads DEVICE` showed "order -" for every entry: the order is its ticket's (joined), a kiosk
    message keeps the one it names; a key the store never issued (pretix) has none. SQLite and PostgreSQL."""
    from agent.cli import main as ticketgate
    event, paid_here, swapped, keys = _setup(store)
    entered = store.ticket(keys[0])["order_number"]
    store.ingest_uploads([Upload("fest", "kiosk-1", 6, ActionItem("u6", "entry", "pretix:abc", event, "in", NOW + 2,
                                                                   "kiosk-1"))])
    orders = {(u["kind"], u["ticket_key"]): u["order_number"] for u in store.device_uploads("kiosk-1")}
    assert orders[("entry", keys[0])] == orders[("entry", keys[1])] == orders[("annul", keys[1])] == entered
    assert orders[("payment_validated", None)] == paid_here["number"]
    assert orders[("exchange", swapped["tickets"][0]["ticket_key"])] == swapped["number"]
    assert orders[("entry", "pretix:abc")] is None

    url = open_backend.url(tmp_path / "server")
    command = ["server", "--data", str(tmp_path / "server"), *(["--db", url] if url else []), "device", "uploads",
               "kiosk-1"]
    capsys.readouterr()
    assert ticketgate(command) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if f"ticket {keys[0]} " in x]
    assert len(lines) == 1 and f"order {entered} event {event}" in lines[0], lines
    assert ticketgate([*command, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [u["order_number"] for u in listed if u["ticket_key"] == keys[0]] == [entered]


def test_rollback_of_a_kiosks_desk_requests(store):
    """Sales, refunds and exchanges a kiosk had the server do: listed, undone newest first (its refund of its own
    sale before the sale), once; the money moved listed as not undone; its allotment revoked."""
    from agent.sync.messages import ExchangeRequest, RefundRequest, SaleLine, SaleRequest
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [],
                               [{"category_id": 1, "name": "A"}, {"category_id": 2, "name": "B"}])
    store.set_price("fest", event, 1, 1000)
    store.set_price("fest", event, 2, 1500)
    store.set_quota("fest", event, 10)
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    store.add_promotion("fest", "percent", event, percent=50, code="HALF", max_uses=1)
    store.set_allotment_size("fest", "kiosk-1", [event], 2)
    store.grant_allotment("fest", "kiosk-1", b"k" * 32)
    genuine = store.add_order("fest", event, "Genuine", positions=[{"category": 1}] * 2)
    head = {"org": "fest", "device": "kiosk-1"}
    sold = store.sell("fest", "kiosk-1", SaleRequest(**head, request_id="s1", target_id=event, lines=(SaleLine(1, 2),),
                                                     promo_code="HALF"))
    assert store.desk_refund("fest", "kiosk-1", RefundRequest(**head, request_id="r1", order_number=sold.order_number,
                                                              reason="mine")).ok
    assert store.desk_refund("fest", "kiosk-1", RefundRequest(**head, request_id="r2",
                                                              order_number=genuine["number"], reason="theirs")).ok
    old = store.order(store.sell("fest", "kiosk-1", SaleRequest(**head, request_id="s2", target_id=event,
                                                                 lines=(SaleLine(1, 1),))).order_number)
    swap = store.desk_exchange("fest", "kiosk-1", ExchangeRequest(**head, request_id="x1", reason="up", category=2,
                                                                  ticket_key=old["tickets"][0]["ticket_key"]))
    assert swap.ok and swap.difference_cents == 500
    listed = [u for u in store.device_uploads("kiosk-1") if u["type"] == "desk"]
    assert [(u["kind"], u["amount_cents"]) for u in listed] == [("sale", 1000), ("refund", -1000), ("refund", 0),
                                                                ("sale", 1000), ("exchange", 500)]
    store.revoke_device("kiosk-1")
    done = store.rollback_device("kiosk-1", "stolen")
    assert sorted(done["sales"]) == sorted([sold.order_number, old["number"]])
    assert done["refunds"] == [genuine["number"], sold.order_number] and len(done["allotments"]) == 1
    assert done["exchanges"] == [{"ticket_key": old["tickets"][0]["ticket_key"],
                                  "replacement": swap.tickets[0].ticket_key}]
    assert any("10.00 EUR handed back" in x for x in done["not_undone"]), done["not_undone"]
    assert [p["uses"] for p in store.promotions("fest")] == [0]       # the one-use code works again
    back = store.order(genuine["number"])
    assert back["status"] == "paid" and not any(t["revoked"] for t in back["tickets"])
    assert store.order(sold.order_number)["status"] == "cancelled"
    assert store.quotas(event)[0]["sold"] == 2                   # the genuine order's 2 seats, nothing else
    assert all(u["rolled_back"] for u in store.device_uploads("kiosk-1") if u["type"] == "desk")
    again = store.rollback_device("kiosk-1", "stolen")
    assert (again["sales"], again["refunds"], again["exchanges"], again["allotments"]) == ([], [], [], [])


def test_rollback_of_a_kiosks_refund_lifts_only_what_the_refund_revoked(store):
    """A ticket exchanged at another desk stays revoked when the rollback undoes a stolen kiosk's refund of its
    order, even if the thief gave the refund the exchange's reason (the revocations' reasons alike)."""
    from agent.sync.messages import RefundRequest
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    order = store.add_order("fest", event, "Genuine", positions=[{"category": 1}] * 2)
    swapped = order["tickets"][0]["ticket_key"]
    replacement = store.exchange_ticket(swapped, "torn")["ticket_key"]          # at the organiser's desk
    assert store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", "r1", order["number"],
                                                              "exchanged: torn")).ok
    store.revoke_device("kiosk-1")
    assert store.rollback_device("kiosk-1", "stolen")["refunds"] == [order["number"]]
    revoked = {t["ticket_key"]: t["revoked"] for t in store.order(order["number"])["tickets"]}
    assert revoked[swapped] == "exchanged: torn", revoked
    assert revoked[replacement] is None and revoked[order["tickets"][1]["ticket_key"]] is None, revoked


@pytest.mark.parametrize("way", ["online", "offline"])
def test_rollback_of_a_kiosks_exchange_leaves_an_order_refunded_since(store, way):
    """An order the organiser refunded after a stolen kiosk's exchange of one of its tickets, online (a desk
    request) or offline (uploaded): the rollback does not make the exchanged ticket valid again (it said so:
    skipped)."""
    from agent.sync.messages import ExchangeRequest
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.set_price("fest", event, 1, 1000)
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    order = store.add_order("fest", event, "Genuine", positions=[{"category": 1}])
    old = order["tickets"][0]["ticket_key"]
    if way == "online":
        assert store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", old, "up")).ok
    else:
        assert store.ingest_uploads([Upload("fest", "kiosk-1", 1, Exchange(old, "torn", "kiosk-1", at=NOW))]).new == 1
    store.refund_order(order["number"], "buyer asked")
    store.revoke_device("kiosk-1")
    done = store.rollback_device("kiosk-1", "stolen")
    assert done["exchanges"] == [] and any("refunded since" in s for s in done["skipped"]), done
    assert all(t["revoked"] for t in store.order(order["number"])["tickets"])


def test_rollback_lists_the_entries_made_with_a_stolen_kiosks_tickets(store):
    """A ticket a stolen kiosk sold, admitted at a door: the sale is cancelled, and the entry listed as not undone
    (the holder is inside)."""
    from agent.sync.messages import SaleLine, SaleRequest
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.set_price("fest", event, 1, 1000)
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    store.register_device("fest", "gate-a", events=[event])
    sold = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "s1", target_id=event, lines=(SaleLine(1, 1),)))
    key = sold.tickets[0].ticket_key
    assert store.ingest_uploads([Upload("fest", "gate-a", 1, ActionItem("e1", "entry", key, event, "in", NOW,
                                                                         "gate-a", "north"))]).new == 1
    store.revoke_device("kiosk-1")
    done = store.rollback_device("kiosk-1", "stolen")
    assert done["sales"] == [sold.order_number]
    assert f"ticket {key} of order {sold.order_number} was admitted by gate-a (gate north): that entry stands" in \
        done["not_undone"], done["not_undone"]


def test_rollback_of_an_exchange_whose_replacement_was_exchanged_again(store):
    """A stolen kiosk exchanged A for B online; the organiser exchanged B for C since. The rollback leaves it: making
    A valid again would leave A and C both valid for one seat."""
    from agent.sync.messages import ExchangeRequest
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.set_price("fest", event, 1, 1000)
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    order = store.add_order("fest", event, "Genuine", positions=[{"category": 1}])
    a = order["tickets"][0]["ticket_key"]
    b = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", a, "up")).tickets[0].ticket_key
    c = store.exchange_ticket(b, "torn")["ticket_key"]
    store.revoke_device("kiosk-1")
    done = store.rollback_device("kiosk-1", "stolen")
    assert done["exchanges"] == [] and any("exchanged since" in s for s in done["skipped"]), done
    valid = [t["ticket_key"] for t in store.order(order["number"])["tickets"] if not t["revoked"]]
    assert valid == [c], valid


def test_rollback_undoes_a_chain_of_exchanges_newest_first(store):
    """A stolen kiosk exchanged A for B offline (uploaded), then B for C online, and D for E then E for F offline:
    the rollback undoes them newest first, whatever way they came, and leaves A and D valid, nothing else."""
    from agent.sync.messages import ExchangeRequest
    event = store.create_event("fest", "Night", NOW - 3600, NOW + 3600, "UTC", [], [{"category_id": 1, "name": "A"}])
    store.set_price("fest", event, 1, 1000)
    store.register_device("fest", "kiosk-1", events=[event], role="kiosk")
    order = store.add_order("fest", event, "Genuine", positions=[{"category": 1}] * 2)
    a, d = (t["ticket_key"] for t in order["tickets"])

    def offline(n: int, key: str) -> str:
        assert store.ingest_uploads([Upload("fest", "kiosk-1", n, Exchange(key, "torn", "kiosk-1", at=NOW))]).new == 1
        return next(u["replacement"] for u in store.device_uploads("kiosk-1") if u["ticket_key"] == key)

    b = offline(1, a)
    store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", b, "up"))
    e = offline(2, d)
    offline(3, e)
    store.revoke_device("kiosk-1")
    done = store.rollback_device("kiosk-1", "stolen")
    assert len(done["exchanges"]) == 4 and not done["skipped"], done
    valid = sorted(t["ticket_key"] for t in store.order(order["number"])["tickets"] if not t["revoked"])
    assert valid == sorted([a, d]), valid


def test_the_organiser_undoes_one_entry_of_a_device(store):
    """`server device annul`'s store side, on both backends: one entry of a device (revoked or not) undone by an
    organiser annulment that the gates receive, the entry kept; an annulment, an entry already undone, another
    device's or another organiser's entry refused."""
    from server_stub.store import NotFound
    from agent.errors import InvalidInput
    event, _, _, keys = _setup(store)
    before = store.version("fest")
    done = store.annul_upload("fest", "kiosk-1", "u1", "wrong person")
    assert (done["annulled"], done["kind"], done["ticket_key"]) == ("u1", "entry", keys[0])
    relayed = store.resets_for_event(event, before)
    assert [(a["kind"], a.get("ref_uuid")) for a in relayed] == [("annul", "u1")]
    assert [u["rolled_back"] for u in store.device_uploads("kiosk-1") if u["scan_uuid"] == "u1"] == [True]
    with pytest.raises(StoreError, match="already undone \\(by the organiser\\)"):
        store.annul_upload("fest", "kiosk-1", "u1", "again")
    with pytest.raises(StoreError, match="already undone \\(by kiosk-1\\)"):
        store.annul_upload("fest", "kiosk-1", "u2", "again")
    with pytest.raises(InvalidInput, match="is an annulment"):
        store.annul_upload("fest", "kiosk-1", "u3", "no")
    store.create_organiser("other", "Other")
    for org, device in (("fest", "gate-x"), ("other", "kiosk-1")):
        with pytest.raises(NotFound, match="no entry u1"):
            store.annul_upload(org, device, "u1", "no")
    with pytest.raises(InvalidInput, match="needs a reason"):
        store.annul_upload("fest", "kiosk-1", "u1", " ")
