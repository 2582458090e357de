"""A stolen kiosk, attacked with its broker login as a thief copies it off the phone (set up as the guides say:
`server init`, `provision serve` with its broker, `server serve`, `provision enroll` of a kiosk and a door), then
revoked and rolled back through the public commands. Each test fails on the defect it names."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch, Exchange, ExchangeRequest, RefundRequest, SaleLine, SaleRequest
from tests.helpers import wait_for
from tests.test_qa_attacks import (StolenLogin, enroll, field, serving, tg,  # noqa: F401  (`field`: the fixture)
                                    the_other_gate_is_still_counted)

PRICE = {1: 2000, 2: 2500}          # cents: Adult, VIP


@dataclass
class Desk:
    org: Path
    kiosk: Path         # the stolen kiosk
    door: Path          # a door of the same event
    serve_log: Path


def _order(org: Path, buyer: str, category: str = "Adult", event: str = "1") -> dict:
    tg(org, "server", "order", "add", "--event", event, "--buyer", buyer, "--ticket",
       f"category={category}" + (",zone=Floor" if event == "1" else ""))
    return json.loads(tg(org, "server", "order", "find", buyer, "--json").stdout)[0]


def _payload(org: Path, ticket: str) -> str:
    return json.loads(tg(org, "server", "ticket", "show", ticket, "--json").stdout)["payload"]


def _verdict(home: Path, payload: str) -> str:
    return json.loads(tg(home, "agent", "scan", "--json", payload).stdout)["verdict"]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    org, kiosk, door = (tmp_path / name for name in ("org", "kiosk", "door"))
    for home in (org, kiosk, door):
        home.mkdir()
    tonight(org, ("1=Adult", "2=VIP"), PRICE)
    serve_log = tmp_path / "serve.log"
    with serving(org, serve_log) as http_port:
        for home, gate, role in ((kiosk, "desk", "kiosk"), (door, "north", "door")):
            enroll(org, home, gate, http_port, role)
            tg(home, "agent", "sync", "--until-idle", "--for", "60")
        yield Desk(org, kiosk, door, serve_log)


def tonight(org: Path, categories: tuple[str, ...], prices: dict[int, int]) -> None:
    """The organiser at `org` (organisation acme) with event 1, "Tonight", on now (zone 1=Floor, `categories` as
    `event create` takes them) and a price in cents per category of `prices`."""
    fmt, now = "%Y-%m-%d %H:%M", time.time()
    tg(org, "server", "init", "--org", "acme", "--name", "Acme")
    tg(org, "server", "event", "create", "--name", "Tonight", "--tz", "UTC", "--zone", "1=Floor",
       *(x for c in categories for x in ("--category", c)),
       "--start", datetime.fromtimestamp(now - 3600, timezone.utc).strftime(fmt),
       "--end", datetime.fromtimestamp(now + 6 * 3600, timezone.utc).strftime(fmt))
    for category, cents in prices.items():
        tg(org, "server", "price", "set", "1", "--category", str(category), "--cents", str(cents))


class StolenDesk(StolenLogin):
    """The stolen kiosk's login asking the desk, reading the answers on its own down topic."""

    def __init__(self, home: Path):
        super().__init__(home)
        self.answers: dict[str, dict[str, Any]] = {}
        self.arrived = threading.Condition()
        self.client.on_message = self._answer
        self.client.subscribe(topics.down("acme", self.device), qos=1)
        time.sleep(0.5)                                  # the subscription is in place before the first request

    def _answer(self, _client, _userdata, message) -> None:
        body = json.loads(json.loads(message.payload)["body"])
        if body.get("type") == "desk_answer":
            with self.arrived:
                self.answers[body["request_id"]] = body
                self.arrived.notify_all()

    def ask(self, request) -> dict[str, Any]:
        self.publish(topics.up("acme", self.device), json.dumps(request.to_wire()).encode())
        with self.arrived:
            assert self.arrived.wait_for(lambda: request.request_id in self.answers, 30), request
        answer = self.answers[request.request_id]
        assert answer["ok"], answer
        return answer


