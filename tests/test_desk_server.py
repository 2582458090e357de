"""The desk on the server (server_stub/store/sales.py): catalogue, stock, promotions, online sales and refunds,
offline allotments and their reconciliation — on both store backends; then through a real mosquitto: two kiosks
racing for the last 10 tickets, and a kiosk cut off from the broker selling under its allotment."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.allotment import Certificate, encode_offline_ticket, sign_certificate
from agent.sync import BrokerConfig, PahoTransport, topics
from agent.sync.messages import (ActionItem, AllotmentRequest, DeskAnswer, ExchangeRequest, OfflineSale, RefundRequest, SaleLine,
                                 SaleRequest, SoldTicket, TillRequest)
from agent.sync.signed import Verifier
from agent.ticket_format import Ticket
from agent.verdicts import Code
from server_stub.sync.contract import Upload
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, server_listening, start_server
from server_stub.sync.sim_device import SimDevice

NOW = time.time()


def _event(store) -> int:
    e = store.create_event("fest", "Night", NOW - 3600, NOW + 7200, categories=[{"category_id": 1, "name": "Std"},
                                                                             {"category_id": 2, "name": "VIP"}])
    store.set_price("fest", e, 1, 1500)
    store.set_price("fest", e, 2, 4000)
    return e


def sale(e: int, *lines: tuple[int, int], **kw) -> SaleRequest:
    return SaleRequest("fest", "kiosk-1", kw.pop("request_id", uuid.uuid4().hex), e,
                       tuple(SaleLine(c, q) for c, q in lines), **kw)


@pytest.fixture
def desk(store):
    store.register_device("fest", "kiosk-1", role="kiosk")
    return store, _event(store)


def test_sale_priced_with_promotion_stored_on_the_line_and_signed(desk):
    store, e = desk
    store.add_promotion("fest", "x_for_y", e, category=1, x=4, y=3)
    a = store.sell("fest", "kiosk-1", sale(e, (1, 4), (2, 1)))
    assert a.ok, a.reason
    assert a.total_cents == 3 * 1500 + 4000 and len(a.tickets) == 5
    assert all(t.payload.startswith("TG1:") for t in a.tickets)
    lines = store.order_lines(a.order_number)
    assert [(x["category"], x["quantity"], x["discount_cents"], x["promotion"]) for x in lines] == [
        (1, 4, 1500, "4 for 3"), (2, 1, 0, None)]
    assert store.order(a.order_number)["status"] == "paid"


def test_a_pass_has_its_own_price_and_stock(desk):
    store, e = desk
    other = _event(store)
    festival = store.create_pass("fest", "Both nights", [e, other])
    store.set_price("fest", festival, 1, 2600)
    store.set_quota("fest", festival, 1)
    a = store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "p1", festival, (SaleLine(1, 1),)))
    assert a.ok and a.total_cents == 2600 and store.ticket(a.tickets[0].ticket_key)["target_kind"] == "pass"
    from agent.ticket_format import parse_payload
    assert parse_payload(a.tickets[0].payload).ticket.is_pass
    assert "sold out" in store.sell("fest", "kiosk-1", SaleRequest("fest", "kiosk-1", "p2", festival,
                                                                   (SaleLine(1, 1),))).reason
    assert store.quotas(e) == []                 # the events' own stock is theirs


def test_the_same_request_again_sells_nothing_more(desk):
    store, e = desk
    store.set_quota("fest", e, 5)
    req = sale(e, (1, 2))
    first, again = store.sell("fest", "kiosk-1", req), store.sell("fest", "kiosk-1", req)
    assert first.ok and again.order_number == first.order_number and again.tickets == first.tickets
    assert store.quotas(e)[0]["sold"] == 2


def test_quotas_per_event_category_and_zone_refuse_by_name(desk):
    store, e = desk
    store.set_quota("fest", e, 10)
    store.set_quota("fest", e, 2, scope="category", ref=2)
    assert store.sell("fest", "kiosk-1", sale(e, (2, 2))).ok
    refused = store.sell("fest", "kiosk-1", sale(e, (2, 1), (1, 1)))
    assert not refused.ok and "sold out" in refused.reason and "category 2 has 0 left" in refused.reason
    assert {q["scope"]: q["sold"] for q in store.quotas(e)} == {"event": 2, "category": 2}   # nothing half-taken


def test_promo_code_usage_limit_window_and_unknown(desk):
    store, e = desk
    store.add_promotion("fest", "percent", e, percent=50, code="half", max_uses=1)
    store.add_promotion("fest", "fixed", e, amount_cents=500, code="LATE", valid_from=NOW + 3600)
    assert store.sell("fest", "kiosk-1", sale(e, (1, 2), promo_code="HALF")).total_cents == 1500
    assert "used up" in store.sell("fest", "kiosk-1", sale(e, (1, 1), promo_code="half")).reason
    assert "not valid now" in store.sell("fest", "kiosk-1", sale(e, (1, 1), promo_code="late")).reason
    assert "unknown promo code" in store.sell("fest", "kiosk-1", sale(e, (1, 1), promo_code="nope")).reason


def test_sales_window_per_order_limit_and_price_shown(desk):
    store, e = desk
    store.set_sales_window("fest", e, max_per_order=3)
    assert "at most 3 per order" in store.sell("fest", "kiosk-1", sale(e, (1, 4))).reason
    assert "price changed" in store.sell("fest", "kiosk-1", sale(e, (1, 1), expected_cents=1000)).reason
    assert "no price" in store.sell("fest", "kiosk-1", sale(e, (7, 1))).reason
    store.set_sales_window("fest", e, closes_at=NOW - 1)
    assert store.sell("fest", "kiosk-1", sale(e, (1, 1))).reason == "sales closed"


def test_refund_and_door_quick_cancel_put_tickets_back_on_sale(desk):
    store, e = desk
    store.set_quota("fest", e, 3)
    a = store.sell("fest", "kiosk-1", sale(e, (1, 2)))
    back = store.desk_refund("fest", "kiosk-1", RefundRequest("fest", "kiosk-1", "r1", a.order_number, "ill"))
    assert back.ok and back.total_cents == 3000 and back.status == "refunded"
    assert store.quotas(e)[0]["sold"] == 0
    b = store.sell("fest", "kiosk-1", sale(e, (1, 3)))
    assert b.ok and store.quotas(e)[0]["left"] == 0
    key = b.tickets[0].ticket_key
    store.register_device("fest", "door-1", events=[e])
    cancel = ActionItem("c-1", "cancel", key, e, None, NOW, "door-1")
    for _ in range(2):       # uploaded twice: released once
        store.ingest_uploads([Upload("fest", "door-1", 1, cancel)])
    assert store.quotas(e)[0]["sold"] == 2 and store.order(b.order_number)["status"] == "paid"
    store.ingest_uploads([Upload("fest", "door-1", 2, ActionItem("a-1", "annul", key, e, None, NOW, "door-1",
                                                                  ref_uuid="c-1"))])
    assert store.quotas(e)[0]["sold"] == 3
    # every ticket of the order quick-cancelled: the order is not paid any more; one taken back: paid again
    for i, t in enumerate(b.tickets):
        store.ingest_uploads([Upload("fest", "door-1", 10 + i, ActionItem(f"c-{10 + i}", "cancel", t.ticket_key, e,
                                                                          None, NOW, "door-1"))])
    order = store.order(b.order_number)
    assert (order["status"], order["reason"], store.quotas(e)[0]["sold"]) == (
        "cancelled", "quick-cancelled at the door (was paid)", 0)
    store.ingest_uploads([Upload("fest", "door-1", 20, ActionItem("a-2", "annul", b.tickets[0].ticket_key, e, None,
                                                                  NOW, "door-1", ref_uuid="c-10"))])
    assert store.order(b.order_number)["status"] == "paid" and store.quotas(e)[0]["sold"] == 1


def test_exchange_to_another_date_and_category_with_the_price_difference(desk):
    store, e = desk
    other = _event(store)
    store.set_price("fest", other, 2, 5000)
    store.set_quota("fest", e, 5)
    store.set_quota("fest", other, 1)
    store.add_promotion("fest", "percent", e, percent=20)
    a = store.sell("fest", "kiosk-1", sale(e, (1, 2)))             # paid 1200 each
    x = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x1", a.tickets[0].ticket_key,
                                                               "date change", other, 2))
    assert x.ok, x.reason
    assert x.difference_cents == 5000 - 1200 and x.tickets[0].payload.startswith("TG1:")
    new = store.ticket(x.tickets[0].ticket_key)
    assert (new["target_id"], new["category"], new["order_number"]) == (other, 2, a.order_number)
    assert store.order(a.order_number)["tickets"][0]["revoked"].startswith("exchanged")
    assert store.quotas(e)[0]["sold"] == 1 and store.quotas(other)[0]["sold"] == 1
    full = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x2", a.tickets[1].ticket_key,
                                                                  "date change", other, 2))
    assert not full.ok and "sold out" in full.reason
    assert store.order(a.order_number)["tickets"][1]["revoked"] is None and store.quotas(e)[0]["sold"] == 1
    cheaper = store.desk_exchange("fest", "kiosk-1", ExchangeRequest("fest", "kiosk-1", "x3", a.tickets[1].ticket_key,
                                                                     "upgrade refused", None, 1))
    assert cheaper.ok and cheaper.difference_cents == 1500 - 1200


def _raw(k: Ed25519PrivateKey) -> bytes:
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_allotment_holds_stock_reconciles_offline_sales_and_revocation_releases(desk):
    store, e = desk
    store.set_quota("fest", e, 10)
    with pytest.raises(Exception, match="no offline allotment"):
        store.grant_allotment("fest", "kiosk-1", _raw(Ed25519PrivateKey.generate()))
    store.set_allotment_size("fest", "kiosk-1", [e], 4, hours=2)
    kiosk = Ed25519PrivateKey.generate()
    cert = store.grant_allotment("fest", "kiosk-1", _raw(kiosk))
    assert store.quotas(e)[0]["held"] == 4 and store.quotas(e)[0]["left"] == 6
    sold = OfflineSale("s-1", cert.allotment_id, e, (SoldTicket(str(cert.first_id), 1), SoldTicket(str(cert.first_id + 1), 2)),
                       5500, "kiosk-1")
    for _ in range(2):      # re-uploaded: one order
        store.ingest_uploads([Upload("fest", "kiosk-1", 9, sold)])
    assert store.quotas(e)[0] == dict(store.quotas(e)[0], sold=2, held=2)
    assert store.ticket(str(cert.first_id))["order_status"] == "paid"
    store.register_device("fest", "kiosk-2", role="kiosk")
    theirs = OfflineSale("s-9", cert.allotment_id, e, (SoldTicket(str(cert.first_id + 3), 1),), 1500, "kiosk-2")
    assert "is not kiosk-2's" in store.ingest_uploads([Upload("fest", "kiosk-2", 1, theirs)]).refused[("kiosk-2", 1)]
    too_many = OfflineSale("s-8", cert.allotment_id, e, tuple(SoldTicket(str(cert.first_id + i), 1) for i in (2, 3, 4)),
                           4500, "kiosk-1")
    assert "4 allowed" in store.ingest_uploads([Upload("fest", "kiosk-1", 12, too_many)]).refused[("kiosk-1", 12)]
    assert store.quotas(e)[0] == dict(store.quotas(e)[0], sold=2, held=2)     # refused: nothing moved
    outside = OfflineSale("s-2", cert.allotment_id, e, (SoldTicket(str(cert.last_id + 1), 1),), 1500, "kiosk-1")
    refused = store.ingest_uploads([Upload("fest", "kiosk-1", 10, outside)]).refused
    assert "outside allotment" in refused[("kiosk-1", 10)]
    # half sold, hours left: not due a refill (a stolen kiosk asking again and again: test_attack_scope.py)
    with pytest.raises(Exception, match="not due a refill: 2 of 4"):
        store.grant_allotment("fest", "kiosk-1", _raw(kiosk))
    # a refill within the last hour: the next certificate holds 4 again, the first one's unsold rest (2) is released
    refill = store.grant_allotment("fest", "kiosk-1", _raw(kiosk), now=cert.valid_until - 1800)
    assert refill.first_id > cert.last_id and store.quotas(e)[0] == dict(store.quotas(e)[0], sold=2, held=4)
    late = OfflineSale("s-3", cert.allotment_id, e, (SoldTicket(str(cert.first_id + 2), 1),), 1500, "kiosk-1")
    store.ingest_uploads([Upload("fest", "kiosk-1", 11, late)])        # sold under the first one, arriving late
    assert store.quotas(e)[0] == dict(store.quotas(e)[0], sold=3, held=4)
    revoked = store.revoke_allotment("fest", cert.allotment_id, "tablet stolen")
    assert revoked["revoked"] and store.quotas(e)[0]["held"] == 4       # superseded: it held nothing any more
    store.revoke_allotment("fest", refill.allotment_id, "tablet stolen")
    assert store.quotas(e)[0] == dict(store.quotas(e)[0], sold=3, held=0)
    assert {r["ticket_key"] for r in store.revocations_for_event(e)} >= {f"allotment:{cert.allotment_id}"}


# -- through a real mosquitto -----------------------------------------------------------------------------------
class Kiosk:
    """A kiosk's online desk client over MQTT (its up/down topics), answers verified with the server key."""

    def __init__(self, name: str, port: int, server_key: bytes, client_id: str | None = None):
        self.name, self.answers = name, {}
        self.verifier = Verifier(server_key)
        self.t = PahoTransport(client_id or name, BrokerConfig(port=port))
        self.t.on_message = self._got
        self.t.subscribe(topics.down(ORG, name))
        self.t.start()
        # connected means subscribed first: a request published before would race the subscription, and the answer
        # could reach the broker before it (lost; seen once in a busy full-suite run)
        assert self.t.wait_connected(10)

    def _got(self, topic: str, payload: bytes) -> None:
        body = self.verifier.open(payload)
        if body.get("type") == "desk_answer":
            a = DeskAnswer.from_wire(body)
            self.answers[a.request_id] = a

    def ask(self, msg) -> None:
        self.t.publish(topics.up(ORG, self.name), json.dumps(msg.to_wire()).encode(), wait=5)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_two_kiosks_racing_for_the_last_10_tickets_never_oversell(tmp_path, broker, db, request):
    url = request.getfixturevalue("pg_server").create_database() if db == "postgresql" else None
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=(), db=url)
    store.set_price(ORG, event, 1, 2000)
    store.set_quota(ORG, event, 10)
    for k in ("kiosk-a", "kiosk-b"):
        store.register_device(ORG, k, events=[event], role="kiosk")
    server = start_server(store, broker.port, limits=None)
    kiosks = [Kiosk(k, broker.port, store.server_public_key(ORG)) for k in ("kiosk-a", "kiosk-b")]
    try:
        assert server_listening(broker.port) and all(k.t.wait_connected(10) for k in kiosks)
        def burst(k: Kiosk) -> None:
            for i in range(15):
                k.ask(SaleRequest(ORG, k.name, f"{k.name}-{i}", event, (SaleLine(1, 1),)))
        threads = [threading.Thread(target=burst, args=(k,)) for k in kiosks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert wait_for(lambda: sum(len(k.answers) for k in kiosks) == 30, 30)
        answers = [a for k in kiosks for a in k.answers.values()]
        assert sum(a.ok for a in answers) == 10
        assert all("sold out" in a.reason for a in answers if not a.ok)
        assert store.count_tickets(event) == 10 and store.quotas(event)[0]["sold"] == 10
    finally:
        for k in kiosks:
            k.t.stop()
        server.stop()
        store.close()
        if url:
            request.getfixturevalue("pg_server").drop_database(url)


def test_kiosk_cut_off_sells_under_its_allotment_and_nothing_is_lost(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=2, devices=("door-1",))
    store.set_price(ORG, event, 1, 2000)
    store.set_quota(ORG, event, 50)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    store.set_allotment_size(ORG, "kiosk-1", [event], 5, hours=4, categories=[1])
    server = start_server(store, broker.port, limits=None)
    server_key = store.server_public_key(ORG)
    kiosk_key = Ed25519PrivateKey.generate()
    door = SimDevice(tmp_path / "door", ORG, "door-1", server_key, BrokerConfig(port=broker.port), [event],
                     options=FAST).go_online()
    kiosk_dev = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", server_key, BrokerConfig(port=broker.port), [event],
                          options=FAST, role="kiosk")
    desk = Kiosk("kiosk-1", broker.port, server_key, client_id="kiosk-1-desk")   # its desk channel, offline later
    try:
        assert wait_for(lambda: door.ready(2), 20)
        # online: the kiosk's own key certified by the server
        desk.ask(AllotmentRequest(ORG, "kiosk-1", "al-1", __import__("base64").b64encode(_raw(kiosk_key)).decode()))
        assert wait_for(lambda: "al-1" in desk.answers, 10)
        granted = desk.answers["al-1"]
        assert granted.ok, granted.reason
        cert = Certificate.from_text(granted.certificate)
        desk.t.stop()                                    # cut off from the broker
        # offline (the kiosk never goes online until it reconciles): 3 tickets sold, durable in its outbox first
        sold = [encode_offline_ticket(Ticket(cert.key_id, event, cert.first_id + i, category=1), cert, kiosk_key)
                for i in range(3)]
        kiosk_dev.ledger.enqueue("kiosk", OfflineSale(
            "sale-1", cert.allotment_id, event, tuple(SoldTicket(str(cert.first_id + i), 1) for i in range(3)),
            6000, "kiosk-1").to_wire())
        # the door never saw them online: admitted offline, once each
        assert [door.scan(p).code for p in sold] == [Code.ACCEPTED] * 3
        assert door.scan(sold[0]).code is Code.ALREADY_USED
        # a forged allotment (certificate signed by a key no organiser holds) is refused
        rogue = Ed25519PrivateKey.generate()
        forged = sign_certificate(cert, Ed25519PrivateKey.generate())
        bad = encode_offline_ticket(Ticket(cert.key_id, event, cert.first_id + 4, category=1),
                                    Certificate(**{**forged.__dict__, "public_key": _raw(rogue)}), rogue)
        assert door.scan(bad).code is Code.UNCERTIFIED
        # the organiser revokes the allotment: the door learns it live, its unsold tickets are refused
        store.revoke_allotment(ORG, cert.allotment_id, "tablet stolen")
        late = encode_offline_ticket(Ticket(cert.key_id, event, cert.first_id + 3, category=1), cert, kiosk_key)
        assert wait_for(lambda: door.ledger.history(f"allotment:{cert.allotment_id}").revoked is not None, 10)
        v = door.scan(late)
        assert v.code is Code.UNCERTIFIED and v.reason.value == "allotment_revoked"
        # reconnect: the outbox reaches the server, the sale is reconciled, 0 lost
        kiosk_dev.go_online()
        assert wait_for(lambda: kiosk_dev.ledger.outbox_size() == 0, 20)
        assert [store.ticket(str(cert.first_id + i))["order_status"] for i in range(3)] == ["paid"] * 3
    finally:
        desk.t.stop()
        door.close()
        kiosk_dev.close()
        server.stop()
        store.close()


