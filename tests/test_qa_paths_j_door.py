"""Door staff's and technicians' paths and attacks on trust (session J), walked through the public commands and a
device's own broker login (real mosquitto from `provision serve`, `server serve`, real SQLite files). Each test
fails on the defect it names."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from agent.sync import topics
from agent.sync.messages import ActionItem, Batch
from tests.broker import mosquitto_binary
from tests.helpers import wait_for
from tests.test_qa_attacks import StolenLogin, field, tg   # noqa: F401  (`field`: the fixture)

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def test_attack_a_lone_surrogate_in_an_upload_is_one_refused_item(field):
    """A stolen door uploads a batch whose first entry carries the JSON escape `\\ud800` (a lone surrogate: JSON
    parses it, no UTF-8 text holds it) in its gate name, and a genuine entry after it. Before: the store could not
    encode it, `server serve` logged "ingestion failed" and dropped the whole drain, the genuine entry and every
    other gate's batch with it (the thief could repeat it at will), and nothing was listed for the organiser. Now
    that item is refused (`server refusals`), the rest of the batch taken."""
    thief = StolenLogin(field.door)
    try:
        poisoned = ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", time.time(), thief.device,
                              "north\ud800").to_wire()
        genuine = ActionItem(str(uuid.uuid4()), "entry", field.ticket, 1, "in", time.time(), thief.device,
                             "north").to_wire()
        rows = [(201, "action", json.dumps(poisoned)), (202, "action", json.dumps(genuine))]
        assert b"\\ud800" in Batch.encode("acme", thief.device, "b", 0.0, rows)
        thief.publish(topics.up("acme", thief.device), Batch.encode("acme", thief.device, uuid.uuid4().hex,
                                                                    time.time(), rows))
        assert wait_for(lambda: "row 201" in tg(field.org, "server", "refusals").stdout
                        or "ingestion failed" in field.serve_log.read_text(), 60)
    finally:
        thief.close()
    log = field.serve_log.read_text()
    assert "ingestion failed" not in log and "Traceback" not in log, log[-3000:]
    refused = tg(field.org, "server", "refusals").stdout
    assert "row 201" in refused and "not valid Unicode" in refused and "row 202" not in refused, refused
    assert wait_for(lambda: json.loads(tg(field.org, "server", "stats", "--json").stdout)["entries"] == 1, 30)
    tg(field.gate, "agent", "sync", "--until-idle", "--for", "60")        # the genuine entry was relayed
    verdict = json.loads(tg(field.gate, "agent", "scan", "--json", field.payload).stdout)
    assert verdict["verdict"] == "already_used", verdict


def test_a_desk_request_or_hello_holding_a_lone_surrogate_is_refused_whole():
    """A kiosk's sale naming its buyer "\\ud800" would reach the store's insert the same way; a desk request or
    a hello is one request: refused whole. A surrogate pair (an emoji escaped by `json.dumps`) is text: taken."""
    from agent.sync.messages import SaleLine, SaleRequest
    from agent.sync.signed import Rejected
    from server_stub.sync.ingest import parse_upload

    def sale(buyer: str) -> bytes:
        return json.dumps(SaleRequest("acme", "dev-k", "r1", target_id=1, lines=(SaleLine(1, 1),),
                                      buyer_name=buyer).to_wire()).encode()
    with pytest.raises(Rejected, match="not valid Unicode"):
        parse_upload(sale("Ann \ud800"), "acme", "dev-k")
    assert parse_upload(sale("Ann \U0001F600"), "acme", "dev-k").buyer_name == "Ann \U0001F600"
    hello = {"type": "hello", "org": "acme", "device": "dev-k", "probe": "\udfff", "t0": 1.0}
    with pytest.raises(Rejected, match="not valid Unicode"):
        parse_upload(json.dumps(hello).encode(), "acme", "dev-k")


def test_door_search_finds_an_order_number_typed_without_its_dash(tmp_path):
    """A guest reads "VQBA-RH" off a phone; door staff type `VQBARH` (or `vqbar`, still typing): "no match", while
    `VQBA RH` and `vqba-rh` found it and the organiser's own `server order find` takes `k7m2q9`
    (server_stub.model.normalize_order_number). The door now tries the 4 + 2 split when nothing else matched."""
    from tests.test_qa_skew import _event_now
    from tests.test_qa_walks import _door
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    number = json.loads(tg(home, "server", "order", "find", "Ann", "--json").stdout)[0]["number"]
    compact = number.replace("-", "")
    with _door(home):
        def found(query: str) -> set[str]:
            return {r["order_number"] for r in json.loads(tg(home, "agent", "search", "--json", query).stdout)}
        for query in (number, compact, compact.lower(), f" {compact[:5]} ", compact[:5].lower()):
            assert found(query) == {number}, query
        assert found("BCDEFG") == set()            # an order-number shape nobody has: still no match


def test_an_exchange_to_a_zone_or_category_the_event_does_not_have_is_refused(tmp_path):
    """`ticketgate agent exchange KEY --zone 7` on a kiosk (a typo for 1) made the server revoke the ticket and issue
    its replacement for zone 7 of an event with zone 1 only (category 5 likewise), although `server order add` and the
    CSV import refuse such a zone: a ticket for nowhere, refused at a zoned gate, admitted at an unzoned one. Now the
    kiosk says so and records nothing; the same exchange uploaded with the kiosk's broker login (a stolen kiosk) is
    refused by the server (`server refusals`), and the tickets stay as they were."""
    from tests.qa_organiser import organiser_running, tg as run
    from tests.test_qa_skew import _event_now
    from agent.sync.messages import Exchange
    home, kiosk = tmp_path / "org", tmp_path / "kiosk"
    home.mkdir()
    kiosk.mkdir()
    _event_now(home)
    order = json.loads(run(home, "server", "order", "find", "Ann", "--json").stdout)[0]
    first, second = (t["ticket_key"] for t in order["tickets"])
    with organiser_running(home) as running:
        running.enroll(kiosk, "desk", role="kiosk")
        run(home, "server", "push")
        run(kiosk, "agent", "sync", "--until-idle", "--for", "60")
        for key, choice, said in ((first, ("--zone", "7"), "zone 7 is not a zone of this ticket's event (it has [1])"),
                                  (second, ("--category", "5"), "category 5 is not a category")):
            typo = run(kiosk, "agent", "exchange", key, "--reason", "typo", *choice, ok=False)
            assert typo.returncode == 1 and said in typo.stderr, typo
        assert json.loads(run(kiosk, "agent", "status", "--json").stdout)["counts"]["outbox_pending"] == 0
        thief = StolenLogin(kiosk)
        try:
            rows = [(301, "kiosk", json.dumps(Exchange(first, "typo", thief.device, zone=7).to_wire())),
                    (302, "kiosk", json.dumps(Exchange(second, "typo", thief.device, category=5).to_wire()))]
            thief.publish(topics.up("acme", thief.device), Batch.encode("acme", thief.device, uuid.uuid4().hex,
                                                                        time.time(), rows))
            assert wait_for(lambda: "row 302" in run(home, "server", "refusals").stdout, 60)
        finally:
            thief.close()
    after = json.loads(run(home, "server", "order", "show", order["number"], "--json").stdout)["tickets"]
    assert [(t["ticket_key"], t["category"], t["zone"], t["revoked"]) for t in after] == [
        (first, 1, 1, False), (second, 1, 1, False)], after
    refused = run(home, "server", "refusals").stdout
    assert "zone 7 is not a zone of event or pass 1" in refused and "category 5 is not a category" in refused, refused


def test_a_ticket_admitted_at_one_gate_and_quick_cancelled_at_another_offline_is_a_conflict(tmp_path):
    """The box office puts an unsold pre-printed ticket back on sale (quick cancellation) while offline; meanwhile a
    gate that does not know yet lets someone in with that very ticket (a copy, or it was not unsold). After both
    synced the server had the order cancelled and its seat back on sale, the entry counted, and `server conflicts`
    said "no conflicts": nobody learnt that a resold seat is taken. Now the ticket is listed as a conflict, with the
    cancellation beside its admissions."""
    from tests.qa_organiser import organiser_running, tg as run
    from tests.test_qa_skew import _event_now
    home, box, north = tmp_path / "org", tmp_path / "box", tmp_path / "north"
    for h in (home, box, north):
        h.mkdir()
    payload = _event_now(home)[0]
    with organiser_running(home) as running:
        running.enroll(box, "box")
        running.enroll(north, "north")
        run(home, "server", "push")
        for door in (box, north):
            run(door, "agent", "sync", "--until-idle", "--for", "60")
        cancel = json.loads(run(box, "agent", "scan", "--json", "--mode", "quick_cancel", payload).stdout)
        entry = json.loads(run(north, "agent", "scan", "--json", payload).stdout)
        assert (cancel["verdict"], entry["verdict"]) == ("cancelled", "accepted")
        for door in (box, north):
            run(door, "agent", "sync", "--until-idle", "--for", "60")
    found = json.loads(run(home, "server", "conflicts", "--json").stdout)
    assert [(c["ticket_key"], c["event_id"], len(c["admissions"])) for c in found] == [(entry["ticket"], 1, 1)], found
    assert found[0]["cancelled"]["gate"] == "box" and found[0]["admissions"][0]["gate"] == "north", found
    said = run(home, "server", "conflicts").stdout
    assert "cancelled for resale" in said and " at box" in said and " at north" in said, said