def test_rollback_of_a_stolen_kiosk_undoes_its_online_sales_refunds_and_exchanges(desk):
    """A thief with a kiosk's login, through the server: refunds a genuine buyer's order (their ticket refused at
    every door), exchanges another buyer's ticket for a VIP one (5.00 collected), sells 2 tickets for cash, and sells
    1 more and refunds it (20.00 handed out). Before: `server device uploads` listed none of it and `server device
    rollback` undid none of it ("0 exchange(s) undone"): Ann stayed refunded and refused at the door, Bob's ticket
    exchanged, the thief's tickets valid. Now each is listed with its money, undone (Ann and Bob admitted again, the
    thief's tickets refused), and the money no rollback gives back is listed; the sale the kiosk made before it was
    stolen (`--since`) stays."""
    ann, bob = _order(desk.org, "Ann Genuine"), _order(desk.org, "Bob Genuine")
    ann_ticket, bob_ticket = ann["tickets"][0]["ticket_key"], bob["tickets"][0]["ticket_key"]
    thief = StolenDesk(desk.kiosk)
    head = {"org": "acme", "device": thief.device}
    try:
        before = thief.ask(SaleRequest(**head, request_id=uuid.uuid4().hex, target_id=1, lines=(SaleLine(1, 1, 1),),
                                       buyer_name="Eve Genuine"))       # at the desk, before it was stolen
        time.sleep(1.0)
        stolen_at = datetime.now(timezone.utc).isoformat()
        time.sleep(0.1)
        thief.ask(RefundRequest(**head, request_id=uuid.uuid4().hex, order_number=ann["number"], reason="changed plans"))
        swap = thief.ask(ExchangeRequest(**head, request_id=uuid.uuid4().hex, ticket_key=bob_ticket, reason="upgrade",
                                         category=2))
        sold = thief.ask(SaleRequest(**head, request_id=uuid.uuid4().hex, target_id=1, lines=(SaleLine(1, 2, 1),),
                                     expected_cents=2 * PRICE[1]))
        resold = thief.ask(SaleRequest(**head, request_id=uuid.uuid4().hex, target_id=1, lines=(SaleLine(1, 1, 1),),
                                       expected_cents=PRICE[1]))
        thief.ask(RefundRequest(**head, request_id=uuid.uuid4().hex, order_number=resold["order_number"],
                                reason="refund to myself"))
    finally:
        thief.close()
    assert swap["difference_cents"] == PRICE[2] - PRICE[1]
    replacement = swap["tickets"][0]["ticket_key"]
    sold_payloads = [t["payload"] for t in sold["tickets"]]
    tg(desk.door, "agent", "sync", "--until-idle", "--for", "60")
    ann_payload, bob_payload = _payload(desk.org, ann_ticket), _payload(desk.org, bob_ticket)
    assert _verdict(desk.door, ann_payload) == "revoked"                 # the thief's refund reached the door
    tg(desk.org, "server", "device", "revoke", thief.device)

    listed = tg(desk.org, "server", "device", "uploads", thief.device).stdout
    assert "6 upload(s)" in listed, listed                           # before: 0 upload(s)
    for seen in (ann["number"], sold["order_number"], resold["order_number"], replacement, "+40.00 EUR cash",
                 "-20.00 EUR handed back", "+5.00 EUR cash"):
        assert seen in listed, (seen, listed)

    done = json.loads(tg(desk.org, "server", "device", "rollback", thief.device, "--reason", "kiosk stolen",
                         "--since", stolen_at, "--json").stdout)
    assert sorted(done["sales"]) == sorted([sold["order_number"], resold["order_number"]]), done
    assert sorted(done["refunds"]) == sorted([ann["number"], resold["order_number"]]), done
    assert done["exchanges"] == [{"ticket_key": bob_ticket, "replacement": replacement}], done
    not_undone = "\n".join(done["not_undone"])
    assert "20.00 EUR handed back at the kiosk" in not_undone and "5.00 EUR collected (cash)" in not_undone, not_undone
    assert "40.00 EUR taken (cash)" in not_undone, not_undone

    orders = {n: json.loads(tg(desk.org, "server", "order", "show", n, "--json").stdout)
              for n in (ann["number"], sold["order_number"], resold["order_number"], before["order_number"])}
    assert orders[before["order_number"]]["status"] == "paid"           # sold before the theft: stays
    assert orders[ann["number"]]["status"] == "paid", orders[ann["number"]]
    assert orders[sold["order_number"]]["status"] == "cancelled"
    assert orders[resold["order_number"]]["status"] == "cancelled"

    tg(desk.door, "agent", "sync", "--until-idle", "--for", "60")
    assert _verdict(desk.door, ann_payload) == "accepted"               # the genuine buyers get in again
    assert _verdict(desk.door, bob_payload) == "accepted"
    assert _verdict(desk.door, _payload(desk.org, replacement)) == "revoked"
    assert _verdict(desk.door, sold_payloads[0]) in ("revoked", "cancelled")   # the thief's tickets do not

    after = tg(desk.org, "server", "device", "uploads", thief.device).stdout
    assert after.count("ROLLED BACK") == 5, after                   # not the sale before the theft
    again = json.loads(tg(desk.org, "server", "device", "rollback", thief.device, "--reason", "kiosk stolen",
                          "--since", stolen_at, "--json").stdout)
    assert (again["sales"], again["refunds"], again["exchanges"], again["not_undone"]) == ([], [], [], [])