def test_organiser_cli_manages_the_catalogue(tmp_path):
    """`ticketgate server price|quota|promo|sales-window|allotment` in subprocesses, --json on every read."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    data = tmp_path / "srv"

    def run(*argv, ok=True):
        done = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), *argv], cwd=root,
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return json.loads(done.stdout) if "--json" in argv and ok else done
    run("init", "--org", "fest", "--name", "Fest")
    e = run("event", "create", "--name", "Night", "--start", "2030-01-01 20:00", "--end", "2030-01-01 23:00",
            "--category", "1=Std", "--json")["event_id"]
    run("price", "set", str(e), "--category", "1", "--cents", "1500", "--currency", "chf")
    assert run("price", "list", str(e), "--json") == {"target_id": e, "currency": "CHF", "prices": {"1": 1500}}
    run("quota", "set", str(e), "--capacity", "100")
    assert run("quota", "list", str(e), "--json")[0]["left"] == 100
    run("promo", "add", "--target", str(e), "--x-for-y", "4:3", "--category", "1")
    assert run("promo", "list", "--json")[0]["label"] == "4 for 3"
    run("sales-window", "set", str(e), "--max-per-order", "6")
    assert run("sales-window", "show", str(e), "--json")["max_per_order"] == 6
    bad = run("price", "set", str(e), "--category", "1", "--cents", "-5", ok=False)
    assert "price -5" in bad.stderr
    run("device", "register", "kiosk-1", "--role", "kiosk", "--events", str(e))
    run("allotment", "set", "kiosk-1", "--events", str(e), "--count", "20")
    assert run("allotment", "list", "--json") == []
    assert "no allotment 9" in run("allotment", "revoke", "9", "--reason", "x", ok=False).stderr


def test_desk_requests_only_from_kiosks_for_their_events(tmp_path, broker):
    """A door device asking to sell, and a kiosk asking for an event it does not hold, are refused by name; a door
    uploading an offline sale is refused at ingestion (role)."""
    from server_stub.sync.ingest import Scope
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=("door-1",))
    other = store.create_event(ORG, "Other night", NOW, NOW + 3600, categories=[{"category_id": 1, "name": "S"}])
    for e in (event, other):
        store.set_price(ORG, e, 1, 1000)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    server = start_server(store, broker.port)             # the default per-device rate limit
    key = store.server_public_key(ORG)
    door, kiosk = Kiosk("door-1", broker.port, key), Kiosk("kiosk-1", broker.port, key)
    try:
        door.ask(SaleRequest(ORG, "door-1", "d1", event, (SaleLine(1, 1),)))
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "k1", other, (SaleLine(1, 1),)))
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "k2", event, (SaleLine(1, 1),)))
        assert wait_for(lambda: "d1" in door.answers and len(kiosk.answers) == 2, 10)
        assert door.answers["d1"].reason == "not allowed: door-1 is not a kiosk"
        # a stolen door trying the desk's other requests: a refund, an allotment, the till's shift open and close
        for request in (RefundRequest(ORG, "door-1", "d2", "ORD-1", "changed plans"),
                        AllotmentRequest(ORG, "door-1", "d3", "AAAA"),
                        TillRequest(ORG, "door-1", "d4", action="open", cents=1000),
                        TillRequest(ORG, "door-1", "d5", action="close", cents=0)):
            door.ask(request)
        assert wait_for(lambda: {"d2", "d3", "d4", "d5"} <= set(door.answers), 10)
        assert {door.answers[r].reason for r in ("d2", "d3", "d4", "d5")} == {"not allowed: door-1 is not a kiosk"}
        assert store.shifts(ORG, "door-1") == []
        assert kiosk.answers["k1"].reason == f"not allowed: {other} is not an event of kiosk-1"
        assert kiosk.answers["k2"].ok and store.count_tickets(event) == 1 and store.count_tickets(other) == 0
        # a flood of sales beyond the device's rate limit (1,000 tickets burst) is answered "busy", nothing sold
        kiosk.ask(SaleRequest(ORG, "kiosk-1", "k3", event, tuple(SaleLine(1, 1000) for _ in range(2))))
        assert wait_for(lambda: "k3" in kiosk.answers, 10)
        assert kiosk.answers["k3"].reason.startswith("busy: over this device's rate") and store.count_tickets(event) == 1
    finally:
        door.t.stop()
        kiosk.t.stop()
        server.stop()
    scope = Scope(dict(store.device("door-1")), lambda: {event}, lambda n: (None, ()), lambda k: (None, ()))
    sale_item = OfflineSale("s", 1, event, (SoldTicket("1", 1),), 0, "door-1")
    assert "comes only from kiosk devices" in scope.refusal(sale_item)
    store.close()