def test_a_ticket_key_too_big_for_the_store_is_refused_not_a_failed_drain(desk):
    """A stolen kiosk names ticket 999…9 (30 digits: no ticket id is that big) in an exchange upload and in an
    online exchange request. Before: the store's lookup raised OverflowError (no SQLite integer holds it), past the
    "unknown ticket" guard: the server logged "ingestion failed" and dropped the whole drain, other devices' uploads
    in it too, and the kiosk got no answer; sent over and over, no door's entries were taken. Now both are refused
    as unknown tickets (listed by `server refusals`), and the door's entry is taken."""
    buyer = _order(desk.org, "Cy Genuine")
    payload = _payload(desk.org, buyer["tickets"][0]["ticket_key"])
    huge = "9" * 30
    thief = StolenDesk(desk.kiosk)
    head = {"org": "acme", "device": thief.device}
    try:
        thief.publish(topics.up("acme", thief.device), Batch.encode("acme", thief.device, uuid.uuid4().hex,
                                                                    time.time(), [(7, "kiosk", json.dumps(
                                                                        Exchange(huge, "torn", thief.device,
                                                                                 at=time.time()).to_wire()))]))
        request = ExchangeRequest(**head, request_id=uuid.uuid4().hex, ticket_key=huge, reason="upgrade")
        thief.publish(topics.up("acme", thief.device), json.dumps(request.to_wire()).encode())
        with thief.arrived:
            assert thief.arrived.wait_for(lambda: request.request_id in thief.answers, 30), \
                desk.serve_log.read_text()[-3000:]
        answer = thief.answers[request.request_id]
    finally:
        thief.close()
    assert not answer["ok"] and huge in answer["reason"], answer
    assert _verdict(desk.door, payload) == "accepted"
    tg(desk.door, "agent", "sync", "--until-idle", "--for", "60")         # the door's entry is taken meanwhile
    assert json.loads(tg(desk.org, "server", "stats", "--json").stdout)["entries"] == 1
    refusals = tg(desk.org, "server", "refusals", "--device", thief.device).stdout
    assert f"unknown ticket {huge}" in refusals and "or its new event is not of" in refusals, refusals
    assert "ingestion failed" not in desk.serve_log.read_text(), desk.serve_log.read_text()[-3000:]


def test_a_doors_cancellation_of_a_key_in_other_digits_or_too_long_changes_no_ticket(field):
    """A stolen door of event 1 uploads quick cancellations (a ticket put back on sale) naming ticket keys the server
    did not issue (once taken as the gate saw them; now refused as unknown tickets): the id of another event's
    ticket written in Arabic-Indic digits, then a 30-digit number. Before: the first was read by int() as that
    other event's ticket: its order cancelled and put back on sale from a door that does not hold the event; the
    second raised OverflowError in the store: "ingestion failed", the whole drain dropped (other gates' uploads too),
    and every later `server stats` died on the stored key. Now neither touches a ticket, and the other gate's entry
    is taken."""
    tg(field.org, "server", "event", "create", "--name", "Tomorrow", "--tz", "UTC", "--category", "1=Adult",
       "--start", "2030-01-01 20:00", "--end", "2030-01-01 23:00")
    other = _order(field.org, "Dee Other", event="2")
    other_ticket = other["tickets"][0]["ticket_key"]
    lookalike = other_ticket.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    thief = StolenLogin(field.door)
    try:
        for key in (lookalike, "9" * 30):
            thief.upload([ActionItem(str(uuid.uuid4()), "cancel", key, 1, None, time.time(), thief.device,
                                     "north").to_wire()])
            assert wait_for(lambda: key in tg(field.org, "server", "device", "uploads", thief.device).stdout
                            + tg(field.org, "server", "refusals").stdout, 30), field.serve_log.read_text()[-3000:]
    finally:
        thief.close()
    shown = json.loads(tg(field.org, "server", "order", "show", other["number"], "--json").stdout)
    assert shown["status"] == "paid" and not shown["tickets"][0]["quick_cancelled"], shown
    the_other_gate_is_still_counted(field)
